"""Atomic training checkpoints with a ``latest`` pointer (docs/method.md §6.2: the prototype saved every
2,000 steps; the kit saves every ``train.checkpoint_every`` steps and at every stage end).

Layout of ``ckpt_dir``::

    step_00000120.pt   # torch.save of the state dict, written to a temp file then os.replace'd
    step_00000140.pt
    latest             # text: the file name of the newest complete checkpoint

A crash (even SIGKILL) at any moment leaves either the old or the new checkpoint complete: temp files
(``.step_*.pt.*.tmp``) are never read, and a ``latest`` pointer naming a missing or unreadable file
falls back to the newest readable ``step_*.pt``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from .runtime import atomic_write, atomic_write_text, warn_loudly

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


def _try_load(path: Path, map_location: Any) -> dict | None:
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception:  # truncated / corrupt / vanished file: the caller falls back
        return None


def load_latest(ckpt_dir: str | os.PathLike, map_location: Any = "cpu") -> dict | None:
    """The checkpoint ``latest`` points to, loaded with ``map_location`` (so a GPU-trained
    checkpoint loads on CPU); ``None`` if ``ckpt_dir`` has no readable checkpoint.

    If the pointer is missing, names a missing file or a corrupt one, fall back (with a warning when
    a pointer existed) to the newest readable ``step_*.pt``."""
    ckpt_dir = Path(ckpt_dir)
    pointer = ckpt_dir / POINTER
    named = pointer.read_text().strip() if pointer.is_file() else None
    if named:
        state = _try_load(ckpt_dir / named, map_location)
        if state is not None:
            return state
    for path in reversed(list_checkpoints(ckpt_dir)):
        state = _try_load(path, map_location)
        if state is not None:
            if named:
                warn_loudly(f"checkpoint pointer {pointer} names {named!r}, which is missing or "
                            f"unreadable; resuming from {path.name} instead")
            return state
    return None
