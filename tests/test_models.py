"""Generators, baselines, discriminators and the Inpainter wrapper (docs/method.md §2, 3, 8.4)."""
import io

import pytest
import torch

from fixtures import within
from inpainting.models import (ContextEncoder, ContextEncoderDiscriminator, GlobalLocalDiscriminator,
                               Inpainter, build_discriminator, build_generator, build_inpainter,
                               composite, generator_input, glcic_generator, lite_generator,
                               local_patch, wide_generator)
from inpainting.models.context_encoder import centre_box, default_bottleneck
from inpainting.models.discriminator import channels
from inpainting.profiles import ModelConfig, get_profile


def count(module):
    return sum(p.numel() for p in module.parameters())


def images(b, s, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, s, s, generator=g) * 2 - 1


def centre_mask(b, s):
    m = torch.zeros(b, 1, s, s)
    a, e = centre_box(s)
    m[..., a:e, a:e] = 1
    return m


# --- parameter counts [COMPUTED, docs/method.md §2.2, 2.3, 3.4] ---------------------------------------
@pytest.mark.parametrize("factory, expected", [
    (lite_generator, 1_372_883), (wide_generator, 5_478_819), (glcic_generator, 6_072_131),
    (lambda: ContextEncoder(128), 71_130_531)])
def test_generator_parameter_counts(factory, expected):
    assert count(factory()) == expected


def test_discriminator_parameter_counts_at_128():
    d = GlobalLocalDiscriminator(128, norm="batch")
    assert count(d.global_branch) == 19_253_248
    assert count(d.local_branch) == 12_698_112
    assert count(d.head) == 2_049
    plain = GlobalLocalDiscriminator(128, norm="none")   # WGAN-GP: no BatchNorm
    assert count(plain.global_branch) == 19_253_248 - 2 * (64 + 128 + 256 + 512 + 512)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())


def test_lite_generator_layer_conventions():
    g = lite_generator()
    convs = [m for m in g.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert all(c.bias is None for c in convs[:-1]) and convs[-1].bias is not None
    assert [c.dilation[0] for c in convs if c.dilation[0] > 1] == [2, 4, 8]
    bns = [m for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == len(convs) - 1
    assert all(bn.eps == 1e-3 and bn.momentum == 0.1 for bn in bns)
    assert isinstance(list(g.modules())[-1], torch.nn.Tanh)


# --- shapes and ranges --------------------------------------------------------------------------
@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_lite_output_shape_and_range(size):
    g = lite_generator().eval()
    x = images(1, size) * 50   # extreme inputs still give tanh outputs
    with torch.no_grad():
        y = g(generator_input(x.clamp(-1, 1), centre_mask(1, size)))
    assert y.shape == (1, 3, size, size)
    assert y.min() >= -1 and y.max() <= 1


@pytest.mark.parametrize("factory", [wide_generator, glcic_generator])
def test_wide_and_glcic_fully_convolutional(factory):
    g = factory().eval()
    with torch.no_grad():
        for h, w in [(32, 32), (48, 64)]:
            y = g(torch.zeros(1, 4, h, w))
            assert y.shape == (1, 3, h, w) and y.abs().max() <= 1


@pytest.mark.parametrize("size", [32, 64])   # 128 px: built by the parameter-count test
def test_context_encoder_sizes_and_canvas(size):
    ce = ContextEncoder(size).eval()
    x, m = images(2, size), centre_mask(2, size)
    with torch.no_grad():
        y = ce(generator_input(x, m))
    assert y.shape == (2, 3, size, size)
    a, e = centre_box(size)
    outside = torch.ones(size, size, dtype=torch.bool)
    outside[a:e, a:e] = False
    assert torch.equal(y[..., outside], x[..., outside])          # canvas = known context
    assert y[..., a:e, a:e].abs().max() <= 1
    d = ContextEncoderDiscriminator(size)
    assert d(y, m).shape == (2,)


def test_context_encoder_fills_hole_with_mean_colour():
    ce = ContextEncoder(32)
    x, m = images(1, 32), centre_mask(1, 32)
    canvas = ce.canvas(generator_input(x, m))
    expected = torch.tensor([117.0, 104.0, 123.0]) / 127.5 - 1
    assert torch.allclose(canvas[0, :, 16, 16], expected)
    assert torch.equal(canvas[0, :, 0, 0], x[0, :, 0, 0])


def test_context_encoder_rejects_bad_sizes():
    with pytest.raises(ValueError, match="power-of-two"):
        ContextEncoder(96)


def test_context_encoder_discriminator_sees_only_centre():
    d = ContextEncoderDiscriminator(32).eval()
    x, m = images(2, 32), centre_mask(2, 32)
    y = x.clone()
    y[..., :8, :] = 0.5   # change the context only
    with torch.no_grad():
        assert torch.equal(d(x, m), d(y, m))


def test_composite_and_generator_input():
    x, m = images(2, 8), torch.zeros(2, 1, 8, 8)
    m[:, :, 2:5, 3:6] = 1
    out = torch.full_like(x, 0.25)
    c = composite(x, out, m)
    assert torch.equal(c[m.expand_as(x) == 1], out[m.expand_as(x) == 1])
    assert torch.equal(c[m.expand_as(x) == 0], x[m.expand_as(x) == 0])
    gi = generator_input(x, m)
    assert gi.shape == (2, 4, 8, 8) and torch.equal(gi[:, 3:], m)
    assert (gi[:, :3][m.expand_as(x) == 1] == 0).all()


# --- discriminator -----------------------------------------------------------------------------
def test_local_patch_is_centred_on_hole_bbox():
    x = torch.arange(64 * 64, dtype=torch.float32).view(1, 1, 64, 64).expand(1, 3, 64, 64)
    m = torch.zeros(1, 1, 64, 64)
    m[..., 20:30, 30:50] = 1                 # bbox centre (25, 40)
    p = local_patch(x, m, 16)
    assert p.shape == (1, 3, 16, 16)
    assert torch.equal(p, x[..., 17:33, 32:48])


def test_local_patch_clamps_inside_image_and_is_batched():
    x = images(3, 32)
    m = torch.zeros(3, 1, 32, 32)
    m[0, :, 0:4, 0:4] = 1                    # top-left corner -> origin (0, 0)
    m[1, :, 28:32, 26:32] = 1                # bottom-right -> origin (16, 16)
    m[2, :, 8:24, 8:24] = 1                  # centred square -> origin (8, 8)
    p = local_patch(x, m, 16)
    assert torch.equal(p[0], x[0, :, 0:16, 0:16])
    assert torch.equal(p[1], x[1, :, 16:32, 16:32])
    assert torch.equal(p[2], x[2, :, 8:24, 8:24])


def test_local_patch_is_differentiable():
    x = images(1, 16).requires_grad_(True)
    m = torch.zeros(1, 1, 16, 16)
    m[..., 0:2, 0:2] = 1
    local_patch(x, m, 8).sum().backward()
    assert x.grad[..., :8, :8].eq(1).all() and x.grad.sum() == 3 * 64


@pytest.mark.parametrize("size, n_global, n_local", [(32, 3, 2), (64, 4, 3), (128, 5, 4)])
def test_discriminator_depth_adapts_to_size(size, n_global, n_local):
    d = GlobalLocalDiscriminator(size)
    convs = lambda b: sum(isinstance(m, torch.nn.Conv2d) for m in b.modules())
    assert (convs(d.global_branch), convs(d.local_branch)) == (n_global, n_local)
    channels = (64, 128, 256, 512, 512)
    assert d.global_branch.fc.in_features == channels[n_global - 1] * 4 * 4   # final map 4x4
    assert d.local_branch.fc.in_features == channels[n_local - 1] * 4 * 4
    x, m = images(2, size), centre_mask(2, size)
    assert d(x, m).shape == (2,)


# --- factories and the Inpainter ---------------------------------------------------------------
def test_build_functions():
    assert build_inpainter(ModelConfig("lite"), 32).num_parameters() == 1_372_883
    ce = build_inpainter(ModelConfig("context_encoder"), 32)
    assert ce.supported_mask_kinds == ("centre",) and ce.name == "context_encoder"
    assert build_inpainter(ModelConfig("wide"), 32).supported_mask_kinds is None
    assert isinstance(build_discriminator(ModelConfig("context_encoder"), 32), ContextEncoderDiscriminator)
    d = build_discriminator(ModelConfig("lite", "wgan-gp"), 32)
    assert isinstance(d, GlobalLocalDiscriminator)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d)
               for m in build_discriminator(ModelConfig("glcic", "bce"), 32).modules())
    with pytest.raises(ValueError, match="valid"):
        build_generator("unet", 32)


def test_inpainter_complete_keeps_known_pixels():
    inp = build_inpainter(ModelConfig("lite"), 32).eval()
    x, m = images(2, 32), centre_mask(2, 32)
    with torch.no_grad():
        raw, done = inp(x, m), inp.complete(x, m)
    assert torch.equal(done, composite(x, raw, m))
    assert torch.equal(done[m.expand_as(x) == 0], x[m.expand_as(x) == 0])


def test_context_encoder_inpainter_rejects_off_centre_holes():
    inp = build_inpainter(ModelConfig("context_encoder"), 32).eval()
    x, m = images(1, 32), centre_mask(1, 32)
    with torch.no_grad():
        assert inp.complete(x, m).shape == (1, 3, 32, 32)
    m[..., 0, 0] = 1
    with pytest.raises(ValueError, match="centre"):
        inp(x, m)
    with pytest.raises(ValueError, match="32px"):
        inp(images(1, 64), centre_mask(1, 64))


def _bad_inputs():
    x, m = images(2, 16), centre_mask(2, 16)
    nan = x.clone()
    nan[0, 0, 0, 0] = float("nan")
    empty = m.clone()
    empty[1] = 0
    return [
        ("shape", x[0], m),
        ("3 channels|shape", x[:, :1], m),
        ("divisible by 4", images(2, 18), torch.ones(2, 1, 18, 18)),
        (r"\[-1, 1\]", x * 3, m),
        ("NaN", nan, m),
        ("float", (x * 127).to(torch.uint8), m),
        ("mask tensor has shape", x, m[:, 0]),
        ("mask tensor has shape", x, m.expand(2, 3, 16, 16)),
        ("does not match", x, m[:1]),
        ("float32", x, m.bool()),
        ("float32", x, m.double()),
        ("values not in", x, m * 0.5),
        ("values not in", x, m * float("nan")),
        ("mask 1 .* all zeros", x, empty),
        ("torch tensors", x, m.numpy()),
    ]


@pytest.mark.parametrize("match, image, mask", _bad_inputs())
def test_inpainter_rejects_bad_inputs(match, image, mask):
    inp = build_inpainter(ModelConfig("lite"), 16)
    with pytest.raises(ValueError, match=match):
        inp(image, mask)


def test_state_dict_loads_with_map_location_cpu():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    src = build_inpainter(ModelConfig("lite"), 32).to(device)
    buf = io.BytesIO()
    torch.save(src.state_dict(), buf)
    buf.seek(0)
    dst = build_inpainter(ModelConfig("lite"), 32)
    dst.load_state_dict(torch.load(buf, map_location="cpu", weights_only=True))
    x, m = images(1, 32), centre_mask(1, 32)
    with torch.no_grad():
        ours, theirs = src.eval()(x.to(device), m.to(device)).cpu(), dst.eval()(x, m)
    if device == "cpu":   # same weights, input and kernels in one process: exact
        assert torch.equal(ours, theirs)
    else:                 # cuDNN against the CPU's kernels: other algorithms and summation orders
        within("models: GPU forward vs CPU forward after map_location", (ours - theirs).abs().max().item(), 1e-4)
    assert all(t.device.type == "cpu" for t in dst.state_dict().values())


def test_context_encoder_matrix_product_layers_equal_the_convolutions():
    from inpainting.models.context_encoder import FullMapConv, PointDeconv
    torch.manual_seed(0)
    conv, fast_conv = torch.nn.Conv2d(32, 10, 4), FullMapConv(32, 10, 4)
    fast_conv.load_state_dict(conv.state_dict())
    x = torch.randn(3, 32, 4, 4)
    # A matrix product against a convolution kernel: the same 512 products per output summed in
    # another order (outputs of scale ~0.5: float32 rounding ~1e-6).
    within("models: FullMapConv vs Conv2d", (conv(x) - fast_conv(x)).abs().max().item(), 1e-5)
    deconv, fast_deconv = torch.nn.ConvTranspose2d(10, 32, 4), PointDeconv(10, 32, 4)
    fast_deconv.load_state_dict(deconv.state_dict())
    z = torch.randn(3, 10, 1, 1)
    within("models: PointDeconv vs ConvTranspose2d", (deconv(z) - fast_deconv(z)).abs().max().item(), 1e-5)
    with pytest.raises(ValueError, match="expects a"):
        fast_conv(torch.randn(1, 32, 8, 8))


# --- discriminator width (model.d_width) and the CE bottleneck [INFERRED] ------------------------
def _conv_params(module):
    return sum(p.numel() for m in module.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d))
               for p in m.parameters())


@pytest.mark.parametrize("size", [32, 64, 128])
def test_d_width_scales_convs_quadratically_and_fc_inputs_linearly(size):
    full, half = GlobalLocalDiscriminator(size), GlobalLocalDiscriminator(size, width=0.5)
    for b_full, b_half in [(full.global_branch, half.global_branch),
                           (full.local_branch, half.local_branch)]:
        assert b_half.fc.in_features * 2 == b_full.fc.in_features          # linear
        assert b_half.fc.out_features == b_full.fc.out_features == 1024
        ratio = _conv_params(b_half) / _conv_params(b_full)
        assert 0.24 < ratio < 0.27                                          # quadratic (+ first layer)
    assert count(half.head) == count(full.head) == 2_049
    # Together between linear and quadratic: the FC weights dominate at these sizes.
    assert 0.25 < count(half) / count(full) < 0.5


def test_d_width_parameter_counts():
    assert count(GlobalLocalDiscriminator(64)) == 17_925_633        # the demo's full-width D
    assert count(GlobalLocalDiscriminator(64, width=0.5)) == 7_633_665   # the demo's D
    assert count(GlobalLocalDiscriminator(128, width=0.5)) == 12_189_953
    assert channels(4, 0.5) == (32, 64, 128, 256) and channels(4, 0.75) == (48, 96, 192, 384)
    assert channels(3, 0.01) == (1, 1, 3)                            # never zero channels
    sizes = [count(GlobalLocalDiscriminator(64, width=w)) for w in (0.25, 0.5, 1.0, 2.0)]
    assert sizes == sorted(sizes)
    # Paper profile: the spec's discriminator, counts unchanged.
    d = build_discriminator(get_profile("paper").model, 128)
    assert (count(d.global_branch), count(d.local_branch), count(d.head)) == \
        (19_253_248, 12_698_112, 2_049)
    assert build_discriminator(get_profile("demo").model, 64).width == 0.5


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("width", [0.5, 1.0])
def test_d_width_forward_shapes(size, width):
    d = build_discriminator(ModelConfig("lite", "bce", width), size)
    assert d.global_branch.convs[0].out_channels == round(64 * width)
    x, m = images(2, size), centre_mask(2, size)
    out = d(x, m)
    assert out.shape == (2,) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in d.parameters())


def test_d_width_does_not_change_the_context_encoder_discriminator():
    a = build_discriminator(ModelConfig("context_encoder", "bce", 0.5), 64)
    b = build_discriminator(ModelConfig("context_encoder", "bce", 1.0), 64)
    assert isinstance(a, ContextEncoderDiscriminator) and count(a) == count(b) == 663_745


@pytest.mark.parametrize("width", [0.0, -0.5, 4.5, float("nan"), float("inf"), True, "0.5"])
def test_invalid_discriminator_width_rejected(width):
    with pytest.raises(ValueError, match="width"):
        GlobalLocalDiscriminator(32, width=width)


@pytest.mark.parametrize("value", [0.0, -1.0, 4.01, float("nan"), float("inf")])
def test_invalid_d_width_rejected_by_the_profile(value):
    with pytest.raises(ValueError, match="model.d_width"):
        get_profile("smoke", {"model.d_width": value})


@pytest.mark.parametrize("value", ["half", True, None, (0.5,)])
def test_d_width_of_the_wrong_type_rejected_by_the_profile(value):
    with pytest.raises(ValueError, match="model.d_width"):
        get_profile("smoke", {"model.d_width": value})


def test_d_width_profile_values():
    assert get_profile("demo").model.d_width == 0.5
    assert get_profile("smoke").model.d_width == 0.5
    assert get_profile("paper").model.d_width == 1.0
    assert get_profile("demo", {"model.d_width": 1}).model.d_width == 1.0   # an int is a float here
    assert get_profile("demo", {"model.d_width": 4.0}).model.d_width == 4.0


@pytest.mark.parametrize("size, code, params, params_4000", [
    (32, 250, 8_838_513, 70_289_763), (64, 1000, 21_775_611, 70_936_611),
    (128, 4000, 71_130_531, 71_130_531)])
def test_context_encoder_bottleneck_keeps_code_size_per_pixel(size, code, params, params_4000):
    assert default_bottleneck(size) == code == round(4000 * (size / 128) ** 2)
    ce = build_generator("context_encoder", size)
    assert ce.bottleneck == code and count(ce) == params
    if size != 128:   # at 128 px the default is 4000 (and the count test above builds it)
        assert count(ContextEncoder(size, bottleneck=4000)) == params_4000
    bn = [m for m in ce.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert any(m.num_features == code for m in bn)
    x, m = images(2, size), centre_mask(2, size)
    with torch.no_grad():
        assert ce.eval()(generator_input(x, m)).shape == (2, 3, size, size)


@pytest.mark.parametrize("bottleneck", [0, -5, 2.5, True])
def test_context_encoder_rejects_bad_bottleneck(bottleneck):
    with pytest.raises(ValueError, match="bottleneck"):
        ContextEncoder(32, bottleneck=bottleneck)
