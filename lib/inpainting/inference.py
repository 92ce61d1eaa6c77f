"""``complete(model, images, masks)``: inpaint tensors or NumPy images with a trained model.

Accepted inputs (docs/CONVENTIONS.md):

* images: torch float ``(B, 3, H, W)`` / ``(3, H, W)`` in [-1, 1] (model space), or NumPy
  ``uint8 (H, W, 3)`` / ``(B, H, W, 3)`` in [0, 255], or NumPy float ``(H, W, 3)`` / ``(B, H, W, 3)``
  in [0, 1];
* masks (1 = hole): torch ``(B, 1, H, W)`` / ``(1, H, W)`` of 0/1, or NumPy ``(H, W)`` /
  ``(B, H, W)`` bool or 0/1.

The result has the type, dtype, layout and value range of ``images``: the composite
``I*(1-M) + G(x)*M`` (docs/method.md §2.4: known pixels pasted back, no post-processing). Known pixels are
copied from the input, so they are bit-identical to it.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from .models import Inpainter
from .data.masks import validate_mask
from .models.inpainter import check_inputs


def _images_to_model(images) -> tuple[torch.Tensor, str, bool]:
    """Model-space ``(B, 3, H, W)`` float32 tensor, the input kind (torch | uint8 | float) and
    whether a batch axis was added."""
    if isinstance(images, torch.Tensor):
        single = images.dim() == 3
        return (images[None] if single else images).float(), "torch", single
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a torch tensor or a NumPy array, got {type(images).__name__}")
    if images.ndim not in (3, 4) or images.shape[-1] != 3:
        raise ValueError(f"NumPy images must be (H, W, 3) or (B, H, W, 3) RGB, got {images.shape}")
    single = images.ndim == 3
    batch = images[None] if single else images
    if images.dtype == np.uint8:
        x, kind = torch.from_numpy(batch.astype(np.float32)) / 127.5 - 1, "uint8"
    elif np.issubdtype(images.dtype, np.floating):
        if batch.size and (np.nanmin(batch) < 0 or np.nanmax(batch) > 1):
            raise ValueError(f"float NumPy images must lie in [0, 1], got [{np.nanmin(batch):.4g}, "
                             f"{np.nanmax(batch):.4g}] (uint8 images: pass them as uint8)")
        x, kind = torch.from_numpy(batch.astype(np.float32)) * 2 - 1, "float"
    else:
        raise ValueError(f"NumPy images must be uint8 or float in [0, 1], got {images.dtype}")
    return x.permute(0, 3, 1, 2).contiguous(), kind, single


def _masks_to_model(masks, images) -> torch.Tensor:
    """``(B, 1, H, W)`` float32 tensor from a torch or NumPy mask (bool or 0/1), checked against
    ``images`` with :func:`inpainting.data.masks.validate_mask` (ValueError on a bad shape/value)."""
    if isinstance(masks, np.ndarray) and (masks.dtype == bool or np.issubdtype(masks.dtype, np.number)):
        masks = masks.astype(np.float32)
    elif isinstance(masks, torch.Tensor):
        masks = masks.float()
    validate_mask(masks, images)
    if isinstance(masks, torch.Tensor):
        return masks[None] if masks.dim() == 3 else masks
    return torch.from_numpy(masks[None] if masks.ndim == 2 else masks)[:, None]


def _from_model(completed: torch.Tensor, original, kind: str, single: bool, hole: torch.Tensor):
    """``completed`` (model space) in the layout of ``original``, known pixels copied exactly."""
    if kind == "torch":
        out = completed.to(device=original.device, dtype=original.dtype)
        out = out[0] if single else out
        keep = (hole[0] if single else hole).to(original.device) == 0
        return torch.where(keep, original, out)
    x = completed.permute(0, 2, 3, 1).numpy()
    x = np.rint((x.astype(np.float64) + 1) * 127.5).clip(0, 255).astype(np.uint8) \
        if kind == "uint8" else ((x + 1) / 2).clip(0, 1).astype(original.dtype)
    x = x[0] if single else x
    keep = (hole[:, 0] if not single else hole[0, 0]).numpy()[..., None] == 0
    return np.where(keep, original, x)


@torch.no_grad()
def complete(model: Inpainter | str | os.PathLike, images, masks, device: str | None = None,
             batch_size: int = 32):
    """Complete ``images`` inside ``masks`` with ``model``.

    Parameters
    ----------
    model : an :class:`~inpainting.models.Inpainter`, or the path of a ``generator.pt`` written by
        :class:`~inpainting.training.Trainer` (loaded with :func:`inpainting.training.load_inpainter`).
    images, masks : see the module docstring.
    device : where to run (``None``: the model's device; with a path: ``"auto"``); a model given as
        an object is moved there.
    batch_size : images per forward pass.

    Returns the completed images in the input's type/layout/range. The model runs in eval mode under
    ``no_grad``; the mode it had is restored afterwards. Bad shapes, ranges or mask values raise
    ``ValueError`` naming the problem.
    """
    if not isinstance(model, Inpainter):
        from .training import load_inpainter
        model = load_inpainter(model, device or "auto")
    device = torch.device(device) if device else next(model.parameters()).device
    # channels_last: 16 % faster 128-px inference on CPU (python -m inpainting.bench), same values
    # to 1e-8; the model's weights keep their values, only their memory layout changes.
    layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    model.to(device, memory_format=layout)
    x, kind, single = _images_to_model(images)
    m = _masks_to_model(masks, images)
    check_inputs(x, m)
    was_training = model.training
    model.eval()
    try:
        parts = [model.complete(x[i:i + batch_size].to(device).contiguous(memory_format=layout),
                                m[i:i + batch_size].to(device).contiguous(memory_format=layout))
                 .cpu().contiguous() for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return _from_model(torch.cat(parts), images, kind, single, m)
