"""The interactive demo of notebook 07 (``inpainting.teaching.demo``): state, models found, metrics, widgets."""
import json
import math
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from inpainting.teaching import demo as D
from inpainting.experiments import FoundModel
from inpainting.teaching.demo import BIHARMONIC, Demo, find_models, missing_message
from inpainting.teaching.demo_ui import DemoUI
from inpainting.experiments import ABLATION_VARIANTS, FULL_MODEL, variant_spec
from inpainting.evaluation.metrics import psnr, ssim, to_uint8
from inpainting.models import build_inpainter, save_generator
from inpainting.profiles import ModelConfig, get_profile, with_overrides
from inpainting.disk import results_dir

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "07_interactive_demo.ipynb"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("INPAINTING_OFFLINE", "1")   # no ImageNet download attempt while keys are computed


@pytest.fixture(scope="module")
def smoke():
    return get_profile("smoke")


def _untrained(generator: str, size: int = 32):
    torch.manual_seed(0)
    return build_inpainter(ModelConfig(generator=generator), size).eval()


def _fake_run(folder: Path, generator: str = "lite", status: str = "finished", identity: dict | None = None):
    """A run folder as the trainer leaves it, holding an untrained generator."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = ModelConfig(generator=generator)
    save_generator(folder / "generator.pt", _untrained(generator), 32, cfg, {"steps": 0})
    from inpainting.training.runs import FORMAT
    (folder / "identity.json").write_text(json.dumps(   # what run_identity always writes
        {"format": FORMAT, "role": "faces", "profile": {}, **(identity or {})}))
    (folder / "train_config.json").write_text(json.dumps({  # the fields the checked reader requires
        "status": status, "provenance": {}, "key": folder.name.split("-", 1)[-1]}))
    return folder


# ------------------------------------------------------------------------------------ the state
def test_index_slider_spans_exactly_the_test_set_of_the_chosen_dataset(smoke):
    """Issue 7: the slider ran 0-31 whatever the size (smoke wrapped at 8, demo never reached 32-47)."""
    ui = DemoUI(Demo(smoke))
    sizes = {role: len(ds) for role, ds in ui.demo.datasets.items()}
    assert sizes == {"faces": smoke.faces.n_test, "facades": smoke.facades.n_test, "photos": sizes["photos"]}
    assert (ui.index.min, ui.index.max) == (0, sizes["faces"] - 1)
    ui.set_values(role="photos", index=sizes["photos"] - 1)
    assert ui.index.max == sizes["photos"] - 1 and ui.demo.index == sizes["photos"] - 1
    ui.set_values(role="facades")
    assert ui.index.max == sizes["facades"] - 1
    assert ui.index.value == ui.demo.index == sizes["facades"] - 1, "the index is clamped, never wraps"


def test_index_slider_reaches_every_demo_test_image():
    demo_profile = get_profile("demo")
    d = Demo(demo_profile, roles=("faces",), models={"faces": []})
    assert d.test_size() == demo_profile.faces.n_test == 48
    d.select("faces", 47)
    assert d.index == 47
    with pytest.raises(ValueError, match="48 images"):
        d.select("faces", 48)


def test_hole_is_rectangle_union_strokes(smoke):
    d = Demo(smoke, models={"faces": []})
    d.set_rect(4, 6, 10, 8)
    expected = np.zeros((32, 32), np.float32)
    expected[4:14, 6:14] = 1
    assert np.array_equal(d.mask(), expected)
    d.set_rect(30, 30, 10, 10)                       # clipped to the image
    assert d.rect == (30, 30, 2, 2)
    d.set_rect(0, 0, 0, 5)                           # height 0: no rectangle
    assert not d.mask().any()
    d.add_stroke([(2, 20), (28, 20)], width=3)       # (x, y): a horizontal stroke at row 20
    m = d.mask()
    assert m[20, 2:29].all() and not m[:18].any() and not m[23:].any()
    d.add_stroke([(5, 5)], width=3)                  # a click: one dab
    assert d.mask()[5, 5] == 1
    d.clear_strokes()
    assert not d.mask().any()


def test_columns_hold_the_canonical_hole_metrics(smoke):
    d = Demo(smoke, models={"faces": []})
    cols = d.columns()
    assert [c.name for c in cols] == [BIHARMONIC]
    truth = to_uint8(d.image()[None])[0]
    mask = d.mask()
    out = cols[0].image
    assert np.array_equal(out[mask == 0], truth[mask == 0]), "known pixels are copied back"
    assert cols[0].psnr_hole == pytest.approx(psnr(truth, out, mask))
    assert cols[0].ssim_hole == pytest.approx(ssim(truth, out, mask))
    table = d.metrics_table()
    assert list(table.columns) == ["method", "psnr_hole", "ssim_hole", "note"]
    d.set_rect(0, 0, 0, 0)
    empty = d.columns()
    assert math.isnan(empty[0].psnr_hole) and "empty" in empty[0].note


def test_every_model_gets_a_column_and_a_centre_only_model_says_why(smoke):
    lite = FoundModel("lite (untrained)", "faces", Path("/nonexistent"), _model=_untrained("lite"))
    ce = FoundModel("Context Encoder (untrained)", "faces", Path("/nonexistent"),
                    _model=_untrained("context_encoder"))
    d = Demo(smoke, models={"faces": [lite, ce]})
    names = [c.name for c in d.columns()]
    assert names == [BIHARMONIC, "lite (untrained)", "Context Encoder (untrained)"]
    assert all(c.image is not None for c in d.columns()), "the centre square: every model completes it"
    d.set_rect(0, 0, 6, 6)                          # off-centre
    cols = {c.name: c for c in d.columns()}
    assert cols["Context Encoder (untrained)"].image is None
    assert "cannot complete this hole" in cols["Context Encoder (untrained)"].note
    assert not math.isnan(cols["lite (untrained)"].psnr_hole)
    fig = d.figure()
    assert len([ax for ax in fig.axes if ax.images]) == 4, "input, biharmonic, lite, truth (CE: none)"


def test_a_damaged_model_file_shows_an_error_and_the_demo_goes_on(smoke, tmp_path):
    bad = tmp_path / "run"
    bad.mkdir()
    (bad / "generator.pt").write_bytes(b"not a torch file")
    d = Demo(smoke, models={"faces": [FoundModel("broken", "faces", bad)]})
    cols = {c.name: c for c in d.columns()}
    assert cols["broken"].image is None and "generator.pt" in cols["broken"].note
    assert cols[BIHARMONIC].image is not None


def test_eye_centres_come_from_the_faces_attributes(smoke):
    d = Demo(smoke, models={"faces": []})
    attrs = d.datasets["faces"].attributes(3)
    left, right, radius = d.eye_centres(3)
    assert left == (attrs["eye_left_center"][1], attrs["eye_left_center"][0])
    assert right == (attrs["eye_right_center"][1], attrs["eye_right_center"][0])
    assert radius == attrs["eye_radius"]


# ------------------------------------------------------------------------------- models found
def test_find_models_names_the_notebooks_runs_and_labels_the_others(smoke):
    runs = results_dir(smoke.name, "runs", "faces")
    spec = variant_spec(smoke, ABLATION_VARIANTS["L_rec"], "faces")
    _fake_run(runs / f"lite-{spec.key}")
    _fake_run(runs / f"lite-{spec.init.key}")                          # its warm start
    _fake_run(runs / "glcic-0123456789ab", "glcic", identity={"profile": {
        "model": {"generator": "glcic"}, "loss": {"w_adv": 0.01, "w_per": 0.0},
        "train": {"steps_g": 7, "steps_d": 1, "steps_joint": 2}}})
    _fake_run(runs / "lite-unfinished", status="running")
    (runs / "lite-empty").mkdir()
    found = find_models(smoke, "faces")
    names = [m.name for m in found]
    assert names[0] == "L_rec"
    assert names[1].startswith("warm start of lite")
    assert names[2] == "glcic: L_rec + L_adv, steps 7/1/2 (glcic-0123456789ab)"
    assert len(found) == 3, "unfinished and empty run folders are not models"
    photos = find_models(smoke, "photos")
    assert [m.name for m in photos][0] == "L_rec [trained on faces]"
    assert find_models(smoke, "facades") == []
    assert found[0].model() is not None


def test_the_full_model_is_found_once_under_its_first_name(smoke):
    """The full model is the last ablation row and the relu3_1 row of 05: one run, one tile."""
    runs = results_dir(smoke.name, "runs", "faces")
    spec = variant_spec(smoke, ABLATION_VARIANTS[FULL_MODEL], "faces")
    _fake_run(runs / f"lite-{spec.key}")
    assert [m.name for m in find_models(smoke, "faces")] == [FULL_MODEL]


def test_tiny_training_and_missing_message():
    demo_profile, smoke = get_profile("demo"), get_profile("smoke")
    assert D.tiny_overrides(demo_profile) == {"train.steps_g": 60, "train.steps_d": 10,
                                              "train.steps_joint": 30}
    assert D.tiny_overrides(smoke) == {"train.steps_g": smoke.train.steps_g,
                                       "train.steps_d": smoke.train.steps_d,
                                       "train.steps_joint": smoke.train.steps_joint}
    text = missing_message(demo_profile, "faces")
    assert "notebooks/04_loss_ablation.ipynb" in text and "Quick tiny training" in text
    assert str(results_dir("demo", "runs", "faces")) in text and "60/10/30" in text
    assert "notebooks/06_evaluation.ipynb" in missing_message(demo_profile, "facades")


# -------------------------------------------------------------------------------------- widgets
def test_callbacks_change_the_hole_and_the_completions(smoke):
    lite = FoundModel("lite (untrained)", "faces", Path("/nonexistent"), _model=_untrained("lite"))
    ui = DemoUI(Demo(smoke, models={"faces": [lite], "facades": [], "photos": []}))
    assert ui.train_button.layout.display == "none", "models found: no training offered"
    tiles = {name: img for name, img, _ in ui._tiles}
    assert list(tiles) == ["ground truth", BIHARMONIC, "lite (untrained)"]
    before = {name: img.value for name, img in tiles.items()}
    hole_before = ui.hole_label.value
    n = ui.updates
    ui.set_values(top=0, left=0, height=8, width=8)
    assert ui.updates == n + 1, "several values, one recomputation"
    assert ui.demo.rect == (0, 0, 8, 8)
    after = {name: img.value for name, img in tiles.items()}
    assert after[BIHARMONIC] != before[BIHARMONIC] and after["lite (untrained)"] != before["lite (untrained)"]
    assert after["ground truth"] == before["ground truth"] and ui.hole_label.value != hole_before
    s = ui.scale
    ui.stroke([(20 * s, 20 * s), (28 * s, 28 * s)])  # a drag on the canvas (canvas pixels)
    assert ui.demo.mask()[24, 24] == 1
    assert tiles[BIHARMONIC].value != after[BIHARMONIC]
    ui._on_clear()
    assert ui.demo.strokes.sum() == 0
    ui._on_mouse_move(5, 5)                         # moving without a press draws nothing
    assert ui.demo.strokes.sum() == 0
    ui.set_values(role="facades")
    assert ui.train_button.layout.display is None, "no facades model: the training button shows"
    assert "notebooks/06_evaluation.ipynb" in ui.status.value
    with pytest.raises(ValueError, match="no control named"):
        ui.set_values(colour=3)


@pytest.mark.slow
def test_the_training_button_trains_the_tiny_run_and_the_demo_finds_it(smoke):
    ui = DemoUI(Demo(smoke, roles=("faces",)))
    assert ui.demo.models() == [] and ui.train_button.layout.display is None
    ui.train_button.click()
    names = [m.name for m in ui.demo.models()]
    assert names[0] == FULL_MODEL, "in smoke the tiny budget is the profile's own: the full model"
    assert BIHARMONIC in [name for name, _, _ in ui._tiles] and FULL_MODEL in [n for n, _, _ in ui._tiles]
    assert ui.train_button.layout.display == "none"
    assert ui.demo.runs()[FULL_MODEL].provenance["role"] == "faces"


# ----------------------------------------------------------------------------------- notebook 07
def test_notebook_07_teaches_and_stays_thin():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    first = nb.cells[0].source
    assert "Learning goals" in first and "Time:" in first
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and params[0].source == 'profile = "demo"\noverrides = {}'
    solutions = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    checks = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    exercises = [c for c in nb.cells if c.cell_type == "markdown" and "**Exercise" in c.source]
    assert len(exercises) >= 2 and len(solutions) >= 2 and len(checks) >= 1
    for cell in solutions:
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
        assert cell.metadata["nbgrader"]["schema_version"] == 3
    grade_ids = [c.metadata["nbgrader"]["grade_id"] for c in solutions + checks]
    assert len(set(grade_ids)) == len(grade_ids)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert all(len(src.splitlines()) <= 20 for src in code), "logic lives in inpainting.teaching.demo"
    assert any("DemoUI(demo)" in src for src in code) and any("ui.stroke(" in src for src in code)


def test_faces_and_facades_of_different_sizes_work_in_one_demo(smoke):
    """Issue 18, family 6: the demo crashed in scikit-image when faces and facades differ in size."""
    profile = with_overrides(smoke, {"facades.image_size": 48})
    d = Demo(profile, roles=("faces", "facades"), models={"faces": [], "facades": []})
    assert d.size == 32 and d.mask().shape == (32, 32)
    d.add_stroke([(2, 2), (10, 2)])
    d.select("facades")
    assert d.size == 48 and d.mask().shape == (48, 48) and d.strokes.shape == (48, 48)
    assert d.rect == (12, 12, 24, 24)                      # the centre square, scaled with the image
    assert d.strokes[:6, :18].any()                        # the stroke, redrawn at 48 px
    cols = d.columns()
    assert cols[0].image.shape == (48, 48, 3) and math.isfinite(cols[0].psnr_hole)
    d.select("faces")
    assert d.mask().shape == (32, 32) and math.isfinite(d.columns()[0].psnr_hole)
