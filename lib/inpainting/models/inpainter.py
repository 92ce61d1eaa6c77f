"""One wrapper so every model completes ``(image, mask)`` the same way, and the model factories.

Generators: ``lite`` / ``wide`` [PROTO] (docs/method.md §2.2), ``glcic`` and ``context_encoder``
[BASELINE-SRC] (docs/method.md §2.3, 8.4). Discriminators: global + local (docs/method.md §3.4 [INFERRED]) for
lite / wide / glcic, CE's own centre discriminator for ``context_encoder``; BatchNorm for the ``bce``
loss, no normalisation for ``wgan-gp``.
"""
from __future__ import annotations

import torch
from torch import nn

from ..data.masks import validate_mask
from ..profiles import GENERATORS, ModelConfig
from .context_encoder import ContextEncoder, ContextEncoderDiscriminator
from .discriminator import GlobalLocalDiscriminator
from .generator import composite, generator_input, lite_generator, wide_generator
from .glcic import glcic_generator


def check_inputs(image: torch.Tensor, mask: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``image`` / ``mask`` follow docs/CONVENTIONS.md.

    image: float tensor ``(B, 3, H, W)``, B >= 1, in [-1, 1], H and W divisible by 4, no NaN/inf.
    mask: float32 tensor ``(B, 1, H, W)`` of exact 0/1 values (1 = hole), at least one hole pixel in
    every sample (checked by :func:`inpainting.data.masks.validate_mask`).
    """
    if not isinstance(image, torch.Tensor) or not isinstance(mask, torch.Tensor):
        raise ValueError(f"image and mask must be torch tensors, got {type(image).__name__} and "
                         f"{type(mask).__name__}")
    if image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f"image must have shape (B, 3, H, W), got {tuple(image.shape)} "
                         "(add a batch axis with image[None]; grey images need 3 channels)")
    if image.shape[0] == 0:
        raise ValueError(f"image is an empty batch {tuple(image.shape)}: nothing to complete")
    if not image.is_floating_point():
        raise ValueError(f"image must be a float tensor in [-1, 1], got {image.dtype} "
                         "(uint8 images: image.float() / 127.5 - 1)")
    h, w = image.shape[-2:]
    if h % 4 or w % 4:
        raise ValueError(f"image height and width must be divisible by 4, got {h}x{w}")
    if not torch.isfinite(image).all():
        raise ValueError("image contains NaN or inf values")
    lo, hi = image.min().item(), image.max().item()
    if lo < -1 - 1e-5 or hi > 1 + 1e-5:
        raise ValueError(f"image values must lie in [-1, 1], got [{lo:.4g}, {hi:.4g}] "
                         "(uint8 images: image.float() / 127.5 - 1)")
    validate_mask(mask, image)   # (B, 1, H, W) float32, exact 0/1, a hole in every sample


class Inpainter(nn.Module):
    """Any generator behind the kit's ``(image, mask)`` interface.

    Parameters
    ----------
    generator : module mapping ``generator_input(image, mask)`` ``(B, 4, H, W)`` to ``(B, 3, H, W)``.
        If it has ``check_mask(mask)`` (the Context Encoder), that is called on every forward.
    name : model name (``lite``, ``wide``, ``glcic``, ``context_encoder``).
    supported_mask_kinds : ``None`` = any hole; the Context Encoder: ``("centre",)``.
    """

    def __init__(self, generator: nn.Module, name: str,
                 supported_mask_kinds: tuple[str, ...] | None = None):
        super().__init__()
        self.generator = generator
        self.name = name
        self.supported_mask_kinds = supported_mask_kinds

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Raw output ``G(x)``, ``(B, 3, H, W)`` in [-1, 1]. Inputs are validated (ValueError)."""
        check_inputs(image, mask)
        check_mask = getattr(self.generator, "check_mask", None)
        if check_mask is not None:
            check_mask(mask)
        return self.generator(generator_input(image, mask))

    def complete(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Completed image ``image * (1 - mask) + G(x) * mask``, ``(B, 3, H, W)`` in [-1, 1]."""
        return composite(image, self(image, mask), mask)

    def num_parameters(self) -> int:
        """Number of generator parameters (all of them are trained)."""
        return sum(p.numel() for p in self.generator.parameters())


def build_generator(name: str, image_size: int) -> nn.Module:
    """Generator ``name`` for ``image_size`` px images (only the Context Encoder depends on it: its
    code size is :func:`~inpainting.models.context_encoder.default_bottleneck`, 4000 at 128 px).

    ``forward(x (B, 4, H, W)) -> (B, 3, H, W)`` tanh. Unknown names raise ``ValueError``.
    """
    factories = {"lite": lite_generator, "wide": wide_generator, "glcic": glcic_generator,
                 "context_encoder": lambda: ContextEncoder(image_size)}
    if name not in factories:
        raise ValueError(f"unknown generator {name!r}; valid: {', '.join(GENERATORS)}")
    return factories[name]()


def build_inpainter(model_cfg: ModelConfig, image_size: int) -> Inpainter:
    """:class:`Inpainter` around ``build_generator(model_cfg.generator, image_size)``."""
    name = model_cfg.generator
    kinds = ("centre",) if name == "context_encoder" else None
    return Inpainter(build_generator(name, image_size), name, kinds)


def build_discriminator(model_cfg: ModelConfig, image_size: int) -> nn.Module:
    """Discriminator for ``model_cfg``: ``forward(image, mask) -> logits (B,)``.

    Global + local (:class:`GlobalLocalDiscriminator`, channel width ``model_cfg.d_width``) for
    lite / wide / glcic; CE's centre discriminator for ``context_encoder`` (CE's own widths:
    ``d_width`` does not apply). BatchNorm for ``adversarial="bce"``, none for ``wgan-gp``.
    """
    if model_cfg.adversarial not in ("bce", "wgan-gp"):
        raise ValueError(f"unknown adversarial loss {model_cfg.adversarial!r}; valid: bce, wgan-gp")
    norm = "batch" if model_cfg.adversarial == "bce" else "none"
    if model_cfg.generator == "context_encoder":
        return ContextEncoderDiscriminator(image_size, norm)
    if model_cfg.generator not in GENERATORS:
        raise ValueError(f"unknown generator {model_cfg.generator!r}; valid: {', '.join(GENERATORS)}")
    return GlobalLocalDiscriminator(image_size, norm, model_cfg.d_width)
