"""Atomic training checkpoints with a ``latest`` pointer (docs/method.md §6.2: the prototype saved every
2,000 steps; the kit saves every ``train.checkpoint_every`` steps and at every stage end).

Layout of ``ckpt_dir``::

    step_00000120.pt   # torch.save of the state dict, written to a temp file then os.replace'd
    step_00000140.pt
    latest             # text: the file name of the newest complete checkpoint

A crash (even SIGKILL) at any moment leaves either the old or the new checkpoint complete: temp files
(``.step_*.pt.*.tmp``) are never read.

Damage never restarts a run silently (:func:`load_latest`): a damaged pointer (missing target,
non-UTF-8 bytes, garbage) or a damaged checkpoint (empty, truncated, not a torch file, a torch file
that is not a dict or lacks a ``required`` key) falls back to the newest intact ``step_*.pt`` with a
loud warning naming every damaged file; a checkpoint of another run (its stored key is not this
run's) is set aside and skipped the same way; when checkpoints exist but none is intact and this
run's, :class:`CheckpointError` names them all and the smallest safe action (never deleting a
readable file). The checks of one
file are :func:`inpainting.runtime.verify_file` (also used on a finished run's ``generator.pt``).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from ..disk import atomic_write, atomic_write_text, set_aside, warn_loudly
from ..runtime import CheckpointError, torch_file_problem, verify_file  # noqa: F401 (verify_file: re-exported)

POINTER = "latest"
_NAME = re.compile(r"^step_(\d{8,})\.pt$")


def checkpoint_name(step: int) -> str:
    """``step_{step:08d}.pt``."""
    return f"step_{step:08d}.pt"


def list_checkpoints(ckpt_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoint files in ``ckpt_dir``, oldest step first (temp files excluded)."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in ckpt_dir.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(state: dict[str, Any], ckpt_dir: str | os.PathLike, step: int,
                    keep: int = 2) -> Path:
    """Write ``state`` to ``ckpt_dir/step_{step:08d}.pt`` atomically, point ``latest`` at it
    (atomically too), then delete all but the newest ``keep`` checkpoints. Returns the file path."""
    ckpt_dir = Path(ckpt_dir)
    path = atomic_write(ckpt_dir / checkpoint_name(step), lambda tmp: torch.save(state, tmp))
    atomic_write_text(ckpt_dir / POINTER, path.name)
    prune_checkpoints(ckpt_dir, keep)
    return path


def prune_checkpoints(ckpt_dir: str | os.PathLike, keep: int) -> None:
    """Delete all but the newest ``keep`` (>= 1) checkpoints of ``ckpt_dir``. A checkpoint holds
    G, D and both optimisers' state (the Context Encoder's: about 0.85 GB at 128 px), so a finished
    run keeps only its last one, enough to extend the run later."""
    for old in list_checkpoints(ckpt_dir)[:-max(keep, 1)]:
        old.unlink(missing_ok=True)


def _read_pointer(pointer: Path) -> tuple[str | None, str]:
    """``(file name, "")`` from a sound pointer; ``(None, reason)`` for a damaged one; ``(None, "")``
    when there is no pointer."""
    if not pointer.is_file():
        return None, ""
    data = pointer.read_bytes()
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None, f"holds non-UTF-8 bytes {data[:20]!r}"
    if not _NAME.match(text):
        shown = text if len(text) <= 60 else text[:60] + "..."
        return None, f"holds {shown!r}, not a checkpoint file name like {checkpoint_name(0)!r}"
    return text, ""


def _label(path: Path) -> str:
    return f"pointer {path}" if path.name == POINTER else str(path)


def _state_key(state: dict) -> str | None:
    """The run key a checkpoint records (``key``, else the hash of its ``identity``)."""
    if isinstance(state.get("key"), str):
        return state["key"]
    if isinstance(state.get("identity"), dict):
        from .runs import key_of
        return key_of(state["identity"])
    return None


def load_latest(ckpt_dir: str | os.PathLike, map_location: Any = "cpu",
                required: tuple[str, ...] = (), own_key: str | None = None) -> dict | None:
    """The newest intact checkpoint of ``ckpt_dir``, loaded with ``map_location`` (so a GPU-trained
    checkpoint loads on CPU).

    * ``None`` only when ``ckpt_dir`` holds no checkpoint at all (no ``step_*.pt`` and no ``latest``
      pointer): a fresh run. Leftover temp files of an interrupted first write do not count.
    * The checkpoint ``latest`` names if it is intact: a dict holding every key of ``required``
      and, with ``own_key``, recording that run key.
    * Otherwise the newest intact ``step_*.pt`` of this run, with a loud warning naming every
      damaged file (a pointer that is missing its target, holds non-UTF-8 bytes or garbage; a
      truncated or corrupt file; a torch file of the wrong content) and every file of another run
      (set aside as ``<name>.foreign-<time>``, never deleted), and the checkpoint resumed from.
    * :class:`CheckpointError` when checkpoints exist but none is intact and this run's: the
      message names every file with its reason (both keys for a file of another run) and the
      smallest safe action; it never advises deleting a readable checkpoint.
    """
    ckpt_dir = Path(ckpt_dir)
    required = tuple(required)
    pointer = ckpt_dir / POINTER
    files = list_checkpoints(ckpt_dir)
    if not files and not pointer.exists():
        return None
    damaged: dict[Path, str] = {}
    foreign: dict[Path, str] = {}
    named, reason = _read_pointer(pointer)
    if reason:
        damaged[pointer] = reason
    order = ([ckpt_dir / named] if named else []) + [p for p in reversed(files)
                                                      if p.name != named]
    for path in order:
        state, reason = torch_file_problem(path, required, map_location)
        if state is None:
            damaged[path] = ("named by the 'latest' pointer but " + reason) if path.name == named \
                and reason == "missing" else reason
            continue
        theirs = _state_key(state)
        if own_key is not None and theirs != own_key:
            foreign[path] = theirs or "unknown"
            continue
        if damaged or foreign:
            kept = {p: set_aside(p, "foreign") for p in foreign}
            warn_loudly("checkpoint file(s) not used: " + "; ".join(
                [f"{_label(p)}: {why}" for p, why in damaged.items()]
                + [f"{p}: belongs to run {k}, not to this run {own_key} (set aside as "
                   f"{kept[p].name})" for p, k in foreign.items()])
                + f"; resuming from {path.name} (step {state.get('step', '?')}) instead")
            if foreign and path.name != named:
                atomic_write_text(pointer, path.name)
        return state
    listing = "\n".join([f"  {_label(p)}: {why}" for p, why in damaged.items()]
                        + [f"  {p}: belongs to run {k}, not to this run {own_key}"
                           for p, k in foreign.items()])
    if foreign and not damaged:
        raise CheckpointError(
            f"the checkpoints in {ckpt_dir} belong to another run, not to this run {own_key}:\n"
            f"{listing}\nThis folder holds another run's training (nothing was changed): leave "
            "out_dir unset or choose another out_dir; if the files were copied here by mistake, "
            f"move them out of {ckpt_dir} and run again.", foreign)
    raise CheckpointError(
        f"no intact checkpoint of this run in {ckpt_dir}:\n{listing}\n"
        f"The run cannot resume. Restore the files above from a backup to keep it; to start it "
        f"over from step 0, move {ckpt_dir} aside (e.g. mv {ckpt_dir} {ckpt_dir}.damaged; "
        "nothing readable is lost) and run again.", {**damaged, **foreign})


# ------------------------------------------------------------------ the checked reader of one file
CHECKPOINT_FIX = ("restore it from a backup; to start the run over, move its checkpoints folder "
                  "aside (mv checkpoints checkpoints.damaged; nothing readable is lost) and run "
                  "again")


def read_checkpoint(path: str | os.PathLike, key: str | None = None,
                    required: tuple[str, ...] = ("step",)) -> dict:
    """One checkpoint file, checked as :func:`load_latest` checks each (readable, a dict with
    ``required``, finite and non-zeroed weights, :func:`inpainting.runtime.torch_file_problem`)
    and, with ``key``, recording that run key; :class:`CheckpointError` (a
    :class:`~inpainting.disk.DamagedFileError`) naming the file and the safe fix."""
    path = Path(path)
    state, reason = torch_file_problem(path, tuple(required), "cpu")
    if state is None:
        raise CheckpointError(f"checkpoint {path}: {reason}; {CHECKPOINT_FIX}", {path: reason})
    theirs = _state_key(state)
    if key is not None and theirs != key:
        reason = f"belongs to run {theirs or 'unknown'}, not to run {key}"
        raise CheckpointError(f"checkpoint {path} {reason} (copied from another run?); use the "
                              "checkpoints of its own run folder", {path: reason})
    return state


def _example(folder: Path, variant: int) -> tuple[Path, dict]:
    """A sound checkpoint of a tiny network (for tests/test_stored.py)."""
    generator = torch.Generator().manual_seed(variant)
    key = ("ab" if variant == 0 else "cd") * 6
    weights = {"conv.weight": torch.randn(4, 4, 3, 3, generator=generator), "conv.bias": torch.zeros(4)}
    path = save_checkpoint({"step": 3, "key": key, "G": weights, "D": dict(weights)}, folder, 3)
    return path, {"key": key}


def _register() -> None:
    from ..stored import Kind, register
    register(Kind("checkpoint", "torch", read_checkpoint, _example, fields=("step",),
                  undetectable={"foreign_network": "another network is another run: its key "
                                "differs (other_run), and the trainer loads the weights into its "
                                "own network, whose shapes torch checks"}))


_register()
