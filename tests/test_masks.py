"""inpainting.data.masks: hole geometry per kind, training draws, validation and the fixed test set."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inpainting.data.masks import (STROKE_COVER, FixedTestSet, hole_bbox, make_mask, make_test_set,
                                   sample_masks, validate_mask)
from inpainting.profiles import MASK_KINDS, MaskConfig

SIZES = (32, 64, 96, 128, 256)


def _draws(kind, size, n, seed=0):
    rng = np.random.default_rng(seed)
    return [make_mask(kind, size, rng) for _ in range(n)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", MASK_KINDS)
def test_masks_are_binary_float32_and_never_empty(kind, size):
    for mask in _draws(kind, size, 10):
        assert mask.shape == (size, size) and mask.dtype == np.float32
        assert set(np.unique(mask)) <= {0.0, 1.0} and mask.sum() > 0


@pytest.mark.parametrize("size", SIZES)
def test_centre_is_middle_half(size):
    mask = make_mask("centre", size, np.random.default_rng(0))
    q = size // 4
    assert hole_bbox(mask) == (q, q, 3 * q, 3 * q) and mask.sum() == (size // 2) ** 2


def test_centre_is_32_96_at_128():
    expected = np.zeros((128, 128), np.float32)
    expected[32:96, 32:96] = 1
    np.testing.assert_array_equal(make_mask("centre", 128, np.random.default_rng(3)), expected)


@pytest.mark.parametrize("size", (32, 128, 256))
def test_squares_bounds(size):
    margin, sides, tops, lefts = size // 16, [], [], []
    for mask in _draws("squares", size, 400):
        top, left, bottom, right = hole_bbox(mask)
        side = bottom - top
        assert right - left == side and mask.sum() == side * side
        assert size // 4 <= side <= size // 2
        assert margin <= top <= size - margin - 1 - side and margin <= left <= size - margin - 1 - side
        sides.append(side), tops.append(top), lefts.append(left)
    assert min(sides) == size // 4 and max(sides) == size // 2      # both ends are reachable
    assert min(tops) - margin <= size // 20 and min(lefts) - margin <= size // 20   # range covered


def test_squares_at_128_match_prototype_range():
    bottoms = [hole_bbox(m)[2] for m in _draws("squares", 128, 600)]
    assert max(bottoms) == 119                                       # top <= 119 - side


@pytest.mark.parametrize("size", (32, 128, 256))
def test_rects_bounds(size):
    heights, widths = [], []
    for mask in _draws("rects", size, 400):
        top, left, bottom, right = hole_bbox(mask)
        assert mask.sum() == (bottom - top) * (right - left)
        heights.append(bottom - top), widths.append(right - left)
    for sides in (heights, widths):
        assert min(sides) >= size // 8 and max(sides) <= size // 2
    assert len(set(zip(heights, widths))) > 50 and any(h != w for h, w in zip(heights, widths))


@pytest.mark.parametrize("size", (32, 128, 256))
def test_strokes_cover_and_shape(size):
    masks = _draws("strokes", size, 60)
    cover = np.array([m.mean() for m in masks])
    assert (cover >= STROKE_COVER[0]).all() and (cover <= STROKE_COVER[1]).all()
    fill = []
    for mask in masks:
        top, left, bottom, right = hole_bbox(mask)
        fill.append(mask.sum() / ((bottom - top) * (right - left)))
    assert np.median(fill) < 0.8                                     # free-form, not boxes


def test_same_rng_same_mask_and_unknown_kind():
    for kind in MASK_KINDS:
        a, b = _draws(kind, 64, 3, seed=7), _draws(kind, 64, 3, seed=7)
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    with pytest.raises(ValueError, match="valid kinds: centre, squares, rects, strokes"):
        make_mask("circle", 64, np.random.default_rng(0))
    with pytest.raises(ValueError, match=">= 16"):
        make_mask("centre", 8, np.random.default_rng(0))


def test_sample_masks_follows_probabilities():
    rng = np.random.default_rng(0)
    only_centre = sample_masks(MaskConfig(train_probs=(1.0, 0.0)), 8, 64, rng)
    assert only_centre.shape == (8, 1, 64, 64) and only_centre.dtype == torch.float32
    assert torch.equal(only_centre, only_centre[:1].expand(8, -1, -1, -1))
    mixed = sample_masks(MaskConfig(), 200, 64, rng)
    n_centre = sum(torch.equal(m[0], only_centre[0, 0]) for m in mixed)
    assert 70 < n_centre < 130
    again = sample_masks(MaskConfig(), 5, 64, np.random.default_rng(4))
    assert torch.equal(again, sample_masks(MaskConfig(), 5, 64, np.random.default_rng(4)))
    with pytest.raises(ValueError, match="train_probs"):
        sample_masks(MaskConfig(train_probs=(0.0, 0.0)), 2, 64, rng)


def test_hole_bbox_layouts_and_empty():
    mask = np.zeros((1, 1, 10, 12), np.float32)
    mask[..., 2:5, 3:9] = 1
    assert hole_bbox(mask) == hole_bbox(torch.from_numpy(mask[0])) == (2, 3, 5, 9)
    with pytest.raises(ValueError, match="no hole"):
        hole_bbox(np.zeros((4, 4)))


def test_validate_mask_accepts_documented_layouts():
    tmask = torch.from_numpy(np.stack([make_mask("centre", 32, np.random.default_rng(0))] * 2)).unsqueeze(1)
    validate_mask(tmask, torch.zeros(2, 3, 32, 32))
    validate_mask(tmask[0], torch.zeros(3, 32, 32))
    validate_mask(tmask[0, 0].numpy(), np.zeros((32, 32, 3), np.uint8))
    validate_mask(tmask[:, 0].numpy(), np.zeros((2, 32, 32, 3), np.uint8))
    validate_mask(tmask)


@pytest.mark.parametrize("mask, image, match", [
    (torch.ones(2, 3, 8, 8), None, "shape"),
    (torch.ones(8, 8), None, r"expected \(B, 1, H, W\)"),
    (np.ones((1, 1, 8, 8), np.float32), None, r"expected \(H, W\) or \(B, H, W\)"),
    (torch.ones(1, 1, 8, 8, dtype=torch.float64), None, "dtype"),
    (np.ones((8, 8), bool), None, "dtype"),
    (torch.full((1, 1, 8, 8), 0.5), None, r"not in \{0, 1\}"),
    (torch.cat([torch.ones(1, 1, 8, 8), torch.zeros(1, 1, 8, 8)]), None, "mask 1 .* all zeros"),
    (torch.ones(1, 1, 8, 8), torch.zeros(1, 3, 16, 16), "does not match"),
    (torch.ones(2, 1, 8, 8), torch.zeros(1, 3, 8, 8), "does not match"),
    (np.ones((8, 8), np.float32), np.zeros((8, 9, 3)), "does not match"),
    ([[1.0]], None, "torch.Tensor or np.ndarray"),
])
def test_validate_mask_errors(mask, image, match):
    with pytest.raises(ValueError, match=match):
        validate_mask(mask, image)


class _TinyDataset:
    """Stand-in dataset: image i is constant i / 10."""

    description = "tiny"

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return torch.full((3, 32, 32), i / 10)

    def attributes(self, i):
        return {"index": np.int64(i), "scale": np.float32(0.5)}


def test_make_test_set_layout_and_reproducibility():
    cfg = MaskConfig(test_kinds=("centre", "squares", "strokes"))
    ts = make_test_set(_TinyDataset(), cfg, n_per_kind=3, seed=11)
    assert len(ts) == 9 and ts.images.shape == (9, 3, 32, 32) and ts.masks.shape == (9, 1, 32, 32)
    assert ts.kinds == ["centre"] * 3 + ["squares"] * 3 + ["strokes"] * 3
    assert ts.indices == [0, 1, 2] * 3 and ts.images[4, 0, 0, 0] == pytest.approx(0.1)
    assert "tiny" in ts.description and "seed 11" in ts.description
    again = make_test_set(_TinyDataset(), cfg, n_per_kind=3, seed=11)
    assert torch.equal(ts.images, again.images) and torch.equal(ts.masks, again.masks)
    other = make_test_set(_TinyDataset(), cfg, n_per_kind=3, seed=12)
    assert not torch.equal(ts.masks[3:], other.masks[3:])
    expected = make_mask("squares", 32, np.random.default_rng([11, MASK_KINDS.index("squares"), 1]))
    np.testing.assert_array_equal(ts.masks[4, 0].numpy(), expected)
    squares_only = make_test_set(_TinyDataset(), MaskConfig(test_kinds=("squares",)), 3, seed=11)
    assert torch.equal(squares_only.masks, ts.masks[3:6])      # independent of the other kinds


def test_make_test_set_caps_and_defaults_seed():
    ts = make_test_set(_TinyDataset(), MaskConfig(seed=5), n_per_kind=100)
    assert len(ts) == 10 and "seed 5" in ts.description
    assert len(make_test_set(_TinyDataset(), MaskConfig(), n_per_kind=None)) == 10
    with pytest.raises(ValueError, match="empty"):
        make_test_set(_TinyDataset(), MaskConfig(), n_per_kind=0)


def test_save_load_round_trip_and_subset(tmp_path):
    ts = make_test_set(_TinyDataset(), MaskConfig(), n_per_kind=2, seed=1)
    path = ts.save(tmp_path / "sets" / "test_set.pt")
    assert sorted(p.name for p in path.parent.iterdir()) == ["test_set.pt"]   # no temp file left
    loaded = FixedTestSet.load(path)
    assert torch.equal(loaded.images, ts.images) and torch.equal(loaded.masks, ts.masks)
    assert (loaded.kinds, loaded.indices, loaded.description) == (ts.kinds, ts.indices,
                                                                  ts.description)
    assert loaded.attributes[1] == {"index": 1, "scale": 0.5}
    centre = loaded.subset("centre")
    assert len(centre) == 2 and centre.kinds == ["centre"] * 2 and centre.indices == [0, 1]
    assert torch.equal(centre.masks, ts.masks[:2])
    with pytest.raises(ValueError, match="no 'rects' masks.*centre, squares"):
        loaded.subset("rects")
    with pytest.raises(FileNotFoundError, match="make_test_set"):
        FixedTestSet.load(tmp_path / "missing.pt")


def test_fixed_test_set_checks_its_fields():
    with pytest.raises(ValueError, match="one entry per image"):
        FixedTestSet(torch.zeros(2, 3, 8, 8), torch.ones(2, 1, 8, 8), ["centre"], [0, 1], [{}, {}])


def test_fixed_test_set_head_keeps_the_first_entries():
    from inpainting.data.procedural import FaceDataset
    ts = make_test_set(FaceDataset(4, 32, 0, "test"), MaskConfig(), 4, seed=1)
    head = ts.head(3)
    assert len(head) == 3 and torch.equal(head.images, ts.images[:3])
    assert torch.equal(head.masks, ts.masks[:3]) and head.kinds == ts.kinds[:3]
    assert head.indices == ts.indices[:3] and head.attributes == ts.attributes[:3]
