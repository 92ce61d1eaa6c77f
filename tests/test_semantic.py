"""inpainting.semantic: the scores separate ground truth from bad fills, and never crash."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from skimage.transform import resize

from inpainting.data.masks import FixedTestSet
from inpainting.data.procedural import FacadeDataset, FaceDataset
from inpainting.metrics import to_uint8
from inpainting.semantic import (IRIS_HIT_THRESHOLD, block_mask, estimate_period, eye_mask,
                                 face_eye_consistency, facade_period_consistency,
                                 make_semantic_test_set, semantic_scores)

N = 16


@pytest.fixture(scope="module")
def faces():
    ts = make_semantic_test_set(FaceDataset(N, 64, 0, "test"), N, 1234)
    return ts, to_uint8(ts.images), ts.masks[:, 0].numpy()


@pytest.fixture(scope="module")
def facades():
    ts = make_semantic_test_set(FacadeDataset(N, 64, 0, "test"), N, 1234)
    return ts, to_uint8(ts.images), ts.masks[:, 0].numpy()


def _grey_fill(images, masks):
    out = images.copy()
    out[masks > 0] = 128
    return out


def _blur_fill(images, masks):
    """Each hole filled with a normalised Gaussian blur of the known pixels around it."""
    out = images.copy()
    for img, mask, dst in zip(images, masks, out):
        weight = gaussian_filter(1 - mask, 4)
        for c in range(3):
            blur = gaussian_filter(img[..., c] * (1 - mask), 4) / np.maximum(weight, 1e-6)
            dst[..., c][mask > 0] = np.clip(blur, 0, 255)[mask > 0]
    return out


def test_semantic_test_sets(faces, facades):
    for ts, kind in ((faces[0], "eye"), (facades[0], "block")):
        assert isinstance(ts, FixedTestSet) and len(ts) == N and set(ts.kinds) == {kind}
        assert ts.images.shape == (N, 3, 64, 64) and ts.masks.shape == (N, 1, 64, 64)
        assert ts.indices == list(range(N)) and len(ts.attributes) == N
        assert set(np.unique(ts.masks.numpy())) == {0.0, 1.0}
    again = make_semantic_test_set(FacadeDataset(N, 64, 0, "test"), N, 1234)
    assert torch.equal(again.masks, facades[0].masks)
    hidden = semantic_scores("faces", faces[1], faces[0].attributes, faces[2])["hidden"]
    assert list(hidden) == ["left", "right"] * (N // 2)
    for a, m in zip(facades[0].attributes, facades[2]):
        side = int(m.sum() ** 0.5)
        assert side >= 2 * max(a["period_x"], a["period_y"])


@pytest.mark.parametrize("size", [32, 64, 128])
def test_eye_mask_covers_one_eye_only(size):
    ds = FaceDataset(10, size, 0, "test")
    for i in range(10):
        a = ds.attributes(i)
        for which, other in (("left", "right"), ("right", "left")):
            m = eye_mask(a, size, which)
            assert m.dtype == np.float32 and m.shape == (size, size)
            t, l, b, r = a[f"eye_{which}_bbox"]
            assert m[t:b, l:r].min() == 1
            t, l, b, r = a[f"eye_{other}_bbox"]
            assert m[t:b, l:r].max() == 0


def test_iris_score_ground_truth_vs_bad_fills(faces):
    ts, images, masks = faces
    gt = semantic_scores("faces", images, ts.attributes, masks)
    assert gt["iris_error"].max() < 10 and gt["iris_hit"].all()
    assert gt["iris_error_visible"].max() < 10
    for bad in (_grey_fill(images, masks), _blur_fill(images, masks)):
        scores = semantic_scores("faces", bad, ts.attributes, masks)
        assert scores["iris_error"].min() > IRIS_HIT_THRESHOLD and not scores["iris_hit"].any()
        assert scores["iris_error_visible"].max() < 10  # the visible eye is untouched
        assert scores["eye_pair_error"].min() > IRIS_HIT_THRESHOLD


def test_iris_score_accepts_the_mirrored_other_eye(faces):
    """Copying the visible eye across the face's vertical axis is what the score rewards."""
    ts, images, masks = faces
    out = images.copy()
    for img, a, mask, dst in zip(images, ts.attributes, masks, out):
        axis = a["face_center"][1]
        rows, cols = np.nonzero(mask)
        dst[rows, cols] = img[rows, np.rint(2 * axis - cols).astype(int)]
    scores = semantic_scores("faces", out, ts.attributes, masks)
    assert scores["iris_error"].max() < 10


def test_period_score_ground_truth_vs_bad_fills(facades):
    ts, images, masks = facades
    gt = semantic_scores("facades", images, ts.attributes, masks)
    assert gt["period_detected_x"].all() and gt["period_error_x"].max() < 0.1
    assert gt["period_hit"].mean() >= 0.9
    flat = semantic_scores("facades", _grey_fill(images, masks), ts.attributes, masks)
    assert not flat["period_detected_x"].any() and (flat["period_error_x"] == 1.0).all()
    assert flat["period_est_x"].isna().all() and not flat["period_hit"].any()
    blur = semantic_scores("facades", _blur_fill(images, masks), ts.attributes, masks)
    assert blur["period_error_x"].mean() > 0.8
    noisy = images.copy()
    noisy[masks > 0] = np.random.default_rng(0).integers(0, 256, (int(masks.sum()), 3))
    noise = semantic_scores("facades", noisy, ts.attributes, masks)
    assert noise["period_error_x"].mean() > 0.5 and noise["period_hit"].mean() < 0.2


def test_period_score_detects_a_wrong_period(facades):
    """The hole refilled with its own content stretched 1.5x horizontally: wrong period."""
    ts, images, masks = facades
    errors = []
    for img, a, mask in zip(images, ts.attributes, masks):
        rows, cols = np.nonzero(mask)
        t, l, b, r = rows.min(), cols.min(), rows.max() + 1, cols.max() + 1
        crop = img[t:b, l:l + int((r - l) / 1.5)]
        out = img.copy()
        out[t:b, l:r] = np.rint(resize(crop, (b - t, r - l), order=1) * 255).astype(np.uint8)
        errors.append(facade_period_consistency(out, a, mask)["period_error_x"])
    assert np.median(errors) > 0.3


def test_estimate_period_on_synthetic_profiles():
    x = np.arange(64)
    assert estimate_period(100 + 50 * np.sin(2 * np.pi * x / 7.3)) == pytest.approx(7.3, abs=0.2)
    square = 100 + 80 * ((x % 11) < 5)
    assert estimate_period(square) == pytest.approx(11, abs=0.3)
    assert np.isnan(estimate_period(np.full(64, 128.0)))
    assert np.isnan(estimate_period(np.array([1.0, 2.0])))


def test_inputs_in_other_forms_and_odd_masks(faces, facades):
    ts, images, masks = faces
    from_tensor = semantic_scores("faces", ts.images, ts.attributes, ts.masks)
    from_uint8 = semantic_scores("faces", images, ts.attributes, masks)
    assert from_tensor.equals(from_uint8) and len(from_uint8) == N and "sample" in from_uint8
    # a hole over neither eye: NaN scores, no crash
    corner = np.zeros_like(masks[:2])
    corner[:, :4, :4] = 1
    odd = semantic_scores("faces", images[:2], ts.attributes[:2], corner)
    assert (odd["hidden"] == "none").all() and odd["iris_error"].isna().all()
    # an empty facade hole: undetected, error 1
    empty = facade_period_consistency(facades[1][0], facades[0].attributes[0], np.zeros((64, 64)))
    assert not empty["period_detected_x"] and empty["period_error_x"] == 1.0
    with pytest.raises(ValueError, match="faces, facades"):
        semantic_scores("photos", images, ts.attributes, masks)
    with pytest.raises(ValueError, match="describe"):
        face_eye_consistency(images[0][:32, :32], ts.attributes[0], "left")


def test_block_mask_stays_in_the_image():
    ds = FacadeDataset(20, 32, 5, "test")
    for i in range(20):
        m = block_mask(ds.attributes(i), 32, np.random.default_rng(i))
        side = int(m.sum() ** 0.5)
        assert m.sum() == side * side and 16 <= side <= 30
