"""Trained generators on disk: the ``generator.pt`` format, written by the trainer and read by
inference, evaluation and the notebooks (which therefore never import the trainer).

A ``generator.pt`` is a ``torch.save`` of a dict:

* ``model``: the :class:`~inpainting.profiles.ModelConfig` as a dict; ``image_size``: int;
* ``state_dict``: the :class:`~inpainting.models.Inpainter`'s tensors, on the CPU;
* ``meta``: what produced it (run key, profile, role, steps, loss weights, precision, ...).

Wherever a generator is loaded (:func:`read_generator`: inference, evaluation, the warm start, the
trainer's reuse of a finished run), a file lying in a run folder ``<generator>-<key>`` must record
that key; a file of another run is refused naming both keys. A file without a stored key (an older
format, or one written by hand) and a file outside any run folder load unchecked. A training
checkpoint ``step_*.pt`` passed where a generator is expected is understood: its generator weights
are loaded.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

from ..profiles import ModelConfig
from ..runtime import CheckpointError, select_device, verify_file
from ..disk import atomic_write, folder_key
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


class ForeignFileError(ModelFileError):
    """A generator file lying in the folder of another run (its stored key is not the folder's)."""


CHECKPOINT_KEYS = ("G", "profile", "role", "step")   # what a training checkpoint step_*.pt holds


def _from_checkpoint(state: dict, path: Path) -> dict[str, Any]:
    """The generator blob inside a training checkpoint (``step_*.pt``): its ``G`` weights with the
    model configuration and image size of the profile it stores; a warning when the run had not
    finished at that step."""
    profile, role = state["profile"], state["role"]
    train = profile.get("train", {})
    total = sum(int(train.get(k, 0)) for k in ("steps_g", "steps_d", "steps_joint"))
    if total and state["step"] < total:
        warnings.warn(f"{path} is a training checkpoint at step {state['step']} of {total}: its "
                      "generator is loaded as it was then, not the finished run's generator.pt",
                      stacklevel=3)
    meta = {"key": state.get("key"), "role": role, "profile": profile, "steps": state["step"],
            "from_checkpoint": str(path)}
    return {"model": profile["model"], "image_size": profile[role]["image_size"],
            "state_dict": state["G"], "meta": meta}


def stored_key(blob: dict[str, Any]) -> str | None:
    """The run key a generator blob records (``meta.key``), ``None`` for a file without one
    (written before keys were stored, or by hand)."""
    meta = blob.get("meta")
    key = meta.get("key") if isinstance(meta, dict) else None
    return key if isinstance(key, str) and key else None


def check_owner(blob: dict[str, Any], path: Path, expected: str | None = None) -> None:
    """:class:`ForeignFileError` naming both keys when ``blob`` records another run's key than
    ``expected`` (default: the key of the run folder ``path`` lies in, ``<generator>-<key>``). A
    file outside a run folder, or without a stored key, is not checked."""
    # checkpoints/ and curve/ (training.records.CURVE: the learning curves' generators) of a run
    folder = path.parent.parent if path.parent.name in ("checkpoints", "curve") else path.parent
    expected = expected or folder_key(folder)
    found = stored_key(blob)
    if expected is None or found is None or found == expected:
        return
    raise ForeignFileError(
        f"{path} belongs to run {found}, not to run {expected} whose folder it lies in (a file "
        f"copied from another run?); it is not used as this run's. Use the generator.pt of its "
        f"own run folder (…/<generator>-{found}/), or move the file out of this folder to use it "
        "as a standalone model", {path: f"belongs to run {found}"})


def read_generator(path: str | os.PathLike, expected_key: str | None = None) -> dict[str, Any]:
    """The dict stored in a ``generator.pt``, tensors on the CPU.

    A training checkpoint (``step_*.pt``) is understood too: its generator weights are loaded
    (:func:`_from_checkpoint`). A file inside a run folder whose stored key is not the folder's
    (or ``expected_key``) is :class:`ForeignFileError` (:func:`check_owner`). Raises
    :class:`ModelFileError` naming the file when it is missing, unreadable (e.g. truncated) or
    neither a generator file nor a checkpoint."""
    path = Path(path)
    try:
        blob = verify_file(path)
    except CheckpointError as exc:
        raise ModelFileError(f"generator file {exc}; pass the generator.pt of a finished run "
                             "(results/<profile>/runs/<role>/<generator>-<key>/generator.pt); if "
                             "this is one, run its training again: it is rewritten from the "
                             "run's final checkpoint", exc.damaged) from None
    if all(key in blob for key in CHECKPOINT_KEYS) and not all(k in blob for k in REQUIRED_KEYS):
        blob = _from_checkpoint(blob, path)
    lacking = [key for key in REQUIRED_KEYS if key not in blob]
    if lacking:
        reason = "lacks " + ", ".join(repr(k) for k in lacking)
        raise ModelFileError(f"generator file {path}: {reason}: it is neither a generator file "
                             f"(keys {', '.join(REQUIRED_KEYS)}) nor a training checkpoint (keys "
                             f"{', '.join(CHECKPOINT_KEYS)}); pass the generator.pt of a finished "
                             "run (results/<profile>/runs/<role>/<generator>-<key>/generator.pt)",
                             {path: reason})
    try:
        ModelConfig(**blob["model"])
    except TypeError as exc:
        raise ModelFileError(f"{path} holds an unknown model configuration: {exc}",
                             {path: "unknown model configuration"}) from None
    check_owner(blob, path, expected_key)
    problem = architecture_problem(blob)
    if problem:
        raise ModelFileError(f"generator file {path}: {problem}: the weights are not the network "
                             "the file names; pass the generator.pt of a finished run, unaltered",
                             {path: problem})
    return blob


def architecture_problem(blob: dict[str, Any]) -> str:
    """Why ``blob["state_dict"]`` is not the network ``blob["model"]`` names at
    ``blob["image_size"]`` (a key or a shape differs), or ``""``. The network is built on the
    ``meta`` device: no memory, no time, whatever its size."""
    try:
        with torch.device("meta"):
            wanted = build_inpainter(ModelConfig(**blob["model"]), int(blob["image_size"])).state_dict()
    except (ValueError, TypeError, KeyError) as exc:
        return f"names a network that cannot be built ({exc})"
    state = blob["state_dict"]
    if not isinstance(state, dict):
        return f"its state_dict is a {type(state).__name__}, not a dict of tensors"
    missing, extra = sorted(set(wanted) - set(state)), sorted(set(state) - set(wanted))
    if missing or extra:
        return (f"its weights are not a {blob['model'].get('generator')!r} generator's (missing "
                f"{missing[:3]}, unexpected {extra[:3]})")
    for name, tensor in wanted.items():
        found = state[name]
        if not isinstance(found, torch.Tensor) or tuple(found.shape) != tuple(tensor.shape):
            shape = tuple(found.shape) if isinstance(found, torch.Tensor) else type(found).__name__
            return (f"{name} has shape {shape}, the {blob['model'].get('generator')!r} generator at "
                    f"{blob['image_size']} px has {tuple(tensor.shape)}")
    return ""


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
                       image_size: int, size_field: str, expected_key: str | None = None) -> None:
    """Load the ``generator.pt`` at ``path`` into ``model`` (a run's step-0 weights). A file of
    another architecture or image size is a ``ValueError`` naming ``field`` (the setting that
    gave the file, e.g. ``train.init_generator``) and both architectures, not torch's
    state_dict error. ``expected_key``: the run key the file must record (the warm start's), see
    :func:`read_generator`."""
    blob = read_generator(path, expected_key)
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


# ------------------------------------------------------------------ registered kind (inpainting.stored)
def _example(folder: Path, variant: int) -> tuple[Path, dict[str, Any]]:
    """A sound ``generator.pt`` of a 16-px lite generator in its run folder (tests/test_stored.py)."""
    key = ("12" if variant == 0 else "34") * 6
    torch.manual_seed(variant)
    model = build_inpainter(ModelConfig(), 16)
    path = Path(folder) / f"lite-{key}" / "generator.pt"
    return save_generator(path, model, 16, ModelConfig(), {"key": key}), {"expected_key": key}


def _foreign(path: Path) -> None:
    """A file that says 'lite' but holds the wide generator's weights."""
    wide = build_inpainter(ModelConfig(generator="wide"), 16)
    blob = {"model": {"generator": "lite", "adversarial": "bce", "d_width": 1.0}, "image_size": 16,
            "state_dict": wide.state_dict(), "meta": {}}
    atomic_write(path, lambda tmp: torch.save(blob, tmp))


def _register() -> None:
    from ..stored import Kind, register
    register(Kind("generator", "torch", read_generator, _example, fields=REQUIRED_KEYS,
                  foreign=_foreign))


_register()
