"""Student copies (``inpainting.teaching.student``): solutions gone, everything else identical to the source."""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from inpainting.teaching import student
from inpainting.teaching.student import (CODE_STUB, TEXT_STUB, SolutionMarkupError, is_solution_cell,
                                stale_copies, student_cell, student_notebook, write_student_copies)

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob(student.NOTEBOOK_GLOB))
MARKERS = (student.BEGIN_SOLUTION, student.END_SOLUTION, student.BEGIN_HIDDEN, student.END_HIDDEN)
SOLUTION_META = {"nbgrader": {"solution": True, "grade": False, "locked": False,
                              "schema_version": 3, "grade_id": "ex1"}}


def _code(source, **meta):
    cell = nbformat.v4.new_code_cell(source, metadata=meta)
    cell.outputs = [nbformat.v4.new_output("stream", text="old output")]
    cell.execution_count = 3
    return cell


# --------------------------------------------------------------------------- the rules, one by one
def test_code_region_becomes_the_nbgrader_stub_at_its_indentation():
    cell = _code("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\nprint(f(1))",
                 **SOLUTION_META)
    out = student_cell(cell)
    assert out.source == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\nprint(f(1))"
    assert out.outputs == [] and out.execution_count is None
    assert cell.source.count("return 2 * x") == 1 and cell.outputs, "the source cell is not changed"


def test_markdown_region_and_whole_solution_cells():
    md = nbformat.v4.new_markdown_cell("Why?\n\n### BEGIN SOLUTION\nBecause L_rec is an L2 loss.\n"
                                       "### END SOLUTION", metadata=SOLUTION_META)
    assert student_cell(md).source == f"Why?\n\n{TEXT_STUB}"
    whole_md = nbformat.v4.new_markdown_cell("The answer is 42.", metadata=SOLUTION_META)
    assert student_cell(whole_md).source == TEXT_STUB
    whole_code = _code("answer = 42", **SOLUTION_META)
    assert student_cell(whole_code).source == CODE_STUB


def test_hidden_tests_are_removed_and_plain_cells_kept():
    check = _code("assert answer > 0\n### BEGIN HIDDEN TESTS\nassert answer == 42\n### END HIDDEN TESTS")
    assert student_cell(check).source == "assert answer > 0"
    plain = _code("x = 1  # not a solution\n")
    assert student_cell(plain).source == plain.source, "byte for byte, trailing newline included"


@pytest.mark.parametrize("source, message", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside an open region"),
])
def test_broken_markup_is_refused(source, message):
    with pytest.raises(SolutionMarkupError, match=message):
        student_cell(_code(source, **SOLUTION_META))


def test_solution_region_in_an_untagged_cell_is_refused():
    """Without the nbgrader tag a teacher's nbgrader would refuse the notebook; so does the kit."""
    with pytest.raises(SolutionMarkupError, match="not marked as a solution cell"):
        student_cell(_code("### BEGIN SOLUTION\nx = 42\n### END SOLUTION"))


def test_nothing_is_written_when_one_notebook_is_broken(tmp_path):
    good = nbformat.v4.new_notebook(cells=[_code("x = 1")])
    bad = nbformat.v4.new_notebook(cells=[_code("### BEGIN SOLUTION\nx = 42\n### END SOLUTION")])
    src = tmp_path / "src"
    src.mkdir()
    nbformat.write(good, src / "01_good.ipynb")
    nbformat.write(bad, src / "02_bad.ipynb")
    with pytest.raises(SolutionMarkupError, match="02_bad.ipynb"):
        write_student_copies(sorted(src.glob("*.ipynb")), tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.ipynb")) if (tmp_path / "out").exists() else True


# ---------------------------------------------------------------------- the kit's own notebooks
def _solution_lines(nb) -> set[str]:
    """Lines inside solution regions (or whole solution cells) that appear nowhere else in ``nb``:
    the text a student copy must not contain."""
    inside, outside = set(), set()
    for cell in nb.cells:
        regions = is_solution_cell(cell) and student.BEGIN_SOLUTION in cell.source
        whole = is_solution_cell(cell) and not regions
        active = whole
        for line in cell.source.splitlines():
            if student.BEGIN_SOLUTION in line:
                active = True
            elif student.END_SOLUTION in line:
                active = False
            elif line.strip():
                (inside if active else outside).add(line.strip())
    return {line for line in inside - outside if len(line) > 3}


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    write_student_copies(SOURCES, out)
    return out


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_student_copy_has_no_solution_text(src, copies):
    source = nbformat.read(src, as_version=4)
    text = nbformat.read(copies / src.name, as_version=4)
    body = "\n".join(c.source for c in text.cells)
    for marker in MARKERS:
        assert marker not in body
    lines = {line.strip() for line in body.splitlines()}
    # A solution line may not reappear as a line, nor (when long enough to be specific) inside one.
    leaked = [line for line in _solution_lines(source)
              if line in lines or (len(line) >= 30 and line in body)]
    assert not leaked, f"solution text in the student copy of {src.name}: {leaked[:3]}"
    for cell in text.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_student_copy_matches_its_source_outside_the_solutions(src, copies):
    source = nbformat.read(src, as_version=4)
    text = nbformat.read(copies / src.name, as_version=4)
    assert [(c.get("id"), c.cell_type) for c in text.cells] == \
        [(c.get("id"), c.cell_type) for c in source.cells]
    for mine, theirs in zip(text.cells, source.cells):
        if is_solution_cell(theirs):
            stub = CODE_STUB if theirs.cell_type == "code" else TEXT_STUB
            body = [line.strip() for line in mine.source.splitlines()]
            assert all(line in body for line in stub.splitlines()), "every solution cell gets the prompt"
        elif student.BEGIN_HIDDEN not in theirs.source:
            assert mine.source == theirs.source
        assert mine.metadata.get("tags") == theirs.metadata.get("tags")
    assert text.metadata["kernelspec"] == source.metadata["kernelspec"]


def test_copies_are_regenerated_identically(copies, tmp_path):
    """Making the copies is deterministic, so a stale copy is a changed source, nothing else."""
    write_student_copies(SOURCES, tmp_path)
    for src in SOURCES:
        assert (tmp_path / src.name).read_text() == (copies / src.name).read_text()
    assert stale_copies(tmp_path, SOURCES) == []


def test_a_changed_source_makes_its_copy_stale(tmp_path):
    src_dir = tmp_path / "notebooks"
    src_dir.mkdir()
    path = src_dir / "01_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[_code("x = 1")]), path)
    write_student_copies([path], tmp_path / "student")
    assert stale_copies(tmp_path / "student", [path]) == []
    nbformat.write(nbformat.v4.new_notebook(cells=[_code("x = 2")]), path)
    assert stale_copies(tmp_path / "student", [path]) == ["01_x.ipynb (made from an older version "
                                                           "of notebooks/01_x.ipynb)"]


@pytest.mark.skipif(not (ROOT / "student").is_dir(), reason="no student/ copies made here "
                    "(./run_all.sh student makes them)")
def test_the_repository_student_copies_are_in_sync():
    stale = stale_copies(ROOT / "student", SOURCES)
    assert not stale, f"student/ copies out of date: {', '.join(stale)}; run ./run_all.sh student"


def test_command_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "inpainting.teaching.student", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == [p.name for p in SOURCES]
    assert "solution cell(s) replaced by a prompt" in proc.stdout
    assert student_notebook(SOURCES[0]).metadata[student.META_KEY]["source"] == f"notebooks/{SOURCES[0].name}"
