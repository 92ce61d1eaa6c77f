"""TensorBoard event files of a training run: its losses, learning rates and sample grids, beside
``log.csv`` in ``<run folder>/tensorboard/`` (``./run_all.sh tensorboard`` serves ``results/``).

Written only when the ``tensorboard`` package is importable (it is in ``environment.yml``), and
only by the process that writes the run's other files (rank 0: the trainer calls this module from
``loop.Progress.log`` and ``records.save_samples`` there alone); without the package every call does
nothing. Events are a view of the run, never read back: ``log.csv`` stays the record.

The x axis is steps done, as in the printed log lines and ``samples/step_XXXXXX.png`` (the
``step`` column of ``log.csv`` counts from 0: one less).

A resumed run's writer starts with ``purge_step`` at the first step it writes, so TensorBoard
drops the events a killed session wrote past the checkpoint it resumed from; each process writes
only the steps it trained.
"""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from .balance import TERMS

FOLDER = "tensorboard"
SCALARS = {"rec": "loss/rec", "adv_g": "loss/adv_g", "per": "loss/per", "g_total": "loss/g_total",
           "d_loss": "loss/d", "lr_g": "lr/g", "lr_d": "lr/d", "seconds": "time/step_seconds",
           **{f"gnorm_{t}": f"grad_norm/{t}" for t in TERMS}, "gnorm_g": "grad_norm/g_total"}
# and balance/share_<term>: gnorm_<term> / gnorm_g (training/balance.py)
_MAX_OPEN = 4
_writers: dict[Path, object] = {}


def available() -> bool:
    """True when the ``tensorboard`` package (needed by ``torch.utils.tensorboard``) is there."""
    return importlib.util.find_spec("tensorboard") is not None


def _writer(run_dir: Path, first_step: int):
    key = Path(run_dir).resolve()
    if key not in _writers:
        from torch.utils.tensorboard import SummaryWriter
        while len(_writers) >= _MAX_OPEN:   # runs trained one after another in one process
            _writers.pop(next(iter(_writers))).close()
        _writers[key] = SummaryWriter(str(key / FOLDER), purge_step=first_step)
    return _writers[key]


def log_steps(run_dir: Path, records: Sequence[dict]) -> None:
    """The losses, learning rates and step time of ``records`` (rows of ``log.csv``, one per
    step), NaN terms (a loss its stage does not compute) left out."""
    if not records or not available():
        return
    writer = _writer(run_dir, int(records[0]["step"]) + 1)
    for record in records:
        for column, tag in SCALARS.items():
            value = record.get(column)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                writer.add_scalar(tag, float(value), int(record["step"]) + 1)
        total = record.get("gnorm_g")
        if isinstance(total, float) and total > 0:
            for term in TERMS:
                value = record.get(f"gnorm_{term}")
                if isinstance(value, float) and not math.isnan(value):
                    writer.add_scalar(f"balance/share_{term}", value / total, int(record["step"]) + 1)
    writer.flush()


def log_samples(run_dir: Path, step: int, grid: np.ndarray) -> None:
    """The sample grid (input | completion | ground truth, ``uint8 (H, W, 3)``) at ``step``."""
    if not available():
        return
    writer = _writer(run_dir, step)
    writer.add_image("samples", grid, step, dataformats="HWC")
    writer.flush()


def close_all() -> None:
    """Close every open writer (tests; a process's writers are otherwise closed at exit)."""
    while _writers:
        _writers.popitem()[1].close()
