"""inference.complete: input types and layouts, known pixels unchanged, clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inpainting.inference import complete
from inpainting.models import build_inpainter
from inpainting.profiles import ModelConfig

S = 32


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_inpainter(ModelConfig("lite"), S)


def _hole(batch: int | None = None) -> np.ndarray:
    mask = np.zeros((S, S), bool)
    mask[8:20, 10:24] = True
    return mask if batch is None else np.stack([mask] * batch)


def test_numpy_uint8_single_and_batch(model):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (S, S, 3), dtype=np.uint8)
    out = complete(model, image, _hole())
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert np.array_equal(out[~_hole()], image[~_hole()])
    assert not np.array_equal(out[_hole()], image[_hole()])
    batch = np.stack([image, image[::-1]])
    out_b = complete(model, batch, _hole(2).astype(np.uint8), batch_size=1)
    assert out_b.shape == batch.shape
    assert np.array_equal(out_b[0], out)  # eval mode: batch composition does not matter


def test_numpy_float_keeps_range_and_dtype(model):
    image = np.random.default_rng(1).random((2, S, S, 3))
    out = complete(model, image, _hole(2))
    assert out.dtype == np.float64 and out.min() >= 0 and out.max() <= 1
    assert np.array_equal(out[:, ~_hole()], image[:, ~_hole()])


def test_torch_input_and_training_mode_restored(model):
    image = torch.rand(3, 3, S, S) * 2 - 1
    mask = torch.from_numpy(_hole(3)).float()[:, None]
    model.train()
    out = complete(model, image, mask)
    assert model.training
    assert isinstance(out, torch.Tensor) and out.shape == image.shape
    known = mask.expand_as(image) == 0
    assert torch.equal(out[known], image[known])
    assert out.min() >= -1 and out.max() <= 1
    single = complete(model, image[0], mask[0])
    assert single.shape == image[0].shape
    assert torch.allclose(single, out[0], atol=1e-6)


@pytest.mark.parametrize("mask, message", [
    (np.full((S, S), 0.5, np.float32), "values not in"),
    (np.zeros((S, S), bool), "no hole"),
    (np.ones((S + 4, S), bool), "does not match"),
    (np.ones((1, 1, S, S), bool), "expected"),
])
def test_bad_masks_raise_clear_errors(model, mask, message):
    image = np.zeros((S, S, 3), np.uint8)
    with pytest.raises(ValueError, match=message):
        complete(model, image, mask)


def test_bad_images_raise_clear_errors(model):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        complete(model, np.full((S, S, 3), 2.0), _hole())
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        complete(model, torch.full((1, 3, S, S), 5.0), torch.ones(1, 1, S, S))
    with pytest.raises(TypeError):
        complete(model, [[0]], _hole())
