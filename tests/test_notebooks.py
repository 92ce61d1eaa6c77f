"""Notebook hygiene, and one run of every notebook in the smoke profile."""
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KERNEL = "inpainting-kit"
EXPECTED = ["01_data", "02_architecture", "03_training", "04_loss_ablation",
            "05_perceptual_levels", "06_evaluation", "07_interactive_demo"]


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


def _kernel_installed() -> bool:
    from jupyter_client.kernelspec import KernelSpecManager
    return KERNEL in KernelSpecManager().find_kernel_specs()


@pytest.mark.slow
def test_all_notebooks_run_in_smoke_profile(tmp_path):
    """Executes 01..07 in order with papermill, as run_all.sh does, into a temporary results dir."""
    if not _kernel_installed():
        pytest.fail(f"Jupyter kernel {KERNEL!r} is not registered: run ./run_all.sh setup first")
    import papermill as pm
    env_backup = dict(os.environ)
    os.environ.update({"INPAINTING_RESULTS": str(tmp_path / "results"), "INPAINTING_OFFLINE": "1",
                       "MPLBACKEND": "module://matplotlib_inline.backend_inline"})
    try:
        for path in NOTEBOOKS:
            out = tmp_path / path.name
            pm.execute_notebook(str(path), str(out), parameters={"profile": "smoke"},
                                kernel_name=KERNEL, cwd=str(ROOT / "notebooks"),
                                progress_bar=False)
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    results = tmp_path / "results"
    summary = (results / "summary.md").read_text()
    figures = sorted(p.name for p in (results / "figures").glob("*.png"))
    tables = sorted(p.name for p in (results / "tables").glob("*.csv"))
    assert "loss_ablation.csv" in tables and "perceptual_levels.csv" in tables
    assert "faces_all_methods.csv" in tables and "facades_all_methods.csv" in tables
    assert "receptive_field.png" in figures and "demo_left_eye.png" in figures
    for name in tables + figures:
        assert name.rsplit(".", 1)[0] in summary, f"{name} missing from summary.md"
    outputs = json.loads((results / "outputs.json").read_text())
    assert {e["notebook"] for e in outputs.values()} == set(EXPECTED)
