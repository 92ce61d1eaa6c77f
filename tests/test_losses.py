"""Loss functions (docs/method.md §5): hand-computed values, signs and gradient locality."""
import math

import pytest
import torch

from inpainting.losses import (discriminator_loss, generator_adversarial_loss, gradient_penalty,
                               perceptual_loss, reconstruction_loss)
from inpainting.models import GlobalLocalDiscriminator


def one_pixel_case():
    target = torch.zeros(1, 3, 2, 2)
    output = torch.full((1, 3, 2, 2), 0.7)          # errors outside the hole must not count
    output[0, :, 0, 0] = torch.tensor([1.0, 2.0, -3.0])
    mask = torch.zeros(1, 1, 2, 2)
    mask[0, 0, 0, 0] = 1
    return output, target, mask


def test_reconstruction_hand_computed():
    output, target, mask = one_pixel_case()
    assert reconstruction_loss(output, target, mask, "mse").item() == pytest.approx((1 + 4 + 9) / 3)
    assert reconstruction_loss(output, target, mask, "l1").item() == pytest.approx((1 + 2 + 3) / 3)


def test_reconstruction_sums_over_batch_before_dividing():
    target = torch.zeros(2, 3, 2, 2)
    output = torch.ones(2, 3, 2, 2)
    output[1] = 2.0
    mask = torch.zeros(2, 1, 2, 2)
    mask[0, 0, 0, 0] = 1                  # 1 hole pixel with squared error 1
    mask[1, 0, :, 1] = 1                  # 2 hole pixels with squared error 4
    expected = (3 * 1 + 2 * 3 * 4) / (3 * 3)
    assert reconstruction_loss(output, target, mask).item() == pytest.approx(expected)


def test_reconstruction_gradients_only_in_hole():
    output, target, mask = one_pixel_case()
    output.requires_grad_(True)
    reconstruction_loss(output, target, mask).backward()
    hole = mask.expand_as(output).bool()
    assert (output.grad[~hole] == 0).all() and (output.grad[hole] != 0).all()


def test_reconstruction_empty_mask_is_zero_not_nan():
    output, target, _ = one_pixel_case()
    assert reconstruction_loss(output, target, torch.zeros(1, 1, 2, 2)).item() == 0


def test_bce_values_and_signs():
    zero = torch.zeros(4)
    assert discriminator_loss(zero, zero, "bce").item() == pytest.approx(2 * math.log(2))
    assert generator_adversarial_loss(zero, "bce").item() == pytest.approx(math.log(2))
    good_d = discriminator_loss(torch.full((4,), 10.0), torch.full((4,), -10.0), "bce")
    bad_d = discriminator_loss(torch.full((4,), -10.0), torch.full((4,), 10.0), "bce")
    assert good_d.item() < 1e-3 < 10 < bad_d.item()
    # non-saturating: the generator's loss falls as D believes the fakes
    assert generator_adversarial_loss(torch.full((4,), 5.0)) < generator_adversarial_loss(zero)
    fake = torch.full((4,), -10.0, requires_grad=True)
    generator_adversarial_loss(fake).backward()
    assert (fake.grad < -0.2).all()     # strong gradient even when D rejects the fakes


def test_wgan_values_and_signs():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    assert discriminator_loss(real, fake, "wgan-gp").item() == pytest.approx(-1.0)
    assert generator_adversarial_loss(fake, "wgan-gp").item() == pytest.approx(-1.0)


def test_unknown_kinds_raise():
    x = torch.zeros(2)
    with pytest.raises(ValueError, match="valid: bce, wgan-gp"):
        discriminator_loss(x, x, "hinge")
    with pytest.raises(ValueError, match="valid"):
        generator_adversarial_loss(x, "lsgan")
    output, target, mask = one_pixel_case()
    with pytest.raises(ValueError, match="valid: mse, l1"):
        reconstruction_loss(output, target, mask, "l2")


class LinearCritic(torch.nn.Module):
    def __init__(self, scale):
        super().__init__()
        w = torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
        self.w = torch.nn.Parameter(scale * w / w.norm())

    def forward(self, image, mask):
        return (self.w * image).flatten(1).sum(1)


@pytest.mark.parametrize("scale, expected", [(1.0, 0.0), (2.0, 1.0), (0.5, 0.25)])
def test_gradient_penalty_linear_critic(scale, expected):
    real, fake = torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4)
    gp = gradient_penalty(LinearCritic(scale), real, fake, torch.ones(3, 1, 4, 4))
    assert gp.item() == pytest.approx(expected, abs=1e-6)


def test_gradient_penalty_reaches_critic_parameters_and_is_reproducible():
    d = GlobalLocalDiscriminator(32, norm="none")
    real, fake = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    gp = gradient_penalty(d, real, fake, mask, generator=torch.Generator().manual_seed(3))
    gp.backward()
    assert torch.isfinite(gp) and gp > 0
    assert d.head.weight.grad is not None and d.global_branch.convs[0].weight.grad.abs().sum() > 0
    again = gradient_penalty(d, real, fake, mask, generator=torch.Generator().manual_seed(3))
    assert again.item() == pytest.approx(gp.item())


def test_perceptual_mse_l1_hand_computed():
    fake = {"a": torch.zeros(2, 2, 2, 2), "b": torch.zeros(1, 4, 1, 1)}
    real = {"a": torch.ones(2, 2, 2, 2), "b": torch.full((1, 4, 1, 1), 2.0)}
    # Johnson et al.: ||.||^2 / (C H W), batch mean  -> a: 1, b: 4
    assert perceptual_loss(fake, real, None, "mse").item() == pytest.approx((1 + 4) / 2)   # mean over layers
    assert perceptual_loss(fake, real, {"a": 0.5}, "mse").item() == pytest.approx(0.5)
    assert perceptual_loss(fake, real, {"a": 1.0, "b": 0.1}, "l1").item() == pytest.approx(1 + 0.2)


def test_perceptual_cosine():
    e1 = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
    e2 = torch.tensor([0.0, 3.0]).view(1, 2, 1, 1)
    cos = lambda f, r: perceptual_loss({"x": f}, {"x": r}, distance="cosine").item()
    assert cos(e1, 5 * e1) == pytest.approx(0.0)        # scale-invariant
    assert cos(e1, e2) == pytest.approx(1.0)            # orthogonal
    assert cos(e1, -e1) == pytest.approx(2.0)           # opposite
    zero = torch.zeros(1, 2, 1, 1)
    assert cos(zero, zero) == pytest.approx(0.0)        # dead ReLUs on both sides cost nothing
    f = torch.cat([zero, e1], dim=3).requires_grad_(True)
    perceptual_loss({"x": f}, {"x": torch.cat([e2, e2], dim=3)}, distance="cosine").backward()
    assert torch.isfinite(f.grad).all()


def test_perceptual_relative_is_scale_free():
    real = torch.randn(3, 4, 5, 5)
    fake = real + 0.1 * torch.randn(3, 4, 5, 5)
    rel = lambda f, r: perceptual_loss({"x": f}, {"x": r}, distance="relative").item()
    assert rel(fake, real) == pytest.approx(rel(1000 * fake, 1000 * real), rel=1e-5)
    assert rel(real, real) == 0.0
    assert rel(torch.zeros_like(real), real) == pytest.approx(1.0)   # nothing right: error = energy
    per_image = [((fake[i] - real[i]).pow(2).sum() / real[i].pow(2).sum()).item() for i in range(3)]
    assert rel(fake, real) == pytest.approx(sum(per_image) / 3)


def test_perceptual_layer_errors():
    f = {"a": torch.zeros(1, 1, 1, 1)}
    with pytest.raises(ValueError, match="differ"):
        perceptual_loss(f, {"b": torch.zeros(1, 1, 1, 1)})
    with pytest.raises(ValueError, match="not in the features"):
        perceptual_loss(f, f, {"c": 1.0})
    with pytest.raises(ValueError, match="valid: mse, l1, cosine"):
        perceptual_loss(f, f, distance="l2")
