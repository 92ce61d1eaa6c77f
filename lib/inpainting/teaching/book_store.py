"""Executed notebooks kept with a profile's committed references, so that the book of the committed
study builds in a minute instead of re-executing every notebook (about half an hour on 2 cores).

    python -m inpainting.teaching.book --store     # execute (or reuse) the notebooks, then keep them

``references/<profile>/book/`` holds each executed notebook gzipped (``NN_name.ipynb.gz``: a
result, not a notebook to edit) and :data:`MANIFEST`: the commit, machine, overrides and time of
the execution, and per notebook its file's sha256 and the digest of its code cells
(:func:`code_digest`). A stored notebook is used only while its code is the current notebook's:
outputs depend on the code, not on the prose, so :func:`transplant` puts the stored outputs into
the current notebook (its current text, its parameters) and refuses when any code cell differs.
When one notebook's code has changed since, the book says which and executes them all again.
"""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import nbformat

from ..disk import DamagedFileError, atomic_write_text, file_sha256, write_output

FOLDER = "book"
MANIFEST = "book.json"
MANIFEST_FIELDS = ("profile", "commit", "machine", "finished", "overrides", "notebooks")
INJECTED = "injected-parameters"   # papermill's tag on the cell it adds after "parameters"
FIX = "run `python -m inpainting.teaching.book --store` to execute the notebooks and keep them again"


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and INJECTED not in c.metadata.get("tags", [])]


def code_digest(nb) -> str:
    """sha256 over the sources of ``nb``'s code cells in order (papermill's injected cell left out:
    the runner adds it)."""
    h = hashlib.sha256()
    for cell in _code_cells(nb):
        h.update(cell.source.encode("utf-8") + b"\0")
    return h.hexdigest()


def transplant(current, executed):
    """``current`` (a source notebook) with the outputs of ``executed`` (its execution): the same
    code cells in the same order, or None. The injected parameters cell follows the cell tagged
    ``parameters``, as the runner put it."""
    if code_digest(current) != code_digest(executed):
        return None
    out = nbformat.from_dict(json.loads(json.dumps(current)))   # a deep copy
    runs = iter(_code_cells(executed))
    injected = [c for c in executed.cells if INJECTED in c.metadata.get("tags", [])]
    cells = []
    for cell in out.cells:
        cells.append(cell)
        if cell.cell_type != "code":
            continue
        done = next(runs)
        cell.outputs, cell.execution_count = done.outputs, done.execution_count
        if "parameters" in cell.metadata.get("tags", []):
            cells += injected
    out.cells = cells
    out.metadata = executed.metadata   # kernel, papermill's parameters and timings
    return out


def store_folder(profile: str, root: Path | None = None) -> Path:
    from ..references import reference_root
    return reference_root(profile, root) / FOLDER


def read_manifest(path: Path) -> dict:
    """The store's manifest, checked: fields, and a sha256 and code digest for each notebook."""
    from ..stored import damaged, read_json_object
    manifest = read_json_object(path, FIX, MANIFEST_FIELDS)
    entries = manifest["notebooks"]
    if not isinstance(entries, dict) or not entries or not all(
            isinstance(e, dict) and {"file", "sha256", "code"} <= set(e) for e in entries.values()):
        raise damaged(path, "field 'notebooks' is not a map of notebook -> {file, sha256, code}", FIX)
    return manifest


def save(profile: str, executed: Path, provenance: dict, notebooks: list[Path],
         seconds: dict | None = None, root: Path | None = None) -> Path:
    """Keep the executed ``notebooks`` (names of ``executed``'s files) of ``profile`` in its store
    with ``provenance`` (commit, machine, finished, overrides) and each one's execution
    ``seconds``; returns the manifest's path."""
    folder = store_folder(profile, root)
    entries, seconds = {}, seconds or {}
    for nb in notebooks:
        data = gzip.compress((executed / nb.name).read_bytes(), mtime=0)
        path = write_output(folder / f"{nb.name}.gz", lambda tmp, d=data: tmp.write_bytes(d),
                            replace=False)
        entries[nb.name] = {"file": path.name, "sha256": file_sha256(path),
                            "seconds": seconds.get(nb.name),
                            "code": code_digest(nbformat.read(executed / nb.name, as_version=4))}
    manifest = {"profile": profile, **provenance, "notebooks": entries}
    return write_output(folder / MANIFEST, lambda tmp: tmp.write_text(
        json.dumps(manifest, indent=1, sort_keys=True) + "\n"))


def load(profile: str, sources: list[Path], dest: Path, root: Path | None = None):
    """Write the stored executions of ``sources`` (the current source notebooks), with their
    current text, into ``dest``; returns the manifest, or ``(None, why)`` when the store is absent
    or one notebook's code changed since it was executed. A damaged store raises
    :class:`DamagedFileError`."""
    from ..stored import check_sha256, damaged
    folder = store_folder(profile, root)
    if not (folder / MANIFEST).exists():
        return None, f"no executed notebooks are kept in {folder}"
    manifest = read_manifest(folder / MANIFEST)
    entries = manifest["notebooks"]
    missing = [nb.name for nb in sources if nb.name not in entries]
    if missing:
        return None, f"{', '.join(missing)} not kept in {folder} (executed at {manifest['commit'][:12]})"
    dest.mkdir(parents=True, exist_ok=True)
    for nb in sources:
        entry = entries[nb.name]
        path = folder / entry["file"]
        check_sha256(path, entry["sha256"], FIX)
        try:
            executed = nbformat.reads(gzip.decompress(path.read_bytes()).decode("utf-8"), as_version=4)
        except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
            raise damaged(path, f"is not a gzipped notebook ({type(exc).__name__}: {exc})", FIX) from None
        merged = transplant(nbformat.read(nb, as_version=4), executed)
        if merged is None:
            return None, (f"the code of {nb.name} changed since its outputs were kept (commit "
                          f"{manifest['commit'][:12]})")
        nbformat.write(merged, dest / nb.name)
    return manifest, ""


# ------------------------------------------------------------------ registered kind (inpainting.stored)
def _example_manifest(folder: Path, variant: int) -> tuple[Path, dict]:
    manifest = {"profile": "study", "commit": f"{variant}" * 40, "machine": "m", "finished": "t",
                "overrides": {}, "notebooks": {"01_x.ipynb": {"file": "01_x.ipynb.gz",
                                                              "sha256": "0" * 64, "code": "1" * 64,
                                                              "seconds": 12}}}
    path = Path(folder) / f"v{variant}" / MANIFEST
    atomic_write_text(path, json.dumps(manifest) + "\n")
    return path, {}


def _register() -> None:
    from ..stored import Kind, register
    register(Kind("book store manifest", "json", read_manifest, _example_manifest,
                  fields=MANIFEST_FIELDS, undetectable={
                      "zeroed": "no number of the manifest is forbidden to be 0; the notebooks it "
                                "lists are checked by their sha256",
                      "other_run": "one manifest per profile's store; the notebooks it lists are "
                                   "checked by their sha256 and code digest",
                      "foreign_network": "a JSON record holds no network"}))


_register()

__all__ = ["DamagedFileError", "code_digest", "transplant", "save", "load", "store_folder"]
