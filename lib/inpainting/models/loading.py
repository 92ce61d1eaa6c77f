"""Trained generators on disk: the ``generator.pt`` format, written by the trainer and read by
inference, evaluation and the notebooks (which therefore never import the trainer).

A ``generator.pt`` is a ``torch.save`` of a dict:

* ``model``: the :class:`~inpainting.profiles.ModelConfig` as a dict; ``image_size``: int;
* ``state_dict``: the :class:`~inpainting.models.Inpainter`'s tensors, on the CPU;
* ``meta``: what produced it (run key, profile, role, steps, loss weights, precision, ...).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..profiles import ModelConfig
from ..runtime import CheckpointError, atomic_write, select_device, verify_file
from .inpainter import Inpainter, build_inpainter

REQUIRED_KEYS = ("model", "image_size", "state_dict")


class ModelFileError(CheckpointError):
    """A ``generator.pt`` that cannot be read: missing, truncated, or not a generator file."""


def save_generator(path: str | os.PathLike, model: Inpainter, image_size: int,
                   model_cfg: ModelConfig, meta: dict[str, Any]) -> Path:
    """Write ``model`` atomically as a ``generator.pt`` (tensors moved to the CPU)."""
    import dataclasses
    blob = {"model": dataclasses.asdict(model_cfg), "image_size": int(image_size),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "meta": meta}
    return atomic_write(path, lambda tmp: torch.save(blob, tmp))


def read_generator(path: str | os.PathLike) -> dict[str, Any]:
    """The dict stored in a ``generator.pt``, tensors on the CPU. Raises :class:`ModelFileError`
    naming the file when it is missing, unreadable (e.g. truncated) or not a generator file."""
    path = Path(path)
    try:
        blob = verify_file(path, REQUIRED_KEYS)
    except CheckpointError as exc:
        raise ModelFileError(f"generator file {exc} (a generator file written by the kit's trainer "
                             f"holds the keys {', '.join(REQUIRED_KEYS)}); train it again: delete "
                             f"its run folder {path.parent} and rerun", exc.damaged) from None
    try:
        ModelConfig(**blob["model"])
    except TypeError as exc:
        raise ModelFileError(f"{path} holds an unknown model configuration: {exc}",
                             {path: "unknown model configuration"}) from None
    return blob


def inpainter_from_blob(blob: dict[str, Any], source: str = "generator file") -> Inpainter:
    """Build the :class:`Inpainter` a :func:`read_generator` dict describes (on the CPU)."""
    model = build_inpainter(ModelConfig(**blob["model"]), blob["image_size"])
    model.image_size = int(blob["image_size"])   # the size it was trained at (complete() warns)
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as exc:
        raise ModelFileError(f"{source} does not fit the {blob['model']['generator']} "
                             f"generator: {exc}", {Path(source): "weights do not fit"}) from None
    return model


def load_inpainter(path: str | os.PathLike, device: str | torch.device = "auto") -> Inpainter:
    """The :class:`~inpainting.models.Inpainter` stored in a ``generator.pt``, in eval mode on
    ``device`` (``"auto"``: CUDA when available, else CPU). Files written on a GPU load on a
    CPU-only machine (tensors are mapped to the CPU first)."""
    model = inpainter_from_blob(read_generator(path), str(path))
    device = select_device(device) if isinstance(device, str) else device
    return model.to(device).eval()


def load_start_weights(model: Inpainter, path: str | os.PathLike, field: str, generator: str,
                       image_size: int, size_field: str) -> None:
    """Load the ``generator.pt`` at ``path`` into ``model`` (a run's step-0 weights). A file of
    another architecture or image size is a ``ValueError`` naming ``field`` (the setting that
    gave the file, e.g. ``train.init_generator``) and both architectures, not torch's
    state_dict error."""
    blob = read_generator(path)
    stored, size = blob["model"].get("generator"), blob["image_size"]
    if stored != generator or size != image_size:
        raise ValueError(f"{field}={str(path)!r} holds a {stored!r} generator trained at {size} px, "
                         f"but this run trains a {generator!r} generator at {image_size} px "
                         f"(model.generator, {size_field}): give a generator.pt of a {generator!r} "
                         f"run at {image_size} px, or set model.generator={stored!r} and "
                         f"{size_field}={size}")
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as exc:
        raise ValueError(f"{field}={str(path)!r}: its weights do not fit this run's {generator!r} "
                         f"generator ({str(exc).splitlines()[0]}); give a generator.pt written by "
                         "a run with the same model settings") from None
