"""Tests of inpainting.evaluation.metrics: agreement with scikit-image, the protocol identities, the edge rules."""
import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inpainting.evaluation.metrics import (METRIC_COLUMNS, PSNR_CAP_DB, SSIM_MIN_SIDE, batch_metrics, ce_l1_l2,
                                ssim_crop, image_metrics, psnr, ssim, to_uint8)

WANG = dict(channel_axis=-1, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)


def random_pair(seed, size=64, noise=30):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    out = np.clip(gt.astype(int) + rng.integers(-noise, noise + 1, gt.shape), 0, 255).astype(np.uint8)
    return gt, out


def centre_mask(size, hole):
    mask = np.zeros((size, size), np.float32)
    start = (size - hole) // 2
    mask[start:start + hole, start:start + hole] = 1
    return mask


def paste_known(gt, out, mask):
    return np.where(mask[..., None] > 0, out, gt).astype(np.uint8)


# ---------------------------------------------------------------- agreement with scikit-image
@pytest.mark.parametrize("seed", range(10))
def test_psnr_matches_skimage(seed):
    gt, out = random_pair(seed, noise=5 + 10 * seed)
    assert psnr(gt, out) == pytest.approx(peak_signal_noise_ratio(gt, out, data_range=255), abs=1e-10)


@pytest.mark.parametrize("seed", range(10))
def test_hole_psnr_matches_skimage_on_hole_pixels(seed):
    gt, out = random_pair(seed)
    mask = np.random.default_rng(100 + seed).random(gt.shape[:2]) < 0.3
    expected = peak_signal_noise_ratio(gt[mask], out[mask], data_range=255)
    assert psnr(gt, out, mask.astype(np.float32)) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("seed", range(10))
def test_ssim_matches_skimage_wang_settings(seed):
    gt, out = random_pair(seed, size=48 + 8 * (seed % 3), noise=5 + 10 * seed)
    assert ssim(gt, out) == pytest.approx(structural_similarity(gt, out, **WANG), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_hole_ssim_is_ssim_of_the_bounding_box_crop(seed):
    gt, out = random_pair(seed, size=64)
    mask = np.zeros((64, 64), np.float32)
    mask[10:30, 20:50] = 1
    mask[40:44, 5:9] = 1  # a second hole: the bounding box spans both
    expected = structural_similarity(gt[10:44, 5:50], out[10:44, 5:50], **WANG)
    assert ssim_crop(mask) == (slice(10, 44), slice(5, 50))
    assert ssim(gt, out, mask) == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------------- protocol identities
@pytest.mark.parametrize("seed", range(5))
def test_whole_psnr_is_hole_psnr_plus_6_02_db_for_centre_64_in_128(seed):
    gt, noisy = random_pair(seed, size=128)
    mask = centre_mask(128, 64)
    out = paste_known(gt, noisy, mask)
    assert psnr(gt, out) - psnr(gt, out, mask) == pytest.approx(10 * math.log10(4), abs=1e-6)
    assert 10 * math.log10(4) == pytest.approx(6.0206, abs=1e-4)
    l1_hole = ce_l1_l2(gt, out, mask)[0]
    l1_whole = ce_l1_l2(gt, out, np.ones((128, 128)))[0]
    assert l1_whole == pytest.approx(l1_hole / 4, rel=1e-12)


def test_identical_images_get_the_psnr_cap_and_ssim_one():
    gt, _ = random_pair(0, size=32)
    mask = centre_mask(32, 16)
    values = image_metrics(gt, gt.copy(), mask)
    assert values == {"psnr": PSNR_CAP_DB, "ssim": 1.0, "psnr_hole": PSNR_CAP_DB, "ssim_hole": 1.0,
                      "l1_hole_pct": 0.0, "l2_hole_pct": 0.0}
    assert all(math.isfinite(v) for v in values.values())


def test_psnr_cap_leaves_every_non_identical_pair_uncapped_and_monotone():
    # The smallest non-zero error: one value off by one, in the largest image the floor covers exactly.
    for size in (32, 128, 226):
        gt = np.full((size, size, 3), 100, np.uint8)
        out = gt.copy()
        out[0, 0, 0] = 101
        value = psnr(gt, out)
        assert value == pytest.approx(peak_signal_noise_ratio(gt, out, data_range=255), abs=1e-9)
        assert value < PSNR_CAP_DB
        corner = np.zeros((size, size))
        corner[0, 0] = 1
        assert psnr(gt, out, corner) == pytest.approx(10 * math.log10(255**2 * 3), abs=1e-9)
    assert psnr(gt, gt) == PSNR_CAP_DB


# ---------------------------------------------------------------- CE-style L1 / L2
def test_ce_l1_l2_hand_computed_fixture():
    gt = np.zeros((4, 4, 3), np.uint8)
    out = gt.copy()
    mask = np.zeros((4, 4), np.float32)
    mask[0, 0] = mask[0, 1] = 1
    out[0, 0] = (255, 0, 0)     # |diff| on [0, 1]: 1, 0, 0
    out[0, 1] = (51, 51, 102)   # 0.2, 0.2, 0.4
    out[3, 3] = (255, 255, 255)  # outside the hole: ignored
    l1, l2 = ce_l1_l2(gt, out, mask)
    assert l1 == pytest.approx(100 * (1 + 0.2 + 0.2 + 0.4) / 6, abs=1e-12)
    assert l2 == pytest.approx(100 * (1 + 0.04 + 0.04 + 0.16) / 6, abs=1e-12)


def test_ce_l1_l2_is_symmetric_and_uses_255_scale():
    gt = np.full((8, 8, 3), 200, np.uint8)
    out = np.full((8, 8, 3), 149, np.uint8)  # 51 / 255 = 0.2 everywhere
    assert ce_l1_l2(gt, out, np.ones((8, 8))) == pytest.approx((20.0, 4.0), abs=1e-12)
    assert ce_l1_l2(out, gt, np.ones((8, 8))) == pytest.approx((20.0, 4.0), abs=1e-12)


# ---------------------------------------------------------------- hole SSIM: small holes
def test_small_hole_ssim_uses_an_11_pixel_crop_centred_on_the_hole():
    gt, noisy = random_pair(3, size=32)
    mask = np.zeros((32, 32), np.float32)
    mask[14:18, 14:18] = 1  # 4x4 hole, smaller than the 11-px Gaussian window
    out = paste_known(gt, noisy, mask)
    assert SSIM_MIN_SIDE == 11
    rows, cols = ssim_crop(mask)
    assert (rows, cols) == (slice(10, 21), slice(10, 21))  # holds rows/cols 14..17
    value = ssim(gt, out, mask)
    assert value == pytest.approx(structural_similarity(gt[10:21, 10:21], out[10:21, 10:21], **WANG),
                                  abs=1e-12)
    assert -1 <= value < 1


def test_small_hole_at_the_border_is_shifted_inside_the_image():
    mask = np.zeros((32, 32), np.float32)
    mask[0:4, 29:32] = 1
    assert ssim_crop(mask) == (slice(0, 11), slice(21, 32))
    gt, noisy = random_pair(4, size=32)
    assert math.isfinite(ssim(gt, paste_known(gt, noisy, mask), mask))


def test_ssim_rejects_images_smaller_than_the_window():
    gt, out = random_pair(0, size=8)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(gt, out)


# ---------------------------------------------------------------- to_uint8
def test_to_uint8_maps_the_range_and_shapes():
    x = torch.tensor([-1.0, 0.0, 1.0, -0.5]).view(1, 1, 4).expand(3, 1, 4)
    u = to_uint8(x)
    assert u.dtype == np.uint8 and u.shape == (1, 4, 3)
    assert u[0, :, 0].tolist() == [0, 128, 255, 64]  # rint(63.75) = 64, rint(127.5) = 128
    assert to_uint8(torch.zeros(2, 3, 8, 12)).shape == (2, 8, 12, 3)


def test_to_uint8_round_trips_uint8_values_exactly():
    values = np.arange(256, dtype=np.uint8)
    x = torch.from_numpy(values.astype(np.float32) / 127.5 - 1).view(1, 1, 256).expand(3, 1, 256)
    assert np.array_equal(to_uint8(x)[0, :, 1], values)


def test_to_uint8_accepts_uint8_arrays_as_is_and_tiny_overshoot():
    arr = np.zeros((4, 4, 3), np.uint8)
    assert to_uint8(arr) is arr
    assert to_uint8(torch.full((3, 2, 2), 1 + 1e-7)).max() == 255


@pytest.mark.parametrize("data, message", [
    (torch.rand(3, 8, 8) * 255, r"\[0, 255\]"),
    (torch.rand(3, 8, 8) * 4 - 2, r"tanh|clamp"),
    (torch.full((3, 8, 8), float("nan")), "NaN"),
])
def test_to_uint8_rejects_out_of_range_with_an_explanation(data, message):
    with pytest.raises(ValueError, match=r"\[-1, 1\]") as info:
        to_uint8(data)
    assert info.match(message)


def test_to_uint8_rejects_wrong_layouts_and_types():
    with pytest.raises(ValueError, match="channel-last"):
        to_uint8(torch.zeros(2, 8, 8, 3))
    with pytest.raises(TypeError, match="uint8"):
        to_uint8(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(TypeError, match="floating point"):
        to_uint8(torch.zeros(3, 8, 8, dtype=torch.uint8))


# ---------------------------------------------------------------- validation
def test_inputs_are_validated_with_actionable_errors():
    gt, out = random_pair(0, size=16)
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(gt, out[:8])
    with pytest.raises(ValueError, match="to_uint8"):
        psnr(gt.astype(np.float32), out)
    with pytest.raises(ValueError, match=r"mask\[0\]"):
        psnr(gt, out, np.ones((1, 16, 16)))
    with pytest.raises(ValueError, match="exactly 0 or 1"):
        psnr(gt, out, np.full((16, 16), 0.5))
    with pytest.raises(ValueError, match="no hole"):
        ssim(gt, out, np.zeros((16, 16)))
    with pytest.raises(ValueError, match="no hole"):
        ce_l1_l2(gt, out, torch.zeros(16, 16))


# ---------------------------------------------------------------- batch helper
def test_batch_metrics_matches_image_metrics_for_tensors_and_arrays():
    torch.manual_seed(0)
    gt = torch.rand(3, 3, 32, 32) * 2 - 1
    masks = torch.zeros(3, 1, 32, 32)
    masks[:, :, 8:24, 8:24] = 1
    out = torch.where(masks > 0, torch.rand(3, 3, 32, 32) * 2 - 1, gt)
    frame = batch_metrics(gt, out, masks)
    assert list(frame.columns) == list(METRIC_COLUMNS) and len(frame) == 3
    gt8, out8 = to_uint8(gt), to_uint8(out)
    for i in range(3):
        assert frame.iloc[i].to_dict() == image_metrics(gt8[i], out8[i], masks[i, 0].numpy())
    assert batch_metrics(gt8, out8, masks[:, 0].numpy()).equals(frame)
    with pytest.raises(ValueError, match="masks must have shape"):
        batch_metrics(gt, out, masks[:2])
