"""Frozen VGG perceptual network: layers, freezing, normalisation, weight resolution (docs/method.md §4)."""
import pytest
import torch

from fixtures import within
from inpainting.losses import perceptual_loss
from inpainting.models import PerceptualNetwork, composite
from inpainting.models import perceptual_weights as weights_module
from inpainting.models.perceptual import layer_names
from inpainting.models.perceptual_weights import cache_path


@pytest.fixture(scope="module")
def vgg():
    return PerceptualNetwork("vgg19", ("relu1_1", "relu2_1", "relu3_1"), weights="random")


def images(b=2, s=32, seed=0):
    return torch.rand(b, 3, s, s, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_layer_indices():
    names19, names16 = layer_names("vgg19"), layer_names("vgg16")
    assert [names19.index(f"relu{k}_1") for k in range(1, 6)] == [1, 6, 11, 20, 29]
    assert [names16.index(n) for n in ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")] == \
        [3, 8, 15, 22, 29]
    assert [names16.index(f"relu{k}_1") for k in range(1, 6)] == [1, 6, 11, 18, 25]


def test_truncated_frozen_and_shapes(vgg):
    assert len(vgg.features) == 12                       # up to relu3_1 (index 11)
    assert not any(p.requires_grad for p in vgg.parameters())
    out = vgg(images())
    assert list(out) == ["relu1_1", "relu2_1", "relu3_1"]
    assert out["relu1_1"].shape == (2, 64, 32, 32)
    assert out["relu2_1"].shape == (2, 128, 16, 16)
    assert out["relu3_1"].shape == (2, 256, 8, 8)
    assert (out["relu3_1"] >= 0).all()
    assert vgg.weights_kind == "random" and vgg.weights_source.startswith("random vgg19 (requested")


def test_stays_in_eval_mode(vgg):
    vgg.train()
    assert not vgg.training and not any(m.training for m in vgg.modules())
    torch.nn.Sequential(vgg).train()
    assert not vgg.training


def test_vgg16_names():
    net = PerceptualNetwork("vgg16", ("relu2_2", "relu3_1"), weights="random")
    out = net(images(1, 16))
    assert out["relu2_2"].shape == (1, 128, 8, 8) and out["relu3_1"].shape == (1, 256, 4, 4)


def test_input_normalisation(vgg):
    # mid-grey (0 in [-1, 1]) -> 0.5 -> (0.5 - mean) / std before the first conv
    conv = vgg.features[0]
    x = torch.zeros(1, 3, 8, 8)
    expected = torch.relu(conv((0.5 - vgg.mean) / vgg.std * torch.ones_like(x)))
    # The network normalises (x + 1) / 2 itself; the test feeds the normalised constant: the
    # same values up to rounding of the normalisation (1 ulp), then the same convolution.
    within("perceptual: input normalisation inside vs outside the network",
           (vgg(x)["relu1_1"] - expected).abs().max().item(), 1e-5)


def test_random_init_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = PerceptualNetwork(weights="random", layers=("relu1_1",))
    after = torch.rand(1)
    b = PerceptualNetwork(weights="random", layers=("relu1_1",))
    assert torch.equal(before, after)
    assert torch.equal(a.features[0].weight, b.features[0].weight)


def test_bad_layers_and_networks():
    with pytest.raises(ValueError, match="relu3_1"):
        PerceptualNetwork(layers=("relu9_1",), weights="random")
    with pytest.raises(ValueError, match="vgg16, vgg19"):
        PerceptualNetwork("resnet50", weights="random")


def test_perceptual_loss_on_composite_reaches_only_hole(vgg):
    real = images(1, 32, seed=1)
    output = images(1, 32, seed=2).requires_grad_(True)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    with torch.no_grad():
        f_real = vgg(real)
    loss = perceptual_loss(vgg(composite(real, output, mask)), f_real, {"relu3_1": 1.0})
    loss.backward()
    hole = mask.expand_as(output).bool()
    assert output.grad[~hole].abs().max() == 0 and output.grad[hole].abs().sum() > 0


def test_identical_images_have_zero_loss(vgg):
    x = images()
    f = vgg(x)
    for d in ("mse", "l1", "cosine"):
        assert perceptual_loss(f, vgg(x), distance=d).item() == pytest.approx(0.0, abs=1e-6)


def test_state_dict_path(tmp_path, vgg):
    path = tmp_path / "vgg.pth"
    torch.save({f"features.{k}": v for k, v in vgg.features.state_dict().items()}, path)
    net = PerceptualNetwork(layers=("relu2_1",), weights=str(path))
    assert torch.equal(net.features[5].weight, vgg.features[5].weight)
    assert net.weights_source.startswith(f"file vgg19 ({path}, sha256:")
    torch.save({"0.weight": vgg.features[0].weight}, path)
    with pytest.raises(ValueError, match="missing keys"):
        PerceptualNetwork(layers=("relu2_1",), weights=str(path))
    with pytest.raises(FileNotFoundError, match="loss.per_weights"):
        PerceptualNetwork(weights=str(tmp_path / "nope.pth"))


def test_imagenet_from_cache(tmp_path, monkeypatch, vgg):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    target = cache_path("vgg19")
    assert target == tmp_path / "checkpoints" / "vgg19-dcbb9e9d.pth"
    target.parent.mkdir()
    torch.save({f"features.{k}": v for k, v in vgg.features.state_dict().items()}, target)
    net = PerceptualNetwork(weights="imagenet")
    assert net.weights_kind == "imagenet" and str(target) in net.weights_source
    assert torch.equal(net.features[10].weight, vgg.features[10].weight)


def test_failed_download_is_an_error_never_a_random_network(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.delenv("INPAINTING_OFFLINE", raising=False)
    monkeypatch.setattr(weights_module, "_FAILED_DOWNLOADS", {})

    def no_network(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(weights_module.VGG16_Weights.IMAGENET1K_V1.__class__, "get_state_dict",
                        no_network)
    with pytest.raises(FileNotFoundError, match="download failed: OSError") as err:
        PerceptualNetwork("vgg16", weights="imagenet")
    assert "vgg16-397923af.pth" in str(err.value) and "vgg16-hed" in str(err.value)


def test_offline_skips_the_download(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setenv("INPAINTING_OFFLINE", "1")
    monkeypatch.setattr(weights_module.VGG19_Weights.IMAGENET1K_V1.__class__, "get_state_dict",
                        lambda *a, **k: pytest.fail("download attempted although offline"))
    with pytest.raises(FileNotFoundError, match="download skipped"):
        PerceptualNetwork(weights="imagenet")
