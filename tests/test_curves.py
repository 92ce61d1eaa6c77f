"""Learning curves (evaluation/curves.py) on a smoke-size run: the run keeps its generators at the
joint-stage points of train.curve_points (a neutral field: the key stays), the curve table has one
point per kept step with an interval on every metric, and the last point is the finished
generator's own evaluation."""
from __future__ import annotations

import math

import matplotlib
import pytest

from inpainting import training
from inpainting.evaluation.comparison import compare
from inpainting.evaluation.curves import curve_columns, curve_points, learning_curves
from inpainting.models.perceptual_weights import OFFLINE_ENV
from inpainting.profiles import get_profile
from inpainting.disk import RESULTS_ENV
from inpainting.reporting.report import Report, save_learning_curves
from inpainting.training.records import curve_files

matplotlib.use("Agg")
STEPS = {"train.steps_g": 2, "train.steps_d": 1, "train.steps_joint": 6, "train.log_every": 3}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("curves")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(RESULTS_ENV, str(base / "results"))
        mp.setenv(OFFLINE_ENV, "1")
        profile = get_profile("smoke", {**STEPS, "train.curve_points": 3})
        result = training.Trainer(training.RunSpec(profile, "faces"), progress=False).fit()
        yield profile, result


def test_curve_points_are_neutral_and_kept_in_the_run(run):
    profile, result = run
    plain = get_profile("smoke", STEPS)
    assert training.RunSpec(plain, "faces").key == result.key == \
        training.RunSpec(profile, "faces").key
    # joint stage from 3 steps done to 9: its start and 3 evenly spaced points
    assert sorted(curve_files(result.out_dir)) == [3, 5, 7, 9]
    assert training.Schedule(2, 1, 6, True).curve_points(0) == []
    assert training.Schedule(2, 0, 0, True).curve_points(6) == []
    with pytest.raises(ValueError, match="train.curve_points"):
        get_profile("smoke", {"train.curve_points": -1})


def test_the_curve_table_and_its_last_point(run, tmp_path):
    profile, result = run
    curves = learning_curves({"full": [result]}, profile, "faces")
    table = curves.table
    assert list(table.columns) == curve_columns("faces", "eye_error")
    assert list(table.columns[-2:]) == ["n_images", "n_seeds"]
    assert table.groupby("kind").joint_step.apply(list).tolist() == [[0, 2, 4, 6]] * 2
    for metric in curves.metrics:
        lo, mid, hi = table[f"{metric}_lo"], table[metric], table[f"{metric}_hi"]
        assert mid.notna().all() and (lo <= mid + 1e-9).all() and (mid <= hi + 1e-9).all(), metric
    assert set(curves.metrics) == {"psnr_hole", "kid_x1000", "semantic_eye_error"}
    assert (table.n_seeds == 1).all() and (table.n_images == profile.faces.n_test).all()
    # the generator changes along the joint stage
    assert table.groupby("kind").psnr_hole.nunique().min() > 1
    # exact: the last kept generator is the finished one, evaluated by the same code
    own = compare({"full": [result]}, profile, "faces", progress=False).table()
    own = own[own.method == "full"].set_index("kind")
    last = table[table.joint_step == 6].set_index("kind")
    for metric in curves.metrics:
        for c in (metric, f"{metric}_lo", f"{metric}_hi"):
            assert last[c].tolist() == own[c].tolist(), c
    csv, png = save_learning_curves(Report(profile.name, "test"), curves)
    assert csv.is_file() and png.is_file() and csv.name == "learning_curves_faces.csv"


def test_runs_without_kept_generators_are_refused_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv(OFFLINE_ENV, "1")
    profile = get_profile("smoke", {**STEPS, "train.steps_joint": 1})
    result = training.Trainer(training.RunSpec(profile, "faces"), tmp_path / "r",
                              progress=False).fit()
    with pytest.raises(ValueError, match=r"row 'plain'.*kept 0 generator.*train.curve_points >= 2"):
        curve_points("plain", [result])
    assert not math.isnan(result.history.rec.iloc[-1])


def test_a_seed_that_lost_a_kept_generator_drops_that_point_and_shifts_no_other(tmp_path):
    """Seed 1 lost its first kept generator (step 20): the row keeps the steps both seeds have, at
    their own joint steps, never seed 0's step 60 beside seed 1's step 90."""
    from types import SimpleNamespace
    runs = []
    for seed, steps in ((0, (20, 50, 80, 110)), (1, (50, 80, 110))):
        folder = tmp_path / f"seed{seed}" / "curve"
        folder.mkdir(parents=True)
        for step in steps:
            (folder / f"step_{step}.pt").write_bytes(b"x")
        runs.append(SimpleNamespace(out_dir=folder.parent, provenance={"seed": seed}))
    points = curve_points("row", runs)
    assert sorted(points) == [30, 60, 90]
    for step, kept in points.items():
        assert {p.generator_path.name for p in kept} == {f"step_{step + 20}.pt"}
