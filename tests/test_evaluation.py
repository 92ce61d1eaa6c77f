"""Tests of inpainting.evaluation.runner on a tiny stand-in for ``inpainting.data.masks.FixedTestSet``."""
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import torch

from inpainting.evaluation.runner import (PER_IMAGE_COLUMNS, SUMMARY_COLUMNS, biharmonic_method, completions,
                                   evaluate)
from inpainting.evaluation import stats
from inpainting.evaluation.metrics import (METRIC_COLUMNS, PSNR_CAP_DB, PSNR_COLUMNS, batch_metrics,
                                          image_metrics, to_uint8)

SIZE = 32


@dataclass
class StandInTestSet:
    """Exactly the fields of ``FixedTestSet``."""
    images: torch.Tensor
    masks: torch.Tensor
    kinds: list
    indices: list
    attributes: list
    description: str


@pytest.fixture
def test_set():
    gen = torch.Generator().manual_seed(0)
    images = torch.nn.functional.avg_pool2d(torch.rand(5, 3, SIZE, SIZE, generator=gen) * 2 - 1, 3, 1, 1)
    masks = torch.zeros(5, 1, SIZE, SIZE)
    masks[:3, :, 8:24, 8:24] = 1                       # centre
    masks[3, :, 2:10, 4:12] = masks[3, :, 20:28, 18:26] = 1  # squares
    masks[4, :, 5:13, 15:23] = 1
    return StandInTestSet(images, masks, ["centre"] * 3 + ["squares"] * 2, [7, 3, 9, 3, 11],
                          [{}] * 5, "stand-in")


def make_oracle(test_set):
    """Returns the ground truth, found by matching the masked input (it never sees the hole)."""
    def oracle(images, masks):
        known = test_set.images * (1 - test_set.masks)
        picks = [next(j for j in range(len(known)) if torch.equal(known[j], image)
                      and torch.equal(test_set.masks[j], mask)) for image, mask in zip(images, masks)]
        return test_set.images[picks]
    return oracle


def zero_fill(images, masks):
    return torch.zeros_like(images)


def vandal(images, masks):
    """Fills the hole with a constant and also overwrites every known pixel."""
    return torch.full_like(images, 0.5) * masks - 0.9 * (1 - masks)


class CentreOnly:
    supported_mask_kinds = ("centre",)

    def __call__(self, images, masks):
        return torch.full_like(images, -0.25)


class TinyInpainter(torch.nn.Module):
    """A stand-in for ``Inpainter``: its forward (the raw output), ``complete``, ``num_parameters``
    and a mode check."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 3, 3, padding=1)
        self.calls_in_training_mode = 0

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())

    def forward(self, image, mask):
        self.calls_in_training_mode += int(self.training)
        assert not torch.is_grad_enabled()
        return torch.tanh(self.conv(torch.cat([image * (1 - mask), mask], 1)))

    def complete(self, image, mask):
        return image * (1 - mask) + self(image, mask) * mask


def expected_metrics(test_set, positions, completed):
    """Metrics computed directly from the protocol, without evaluation.py."""
    masks = test_set.masks[positions]
    composite = test_set.images[positions] * (1 - masks) + completed * masks
    return batch_metrics(test_set.images[positions], composite, masks)


def test_evaluate_tables_have_the_documented_shape(test_set):
    per_image, summary = evaluate({"zero": zero_fill, "centre-only": CentreOnly()}, test_set,
                                  batch_size=2, progress=False)
    assert list(per_image.columns) == list(PER_IMAGE_COLUMNS)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert summary[["method", "kind"]].values.tolist() == [
        ["zero", "centre"], ["zero", "squares"], ["centre-only", "centre"], ["centre-only", "squares"]]
    zero = per_image[per_image.method == "zero"]
    assert zero["sample"].tolist() == [0, 1, 2, 3, 4]
    assert zero["index"].tolist() == [7, 3, 9, 3, 11]
    assert (per_image["seconds"] > 0).all()


def test_oracle_is_identical_and_handled_by_the_cap_rule(test_set):
    per_image, summary = evaluate({"oracle": make_oracle(test_set)}, test_set, batch_size=2, progress=False)
    assert per_image["identical"].all()
    assert (per_image[["psnr", "psnr_hole"]] == PSNR_CAP_DB).all().all()
    assert (per_image[["ssim", "ssim_hole"]] == 1.0).all().all()
    assert (per_image[["l1_hole_pct", "l2_hole_pct"]] == 0.0).all().all()
    assert summary["n_identical"].tolist() == summary["n_images"].tolist() == [3, 2]
    assert np.isfinite(summary[list(METRIC_COLUMNS)].to_numpy()).all()


def test_zero_fill_matches_metrics_computed_directly(test_set):
    per_image, summary = evaluate({"zero": zero_fill}, test_set, batch_size=2, progress=False)
    direct = expected_metrics(test_set, list(range(5)), torch.zeros(5, 3, SIZE, SIZE))
    pd.testing.assert_frame_equal(per_image[list(METRIC_COLUMNS)], direct)
    assert not per_image["identical"].any()
    for kind, rows in (("centre", [0, 1, 2]), ("squares", [3, 4])):
        row = summary[summary.kind == kind].iloc[0]
        for column in METRIC_COLUMNS:   # PSNR: the PSNR of the mean MSE (metrics docstring)
            summarise = stats.psnr_of_mean_mse if column in PSNR_COLUMNS else np.mean
            assert row[column] == pytest.approx(summarise(direct.loc[rows, column]), abs=1e-12)
        assert row["n_images"] == len(rows) and row["n_identical"] == 0
        assert row["ms_per_image"] > 0 and pd.isna(row["params"])


def test_known_pixels_are_recomposited_and_the_hole_is_hidden(test_set):
    seen = []

    def spy(images, masks):
        seen.append((images.clone(), masks.clone()))
        return vandal(images, masks)

    per_image, _ = evaluate({"vandal": spy}, test_set, batch_size=2, progress=False)
    for images, masks in seen:
        assert torch.all(images[masks.expand_as(images) > 0] == 0)
    direct = expected_metrics(test_set, list(range(5)), torch.full((5, 3, SIZE, SIZE), 0.5))
    pd.testing.assert_frame_equal(per_image[list(METRIC_COLUMNS)], direct)
    # All error sits in the hole: whole PSNR = hole PSNR + 10 log10(image area / hole area).
    hole_fraction = test_set.masks.mean(dim=(1, 2, 3)).numpy()
    gain = per_image["psnr"] - per_image["psnr_hole"]
    np.testing.assert_allclose(gain, 10 * np.log10(1 / hole_fraction), atol=1e-9)
    assert gain[0] == pytest.approx(10 * math.log10(4), abs=1e-9)


def test_centre_only_method_is_skipped_on_other_kinds(test_set):
    per_image, summary = evaluate({"ce": CentreOnly(), "zero": zero_fill}, test_set, progress=False)
    assert set(per_image.loc[per_image.method == "ce", "kind"]) == {"centre"}
    skipped = summary[(summary.method == "ce") & (summary.kind == "squares")].iloc[0]
    assert skipped[list(METRIC_COLUMNS) + ["ms_per_image"]].isna().all()
    assert skipped["n_images"] == 0 and skipped["n_identical"] == 0
    done = summary[(summary.method == "ce") & (summary.kind == "centre")].iloc[0]
    direct = expected_metrics(test_set, [0, 1, 2], torch.full((3, 3, SIZE, SIZE), -0.25))
    assert done["psnr_hole"] == pytest.approx(stats.psnr_of_mean_mse(direct["psnr_hole"]), abs=1e-12)


def test_module_methods_run_in_eval_mode_without_grad_and_report_params(test_set):
    model = TinyInpainter().train()
    per_image, summary = evaluate({"tiny": model}, test_set, batch_size=4, progress=False)
    assert model.calls_in_training_mode == 0 and model.training
    assert summary["params"].tolist() == [model.num_parameters()] * 2 == [4 * 3 * 9 + 3] * 2
    model.eval()
    with torch.no_grad():
        direct = expected_metrics(test_set, list(range(5)), model.complete(test_set.images, test_set.masks))
    pd.testing.assert_frame_equal(per_image[list(METRIC_COLUMNS)], direct)


def test_completions_are_the_composites_evaluate_measures(test_set):
    out = completions(vandal, test_set, batch_size=3)
    assert out.shape == test_set.images.shape and out.dtype == torch.float32
    known = test_set.masks.expand_as(out) == 0
    assert torch.equal(out[known], test_set.images[known])
    assert torch.all(out[~known] == 0.5)
    per_image, _ = evaluate({"vandal": vandal}, test_set, progress=False)
    gt8, out8 = to_uint8(test_set.images), to_uint8(out)
    assert per_image.loc[4, "ssim_hole"] == image_metrics(gt8[4], out8[4], test_set.masks[4, 0])["ssim_hole"]


def test_completions_refuses_unsupported_kinds(test_set):
    with pytest.raises(ValueError, match=r"subset\(kind\)"):
        completions(CentreOnly(), test_set)


@pytest.mark.parametrize("bad, message", [
    (lambda images, masks: torch.full_like(images, float("nan")), "NaN"),
    (lambda images, masks: images * 3 + 2 * masks, r"\[-1, 1\]"),
    (lambda images, masks: images[:, :2], "shape"),
    (lambda images, masks: images.numpy(), "tensor"),
])
def test_bad_method_outputs_raise_naming_the_method(test_set, bad, message):
    with pytest.raises(ValueError, match=message) as info:
        evaluate({"broken": bad}, test_set, progress=False)
    assert info.match("broken")


def test_nan_outside_the_hole_is_discarded_by_the_composite(test_set):
    def leaky(images, masks):
        return torch.where(masks > 0, torch.zeros_like(images), torch.full_like(images, float("nan")))

    per_image, _ = evaluate({"leaky": leaky}, test_set, progress=False)
    direct = expected_metrics(test_set, list(range(5)), torch.zeros(5, 3, SIZE, SIZE))
    pd.testing.assert_frame_equal(per_image[list(METRIC_COLUMNS)], direct)


def test_invalid_arguments_are_rejected(test_set):
    with pytest.raises(ValueError, match="methods is empty"):
        evaluate({}, test_set)
    with pytest.raises(ValueError, match="batch_size"):
        evaluate({"zero": zero_fill}, test_set, batch_size=0)
    broken = StandInTestSet(test_set.images, test_set.masks[:, 0], test_set.kinds, test_set.indices, [], "")
    with pytest.raises(ValueError, match=r"\(N, 1, S, S\)"):
        evaluate({"zero": zero_fill}, broken)


def test_biharmonic_baseline_fills_smooth_content_and_keeps_range(test_set):
    ramp = torch.linspace(-0.8, 0.8, SIZE)
    images = torch.stack([ramp.view(1, -1).expand(SIZE, SIZE), ramp.view(-1, 1).expand(SIZE, SIZE),
                          torch.zeros(SIZE, SIZE)]).unsqueeze(0).repeat(2, 1, 1, 1)
    masks = test_set.masks[[0, 3]]
    filled = biharmonic_method(images * (1 - masks), masks)
    assert filled.shape == images.shape and filled.dtype == torch.float32
    assert filled.abs().max() <= 1
    frame = batch_metrics(images, torch.where(masks > 0, filled, images), masks)
    assert (frame["psnr_hole"] > 40).all()  # a linear ramp is biharmonic: reconstructed almost exactly
    per_image, summary = evaluate({"biharmonic": biharmonic_method}, test_set, progress=False)
    assert len(per_image) == 5 and (summary["n_images"] == [3, 2]).all()


def test_a_method_supporting_none_of_the_kinds_gets_only_nan_rows(test_set):
    squares_only = StandInTestSet(test_set.images[3:], test_set.masks[3:], ["squares"] * 2, [3, 11],
                                  [{}] * 2, "squares")
    per_image, summary = evaluate({"ce": CentreOnly()}, squares_only, device="cpu", progress=False)
    assert per_image.empty and list(per_image.columns) == list(PER_IMAGE_COLUMNS)
    assert summary[list(METRIC_COLUMNS) + ["ms_per_image"]].isna().all().all()
    assert summary["n_images"].tolist() == [0]
