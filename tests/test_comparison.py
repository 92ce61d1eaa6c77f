"""Tests of inpainting.evaluation.comparison on the smoke profile's real (procedural) test sets, with cheap
methods: intervals on every metric, seeds averaged per image with their spread reported, findings
that state only what the paired bootstrap supports, and training runs loaded and traced."""
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import inpainting.models
from inpainting.evaluation import realism, stats
from inpainting.evaluation.comparison import (GREY_FILL, TABLE_COLUMNS, compare, interval_columns,
                                   spread_columns)
from inpainting.evaluation.metrics import METRIC_COLUMNS
from inpainting.profiles import get_profile, with_overrides
from inpainting.reporting.findings import _block, findings_text
from inpainting.reporting.viz import comparison_grid
from fixtures import make_oracle


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("results")
    mp.setenv("INPAINTING_RESULTS", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def profile(results):
    return get_profile("smoke")


def noise_fill(seed, amplitude=0.3):
    def fill(images, masks):
        g = torch.Generator().manual_seed(seed)
        return torch.rand(images.shape, generator=g) * 2 * amplitude - amplitude
    return fill


def grey(images, masks):
    return torch.zeros_like(images)


class CentreOnly:
    supported_mask_kinds = ("centre",)

    def __call__(self, images, masks):
        return torch.full_like(images, 0.1)


@pytest.fixture(scope="module")
def comparison(profile):
    return compare({"oracle (full)": make_oracle(profile), "noise": [noise_fill(s) for s in range(3)],
                    "grey copy": grey, "centre only": CentreOnly()}, profile, "faces", progress=False)


def test_table_has_an_interval_for_every_metric_and_stays_numeric(comparison):
    table = comparison.table()
    assert list(table.columns[:len(TABLE_COLUMNS)]) == TABLE_COLUMNS
    semantic = [c for c in table.columns[len(TABLE_COLUMNS):]]
    primary = comparison.semantic_columns[0]
    assert f"semantic_{primary}" in semantic and f"semantic_{primary}_lo" in semantic
    assert list(table["method"].unique()) == [GREY_FILL, "oracle (full)", "noise", "grey copy",
                                              "centre only"]
    for column in table.columns[2:]:
        assert pd.api.types.is_numeric_dtype(table[column]), column
    metrics = [*METRIC_COLUMNS, *[c for c in semantic if not c.endswith(("_lo", "_hi"))
                                  and "_seed_" not in c]]
    done = table[table["n_images"] > 0]
    for m in metrics:
        mean, lo, hi = (done[c] for c in interval_columns(m))
        ok = mean.notna() & lo.notna()
        assert ok.any(), m
        assert ((lo[ok] <= mean[ok] + 1e-9) & (mean[ok] <= hi[ok] + 1e-9)).all(), m
    assert table.attrs["confidence"] == 0.95 and table.attrs["bootstrap"] == 2000


def test_every_row_has_kid_with_its_interval_and_fid_per_mask_kind(comparison, profile):
    """Realism columns: the oracle (the truth) scores KID 0 and FID 0; a noise fill, the grey
    fill and a constant fill score above it; an unsupported kind has no numbers; the cells are
    realism's own functions of the comparison's features; a multi-seed row has a seed spread."""
    table = comparison.table().set_index(["method", "kind"])
    for kind in ("centre", "squares"):
        oracle = table.loc[("oracle (full)", kind)]
        assert (oracle["kid_x1000"], oracle["kid_x1000_lo"], oracle["kid_x1000_hi"]) == (0, 0, 0)
        assert abs(oracle["fid"]) < 1e-3
        for bad in ("noise", GREY_FILL, "grey copy"):
            row = table.loc[(bad, kind)]
            assert row["kid_x1000_lo"] > 0 and row["fid"] > 1, (bad, kind)
            assert row["kid_x1000_lo"] <= row["kid_x1000"] <= row["kid_x1000_hi"]
    assert table.loc[("centre only", "centre"), "kid_x1000_lo"] > 0
    assert table.loc[("centre only", "squares"), list(realism.TABLE_COLUMNS)].isna().all()
    scores = comparison.realism
    ci = realism.kid_interval(scores.fake["noise"]["centre"], scores.real["centre"],
                              profile.experiments.bootstrap, profile.experiments.confidence)
    row = comparison.summary.query("method == 'noise' and kind == 'centre'").iloc[0]
    assert (row["kid_x1000"], row["kid_x1000_lo"], row["kid_x1000_hi"]) == (ci.estimate, ci.lo, ci.hi)
    assert len(scores.fake["noise"]["centre"]) == 3 and row["kid_x1000_seed_sd"] > 0
    assert row["fid"] == pytest.approx(np.mean([realism.fid(f, scores.real["centre"])
                                                for f in scores.fake["noise"]["centre"]]))
    assert np.isnan(table.loc[("oracle (full)", "centre"), "kid_x1000_seed_sd"])
    attrs = comparison.table().attrs
    assert attrs["realism_columns"] == realism.REALISM_COLUMNS
    assert "n = 8 images is biased" in attrs["realism_note"]
    assert "32-px images are upsampled to 299 px" in attrs["realism_note"]


def test_intervals_are_the_bootstrap_of_the_per_image_values(comparison, profile):
    rows = comparison.per_image
    noise = rows[(rows["method"] == "noise") & (rows["kind"] == "centre")]
    row = comparison.summary.query("method == 'noise' and kind == 'centre'").iloc[0]
    ci = stats.mean_interval(noise["ssim_hole"], profile.experiments.bootstrap,
                             profile.experiments.confidence)
    assert (row["ssim_hole"], row["ssim_hole_lo"], row["ssim_hole_hi"]) == (ci.estimate, ci.lo, ci.hi)
    # PSNR: the PSNR of the mean MSE (issue 18: one exact image must not dominate)
    ci = stats.psnr_summary(noise["psnr_hole"], profile.experiments.bootstrap,
                            profile.experiments.confidence)
    assert (row["psnr_hole"], row["psnr_hole_lo"], row["psnr_hole_hi"]) == (ci.estimate, ci.lo, ci.hi)
    assert row["psnr_hole"] <= noise["psnr_hole"].mean()   # Jensen
    assert row["n_images"] == len(noise) == 8


def test_hit_rates_carry_the_exact_interval_not_a_bootstrap(comparison, profile):
    """A rate of 0/n has the Clopper-Pearson upper bound 1 - (alpha/2)^(1/n) > 0, never [0, 0]."""
    hit = comparison.semantic_columns[1]
    sem = comparison.semantic_per_image
    for method, rows in sem.groupby("method"):
        ci = stats.hit_rate_interval(rows[hit], profile.experiments.confidence)
        row = comparison.summary.query("method == @method").iloc[0]
        assert (row[f"semantic_{hit}"], row[f"semantic_{hit}_lo"], row[f"semantic_{hit}_hi"]) == \
            (ci.estimate, ci.lo, ci.hi)
        assert row[f"semantic_{hit}_hi"] > row[f"semantic_{hit}"] or row[f"semantic_{hit}"] == 1
    grey = sem[sem["method"] == "masked input (grey hole)"]
    n = len(grey)
    row = comparison.summary.query("method == 'masked input (grey hole)'").iloc[0]
    assert row[f"semantic_{hit}"] == 0 and row[f"semantic_{hit}_hi"] == pytest.approx(1 - 0.025 ** (1 / n))
    assert "exact Clopper-Pearson" in findings_text(comparison)


def test_seeds_are_averaged_per_image_and_their_spread_reported(comparison):
    per_seed = comparison.per_seed[comparison.per_seed["method"] == "noise"]
    assert sorted(per_seed["seed_index"].unique()) == [0, 1, 2]
    centre = per_seed[per_seed["kind"] == "centre"]
    # per image, PSNR pools the seeds as the PSNR of their mean MSE (below their mean PSNR)
    by_image = centre.groupby("sample")["psnr_hole"].agg(stats.psnr_of_mean_mse)
    assert (by_image <= centre.groupby("sample")["psnr_hole"].mean() + 1e-9).all()
    mine = comparison.per_image.query("method == 'noise' and kind == 'centre'").set_index("sample")
    np.testing.assert_allclose(mine["psnr_hole"], by_image.loc[mine.index])
    seed_means = centre.groupby("seed_index")["psnr_hole"].agg(stats.psnr_of_mean_mse)
    assert seed_means.std() > 0, "the three noise seeds must differ"
    table = comparison.table()
    row = table.query("method == 'noise' and kind == 'centre'").iloc[0]
    sd, lo, hi = (row[c] for c in spread_columns("psnr_hole"))
    assert row["n_seeds"] == 3
    assert sd == pytest.approx(seed_means.std(ddof=1), abs=1e-4)
    assert (lo, hi) == (pytest.approx(seed_means.min(), abs=1e-4), pytest.approx(seed_means.max(), abs=1e-4))
    single = table[table["method"] != "noise"]
    assert (single["n_seeds"] == 1).all()
    assert single[spread_columns("psnr_hole")].isna().all().all()
    sem = comparison.semantic_per_seed
    assert sorted(sem.loc[sem["method"] == "noise", "seed_index"].unique()) == [0, 1, 2]


def test_unsupported_kinds_have_no_numbers(comparison):
    row = comparison.summary.query("method == 'centre only' and kind == 'squares'").iloc[0]
    assert row["n_images"] == 0
    assert row[interval_columns("psnr_hole")].isna().all()


def test_findings_state_only_supported_differences(comparison):
    text = findings_text(comparison)
    lines = text.splitlines()
    assert "Reference: 'oracle (full)'" in text and "Bonferroni" in text
    assert "Note: n = 8 is small" in text
    # The oracle is exact (100 dB), far above a random fill and the grey fill: supported.
    assert "  - noise below oracle (full) by" in text
    assert f"  - {GREY_FILL} below oracle (full) by" in text
    # Every comparison line is one of the two verdicts, and each block states its level.
    verdicts = [l for l in lines if l.startswith("  - ")]
    assert verdicts and all(" by " in l or "not distinguishable at n = " in l for l in verdicts)
    heads = [l for l in lines if l.startswith("[")]
    assert all("comparison" in h and "each at" in h for h in heads if "fewer than two" not in h)
    # The centre-only method is compared on centre holes only.
    squares = text.split("[squares] hole PSNR")[1].split("[eye]")[0]
    assert "centre only" not in squares and "centre only" in text.split("[squares]")[0]
    assert f"[eye] semantic {comparison.semantic_columns[0]}" in text
    # KID: a block per mask kind on the same resamples; the noise fill is further from the real
    # images than the oracle (the truth).
    kid = text.split("[centre] KID x 1000")[1].split("[squares]")[0]
    assert "lower is better" in kid and "  - grey copy above oracle (full) by" in kid
    # three noise seeds: tested over seeds and images together, with the seeds' 2 df
    assert "  - noise and oracle (full) not distinguishable" in kid and "over 3 training seeds" in kid
    assert "centre only" in kid and "centre only" not in text.split("[squares] KID x 1000")[1]


def test_identical_methods_are_not_distinguishable(profile):
    result = compare({"a": grey, "b (full)": grey}, profile, "faces", progress=False)
    text = findings_text(result)
    assert "a and b (full): no comparison (no variance across seeds or images (identical" in text
    assert "above" not in text.split("[eye]")[0].replace("above/below", "")
    with pytest.raises(ValueError, match="not a method"):
        findings_text(result, reference="nope")
    assert "Reference: 'a'" in findings_text(result, reference="a")


def test_results_are_the_same_on_every_run(profile, comparison):
    again = compare({"oracle (full)": make_oracle(profile), "noise": [noise_fill(s) for s in range(3)],
                     "grey copy": grey, "centre only": CentreOnly()}, profile, "faces", progress=False)
    pd.testing.assert_frame_equal(again.table().drop(columns="ms_per_image"),
                                  comparison.table().drop(columns="ms_per_image"))
    assert findings_text(again) == findings_text(comparison)


@dataclass
class FakeRun:
    """What compare needs from a TrainResult: ``generator_path`` and ``provenance``."""
    generator_path: Path
    provenance: dict = field(default_factory=dict)


def test_train_results_are_loaded_and_their_provenance_kept(profile, monkeypatch, tmp_path):
    loaded = []

    def fake_load(path, device="auto"):
        loaded.append(Path(path))
        return noise_fill(int(Path(path).stem[-1]))

    monkeypatch.setattr(inpainting.models, "load_inpainter", fake_load, raising=False)
    runs = [FakeRun(tmp_path / f"g{k}.pt", {"run": f"runs/faces/lite-{k}", "seed": k,
                                            "precision": "float32", "dataset": "faces"})
            for k in range(2)]
    single = FakeRun(tmp_path / "g7.pt", {"run": "runs/faces/glcic-7", "seed": 0,
                                          "precision": "bfloat16", "dataset": "faces"})
    result = compare({"full": runs, "GLCIC": single}, profile, "faces", progress=False)
    assert loaded == [tmp_path / "g0.pt", tmp_path / "g1.pt", tmp_path / "g7.pt"]
    assert result.n_seeds == {GREY_FILL: 1, "full": 2, "GLCIC": 1}
    assert [p["run"] for p in result.runs["full"]] == ["runs/faces/lite-0", "runs/faces/lite-1"]
    assert [p["precision"] for p in result.provenance] == ["float32", "float32", "bfloat16"]
    assert GREY_FILL not in result.runs
    with pytest.raises(ValueError, match="empty list"):
        compare({"full": []}, profile, "faces", progress=False)


def test_semantic_columns_follow_the_semantic_module(profile):
    import inpainting.evaluation.semantic.scores as semantic
    result = compare({"grey copy": grey}, profile, "facades", progress=False)
    primary = result.semantic_columns[0]
    assert result.semantic_columns == [semantic.PRIMARY_SCORE["facades"],
                                       semantic.HIT_COLUMN["facades"]]
    assert f"[block] semantic {primary}" in findings_text(result)
    assert math.isfinite(result.summary[f"semantic_{primary}"].iloc[0])


def test_real_train_results_load_through_models_and_carry_their_provenance(profile, tmp_path):
    from inpainting.models import build_inpainter, save_generator
    from inpainting.reporting.report import caveats
    from inpainting.training import TrainResult
    from inpainting.training.records import RunFacts

    size = profile.faces.image_size
    runs = []
    for seed in range(2):
        torch.manual_seed(seed)
        path = save_generator(tmp_path / f"g{seed}.pt", build_inpainter(profile.model, size),
                              size, profile.model, {})
        seeded = with_overrides(profile, {"train.seed": seed})
        prov = RunFacts(key=f"k{seed}", identity={}, role="faces", profile=seeded,
                        run=f"runs/faces/lite-k{seed}", dataset="faces",
                        dataset_description="procedural faces", data=None, precision="float32",
                        device="cpu", device_name="test CPU", torch_threads=1, world_size=1,
                        balance_wrt="parameters", effective_loss_weights={},
                        perceptual_weights_source="imagenet vgg19 (/cache/vgg.pth)",
                        steps=0, seconds=0.0).provenance()
        runs.append(TrainResult(out_dir=tmp_path, generator_path=path, history=pd.DataFrame(),
                                sample_paths=[], perceptual_weights_source=None,
                                effective_loss_weights={},
                                seconds=0.0, key=f"k{seed}", provenance=prov))
    result = compare({"full": runs}, profile, "faces", progress=False)
    row = result.table().query("method == 'full' and kind == 'centre'").iloc[0]
    assert row["n_seeds"] == 2 and row["params"] > 0 and row["psnr_hole_seed_sd"] > 0
    assert [p["run"] for p in result.provenance] == ["runs/faces/lite-k0", "runs/faces/lite-k1"]
    assert caveats(result) == ["perceptual network: vgg19 with ImageNet weights (torchvision)",
                               "precision: float32",
                               "data: procedural faces (a stand-in for CelebA, not real data)",
                               "2 training seeds per trained row (seeds 0, 1)"]


def test_grid_of_an_unknown_method_is_an_error_not_a_missing_column(comparison):
    """A renamed method (e.g. the Context Encoder's row label) must not vanish from a figure."""
    with pytest.raises(ValueError, match="no method named"):
        comparison_grid(comparison, kind="centre", methods=["oracle (full)", "Context Encoder"])
    fig = comparison_grid(comparison, kind="centre", methods=["oracle (full)", "centre only"], n=2)
    assert fig is not None


def flat(value):
    def fill(images, masks):
        return torch.full_like(images, value)
    return fill


def test_findings_flag_differences_that_training_seeds_could_explain(profile):
    """Per image, A is always a bit brighter than B (a supported paired difference), but A's two
    'seeds' differ far more than A and B do: tested over seeds and images together, the line
    must not claim a difference."""
    result = compare({"A (full)": [flat(-0.3), flat(0.35)], "B": [flat(-0.25), flat(0.3)]},
                     profile, "faces", progress=False)
    text = findings_text(result)
    assert "B and A (full) not distinguishable" in text and "over 2 training seeds" in text
    assert "  - B below A (full)" not in text and "  - B above A (full)" not in text


def test_findings_rank_by_the_paired_comparison_on_the_images_every_method_has():
    """Issue 18: a method with missing values was listed first by its unpaired mean while its
    paired line said it was worse."""
    from inpainting.evaluation.comparison import Comparison
    rng = np.random.default_rng(0)
    base = rng.normal(0.5, 0.2, 24)
    gappy = base - 0.05 + rng.normal(0, 0.005, 24)
    gappy[np.argsort(base)[:6]] = np.nan          # missing exactly on the hardest images
    wide = pd.DataFrame({"ref (full)": base, "gappy": gappy})
    assert wide["gappy"].mean() > wide["ref (full)"].mean()   # unpaired: gappy looks better
    shell = Comparison(role="faces", dataset_name="faces", test_set=None,
                       methods={"ref (full)": None, "gappy": None}, per_image=pd.DataFrame(),
                       summary=pd.DataFrame())
    head, line = _block(shell, "[centre] hole SSIM", wide, "ref (full)", "", 3, False, None,
                              "ssim_hole")
    assert "on 18 paired images, 6 left out where a method has no value" in head
    assert head.index("ref (full) 0.") < head.index("gappy 0.")   # paired order: ref first
    assert line.startswith("  - gappy below ref (full) by 0.0")
