"""Student copies of the notebooks: solutions replaced by a prompt, outputs cleared.

    python -m inpainting.teaching.student                  # notebooks/NN_*.ipynb -> student/NN_*.ipynb
    python -m inpainting.teaching.student --out handout    # another folder
    ./run_all.sh student                          # the same, after setting up the environment

The rules are nbgrader's (its ``ClearSolutions`` and ``ClearHiddenTests`` preprocessors), so a
teacher who uses nbgrader can take the source notebooks as they are, and one who does not gets the
same student version from this module:

* In a cell whose metadata marks it as a solution (``nbgrader.solution: true``), every region
  between a line holding ``### BEGIN SOLUTION`` and a line holding ``### END SOLUTION`` is replaced
  by ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` (code, at the indentation of the BEGIN
  line) or ``YOUR ANSWER HERE`` (markdown). A solution cell without such a region is replaced as a
  whole by the same prompt.
* Regions between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` are removed.
* A solution region in a cell *not* marked as a solution cell is an error (nbgrader refuses it too),
  so a solution can never leak into a student copy through a missing tag.
* Every output and execution count is cleared; every other cell is copied unchanged, with its id.

Each copy records the sha256 of its source in ``metadata.inpainting_student.source_sha256``, so
:func:`stale_copies` (and the tests) can tell when a source notebook changed after the copies were
made. The copies live in ``student/`` at the repository root, which git ignores; from there the
relative links of the notebooks (``../docs/...``) resolve as they do from ``notebooks/``.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

# inpainting.disk is torch-free: making copies takes 1 s instead of 10+ s with torch loaded
from ..disk import REPO_ROOT, atomic_write_text, file_sha256

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
SOURCE_DIR = REPO_ROOT / "notebooks"
STUDENT_DIR = REPO_ROOT / "student"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
META_KEY = "inpainting_student"


class SolutionMarkupError(ValueError):
    """A solution region the student copy cannot handle safely (unclosed, nested, untagged)."""


def is_solution_cell(cell) -> bool:
    """nbgrader's test: ``cell.metadata.nbgrader.solution`` is true."""
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution", False))


def _replace_regions(source: str, begin: str, end: str, stub: str | None, where: str) -> tuple[str, bool]:
    """``source`` with every ``begin``..``end`` region (marker lines included) replaced by ``stub``
    indented as the begin line (or removed when ``stub`` is None); and whether any was found."""
    out: list[str] = []
    inside = False
    found = False
    for number, line in enumerate(source.splitlines(), 1):
        if begin in line:
            if inside:
                raise SolutionMarkupError(f"{where}: line {number}: {begin!r} inside an open region")
            inside, found = True, True
            indent = line[:len(line) - len(line.lstrip())]
            if stub is not None:
                out.extend(indent + s for s in stub.splitlines())
        elif end in line:
            if not inside:
                raise SolutionMarkupError(f"{where}: line {number}: {end!r} without {begin!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise SolutionMarkupError(f"{where}: {begin!r} is never closed by {end!r}")
    if not found:
        return source, False        # untouched, byte for byte
    return "\n".join(out) + ("\n" if source.endswith("\n") else ""), True


def student_cell(cell, where: str = "cell"):
    """The student version of one cell (a new object; ``cell`` is not changed)."""
    cell = copy.deepcopy(cell)
    stub = CODE_STUB if cell.cell_type == "code" else TEXT_STUB
    source, replaced = _replace_regions(cell.source, BEGIN_SOLUTION, END_SOLUTION, stub, where)
    if replaced and not is_solution_cell(cell):
        raise SolutionMarkupError(
            f"{where}: a solution region in a cell not marked as a solution cell; add "
            '"nbgrader": {"solution": true, "grade": false, "locked": false, "schema_version": 3, '
            '"grade_id": "<unique>"} to its metadata')
    if is_solution_cell(cell) and not replaced:
        source = stub
    source, _ = _replace_regions(source, BEGIN_HIDDEN, END_HIDDEN, None, where)
    cell.source = source
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
    cell.metadata.pop("papermill", None)
    return cell




def student_notebook(path: str | Path):
    """The student version of the notebook at ``path`` (an ``nbformat`` node)."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    ids = [c.get("id") for c in nb.cells]
    grade_ids = [c.metadata["nbgrader"].get("grade_id") for c in nb.cells if "nbgrader" in c.metadata]
    duplicates = sorted({g for g in grade_ids if g and grade_ids.count(g) > 1})
    if duplicates:
        raise SolutionMarkupError(f"{path.name}: nbgrader grade_id used twice: {', '.join(duplicates)}")
    if None not in ids and len(set(ids)) != len(ids):
        raise SolutionMarkupError(f"{path.name}: duplicate cell ids")
    nb.cells = [student_cell(cell, f"{path.name} cell {i} ({cell.get('id', 'no id')})")
                for i, cell in enumerate(nb.cells)]
    nb.metadata.pop("papermill", None)
    nb.metadata[META_KEY] = {"source": f"notebooks/{path.name}", "source_sha256": file_sha256(path)}
    return nb


def write_student_copies(sources: list[Path] | None = None, out_dir: str | Path = STUDENT_DIR) -> list[Path]:
    """Write the student copy of each source notebook (default: every ``notebooks/NN_*.ipynb``) to
    ``out_dir``; return the paths written. Copies of notebooks that no longer exist are removed."""
    sources = sorted(SOURCE_DIR.glob(NOTEBOOK_GLOB)) if sources is None else [Path(s) for s in sources]
    if not sources:
        raise FileNotFoundError(f"no notebooks matching {NOTEBOOK_GLOB} in {SOURCE_DIR}")
    copies = [(src, student_notebook(src)) for src in sources]   # all checked before any is written
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for src, nb in copies:
        nbformat.validate(nb)
        written.append(atomic_write_text(out_dir / src.name, nbformat.writes(nb) + "\n"))
    names = {src.name for src in sources}
    for old in out_dir.glob(NOTEBOOK_GLOB):
        if old.name not in names and META_KEY in nbformat.read(old, as_version=4).metadata:
            old.unlink()
    return written


def stale_copies(out_dir: str | Path = STUDENT_DIR, sources: list[Path] | None = None) -> list[str]:
    """Names of the student copies in ``out_dir`` that are missing or were made from an older
    version of their source (empty when the copies are in sync)."""
    sources = sorted(SOURCE_DIR.glob(NOTEBOOK_GLOB)) if sources is None else [Path(s) for s in sources]
    stale = []
    for src in sources:
        copy_path = Path(out_dir) / src.name
        if not copy_path.is_file():
            stale.append(f"{src.name} (missing)")
            continue
        meta = nbformat.read(copy_path, as_version=4).metadata.get(META_KEY, {})
        if meta.get("source_sha256") != file_sha256(src):
            stale.append(f"{src.name} (made from an older version of notebooks/{src.name})")
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpainting.teaching.student", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help=f"source notebooks (default: every {NOTEBOOK_GLOB} in notebooks/)")
    parser.add_argument("--out", type=Path, default=STUDENT_DIR,
                        help="folder for the student copies (default: student/ at the repository root)")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        if not path.is_file():
            parser.error(f"no such notebook: {path}")
    try:
        written = write_student_copies(args.notebooks or None, args.out)
    except SolutionMarkupError as exc:
        print(f"student copies NOT written: {exc}", file=sys.stderr)
        return 1
    for path in written:
        nb = nbformat.read(path, as_version=4)
        n = sum(1 for c in nb.cells if is_solution_cell(c))
        print(f"{path}: {n} solution cell(s) replaced by a prompt, outputs cleared")
    return 0


if __name__ == "__main__":
    sys.exit(main())
