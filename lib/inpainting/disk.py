"""The kit's files on disk, torch-free: sha256, atomic writes, the results folders, bookkeeping JSON
records (``run.json``) read back with checks, files set aside instead of deleted, and the output
ledger by which the kit replaces only what it wrote itself."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

RESULTS_ENV = "INPAINTING_RESULTS"
REPO_ROOT = Path(__file__).resolve().parents[2]


def sha256(data: bytes | str) -> str:
    """The sha256 of bytes (a string: of its UTF-8 encoding), hex."""
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def results_root() -> Path:
    """The folder holding one folder per profile: ``$INPAINTING_RESULTS`` if set, else the
    repository's ``results/``."""
    env = os.environ.get(RESULTS_ENV)
    return Path(env) if env else REPO_ROOT / "results"


def results_dir(profile_name: str, *parts: str) -> Path:
    """``<results root>/<profile>/<parts...>``, created if missing: ``results/<profile>/...``, or
    ``$INPAINTING_RESULTS/<profile>/...`` when the variable is set, so two profiles never share a
    ``run.json`` or ``summary.md`` (``./run_all.sh demo`` leaves the smoke results alone)."""
    if not profile_name or not isinstance(profile_name, str) or os.sep in profile_name:
        raise ValueError(f"profile name {profile_name!r}: expected a plain name such as 'smoke'")
    path = results_root().joinpath(profile_name, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


RUN_NAME = re.compile(r"^(?P<generator>[a-z][a-z0-9_]*)-(?P<key>[0-9a-f]{12})$")   # a run folder


def folder_key(folder: str | os.PathLike) -> str | None:
    """The run key a run folder is named by (``<generator>-<key>``), or ``None`` for a folder
    named otherwise (an ``out_dir`` chosen by the user)."""
    found = RUN_NAME.match(Path(folder).name)
    return found.group("key") if found else None


DAMAGED_TAG = "damaged"


def set_aside(path: str | os.PathLike, tag: str = DAMAGED_TAG) -> Path:
    """Rename ``path`` to ``<name>.<tag>-<UTC time>`` beside it (never deleting it) and return the
    new path; a second file set aside in the same second gets a ``-2``, ``-3``, ... suffix."""
    path = Path(path)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.{tag}-{stamp}")
    n = 2
    while target.exists():
        target = path.with_name(f"{path.name}.{tag}-{stamp}-{n}")
        n += 1
    os.replace(path, target)
    return target


def _json_problem(path: Path, nested: tuple[str, ...]) -> tuple[dict | None, str]:
    """``(dict, "")`` for a sound JSON object file, ``(None, reason)`` otherwise."""
    data = path.read_bytes()
    if not data.strip():
        return None, "empty file"
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"not JSON ({type(exc).__name__}: {exc})"
    if not isinstance(value, dict):
        return None, f"holds a JSON {type(value).__name__}, not an object"
    wrong = [key for key in nested if key in value and not isinstance(value[key], dict)]
    if wrong:
        return None, ", ".join(f"{key!r} is a {type(value[key]).__name__}, not an object"
                               for key in wrong)
    return value, ""


def check_record_json(path: str | os.PathLike, nested: tuple[str, ...] = ()) -> dict:
    """The dict of a bookkeeping JSON file; :class:`DamagedFileError` when it is missing, empty,
    not JSON, not an object, or a field of ``nested`` is not an object (the check
    :func:`read_record_json` sets damaged files aside by)."""
    path = Path(path)
    if not path.is_file():
        raise DamagedFileError.of(path, "is missing", "it is rebuilt when the kit next records")
    value, reason = _json_problem(path, tuple(nested))
    if value is None:
        raise DamagedFileError.of(path, reason, "it is set aside and rebuilt from what is intact")
    return value


def read_record_json(path: str | os.PathLike, nested: tuple[str, ...] = (),
                     rebuilt: str = "it is rebuilt from what is intact",
                     check: Callable[[Path], dict] | None = None) -> dict | None:
    """The dict of a bookkeeping JSON file (``run.json``, ``outputs.json``, ``identity.json``,
    ``train_config.json``); ``None`` when it is missing.

    A damaged file (empty, truncated, not UTF-8 / JSON, not an object, or a field of ``nested`` that
    is not an object) never blocks work and is never deleted: it is renamed to
    ``<name>.damaged-<UTC time>`` with a loud warning saying so and ``rebuilt`` (what happens next),
    and ``None`` is returned, as for a missing file. ``check``: the kind's checked reader
    (raising :class:`DamagedFileError`), e.g. one requiring fields."""
    path = Path(path)
    if not path.is_file():
        return None
    try:   # the kind's own checked reader (stored.py), else the generic one
        return (check or (lambda p: check_record_json(p, tuple(nested))))(path)
    except DamagedFileError as exc:
        reason = exc.damaged.get(path, str(exc))
    try:
        kept = set_aside(path)
    except FileNotFoundError:   # another process set it aside first
        return None
    warn_loudly(f"{path} was damaged ({reason}); it was set aside as {kept.name} (nothing "
                f"deleted) and {rebuilt}")
    return None


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, then rename it over ``path``,
    so a reader never sees a half-written file, even if the process is killed mid-write."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def save_table(df, path: str | os.PathLike) -> Path:
    """Write a DataFrame as CSV atomically."""
    return atomic_write(path, lambda p: df.to_csv(p, index=False))


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write a matplotlib figure as PNG atomically (the notebook still shows it inline)."""
    return atomic_write(path, lambda p: fig.savefig(p, dpi=dpi, bbox_inches="tight", format="png"))


RUN_JSON = "run.json"
RUN_JSON_OBJECTS = ("runs", "warnings", "notebooks", "packages")   # fields that hold objects


def read_run_json(profile_name: str) -> dict:
    """``results/<profile>/run.json`` as a dict (``{}`` when missing). A damaged one (truncated, not
    JSON, wrong types, empty) is set aside as ``run.json.damaged-<time>`` with a warning and
    rebuilt: the next update starts a new one, and every run is registered again when it is used
    (:func:`read_record_json`)."""
    path = results_dir(profile_name) / RUN_JSON
    rebuilt = "a new run.json is started (each run is registered again when it is used)"
    info = read_record_json(path, RUN_JSON_OBJECTS, rebuilt) or {}
    bad = [name for name, entry in info.get("runs", {}).items() if not isinstance(entry, dict)]
    if bad:
        kept = set_aside(path)
        warn_loudly(f"{path} was damaged (runs entry {bad[0]!r} is not an object); it was set "
                    f"aside as {kept.name} (nothing deleted) and {rebuilt}")
        return {}
    return info


def update_run_json(profile_name: str, **fields: Any) -> dict:
    """Merge ``fields`` into ``results/<profile>/run.json`` (atomically) and return the result.

    Nested dicts are merged one level deep, so notebooks can each add their own entries
    (for example ``warnings={"perceptual": "..."}``). Processes that update it at the same time
    (runs trained side by side by ``python -m inpainting.train --all``) take turns: the read, merge
    and write happen under an exclusive ``flock`` of ``run.json.lock`` (POSIX; elsewhere unlocked)."""
    path = results_dir(profile_name) / RUN_JSON
    with _exclusive(path.with_name(path.name + ".lock")):
        info = read_run_json(profile_name)
        for key, value in fields.items():
            if isinstance(value, dict) and isinstance(info.get(key), dict):
                info[key].update(value)
            else:
                info[key] = value
        atomic_write_text(path, json.dumps(info, indent=2, sort_keys=True, default=str))
    return info


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    """An exclusive advisory lock on ``lock_path`` for the block (a no-op without ``fcntl``)."""
    try:
        import fcntl
    except ImportError:   # Windows
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def warn_loudly(message: str) -> None:
    """A warning that shows in notebooks and headless logs alike."""
    banner = "!" * 78
    print(f"{banner}\nWARNING: {message}\n{banner}", flush=True)
    warnings.warn(message, stacklevel=2)


class DamagedFileError(ValueError):
    """A file the kit wrote (or ships) and reads back is missing, damaged or not what it claims to
    be: the one error of every checked reader (:mod:`inpainting.stored` lists them).

    ``damaged`` maps every damaged file to the reason; the message names each file, the problem
    and the safe fix (never "delete": restore it, move it aside, or let the kit rebuild it)."""

    def __init__(self, message: str, damaged: dict[Path, str] | None = None):
        super().__init__(message)
        self.damaged = {Path(k): v for k, v in (damaged or {}).items()}

    @classmethod
    def of(cls, path: str | os.PathLike, problem: str, fix: str) -> "DamagedFileError":
        """The error for one file: ``"<path>: <problem>; <fix>"``."""
        return cls(f"{path}: {problem}; {fix}", {Path(path): problem})

    @property
    def path(self) -> Path | None:
        return next(iter(self.damaged), None)

    def __reduce__(self):   # survives pickling (DataLoader workers, child processes)
        return type(self), (str(self), self.damaged)


# ------------------------------------------------------------------ the one way to write outputs
OUTPUT_LEDGER = ".inpainting-outputs.json"   # per output root: relative path -> sha256 written


class OutputError(ValueError):
    """An output the kit will not write: the path is a folder, it is one of the command's inputs,
    or it holds a file the kit did not write (or that was changed since) and replacing was not
    asked for. Nothing was written; the message names the file and the fix."""


def _ledger(path: Path, root: Path | None) -> tuple[Path, str]:
    root = Path(root) if root is not None else path.parent
    return root / OUTPUT_LEDGER, path.resolve().relative_to(root.resolve()).as_posix()


def kit_wrote(path: str | os.PathLike, root: str | os.PathLike | None = None) -> bool:
    """True when ``path`` holds exactly the bytes the kit last wrote there
    (:func:`write_output` records each file's sha256 in ``<root>/.inpainting-outputs.json``)."""
    recorded = ledger_entry(path, root)
    return recorded is not None and Path(path).is_file() and recorded == file_sha256(path)


def ledger_entry(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str | None:
    """The sha256 :func:`write_output` recorded for ``path`` (``None``: the kit never wrote it
    there, as far as the ledger knows)."""
    ledger, rel = _ledger(Path(path), root)
    entries = read_record_json(ledger, rebuilt="files the kit wrote before count as not its own") or {}
    return entries.get(rel)


def check_output(path: str | os.PathLike, inputs: tuple = (), replace: bool = False,
                 root: str | os.PathLike | None = None, owned: Callable[[Path], bool] | None = None,
                 flag: str = "--force") -> Path:
    """Raise :class:`OutputError` unless :func:`write_output` may write ``path``: not a folder,
    not one of ``inputs`` (the same file by any name), and, when it exists, a file the kit wrote
    unchanged (:func:`kit_wrote`), one ``owned`` recognises as the kit's, or ``replace``."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"output {path} is a folder; give a file name")
    for source in inputs:
        if path.exists() and Path(source).exists() and os.path.samefile(path, source) or \
                path.resolve() == Path(source).resolve():
            raise OutputError(f"output {path} is the input {source}: the kit never writes over "
                              "what it reads; give another output path")
    if path.exists() and not replace and not kit_wrote(path, root) and not (owned and owned(path)):
        raise OutputError(f"{path} exists and was not written by the kit (or was changed since): "
                          f"it is kept. Give another output path, move it aside, or pass {flag} "
                          "to replace it")
    return path


def write_output(path: str | os.PathLike, write: Callable[[Path], Any], inputs: tuple = (),
                 replace: bool = False, root: str | os.PathLike | None = None,
                 owned: Callable[[Path], bool] | None = None, flag: str = "--force") -> Path:
    """The one way a command writes an output: :func:`check_output` first (never over an input,
    never over a file the kit did not write unless ``replace``), then :func:`atomic_write`, then
    the file's sha256 recorded in ``<root>/.inpainting-outputs.json`` (``root``: the output
    folder, default the file's folder), so the next run may replace what this one wrote and
    nothing else. Files the kit does not own are never touched."""
    path = check_output(path, inputs, replace, root, owned, flag)
    atomic_write(path, write)
    ledger, rel = _ledger(path, root)
    with _exclusive(ledger.with_name(ledger.name + ".lock")):
        entries = read_record_json(ledger, rebuilt="files the kit wrote before count as not its own") or {}
        entries[rel] = file_sha256(path)
        atomic_write_text(ledger, json.dumps(entries, indent=1, sort_keys=True) + "\n")
    return path


_NAME_SAFE = re.compile(r"[A-Za-z0-9_.-]")


def file_stem(name: str) -> str:
    """A file name for a user's ``name`` that maps different names to different files: letters,
    digits, ``_``, ``.`` and ``-`` are kept, every other character (``/``, a space, ``~``, a
    non-ASCII letter, a leading ``.``) becomes ``~`` and the hex of its UTF-8 bytes ("my method"
    -> ``my~20method``, "my/method" -> ``my~2fmethod``). Names that are already safe keep their
    spelling."""
    out = []
    for i, char in enumerate(name):
        if _NAME_SAFE.fullmatch(char) and not (i == 0 and char == "."):
            out.append(char)
        else:
            out.append("".join(f"~{byte:02x}" for byte in char.encode("utf-8")))
    stem = "".join(out)
    if not stem:
        raise ValueError("an empty name has no file name")
    if len(stem.encode()) > 200:   # file systems stop at 255 bytes: keep a prefix and a hash
        stem = stem[:180] + "~" + sha256(name)[:16]
    return stem
