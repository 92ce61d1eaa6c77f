"""Where a run happens: device, seeds, results folders, atomic writes, checked reads of torch files
and ``run.json``."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import random
import re
import subprocess
import tempfile
import time
import warnings
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

RESULTS_ENV = "INPAINTING_RESULTS"
DEVICE_ENV = "INPAINTING_DEVICE"
NOTEBOOK_ENV = "INPAINTING_NOTEBOOK"   # set by the notebook runner: which notebook is running
REPO_ROOT = Path(__file__).resolve().parents[2]
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


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) global generators."""
    problem = seed_problem(seed)
    if problem:
        raise ValueError(problem)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def results_root() -> Path:
    """The folder holding one folder per profile: ``$INPAINTING_RESULTS`` if set, else the
    repository's ``results/``."""
    env = os.environ.get(RESULTS_ENV)
    return Path(env) if env else REPO_ROOT / "results"


def results_dir(profile_name: str, *parts: str) -> Path:
    """``<results root>/<profile>/<parts...>``, created if missing: ``results/<profile>/...``, or
    ``$INPAINTING_RESULTS/<profile>/...`` when the variable is set, so two profiles never share a
    ``run.json`` or ``summary.md`` (``./run_all.sh demo`` leaves the smoke results alone)."""
    if not profile_name or not isinstance(profile_name, str) or os.sep in profile_name:
        raise ValueError(f"profile name {profile_name!r}: expected a plain name such as 'smoke'")
    path = results_root().joinpath(profile_name, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


RUN_NAME = re.compile(r"^(?P<generator>[a-z][a-z0-9_]*)-(?P<key>[0-9a-f]{12})$")   # a run folder


def folder_key(folder: str | os.PathLike) -> str | None:
    """The run key a run folder is named by (``<generator>-<key>``), or ``None`` for a folder
    named otherwise (an ``out_dir`` chosen by the user)."""
    found = RUN_NAME.match(Path(folder).name)
    return found.group("key") if found else None


DAMAGED_TAG = "damaged"


def set_aside(path: str | os.PathLike, tag: str = DAMAGED_TAG) -> Path:
    """Rename ``path`` to ``<name>.<tag>-<UTC time>`` beside it (never deleting it) and return the
    new path; a second file set aside in the same second gets a ``-2``, ``-3``, ... suffix."""
    path = Path(path)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.{tag}-{stamp}")
    n = 2
    while target.exists():
        target = path.with_name(f"{path.name}.{tag}-{stamp}-{n}")
        n += 1
    os.replace(path, target)
    return target


def _json_problem(path: Path, nested: tuple[str, ...]) -> tuple[dict | None, str]:
    """``(dict, "")`` for a sound JSON object file, ``(None, reason)`` otherwise."""
    data = path.read_bytes()
    if not data.strip():
        return None, "empty file"
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"not JSON ({type(exc).__name__}: {exc})"
    if not isinstance(value, dict):
        return None, f"holds a JSON {type(value).__name__}, not an object"
    wrong = [key for key in nested if key in value and not isinstance(value[key], dict)]
    if wrong:
        return None, ", ".join(f"{key!r} is a {type(value[key]).__name__}, not an object"
                               for key in wrong)
    return value, ""


def check_record_json(path: str | os.PathLike, nested: tuple[str, ...] = ()) -> dict:
    """The dict of a bookkeeping JSON file; :class:`DamagedFileError` when it is missing, empty,
    not JSON, not an object, or a field of ``nested`` is not an object (the check
    :func:`read_record_json` sets damaged files aside by)."""
    path = Path(path)
    if not path.is_file():
        raise DamagedFileError.of(path, "is missing", "it is rebuilt when the kit next records")
    value, reason = _json_problem(path, tuple(nested))
    if value is None:
        raise DamagedFileError.of(path, reason, "it is set aside and rebuilt from what is intact")
    return value


def read_record_json(path: str | os.PathLike, nested: tuple[str, ...] = (),
                     rebuilt: str = "it is rebuilt from what is intact",
                     check: Callable[[Path], dict] | None = None) -> dict | None:
    """The dict of a bookkeeping JSON file (``run.json``, ``outputs.json``, ``identity.json``,
    ``train_config.json``); ``None`` when it is missing.

    A damaged file (empty, truncated, not UTF-8 / JSON, not an object, or a field of ``nested`` that
    is not an object) never blocks work and is never deleted: it is renamed to
    ``<name>.damaged-<UTC time>`` with a loud warning saying so and ``rebuilt`` (what happens next),
    and ``None`` is returned, as for a missing file. ``check``: the kind's checked reader
    (raising :class:`DamagedFileError`), e.g. one requiring fields."""
    path = Path(path)
    if not path.is_file():
        return None
    try:   # the kind's own checked reader (stored.py), else the generic one
        return (check or (lambda p: check_record_json(p, tuple(nested))))(path)
    except DamagedFileError as exc:
        reason = exc.damaged.get(path, str(exc))
    try:
        kept = set_aside(path)
    except FileNotFoundError:   # another process set it aside first
        return None
    warn_loudly(f"{path} was damaged ({reason}); it was set aside as {kept.name} (nothing "
                f"deleted) and {rebuilt}")
    return None


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, then rename it over ``path``,
    so a reader never sees a half-written file, even if the process is killed mid-write."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def save_table(df, path: str | os.PathLike) -> Path:
    """Write a DataFrame as CSV atomically."""
    return atomic_write(path, lambda p: df.to_csv(p, index=False))


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write a matplotlib figure as PNG atomically (the notebook still shows it inline)."""
    return atomic_write(path, lambda p: fig.savefig(p, dpi=dpi, bbox_inches="tight", format="png"))


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


RUN_JSON = "run.json"
RUN_JSON_OBJECTS = ("runs", "warnings", "notebooks", "packages")   # fields that hold objects


def read_run_json(profile_name: str) -> dict:
    """``results/<profile>/run.json`` as a dict (``{}`` when missing). A damaged one (truncated, not
    JSON, wrong types, empty) is set aside as ``run.json.damaged-<time>`` with a warning and
    rebuilt: the next update starts a new one, and every run is registered again when it is used
    (:func:`read_record_json`)."""
    path = results_dir(profile_name) / RUN_JSON
    rebuilt = "a new run.json is started (each run is registered again when it is used)"
    info = read_record_json(path, RUN_JSON_OBJECTS, rebuilt) or {}
    bad = [name for name, entry in info.get("runs", {}).items() if not isinstance(entry, dict)]
    if bad:
        kept = set_aside(path)
        warn_loudly(f"{path} was damaged (runs entry {bad[0]!r} is not an object); it was set "
                    f"aside as {kept.name} (nothing deleted) and {rebuilt}")
        return {}
    return info


def update_run_json(profile_name: str, **fields: Any) -> dict:
    """Merge ``fields`` into ``results/<profile>/run.json`` (atomically) and return the result.

    Nested dicts are merged one level deep, so notebooks can each add their own entries
    (for example ``warnings={"perceptual": "..."}``). Processes that update it at the same time
    (runs trained side by side by ``python -m inpainting.train --all``) take turns: the read, merge
    and write happen under an exclusive ``flock`` of ``run.json.lock`` (POSIX; elsewhere unlocked)."""
    path = results_dir(profile_name) / RUN_JSON
    with _exclusive(path.with_name(path.name + ".lock")):
        info = read_run_json(profile_name)
        for key, value in fields.items():
            if isinstance(value, dict) and isinstance(info.get(key), dict):
                info[key].update(value)
            else:
                info[key] = value
        atomic_write_text(path, json.dumps(info, indent=2, sort_keys=True, default=str))
    return info


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    """An exclusive advisory lock on ``lock_path`` for the block (a no-op without ``fcntl``)."""
    try:
        import fcntl
    except ImportError:   # Windows
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Stopwatch:
    """``with Stopwatch() as sw: ...; sw.seconds``"""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def warn_loudly(message: str) -> None:
    """A warning that shows in notebooks and headless logs alike."""
    banner = "!" * 78
    print(f"{banner}\nWARNING: {message}\n{banner}", flush=True)
    warnings.warn(message, stacklevel=2)


# ------------------------------------------------------------------ checked reads of torch files
class DamagedFileError(ValueError):
    """A file the kit wrote (or ships) and reads back is missing, damaged or not what it claims to
    be: the one error of every checked reader (:mod:`inpainting.stored` lists them).

    ``damaged`` maps every damaged file to the reason; the message names each file, the problem
    and the safe fix (never "delete": restore it, move it aside, or let the kit rebuild it)."""

    def __init__(self, message: str, damaged: dict[Path, str] | None = None):
        super().__init__(message)
        self.damaged = {Path(k): v for k, v in (damaged or {}).items()}

    @classmethod
    def of(cls, path: str | os.PathLike, problem: str, fix: str) -> "DamagedFileError":
        """The error for one file: ``"<path>: <problem>; <fix>"``."""
        return cls(f"{path}: {problem}; {fix}", {Path(path): problem})

    @property
    def path(self) -> Path | None:
        return next(iter(self.damaged), None)

    def __reduce__(self):   # survives pickling (DataLoader workers, child processes)
        return type(self), (str(self), self.damaged)


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


# ------------------------------------------------------------------ the one way to write outputs
OUTPUT_LEDGER = ".inpainting-outputs.json"   # per output root: relative path -> sha256 written


class OutputError(ValueError):
    """An output the kit will not write: the path is a folder, it is one of the command's inputs,
    or it holds a file the kit did not write (or that was changed since) and replacing was not
    asked for. Nothing was written; the message names the file and the fix."""


def _ledger(path: Path, root: Path | None) -> tuple[Path, str]:
    root = Path(root) if root is not None else path.parent
    return root / OUTPUT_LEDGER, path.resolve().relative_to(root.resolve()).as_posix()


def kit_wrote(path: str | os.PathLike, root: str | os.PathLike | None = None) -> bool:
    """True when ``path`` holds exactly the bytes the kit last wrote there
    (:func:`write_output` records each file's sha256 in ``<root>/.inpainting-outputs.json``)."""
    recorded = ledger_entry(path, root)
    return recorded is not None and Path(path).is_file() and recorded == file_sha256(path)


def ledger_entry(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str | None:
    """The sha256 :func:`write_output` recorded for ``path`` (``None``: the kit never wrote it
    there, as far as the ledger knows)."""
    ledger, rel = _ledger(Path(path), root)
    entries = read_record_json(ledger, rebuilt="files the kit wrote before count as not its own") or {}
    return entries.get(rel)


def check_output(path: str | os.PathLike, inputs: tuple = (), replace: bool = False,
                 root: str | os.PathLike | None = None, owned: Callable[[Path], bool] | None = None,
                 flag: str = "--force") -> Path:
    """Raise :class:`OutputError` unless :func:`write_output` may write ``path``: not a folder,
    not one of ``inputs`` (the same file by any name), and, when it exists, a file the kit wrote
    unchanged (:func:`kit_wrote`), one ``owned`` recognises as the kit's, or ``replace``."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"output {path} is a folder; give a file name")
    for source in inputs:
        if path.exists() and Path(source).exists() and os.path.samefile(path, source) or \
                path.resolve() == Path(source).resolve():
            raise OutputError(f"output {path} is the input {source}: the kit never writes over "
                              "what it reads; give another output path")
    if path.exists() and not replace and not kit_wrote(path, root) and not (owned and owned(path)):
        raise OutputError(f"{path} exists and was not written by the kit (or was changed since): "
                          f"it is kept. Give another output path, move it aside, or pass {flag} "
                          "to replace it")
    return path


def write_output(path: str | os.PathLike, write: Callable[[Path], Any], inputs: tuple = (),
                 replace: bool = False, root: str | os.PathLike | None = None,
                 owned: Callable[[Path], bool] | None = None, flag: str = "--force") -> Path:
    """The one way a command writes an output: :func:`check_output` first (never over an input,
    never over a file the kit did not write unless ``replace``), then :func:`atomic_write`, then
    the file's sha256 recorded in ``<root>/.inpainting-outputs.json`` (``root``: the output
    folder, default the file's folder), so the next run may replace what this one wrote and
    nothing else. Files the kit does not own are never touched."""
    path = check_output(path, inputs, replace, root, owned, flag)
    atomic_write(path, write)
    ledger, rel = _ledger(path, root)
    with _exclusive(ledger.with_name(ledger.name + ".lock")):
        entries = read_record_json(ledger, rebuilt="files the kit wrote before count as not its own") or {}
        entries[rel] = file_sha256(path)
        atomic_write_text(ledger, json.dumps(entries, indent=1, sort_keys=True) + "\n")
    return path


_NAME_SAFE = re.compile(r"[A-Za-z0-9_.-]")


def file_stem(name: str) -> str:
    """A file name for a user's ``name`` that maps different names to different files: letters,
    digits, ``_``, ``.`` and ``-`` are kept, every other character (``/``, a space, ``~``, a
    non-ASCII letter, a leading ``.``) becomes ``~`` and the hex of its UTF-8 bytes ("my method"
    -> ``my~20method``, "my/method" -> ``my~2fmethod``). Names that are already safe keep their
    spelling."""
    out = []
    for i, char in enumerate(name):
        if _NAME_SAFE.fullmatch(char) and not (i == 0 and char == "."):
            out.append(char)
        else:
            out.append("".join(f"~{byte:02x}" for byte in char.encode("utf-8")))
    stem = "".join(out)
    if not stem:
        raise ValueError("an empty name has no file name")
    if len(stem.encode()) > 200:   # file systems stop at 255 bytes: keep a prefix and a hash
        stem = stem[:180] + "~" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
    return stem
