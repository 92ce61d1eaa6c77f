"""Where a run computes: the device and its precision, seeds' range, the machine and package facts
recorded with every run, and checked reads of torch files. The torch-free file helpers (hashing,
atomic writes, results folders, JSON records, the output ledger) are :mod:`inpainting.disk`."""
from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .disk import REPO_ROOT, DamagedFileError

DEVICE_ENV = "INPAINTING_DEVICE"
NOTEBOOK_ENV = "INPAINTING_NOTEBOOK"   # set by the notebook runner: which notebook is running
KEY_PACKAGES = ("torch", "torchvision", "numpy", "scikit-image", "pandas", "matplotlib",
                "papermill", "ipywidgets", "jupyterlab")


def select_device(preference: str = "auto") -> torch.device:
    """``auto`` (or ``$INPAINTING_DEVICE`` if set) picks CUDA when available, else CPU.
    An explicit ``cuda`` on a machine without CUDA is an error, not a silent fallback."""
    if preference == "auto":
        preference = os.environ.get(DEVICE_ENV, "auto")
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {preference!r} requested but CUDA is not available here; "
                           "use device='auto' or 'cpu'")
    return device


def cpu_bf16_fast() -> bool:
    """True when oneDNN has fast bfloat16 kernels on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def precision(amp: bool, device: torch.device) -> str:
    """The floating-point precision a run computes in: ``"float32"`` without ``amp``; with it,
    ``"float16"`` autocast on CUDA and ``"bfloat16"`` autocast on the CPU. The same profile thus
    computes in the same precision on every CPU (bfloat16 is only fast with AVX512-BF16 / AMX;
    elsewhere it is emulated and slower than float32)."""
    if not amp:
        return "float32"
    return "float16" if device.type == "cuda" else "bfloat16"


def device_name(device: torch.device) -> str:
    """The GPU model, or the CPU model from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


MAX_SEED = 2**63 - 1   # torch.manual_seed's and every generator's range, shared by all


def seed_problem(seed: Any, name: str = "train.seed") -> str:
    """Why ``seed`` cannot seed a run (not a whole number in [0, 2**63 - 1]), or ``""``: checked
    where a seed enters, so none passes validation and crashes in ``torch.manual_seed`` later."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        return f"{name}={seed!r}: must be a whole number in [0, 2**63 - 1]"
    if not 0 <= int(seed) <= MAX_SEED:
        return f"{name}={seed}: must be in [0, 2**63 - 1] (= {MAX_SEED})"
    return ""


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def environment_info(device: torch.device | None = None) -> dict:
    """Facts about this machine for ``run.json``."""
    device = device or select_device()
    return {
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "device": str(device),
        "device_name": device_name(device),
        "cpu_fast_bfloat16": cpu_bf16_fast(),
        "torch_threads": torch.get_num_threads(),
    }


class Stopwatch:
    """``with Stopwatch() as sw: ...; sw.seconds``"""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


# ------------------------------------------------------------------ checked reads of torch files
class CheckpointError(DamagedFileError, RuntimeError):
    """Checkpoints exist but none can be used (or a finished model file is damaged).

    ``damaged`` maps every damaged file (the ``latest`` pointer included) to the reason; the message
    names each of them and the smallest safe action. A :class:`DamagedFileError` (and, as before,
    a ``RuntimeError``)."""


def _describe(value: Any) -> str:
    return f"{'an' if type(value).__name__[0] in 'aeiou' else 'a'} {type(value).__name__}"


def torch_file_problem(path: Path, required: tuple[str, ...], map_location: Any) -> tuple[dict | None, str]:
    """``(state, "")`` for an intact checkpoint, ``(None, reason)`` otherwise."""
    if not path.is_file():
        return None, "missing"
    if path.stat().st_size == 0:
        return None, "empty file (0 bytes)"
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # truncated / corrupt / not a torch file
        return None, f"unreadable, truncated or not a torch file ({type(err).__name__}: {err})"
    if not isinstance(state, dict):
        return None, f"holds {_describe(state)}, not a checkpoint dict"
    lacking = [key for key in required if key not in state]
    if lacking:
        return None, "lacks " + ", ".join(repr(k) for k in lacking) + " (wrong content)"
    for name, weights in state.items():
        problem = weights_problem(weights) if _is_state_dict(weights) else ""
        if problem:
            return None, f"{name!r}: {problem}"
    return state, ""


def _is_state_dict(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and \
        all(isinstance(v, torch.Tensor) for v in value.values())


def weights_problem(state: dict[str, torch.Tensor]) -> str:
    """Why the tensors of a state dict cannot be trained weights, or ``""``: a non-finite value
    (a file overwritten with NaN, or a diverged run saved as if finished), or a weight tensor
    (``*weight``, 2-D or more) of zeros, which no initialisation or training leaves (a zeroed
    file; biases and buffers may be zero and are not judged)."""
    for name, tensor in state.items():
        if not tensor.is_floating_point() or tensor.numel() == 0:
            continue
        if not bool(torch.isfinite(tensor).all()):
            return f"{name} holds non-finite values (NaN or inf)"
        if name.endswith("weight") and tensor.dim() >= 2 and not bool(tensor.any()):
            return f"{name} is all zeros (a zeroed weight tensor)"
    return ""


def verify_file(path: str | os.PathLike, required: tuple[str, ...] = (),
                map_location: Any = "cpu") -> dict:
    """Load the torch file ``path`` and check it is a dict holding every key of ``required``.

    Returns the loaded dict. Raises :class:`CheckpointError` naming the file and the reason when it
    is missing, empty, truncated, not a torch file, not a dict or lacks a key (use it on a finished
    run's ``generator.pt`` before reusing it)."""
    path = Path(path)
    state, reason = torch_file_problem(path, tuple(required), map_location)
    if state is None:
        raise CheckpointError(f"{path}: {reason}", {path: reason})
    return state


