"""inference.complete: input types and layouts, known pixels unchanged, clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fixtures import within
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
    # A batch of 3 against one image: oneDNN may block the convolutions differently by batch
    # size, so the same sums can run in another order (a few float32 ulp of values in [-1, 1]).
    within("inference: one image vs the same image in a batch of 3",
           (single - out[0]).abs().max().item(), 1e-5)


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


# --- bad inputs (issue 10): nothing silently wrong, the caller's model never changes -------------
def _snapshot(m):
    return {"device": next(m.parameters()).device,
            "modes": [mod.training for mod in m.modules()],
            "layout": [(p.stride(), p.data_ptr()) for p in m.parameters()],
            "state": {k: v.clone() for k, v in m.state_dict().items()}}


def _same(m, snap):
    now = _snapshot(m)
    assert now["device"] == snap["device"] and now["modes"] == snap["modes"]
    assert now["layout"] == snap["layout"]
    assert now["state"].keys() == snap["state"].keys()
    assert all(torch.equal(now["state"][k], v) for k, v in snap["state"].items())


def test_complete_never_changes_the_callers_model(model):
    model.train()
    list(model.modules())[-1].eval()   # a mixed mode must come back exactly, module by module
    snap = _snapshot(model)
    complete(model, np.zeros((S, S, 3), np.uint8), _hole())
    _same(model, snap)
    complete(model, np.zeros((S, S, 3), np.uint8), _hole(), device="cpu")
    _same(model, snap)
    model.eval()


def test_meta_device_and_bad_inputs_leave_the_model_intact(model):
    snap = _snapshot(model)
    with pytest.raises(ValueError, match="device 'meta'.*valid: auto, cpu, cuda"):
        complete(model, np.zeros((S, S, 3), np.uint8), _hole(), device="meta")
    with pytest.raises(ValueError, match="device 'gpu'"):
        complete(model, np.zeros((S, S, 3), np.uint8), _hole(), device="gpu")
    with pytest.raises(ValueError, match="meta|no hole"):
        complete(model, np.zeros((S, S, 3), np.uint8), np.zeros((S, S), bool), device="meta")
    _same(model, snap)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.bool])
def test_integer_torch_images_are_rejected_not_truncated(model, dtype):
    image = torch.ones(1, 3, S, S, dtype=dtype)
    mask = torch.from_numpy(_hole(1)).float()[:, None]
    with pytest.raises(ValueError, match=rf"torch images must be floating point in \[-1, 1\].*"
                                         rf"{str(dtype).split('.')[1]}.*/ 127.5 - 1"):
        complete(model, image, mask)


def test_integer_and_bool_masks_are_converted_by_the_documented_rule(model):
    image = torch.rand(1, 3, S, S) * 2 - 1
    reference = complete(model, image, torch.from_numpy(_hole(1)).float()[:, None])
    for dtype in (torch.uint8, torch.int64, torch.bool):
        mask = torch.from_numpy(_hole(1))[:, None].to(dtype)
        assert torch.equal(complete(model, image, mask), reference)
    with pytest.raises(ValueError, match=r"values not in \{0, 1\}.*mask > 0"):
        complete(model, image, torch.from_numpy(_hole(1))[:, None].to(torch.uint8) * 255)


@pytest.mark.parametrize("shape", [(S, S, 1), (S, S, 3)])
def test_mask_with_a_channel_axis_is_named(model, shape):
    with pytest.raises(ValueError, match=rf"mask shape \({S}, {S}, {shape[2]}\).*\({S}, {S}\).*"
                                         r"mask\[\.\.\., 0\]"):
        complete(model, np.zeros((S, S, 3), np.uint8), np.ones(shape, bool))


def test_two_d_torch_image_is_an_image_error(model):
    with pytest.raises(ValueError, match=rf"torch images must be \(3, H, W\) or \(B, 3, H, W\), got \({S}, {S}\)"):
        complete(model, torch.zeros(S, S), torch.ones(1, S, S))


def test_empty_batch_and_bad_batch_size(model):
    with pytest.raises(ValueError, match="empty batch"):
        complete(model, np.zeros((0, S, S, 3), np.uint8), np.zeros((0, S, S), bool))
    with pytest.raises(ValueError, match="empty batch"):
        complete(model, torch.zeros(0, 3, S, S), torch.zeros(0, 1, S, S))
    for bad in (0, -1, 2.5, None, True):
        with pytest.raises(ValueError, match=f"batch_size={bad!r}.*integer >= 1"):
            complete(model, np.zeros((S, S, 3), np.uint8), _hole(), batch_size=bad)


def test_masks_of_the_other_kind_are_named(model):
    with pytest.raises(ValueError, match="NumPy images need a NumPy mask"):
        complete(model, np.zeros((S, S, 3), np.uint8), torch.ones(1, S, S))


def test_model_that_is_not_an_inpainter(model, tmp_path):
    from PIL import Image
    png = tmp_path / "photo.png"
    Image.fromarray(np.zeros((S, S, 3), np.uint8)).save(png)
    accepted = "an Inpainter .* or the path of a generator.pt"
    for bad, error, match in [(None, TypeError, f"model is None; expected {accepted}"),
                              (torch.nn.Conv2d(4, 3, 1), TypeError, f"Conv2d.*{accepted}"),
                              (np.zeros(3), TypeError, f"ndarray.*{accepted}"),
                              (png, ValueError, "photo.png is an image file, not a model"),
                              (tmp_path / "nope.pt", FileNotFoundError, "nope.pt")]:
        with pytest.raises(error, match=match):
            complete(bad, np.zeros((S, S, 3), np.uint8), _hole())


def _generator_file(model, tmp_path):
    path = tmp_path / "generator.pt"
    torch.save({"model": {"generator": "lite", "adversarial": "bce"}, "image_size": S,
                "state_dict": model.state_dict(), "meta": {}}, path)
    return path


def test_model_path_with_auto_device(model, tmp_path, monkeypatch):
    monkeypatch.delenv("INPAINTING_DEVICE", raising=False)
    path = _generator_file(model, tmp_path)
    image = np.random.default_rng(3).integers(0, 256, (S, S, 3), dtype=np.uint8)
    expected = complete(model, image, _hole())
    for device in ("auto", None, "cpu"):
        assert np.array_equal(complete(path, image, _hole(), device=device), expected)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a CPU-only machine")
def test_cuda_without_cuda_says_what_works(model, tmp_path):
    for target in (model, _generator_file(model, tmp_path)):
        with pytest.raises(RuntimeError, match="CUDA is not available.*device='cpu'") as info:
            complete(target, np.zeros((S, S, 3), np.uint8), _hole(), device="cuda")
        assert "NVIDIA driver" not in str(info.value)


def test_check_inputs_empty_batch_and_integer_image():
    from inpainting.models import check_inputs
    with pytest.raises(ValueError, match="empty batch"):
        check_inputs(torch.zeros(0, 3, S, S), torch.zeros(0, 1, S, S))
    with pytest.raises(ValueError, match="float tensor"):
        check_inputs(torch.zeros(1, 3, S, S, dtype=torch.uint8), torch.ones(1, 1, S, S))


# --- issue 18, family 6: errors that name the problem where the user made it --------------------
@pytest.mark.parametrize("convert", ["half", "bfloat16", "double"])
def test_a_model_in_another_precision_is_named_with_the_fix(model, convert):
    import copy
    other = getattr(copy.deepcopy(model), convert)()
    image = np.zeros((S, S, 3), np.uint8)
    with pytest.raises(ValueError, match=r"model parameters are .*pass model.float\(\)"):
        complete(other, image, _hole())
    from inpainting.evaluation.runner import evaluate
    from inpainting.data.masks import FixedTestSet
    test_set = FixedTestSet(images=torch.zeros(1, 3, S, S), masks=torch.from_numpy(_hole(1))[:, None].float(),
                            kinds=["centre"], indices=[0], attributes=[{}], description="one")
    with pytest.raises(ValueError, match=r"pass model.float\(\)"):
        evaluate({"half": other}, test_set, progress=False)


def test_a_model_trained_at_another_size_warns_naming_both(model, tmp_path):
    path = _generator_file(model, tmp_path)       # trained at S px
    big = np.zeros((2 * S, 2 * S, 3), np.uint8)
    mask = np.zeros((2 * S, 2 * S), bool)
    mask[8:20, 8:20] = True
    with pytest.warns(UserWarning, match=rf"trained on {S}x{S} px images, these are {2 * S}x{2 * S}"):
        complete(path, big, mask, device="cpu")


def test_a_mask_covering_the_whole_image_warns(model):
    image = np.zeros((S, S, 3), np.uint8)
    with pytest.warns(UserWarning, match=r"1 of 1 mask\(s\) cover the whole image"):
        complete(model, image, np.ones((S, S), bool))
