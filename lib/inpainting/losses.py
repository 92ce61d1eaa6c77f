"""Loss functions of the kit: pure functions returning scalar tensors (docs/method.md §5).

Full generator objective (docs/method.md §5.4 [INFERRED])::

    L_G = w_rec * reconstruction_loss + w_adv * generator_adversarial_loss + w_per * perceptual_loss

Images are ``(B, 3, H, W)`` in [-1, 1], masks ``(B, 1, H, W)`` with 1 = hole, logits ``(B,)``.
"""
from __future__ import annotations

from typing import Callable, Mapping

import torch
import torch.nn.functional as F

ADVERSARIAL = ("bce", "wgan-gp")


def _check(value: str, valid: tuple[str, ...], what: str) -> None:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")


def reconstruction_loss(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                        distance: str = "mse") -> torch.Tensor:
    """Hole-only reconstruction loss [PROTO] ``weighted_mse_loss`` (docs/method.md §5.2).

    ``sum(M * d(output - target)) / (3 * sum(M))`` with ``d = x**2`` ("mse") or ``|x|`` ("l1"),
    the sums over the whole batch: the mean per-channel distance over hole pixels.

    Parameters
    ----------
    output : raw generator output ``(B, 3, H, W)`` in [-1, 1].
    target : ground truth ``(B, 3, H, W)`` in [-1, 1].
    mask : ``(B, 1, H, W)``, 1 = hole. Known pixels get no gradient. An empty mask gives 0.
    """
    _check(distance, ("mse", "l1"), "reconstruction distance")
    diff = output - target
    d = diff.pow(2) if distance == "mse" else diff.abs()
    return (d * mask).sum() / (3 * mask.sum()).clamp_min(1e-8)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                       kind: str = "bce") -> torch.Tensor:
    """Discriminator loss, to minimise.

    "bce": ``BCE(real, 1) + BCE(fake, 0)`` on logits (docs/method.md §5.4 [INFERRED]).
    "wgan-gp": ``mean(fake) - mean(real)`` [PROTO]; add ``gp_weight * gradient_penalty`` (caller).
    """
    _check(kind, ADVERSARIAL, "adversarial loss")
    if kind == "bce":
        return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    return fake_logits.mean() - real_logits.mean()


def generator_adversarial_loss(fake_logits: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """Generator's adversarial loss, to minimise: non-saturating ``BCE(fake, 1)`` ("bce",
    docs/method.md §5.4 [INFERRED]) or ``-mean(fake)`` ("wgan-gp", [PROTO])."""
    _check(kind, ADVERSARIAL, "adversarial loss")
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    return -fake_logits.mean()


def gradient_penalty(discriminator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                     real: torch.Tensor, fake: torch.Tensor, mask: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP penalty ``mean((||grad_x D(x_hat, mask)||_2 - 1)**2)`` (Gulrajani et al. 2017).

    ``x_hat = a * real + (1 - a) * fake`` with ``a ~ U[0, 1]`` per sample, drawn from ``generator``
    (a ``torch.Generator`` on ``real``'s device; ``None`` = torch's global generator). The mask is
    passed to the discriminator unchanged, so the local branch crops the same place. The norm is over
    all of a sample's pixels. The weight (``LossConfig.gp_weight``, 10 [PROTO default]) is the
    caller's. ``create_graph=True``: the penalty is differentiable w.r.t. the discriminator.
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype,
                       generator=generator)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(x_hat, mask).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / (torch.linalg.vector_norm(x, dim=1, keepdim=True) + 1e-10)


def perceptual_loss(features_fake: Mapping[str, torch.Tensor], features_real: Mapping[str, torch.Tensor],
                    layer_weights: Mapping[str, float] | None = None,
                    distance: str = "mse") -> torch.Tensor:
    """Perceptual (feature-reconstruction) loss (docs/method.md §4.3 [INFERRED]).

    ``sum_l w_l * dist(phi_l(fake), phi_l(real))`` over the layers of ``features_fake``.

    Parameters
    ----------
    features_fake, features_real : layer name -> ``(B, C, H, W)`` features (``PerceptualNetwork``
        of the composite and of the ground truth; compute the real ones under ``torch.no_grad()``).
    layer_weights : layer -> weight; ``None`` = ``1 / L`` for each of the L layers (the mean over
        layers, as the trainer uses when ``LossConfig.per_layer_weights`` is None, so ``w_per`` means
        the same for one layer or several). Layers with no weight are skipped.
    distance :
        "mse": Johnson et al. 2016, ``||phi(fake) - phi(real)||^2 / (C H W)`` averaged over the batch;
        "l1": the same with ``|.|``;
        "cosine": ``1 - cos`` between the channel vectors at each position, averaged over positions
        and batch; one reading of the paper's "similarity-enhanced space" (features L2-normalised
        across channels, docs/method.md §4.2 option 2). Computed as ``0.5 * ||u - v||^2`` of the
        normalised vectors ``u = x / (||x|| + 1e-10)`` (as LPIPS normalises), which equals
        ``1 - cos`` for non-zero vectors and is 0, not 1, where both vectors are 0 (dead ReLUs);
        "relative": ``||phi(fake) - phi(real)||^2 / ||phi(real)||^2`` per image, averaged over the
        batch [INFERRED, this kit's option]: the squared feature error as a fraction of the real
        features' energy. Unlike "mse" it does not depend on the feature scale, which differs by
        orders of magnitude between layers (relu1_1 vs relu5_1) and between ImageNet and random
        weights, so one weight serves every layer of the level sweep.
    """
    _check(distance, ("mse", "l1", "cosine", "relative"), "perceptual distance")
    if set(features_fake) != set(features_real):
        raise ValueError(f"feature layers differ: {sorted(features_fake)} vs {sorted(features_real)}")
    weights = ({name: 1.0 / len(features_fake) for name in features_fake} if layer_weights is None
               else dict(layer_weights))
    unknown = set(weights) - set(features_fake)
    if unknown:
        raise ValueError(f"layer_weights name layers {sorted(unknown)} not in the features "
                         f"{sorted(features_fake)}")
    total = None
    for name, w in weights.items():
        fake, real = features_fake[name], features_real[name]
        if distance == "mse":
            term = F.mse_loss(fake, real)
        elif distance == "l1":
            term = F.l1_loss(fake, real)
        elif distance == "relative":
            error = (fake - real).pow(2).flatten(1).sum(1)
            term = (error / real.pow(2).flatten(1).sum(1).clamp_min(1e-12)).mean()
        else:
            term = 0.5 * (_unit(fake) - _unit(real)).pow(2).sum(dim=1).mean()
        total = w * term if total is None else total + w * term
    if total is None:
        raise ValueError("perceptual_loss needs at least one feature layer")
    return total
