"""What the kit persists and reads back: one checked reader per kind of file, one error, one list.

Every kind of file the kit writes (or commits) and later trusts goes through one reader that
checks what can be checked: present and not empty, parseable, the schema (required fields or
columns), finite values, the sha256 or key it must have, and the network it claims to hold. A
failed check raises :class:`DamagedFileError` (a ``ValueError``) naming the file, the problem and
the safe fix (restore it, move it aside, or let the kit rebuild it; never "delete").

:data:`KINDS` lists the kinds, each registered by the module that owns the format
(:func:`register`, at import). ``tests/test_stored.py`` takes a sound example of every registered
kind and damages it in every generic way of :data:`DAMAGES`; a damage a kind cannot detect is
declared with the reason (``Kind.undetectable``), so a kind registered tomorrow is tested
tomorrow. :func:`all_kinds` imports the package so that every kind is registered.

The readers that set a damaged file aside instead of stopping (bookkeeping JSON, the Inception
feature cache) use the same checks: they catch :class:`DamagedFileError`, rename the file beside
itself (:func:`inpainting.disk.set_aside`) and rebuild it.
"""
from __future__ import annotations

import importlib
import io
import json
import math
import os
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .disk import REPO_ROOT, DamagedFileError, file_sha256

__all__ = ["DamagedFileError", "Kind", "KINDS", "DAMAGES", "register", "all_kinds", "safe_fix",
           "require_file", "read_json_object", "read_csv_table", "check_sha256", "non_finite"]

# the generic damages every kind is put through (tests/test_stored.py)
DAMAGES = ("missing", "empty", "truncated", "zeroed", "nan", "field_removed", "other_run",
           "foreign_network")
FORMATS = ("torch", "json", "csv", "npy")


@dataclass(frozen=True)
class Kind:
    """One kind of persisted file.

    ``read(path, **expect)`` is its one checked reader; ``example(folder, variant)`` writes a sound
    file of the kind (variant 0 and 1: two different runs) and returns ``(path, expect)``, the
    keyword arguments ``read`` needs to recognise that very file; ``foreign(path)`` writes a file
    of another network where the kind holds one; ``fields`` the fields or columns every file has
    (the field-removal damage drops the first); ``undetectable``: damage -> why the kind cannot
    tell (for instance a table of zeros is a valid table)."""

    name: str
    format: str
    read: Callable[..., Any]
    example: Callable[[Path, int], tuple[Path, dict]]
    fields: tuple[str, ...] = ()
    foreign: Callable[[Path], None] | None = None
    undetectable: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"kind {self.name!r}: format {self.format!r}, not one of {FORMATS}")
        unknown = set(self.undetectable) - set(DAMAGES)
        if unknown:
            raise ValueError(f"kind {self.name!r}: unknown damage(s) {sorted(unknown)}")


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add ``kind`` to :data:`KINDS` (once per name; re-importing a module re-registers it)."""
    KINDS[kind.name] = kind
    return kind


def all_kinds() -> dict[str, Kind]:
    """Every registered kind, after importing each module of the package (command entry points
    ``__main__`` excepted), so that none is missed because nothing imported its module yet."""
    import inpainting
    for info in pkgutil.walk_packages(inpainting.__path__, "inpainting."):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:   # an optional dependency (widgets, onnx): such modules store nothing
            continue
    return dict(KINDS)


# ------------------------------------------------------------------------------- shared checks
def safe_fix(path: str | os.PathLike, fix: str) -> str:
    """``fix``, or for a file committed under ``references/`` the git command that restores it."""
    try:
        rel = Path(path).resolve().relative_to(REPO_ROOT / "references")
    except ValueError:
        return fix
    return f"restore the committed file with `git checkout -- references/{rel}` (or a fresh clone)"


def damaged(path: str | os.PathLike, problem: str, fix: str) -> DamagedFileError:
    return DamagedFileError.of(path, problem, safe_fix(path, fix))


def require_file(path: str | os.PathLike, fix: str) -> Path:
    """``path`` when it is a non-empty file; :class:`DamagedFileError` otherwise."""
    path = Path(path)
    if path.is_dir():
        raise damaged(path, "is a folder, not a file", fix)
    if not path.is_file():
        raise damaged(path, "is missing", fix)
    if path.stat().st_size == 0:
        raise damaged(path, "is empty (0 bytes)", fix)
    return path


def check_sha256(path: str | os.PathLike, expected: str | None, fix: str) -> None:
    """:class:`DamagedFileError` when ``path``'s sha256 does not start with ``expected`` (a full
    digest or its prefix, as run keys record them); no check when ``expected`` is None."""
    if expected is None:
        return
    if not isinstance(expected, str) or len(expected) < 8:
        raise ValueError(f"expected sha256 {expected!r}: give at least 8 hex digits")
    found = file_sha256(path)
    if not found.startswith(expected.lower()):
        raise damaged(path, f"is not the recorded file (sha256 {found[:12]}..., recorded "
                            f"{expected[:12]}...: altered, damaged or another run's copy)", fix)


def non_finite(value: Any, where: str = "") -> str:
    """The first place in a JSON value holding NaN or infinity (``""`` if none)."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "a value"
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return ""
    for key, item in items:
        found = non_finite(item, f"{where}.{key}" if where else str(key))
        if found:
            return found
    return ""


def read_json_object(path: str | os.PathLike, fix: str, required: tuple[str, ...] = (),
                     finite: bool = True) -> dict:
    """A JSON object file with every field of ``required`` (and, with ``finite``, no NaN or
    infinity anywhere); :class:`DamagedFileError` naming the file, the problem and ``fix``."""
    path = require_file(path, fix)
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise damaged(path, f"is not JSON, truncated or half-written ({type(exc).__name__}: "
                            f"{exc})", fix) from None
    if not isinstance(value, dict):
        raise damaged(path, f"holds a JSON {type(value).__name__}, not an object", fix)
    lacking = [key for key in required if key not in value]
    if lacking:
        raise damaged(path, "lacks the field(s) " + ", ".join(map(repr, lacking)), fix)
    bad = non_finite(value) if finite else ""
    if bad:
        raise damaged(path, f"field {bad} is NaN or infinite", fix)
    return value


def read_csv_table(path: str | os.PathLike, fix: str, required: tuple[str, ...] = (),
                   dtype: dict | None = None):
    """A CSV table as the kit writes it (header, complete rows, a final newline; gzipped when the
    name ends in ``.gz``) with every column of ``required`` (``dtype``: as ``pandas.read_csv``'s,
    e.g. ``{"key": str}`` for hex keys that could read as numbers); :class:`DamagedFileError` for a
    file cut mid-line, an unparseable one or a missing column. (A file cut exactly at a line end
    cannot be told from a shorter table.)"""
    import gzip
    import zlib
    import pandas as pd
    path = require_file(path, fix)
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise damaged(path, f"is not a complete gzip file ({type(exc).__name__}: {exc})",
                          fix) from None
    if not data.endswith(b"\n"):
        raise damaged(path, "ends in the middle of a line (cut or half-written)", fix)
    try:
        table = pd.read_csv(io.BytesIO(data), dtype=dtype)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise damaged(path, f"is not a readable CSV table ({type(exc).__name__}: "
                            f"{str(exc).strip()[:200]})", fix) from None
    lacking = [c for c in required if c not in table.columns]
    if lacking:
        raise damaged(path, "lacks the column(s) " + ", ".join(map(repr, lacking)), fix)
    return table


# ------------------------------------------------------------------ kinds of the base layer
def _example_run_json(folder: Path, variant: int) -> tuple[Path, dict]:
    from .disk import atomic_write_text
    path = Path(folder) / "run.json"
    atomic_write_text(path, json.dumps({"runs": {f"lite-{variant}": {"seed": variant}},
                                        "warnings": {}}))
    return path, {}


def _read_run_json(path: Path) -> dict:
    from .disk import RUN_JSON_OBJECTS, check_record_json
    return check_record_json(path, RUN_JSON_OBJECTS)


register(Kind("results record (run.json)", "json", _read_run_json, _example_run_json,
              undetectable={
                  "field_removed": "run.json has no required field: each notebook and run adds "
                                   "its own, and a lost entry is registered again when used",
                  "zeroed": "no number of run.json is forbidden to be 0",
                  "nan": "run.json is bookkeeping merged from many writers; a NaN there changes "
                         "no result (the run records it is built from are checked)",
                  "other_run": "run.json is one per results folder; it names no single run",
                  "foreign_network": "a JSON record holds no network"}))
