"""Notebook hygiene, and one run of every notebook in the smoke profile."""
import ast
import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

from inpainting.teaching.notebook_runner import KERNEL_NAME as KERNEL, run_notebook
from inpainting.teaching.student import BEGIN_SOLUTION, END_SOLUTION

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CELL_TIMEOUT_S = 900
EXPECTED = ["01_data", "02_architecture", "03_training", "04_loss_ablation",
            "05_perceptual_levels", "06_evaluation", "07_interactive_demo"]


# Figures every profile must produce, whatever the data (bar plots and grids of notebooks 02-06).
PLOTS_ON_EVERY_DATASET = ("generator_input", "architecture", "local_patch", "receptive_field",
                          "one_step_changes", "loss_full", "loss_ablation_grid_centre",
                          "loss_ablation_psnr", "perceptual_levels_grid", "perceptual_levels_psnr",
                          "faces_grid_centre", "faces_psnr_hole", "facades_grid_centre",
                          "facades_psnr_hole")


def test_notebook_series_is_complete():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_hygiene(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert 'profile = "demo"' in tagged[0].source, "the parameters cell defines profile"
    assert nb.metadata["kernelspec"]["name"] == KERNEL
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "commit without outputs"
            # A cell marker pasted into a cell ("# %%") is a cell boundary lost in conversion; an
            # indented one silently moved the code after it into the block above.
            stray = [line for line in cell.source.splitlines() if line.strip().startswith("# %%")]
            assert not stray, f"cell {cell.get('id')}: stray cell marker {stray[0]!r}"


# ----------------------------------------------------------------------------- teaching structure
def _exercise_count(nb) -> int:
    return sum(len(re.findall(r"^\*\*Exercise \d+", c.source, re.M)) for c in nb.cells
               if c.cell_type == "markdown")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_opens_with_learning_goals_and_time(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {path.stem[:2]} ")
    assert "**Learning goals.**" in first.source, "the first cell states the learning goals"
    assert "**You will see**" in first.source, "the first cell says what the learner will see"
    assert re.search(r"\*\*Time:\*\* (about|under) [^,;]*?min", first.source), \
        "the first cell says roughly how long it takes (about / under N min)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_ends_with_exercises_in_nbgrader_form(path):
    nb = nbformat.read(path, as_version=4)
    headings = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
                and c.source.startswith("## Exercises")]
    assert len(headings) == 1, "one '## Exercises' section"
    assert _exercise_count(nb) >= 2, "at least two exercises"
    tail = nb.cells[headings[0]:]
    assert all(not c.source.startswith("## ") for c in tail[1:] if c.cell_type == "markdown"), \
        "the exercises close the notebook"
    ids, solutions, checks = [], 0, 0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        text = cell.source
        has_region = BEGIN_SOLUTION in text
        assert text.count(BEGIN_SOLUTION) == text.count(END_SOLUTION), f"cell {cell.get('id')}: unbalanced markers"
        if meta is None:
            assert not has_region, f"cell {cell.get('id')}: solution markers in a cell without nbgrader metadata"
            continue
        assert meta["schema_version"] == 3 and meta["grade_id"], cell.get("id")
        ids.append(meta["grade_id"])
        if meta["solution"]:
            solutions += 1
            assert has_region, f"solution cell {meta['grade_id']} has no BEGIN/END SOLUTION region"
            assert meta["grade"] is False and meta["locked"] is False
        elif meta["grade"]:
            checks += 1
            assert cell.cell_type == "code" and meta["locked"] and meta["points"] > 0, meta["grade_id"]
            assert not has_region, f"check cell {meta['grade_id']} holds a solution"
    assert len(ids) == len(set(ids)), f"duplicate grade_id in {sorted(ids)}"
    assert solutions >= 2, "at least two exercises with a solution"
    assert checks >= 1, "at least one 'check your answer' cell"


def test_grade_ids_are_unique_across_notebooks():
    ids = [c.metadata["nbgrader"]["grade_id"] for p in NOTEBOOKS for c in nbformat.read(p, 4).cells
           if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids))


# Outputs made from no trained run (a scratch trainer at initialisation; hand-made calibration
# fills of the semantic score): nothing to attach.
NO_RUNS = {"one_step_changes", "semantic_calibration_faces", "semantic_calibration_facades",
           "semantic_calibration_curves"}


def _output_name(call: ast.Call) -> str:
    """The output name of a ``report.x(obj, name, ...)`` call; an f-string gives its constant
    prefix and ``*``."""
    arg = call.args[1] if len(call.args) > 1 else None
    if isinstance(arg, ast.Constant):
        return str(arg.value)
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        return f"{arg.values[0].value}*"
    return "?"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if "03" <= p.stem[:2] <= "06"], ids=lambda p: p.stem)
def test_outputs_of_trained_runs_get_their_caveats_from_report(path):
    """No caveat is written by hand: every table, figure and text of notebooks 03-06 passes the runs
    it was made from (``runs=``) so Report attaches the caveats."""
    nb = nbformat.read(path, as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code"
                       and "nbgrader" not in c.metadata)
    assert "caveat" not in source.replace("caveats", ""), "a caveat passed by hand"
    calls = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr in ("figure", "table", "text")
             and isinstance(node.func.value, ast.Name) and node.func.value.id == "report"]
    assert calls, "the notebook reports its outputs"
    for call in calls:
        name = _output_name(call)
        if name in NO_RUNS or (name.endswith("*") and any(n.startswith(name[:-1]) for n in NO_RUNS)):
            continue
        assert any(k.arg == "runs" for k in call.keywords), f"report.{call.func.attr}({name!r}) without runs="


def _kernel_installed() -> bool:
    from jupyter_client.kernelspec import KernelSpecManager
    return KERNEL in KernelSpecManager().find_kernel_specs()


def run_all_notebooks(results: Path, profile: str, overrides: dict | None, env: dict) -> None:
    """Execute 01..07 in order with the runner run_all.sh uses, with ``env`` set for the kernel.

    Each cell gets CELL_TIMEOUT_S, so a stuck kernel fails the test instead of stalling CI.
    """
    if not _kernel_installed():
        pytest.fail(f"Jupyter kernel {KERNEL!r} is not registered: run ./run_all.sh setup first")
    env_backup = dict(os.environ)
    os.environ.update({"INPAINTING_RESULTS": str(results), "INPAINTING_OFFLINE": "1",
                       "MPLBACKEND": "module://matplotlib_inline.backend_inline", **env})
    try:
        for path in NOTEBOOKS:
            run_notebook(path, results.parent / path.name, profile, overrides, timeout=CELL_TIMEOUT_S)
    finally:
        os.environ.clear()
        os.environ.update(env_backup)


@pytest.mark.slow
def test_all_notebooks_run_in_smoke_profile(tmp_path):
    results = tmp_path / "results"
    run_all_notebooks(results, "smoke", None, {})
    results = results / "smoke"          # $INPAINTING_RESULTS/<profile> (issue 18)
    summary = (results / "summary.md").read_text()
    figures = sorted(p.name for p in (results / "figures").glob("*.png"))
    tables = sorted(p.name for p in (results / "tables").glob("*.csv"))
    assert "loss_ablation.csv" in tables and "perceptual_levels.csv" in tables
    assert "faces_all_methods.csv" in tables and "facades_all_methods.csv" in tables
    assert "receptive_field.png" in figures and "demo_left_eye.png" in figures
    for name in PLOTS_ON_EVERY_DATASET:
        assert f"{name}.png" in figures, f"{name}.png not made in the smoke profile"
    for name in tables + figures:
        assert name.rsplit(".", 1)[0] in summary, f"{name} missing from summary.md"
    outputs = json.loads((results / "outputs.json").read_text())
    assert {e["notebook"] for e in outputs.values()} == set(EXPECTED)
    # pretrained features offline (issue 17): named in every caveat, no random-weights warning
    assert "perceptual network: vgg16 with HED weights" in summary
    logs = [summary] + [p.read_text() for p in tmp_path.glob("*.ipynb")]   # the executed copies
    assert not any("RANDOM" in text or "OFFLINE FALLBACK" in text for text in logs)


@pytest.mark.slow
def test_paper_profile_runs_on_fixture_datasets(tmp_path):
    """The paper profile, on small folders laid out exactly like CelebA and Paris StreetView, with
    a tiny step count: what a user with the real data runs first."""
    sys.path.insert(0, str(Path(__file__).parent))
    from fixtures import make_celeba, make_paris
    data = tmp_path / "data"
    make_celeba(data / "celeba", n=16)
    make_paris(data / "paris", n_train=6, n_test=3)
    tiny = {"train.batch_size": 2, "train.steps_g": 1, "train.steps_d": 1, "train.steps_joint": 1,
            "train.log_every": 1, "train.sample_every": 1, "train.checkpoint_every": 1,
            "faces.n_test": 2, "facades.n_test": 2, "loss.per_weights": "random"}
    results = tmp_path / "results"
    run_all_notebooks(results, "paper", tiny, {"INPAINTING_DATA": str(data)})
    results = results / "paper"          # $INPAINTING_RESULTS/<profile> (issue 18)
    faces = (results / "tables" / "faces_all_methods.csv").read_text()
    facades = (results / "tables" / "facades_all_methods.csv").read_text()
    assert "Context Encoder" in faces and "GLCIC" in faces
    assert "Pathak et al. 2016" in facades and "Pathak et al. 2016" not in faces
    assert "celeba" in (results / "tables" / "datasets.csv").read_text()
    # On real data there are no generating attributes, so no semantic grids; every other output,
    # the bar plots included, must still be made (a plot once hid inside `if semantic_set:`).
    figures = {p.stem for p in (results / "figures").glob("*.png")}
    for name in PLOTS_ON_EVERY_DATASET:
        assert name in figures, f"{name}.png not made on the CelebA/Paris look-alike fixtures"
    assert "loss_ablation_grid_eye" not in figures and "faces_grid_eye" not in figures
