"""What every measurement of the bench shares: the line naming the machine a figure was measured
on, the trainer's steps without term-balance measurement, and the thread count the steps run at."""
from __future__ import annotations

import os

import torch

from ..runtime import device_name
from ..training import Trainer
from ..training.stream import torch_threads


def load_average() -> str:
    """The 1-minute load average (``"?"`` where the OS has none)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "?"


def isa(device: torch.device) -> str:
    """What the kernels can use: the CPU's vector ISA as torch dispatches to it (``AVX2``,
    ``AVX512``, ...) or the GPU's compute capability (``sm_90``)."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return f"sm_{major}{minor}"
    return torch.backends.cpu.get_cpu_capability()


def machine(device: torch.device) -> dict:
    """Threads (the count in effect now: call it where the timed work runs), CPU / GPU model and
    its ISA, for every output table; the load average is taken around each measurement."""
    return {"threads": torch.get_num_threads(), "device_name": device_name(device),
            "isa": isa(device), "torch": torch.__version__}


def machine_line(device: torch.device, precision: str | None = None) -> str:
    """One line naming what a figure was measured on, printed beside every table: a figure read
    without it cannot be compared (a loaded machine or another thread count moves it by 2x)."""
    m = machine(device)
    return (f"{m['device_name']} ({m['isa']}), {m['threads']} torch thread"
            f"{'s' if m['threads'] != 1 else ''}"
            + (f", {precision}" if precision else "")
            + f", load average {load_average()} (1 min), torch {m['torch']}")


def plain_steps(trainer: Trainer) -> Trainer:
    """``trainer`` with the term-balance measurement off: a measured step adds one backward pass
    per loss term (about 2x an ordinary step), so a timed step that measured it would not be the
    step its row names. The update is the same either way (tests/test_balance.py)."""
    trainer.balance_every = 0
    return trainer


def fit_threads(trainer: Trainer):
    """The intra-op thread count ``fit`` gives the steps (``train.threads``; None: unchanged), as a
    context: a timed step, and the roof it is compared with, run under it."""
    return torch_threads(trainer.profile.train.threads)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
