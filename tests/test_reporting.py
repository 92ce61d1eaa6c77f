import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch

from inpainting.comparison import GREY_FILL, grey_fill
from inpainting.experiments import literature_rows
from inpainting.profiles import get_profile
from inpainting.reporting import Report, markdown_table


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINTING_RESULTS", str(tmp_path))
    return tmp_path


def test_markdown_table_formats_numbers_and_missing_values():
    text = markdown_table(pd.DataFrame({"method": ["a", "b"], "psnr": [21.23456, float("nan")]}))
    assert text.splitlines() == ["| method | psnr |", "|---|---|", "| a | 21.23 |", "| b |  |"]


def test_report_writes_files_registry_and_summary(results):
    report = Report("smoke", "04_loss_ablation")
    report.table(pd.DataFrame({"method": ["L_rec"], "psnr_hole": [20.5]}), "loss_ablation", "how T3 was made")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    report.figure(fig, "curve", "how the curve was made")
    assert (results / "tables" / "loss_ablation.csv").exists()
    assert (results / "figures" / "curve.png").read_bytes()[:4] == b"\x89PNG"
    registry = json.loads((results / "outputs.json").read_text())
    assert set(registry) == {"04_loss_ablation/loss_ablation", "04_loss_ablation/curve"}
    summary = (results / "summary.md").read_text()
    assert "how T3 was made" in summary and "| L_rec | 20.5 |" in summary
    assert "![04_loss_ablation/curve](figures/curve.png)" in summary
    assert "No number here is the paper's" in summary
    assert not list(results.rglob("*.tmp")), "atomic writes leave no temporary files"


def test_summary_carries_run_warnings(results):
    (results / "run.json").write_text(json.dumps({"warnings": {"perceptual": "RANDOM VGG weights"}}))
    Report("smoke", "03_training").table(pd.DataFrame({"a": [1]}), "t", "how")
    assert "**WARNING:** RANDOM VGG weights" in (results / "summary.md").read_text()


def test_literature_figure_only_beside_real_paris_streetview():
    assert literature_rows(get_profile("demo")).empty
    rows = literature_rows(get_profile("paper"))
    assert len(rows) == 1 and "literature, not this kit's run" in rows.loc[0, "method"]
    assert rows.loc[0, "literature PSNR (dB, region convention unverified)"] == 18.58


def test_grey_fill_reference_is_the_generator_input():
    images, masks = torch.rand(2, 3, 8, 8) * 2 - 1, torch.zeros(2, 1, 8, 8)
    masks[..., 2:6, 2:6] = 1
    out = grey_fill(images, masks)
    assert torch.equal(out[..., 2:6, 2:6], torch.zeros(2, 3, 4, 4))
    assert torch.equal(out * (1 - masks), images * (1 - masks))
    assert GREY_FILL.startswith("masked input")
