"""``complete(model, images, masks)``: inpaint tensors or NumPy images with a trained model.

Accepted inputs (docs/CONVENTIONS.md):

* images: torch **floating-point** ``(B, 3, H, W)`` / ``(3, H, W)`` in [-1, 1] (model space), or
  NumPy ``uint8 (H, W, 3)`` / ``(B, H, W, 3)`` in [0, 255], or NumPy float ``(H, W, 3)`` /
  ``(B, H, W, 3)`` in [0, 1]. Integer or bool torch images are rejected (``ValueError``): their
  scale is ambiguous (0..255 or 0/1?) and a cast to float would truncate the completed hole pixels
  back to integers; convert them first (``image.float() / 127.5 - 1`` for 0..255 pixels) or pass
  NumPy ``uint8`` arrays. NumPy integer images other than ``uint8`` are rejected too.
* masks (1 = hole), of the same kind as the images: torch ``(B, 1, H, W)`` / ``(1, H, W)``, or
  NumPy ``(H, W)`` / ``(B, H, W)`` (no channel axis). Conversion rule: bool, integer and float
  masks are converted to float32 and must then hold exactly 0 and 1 (``True`` = 1 = hole); any
  other value (a 0/255 mask, 0.5) is a ``ValueError``.
* an empty batch, ``batch_size`` < 1 and masks without a hole are ``ValueError``.

The result has the type, dtype, layout and value range of ``images``: the composite
``I*(1-M) + G(x)*M`` (docs/method.md §2.4: known pixels pasted back, no post-processing). Known
pixels are copied from the input, so they are bit-identical to it.

The caller's model is never changed: its device, memory layout, parameters and the train/eval mode
of every sub-module are the same after the call (it runs in place when ``device`` is where it
already is, on a copy otherwise). Every input and the device are checked before anything runs.
"""
from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data.masks import validate_mask
from .models import Inpainter
from .models.inpainter import check_inputs

_ACCEPTED_MODELS = ("an Inpainter (inpainting.models.build_inpainter / load_inpainter) or the path "
                    "of a generator.pt written by the trainer")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _resolve_device(device, model: Inpainter | None) -> torch.device:
    """The device to run on, checked without touching the model: ``None`` = the model's device
    (CPU/CUDA when loading from a path: ``"auto"``), ``"auto"`` = CUDA when available else CPU (or
    ``$INPAINTING_DEVICE``), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``."""
    if device is None:
        if model is not None:
            return next(model.parameters()).device
        device = "auto"
    if isinstance(device, str) and device == "auto":
        from .runtime import select_device
        device = os.environ.get("INPAINTING_DEVICE", "auto")
        if device == "auto":
            return select_device("auto")
    valid = "valid: auto, cpu, cuda, cuda:N or None (where the model is)"
    try:
        resolved = device if isinstance(device, torch.device) else torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device {device!r} is not a device; {valid}") from err
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device {str(resolved)!r} cannot run a model here; {valid}")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device={str(device)!r} requested but CUDA is not available on this "
                               "machine; use device='cpu' (or 'auto': CUDA when available, else "
                               "CPU)")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise RuntimeError(f"device={str(device)!r} requested but this machine has "
                               f"{torch.cuda.device_count()} CUDA device(s) (cuda:0 ...)")
    return resolved


def _check_model(model) -> None:
    """TypeError / ValueError / FileNotFoundError for anything that is not a model or a model file."""
    if isinstance(model, Inpainter):
        return
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if path.suffix.lower() in _IMAGE_SUFFIXES:
            raise ValueError(f"model {path} is an image file, not a model; the arguments are "
                             f"complete(model, images, masks) with model {_ACCEPTED_MODELS}")
        if not path.is_file():
            raise FileNotFoundError(f"model file {path} does not exist; expected {_ACCEPTED_MODELS}")
        return
    if model is None:
        raise TypeError(f"model is None; expected {_ACCEPTED_MODELS}")
    if isinstance(model, nn.Module):
        raise TypeError(f"model is a plain {type(model).__name__} module; expected "
                        f"{_ACCEPTED_MODELS} (wrap a generator: Inpainter(generator, name))")
    raise TypeError(f"model is a {type(model).__name__}; expected {_ACCEPTED_MODELS}")


def check_model_fits(model: Inpainter, x: torch.Tensor, m: torch.Tensor) -> None:
    """A model in another precision is an error that says how to convert it; images of another
    size than the model was trained at, and masks that hide the whole image, are warned about."""
    dtypes = {p.dtype for p in model.parameters()}
    if dtypes != {torch.float32}:
        names = ", ".join(sorted(str(d).removeprefix("torch.") for d in dtypes))
        raise ValueError(f"model parameters are {names}; complete() runs models in float32 (the "
                         "kit's precision for inference): pass model.float() (mixed precision "
                         "is for training, train.amp)")
    trained = getattr(model, "image_size", None)
    if trained is not None and tuple(x.shape[-2:]) != (trained, trained):
        warnings.warn(f"the model was trained on {trained}x{trained} px images, these are "
                      f"{x.shape[-2]}x{x.shape[-1]} px: its receptive field and hole sizes were "
                      f"learnt at {trained} px, so expect worse completions (resize the images to "
                      f"{trained} px, or train at {x.shape[-1]} px)", stacklevel=3)
    full = (m.flatten(1) == 1).all(dim=1)
    if bool(full.any()):
        warnings.warn(f"{int(full.sum())} of {len(m)} mask(s) cover the whole image: nothing is "
                      "known, so the completion is a guess from nothing (masks use 1 = hole)",
                      stacklevel=3)


def _load(path, device: torch.device) -> Inpainter:
    from .models import load_inpainter
    try:
        return load_inpainter(path, device)
    except (FileNotFoundError, RuntimeError) as err:
        if os.fspath(path) in str(err):
            raise
        raise ValueError(f"cannot load a model from {path}: {err}; expected {_ACCEPTED_MODELS}") \
            from err
    except Exception as err:  # not a torch file, not a generator file
        raise ValueError(f"cannot load a model from {path} ({type(err).__name__}: {err}); expected "
                         f"{_ACCEPTED_MODELS}") from err


def _images_to_model(images) -> tuple[torch.Tensor, str, bool]:
    """Model-space ``(B, 3, H, W)`` float32 CPU tensor, the input kind (torch | uint8 | float) and
    whether a batch axis was added."""
    if isinstance(images, torch.Tensor):
        if images.dim() not in (3, 4) or images.shape[-3] != 3:
            raise ValueError(f"torch images must be (3, H, W) or (B, 3, H, W), got "
                             f"{tuple(images.shape)} (a grey image: repeat it to 3 channels; "
                             "NumPy images are (H, W, 3))")
        if not images.is_floating_point():
            raise ValueError(f"torch images must be floating point in [-1, 1], got {images.dtype} "
                             "(integer images are not converted; 0..255 pixels: image.float() "
                             "/ 127.5 - 1, or pass a NumPy uint8 (H, W, 3) array)")
        single = images.dim() == 3
        x = (images[None] if single else images).detach().to("cpu", torch.float32)
        return x, "torch", single
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
        raise ValueError(f"NumPy images must be uint8 (0..255) or float in [0, 1], got "
                         f"{images.dtype} (convert with .astype(np.uint8) if the values are "
                         "0..255)")
    return x.permute(0, 3, 1, 2).contiguous(), kind, single


def _masks_to_model(masks, images) -> torch.Tensor:
    """``(B, 1, H, W)`` float32 CPU tensor from a torch or NumPy mask (bool, integer or float, values
    0/1), checked against ``images`` with :func:`inpainting.data.masks.validate_mask`."""
    if isinstance(images, np.ndarray):
        if isinstance(masks, torch.Tensor):
            raise ValueError("NumPy images need a NumPy mask (H, W) or (B, H, W); got a torch "
                             "tensor (use mask.cpu().numpy()[..., 0, :, :])")
        if not isinstance(masks, np.ndarray):
            raise TypeError(f"masks must be a NumPy array for NumPy images, got "
                            f"{type(masks).__name__}")
        expected = images.shape[:-1]
        if masks.ndim == images.ndim and masks.shape[:-1] == expected and masks.shape[-1] in (1, 3):
            raise ValueError(f"mask shape {masks.shape} has a channel axis; masks for NumPy images "
                             f"{images.shape} are {expected} (use mask[..., 0])")
        if not (masks.dtype == bool or np.issubdtype(masks.dtype, np.number)):
            raise ValueError(f"mask dtype {masks.dtype}: expected bool or numbers 0/1")
        masks = masks.astype(np.float32)
    else:
        if isinstance(masks, np.ndarray):
            raise ValueError("torch images need a torch mask (1, H, W) or (B, 1, H, W); got a "
                             "NumPy array (use torch.from_numpy(mask)[None] / [:, None])")
        if not isinstance(masks, torch.Tensor):
            raise TypeError(f"masks must be a torch tensor for torch images, got "
                            f"{type(masks).__name__}")
        masks = masks.detach().to("cpu", torch.float32)
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
        the trainer (loaded with :func:`inpainting.models.load_inpainter`).
    images, masks : see the module docstring.
    device : ``None`` (default): where the model is (a model given as a path: ``"auto"``);
        ``"auto"``: CUDA when available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"``. A model
        object on another device is copied there for the call, never moved.
    batch_size : images per forward pass (an integer >= 1).

    Returns the completed images in the input's type/layout/range. The model runs in eval mode under
    ``no_grad``; the mode of every sub-module is restored afterwards. Bad arguments raise
    ``TypeError`` / ``ValueError`` naming the argument, before anything runs.
    """
    _check_model(model)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}: must be an integer >= 1")
    own = not isinstance(model, Inpainter)
    run_on = _resolve_device(device, None if own else model)
    x, kind, single = _images_to_model(images)
    if len(x) == 0:
        raise ValueError(f"images is an empty batch of shape {tuple(images.shape)}: nothing to "
                         "complete")
    m = _masks_to_model(masks, images)
    check_inputs(x, m)
    if own:
        model = _load(model, run_on)
    check_model_fits(model, x, m)   # before a caller's model is copied
    if not own and next(model.parameters()).device != run_on:
        model = copy.deepcopy(model).to(run_on)
        own = True
    # channels_last: 16 % faster 128-px inference on CPU (python -m inpainting.bench), same values to
    # 1e-8; applied only to a model this call owns (loaded from a path or copied), so a caller's
    # model keeps its layout. Convert your own model once with model.to(memory_format=...).
    layout = torch.channels_last if own and run_on.type == "cpu" else torch.contiguous_format
    if own:
        model.to(memory_format=layout)
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        parts = [model.complete(x[i:i + batch_size].to(run_on).contiguous(memory_format=layout),
                                m[i:i + batch_size].to(run_on).contiguous(memory_format=layout))
                 .cpu().contiguous() for i in range(0, len(x), batch_size)]
    finally:
        for module, training in modes:
            module.training = training
    return _from_model(torch.cat(parts), images, kind, single, m)
