"""Run completion methods over a fixed test set and tabulate the canonical metrics
(:mod:`inpainting.evaluation.metrics`).

A *method* (docs/CONVENTIONS.md) is a callable ``fn(masked_images, masks) -> output``, e.g. the
kit's ``Inpainter`` (its forward gives the raw output) or a plain function. Images are
``(B, 3, H, W)`` float32 in [-1, 1], masks are ``(B, 1, H, W)`` with 1 = hole, and the output is
``(B, 3, H, W)`` in [-1, 1]. A method may declare ``supported_mask_kinds`` (a collection of mask
kinds, ``None`` = any). A method that does, e.g. a Context Encoder that only fills the centre
square, is run on those kinds only.

One road for an image
---------------------
* A method never sees the hole content: it gets ``models.masked(image, mask)`` (hole pixels 0).
* Its output is **composited** once, here (``models.composite``: known pixels from the ground
  truth) before any metric is computed. Changing known pixels therefore has no effect, and all
  error lies in the hole.
* An output of the wrong shape, with NaN/inf or with values outside [-1, 1] in the hole raises a
  ``ValueError`` naming the method. Nothing is clamped or replaced silently.
* A (method, mask kind) pair the method does not support has no per-image rows. Its summary row has
  NaN metrics and ``n_images`` 0, never a made-up number.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from skimage.restoration import inpaint_biharmonic
from tqdm.auto import tqdm

from ..models.generator import composite, masked
from . import stats
from .metrics import METRIC_COLUMNS, PSNR_COLUMNS, RANGE_TOLERANCE, batch_metrics, to_uint8

if TYPE_CHECKING:
    from inpainting.data.masks import FixedTestSet


Method = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

PER_IMAGE_COLUMNS = ("method", "kind", "sample", "index", *METRIC_COLUMNS, "identical", "seconds")
SUMMARY_COLUMNS = ("method", "kind", *METRIC_COLUMNS, "n_images", "n_identical", "ms_per_image",
                   "params")


def supported_kinds(method: Method) -> Collection[str] | None:
    """The method's ``supported_mask_kinds`` attribute, or ``None`` (any kind) when it has none."""
    return getattr(method, "supported_mask_kinds", None)


def parameter_count(method: Method) -> int | None:
    """``method.num_parameters()``, or ``None`` for a method without a size."""
    return method.num_parameters() if hasattr(method, "num_parameters") else None


def biharmonic_method(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Classical baseline: ``skimage.restoration.inpaint_biharmonic`` on each image (RGB jointly).

    Parameters
    ----------
    images : torch.Tensor
        ``(B, 3, H, W)`` float in [-1, 1]. Hole pixels are ignored.
    masks : torch.Tensor
        ``(B, 1, H, W)``, values 0/1, 1 = hole.

    Returns
    -------
    torch.Tensor
        ``(B, 3, H, W)`` with the input's dtype and device, in [-1, 1]. The biharmonic solution can
        overshoot the range slightly, so it is clamped.

    Notes
    -----
    It runs on the CPU, one image at a time. With scikit-image 0.26 on a shared 2-core CPU
    (procedural faces), it took 15-20 ms per 64 px image and 25-55 ms per 128 px image. The largest
    value is for the centre hole, a quarter of the image, since the cost grows with the number of
    hole pixels.
    """
    filled = []
    for image, mask in zip(images.detach().cpu().double(), masks.detach().cpu()):
        result = inpaint_biharmonic(image.permute(1, 2, 0).numpy(), mask[0].numpy() > 0.5, channel_axis=-1)
        filled.append(torch.from_numpy(result).permute(2, 0, 1))
    return torch.stack(filled).clamp(-1.0, 1.0).to(dtype=images.dtype, device=images.device)


def _check_test_set(test_set: FixedTestSet) -> None:
    images, masks = test_set.images, test_set.masks
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"test_set.images must be (N, 3, S, S), got {tuple(images.shape)}")
    if masks.shape != (images.shape[0], 1, *images.shape[2:]):
        raise ValueError(f"test_set.masks must be (N, 1, S, S) matching the images "
                         f"{tuple(images.shape)}, got {tuple(masks.shape)}")
    if not len(test_set.kinds) == len(test_set.indices) == images.shape[0]:
        raise ValueError(f"test_set has {images.shape[0]} images but {len(test_set.kinds)} kinds and "
                         f"{len(test_set.indices)} indices")


def _method_device(method: Method, device: str | torch.device | None) -> torch.device:
    """Where the method's inputs go. An ``nn.Module`` is moved to an explicit ``device``."""
    if isinstance(method, torch.nn.Module):
        if device is not None:
            method.to(device)
        parameter = next(method.parameters(), None)
        if parameter is not None:
            return parameter.device
    return torch.device(device if device is not None else "cpu")


def _checked_composite(name: str, image: torch.Tensor, mask: torch.Tensor, output: object) -> torch.Tensor:
    """Validate a method's output and paste the known pixels of ``image`` back."""
    if not isinstance(output, torch.Tensor) or output.shape != image.shape:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ValueError(f"method {name!r} must return a tensor of shape {tuple(image.shape)}, got {shape}")
    output = output.detach().to(image.device, torch.float32)
    hole_values = output[mask.expand_as(image) > 0.5]
    if not torch.isfinite(hole_values).all():
        raise ValueError(f"method {name!r} returned NaN/inf inside the hole")
    if hole_values.numel() and hole_values.abs().max() > 1 + RANGE_TOLERANCE:
        raise ValueError(f"method {name!r} returned values in [{hole_values.min():.4g}, "
                         f"{hole_values.max():.4g}] inside the hole; outputs must be in [-1, 1] "
                         "(clamp in the method if that is intended)")
    return composite(image, output, mask)


def _run(name: str, method: Method, images: torch.Tensor, masks: torch.Tensor, batch_size: int,
         device: str | torch.device | None, bar: tqdm | None) -> tuple[torch.Tensor, np.ndarray]:
    """Composited completions ``(n, 3, S, S)`` on the CPU and the wall time per image in seconds."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not callable(method):
        raise TypeError(f"method {name!r} is not callable: a method is fn(masked_images, masks)")
    run_device = _method_device(method, device)
    module = method if isinstance(method, torch.nn.Module) else None
    if module is not None and any(True for _ in module.parameters()):
        from ..inference import check_model_fits   # float32 only; a size it was not trained at
        check_model_fits(module, images, masks)
    was_training = module.training if module is not None else False
    outputs, seconds = [], []
    try:
        if module is not None:
            module.eval()
        with torch.no_grad():
            for start in range(0, images.shape[0], batch_size):
                image = images[start:start + batch_size].to(run_device, torch.float32)
                mask = masks[start:start + batch_size].to(run_device, torch.float32)
                hidden = masked(image, mask)
                if run_device.type == "cuda":
                    torch.cuda.synchronize(run_device)
                tic = time.perf_counter()
                output = method(hidden, mask)
                if run_device.type == "cuda":
                    torch.cuda.synchronize(run_device)
                elapsed = time.perf_counter() - tic
                outputs.append(_checked_composite(name, image, mask, output).cpu())
                seconds.extend([elapsed / image.shape[0]] * image.shape[0])
                if bar is not None:
                    bar.update(1)
    finally:
        if module is not None:
            module.train(was_training)
    return torch.cat(outputs), np.asarray(seconds)


def completions(method: Method, test_set: FixedTestSet, batch_size: int = 16,
                device: str | torch.device | None = None) -> torch.Tensor:
    """The composited completions of a method on a test set, for image grids.

    Parameters
    ----------
    method : Method
        See the module docstring.
    test_set : FixedTestSet
        ``images (N, 3, S, S)`` in [-1, 1], ``masks (N, 1, S, S)``, ``kinds``, ``indices``.
    batch_size : int
        Images per call of the method.
    device : str or torch.device, optional
        Where the method runs. An ``nn.Module`` is moved there. Default: the module's device, or
        the CPU.

    Returns
    -------
    torch.Tensor
        ``(N, 3, S, S)`` float32 in [-1, 1] on the CPU: the method's output in the hole and the
        ground truth elsewhere. These are exactly the images :func:`evaluate` measures.

    Raises
    ------
    ValueError
        If the test set holds mask kinds the method does not support (use ``test_set.subset(kind)``).
    """
    _check_test_set(test_set)
    allowed = supported_kinds(method)
    unsupported = sorted({kind for kind in test_set.kinds if allowed is not None and kind not in allowed})
    if unsupported:
        raise ValueError(f"the method supports mask kinds {sorted(allowed)} but the test set also holds "
                         f"{unsupported}; pass test_set.subset(kind) for a supported kind")
    name = getattr(method, "name", getattr(method, "__name__", type(method).__name__))
    return _run(name, method, test_set.images, test_set.masks, batch_size, device, None)[0]


def evaluate(methods: Mapping[str, Method], test_set: FixedTestSet, batch_size: int = 16,
             device: str | torch.device | None = None,
             progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evaluate every method on every mask kind of a fixed test set.

    Parameters
    ----------
    methods : mapping of str to Method
        Display name to method (module docstring). Methods with ``supported_mask_kinds`` run only on
        those kinds.
    test_set : FixedTestSet
        ``images (N, 3, S, S)`` float32 in [-1, 1], ``masks (N, 1, S, S)`` (1 = hole),
        ``kinds: list[str]``, ``indices: list[int]`` (dataset index of each image).
    batch_size : int
        Images per call of a method. Every batch holds one mask kind.
    device : str or torch.device, optional
        Where methods run. ``nn.Module`` methods are moved there. Default: each module's own device,
        or the CPU for plain callables.
    progress : bool
        Show a ``tqdm.auto`` progress bar over batches.

    Returns
    -------
    per_image : pandas.DataFrame
        One row per (method, test image) evaluated, with columns ``PER_IMAGE_COLUMNS``:
        ``method``, ``kind``, ``sample`` (position in the test set), ``index`` (dataset index), the six
        metrics of :func:`inpainting.evaluation.metrics.image_metrics` on the composited output, ``identical``
        (output equals the ground truth in uint8, so the PSNRs sit at ``PSNR_CAP_DB``) and
        ``seconds`` (wall time of the method's batch, divided by the batch size).
    summary : pandas.DataFrame
        One row per (method, kind) for every method and every kind of the test set, with columns
        ``SUMMARY_COLUMNS``. The metric columns hold means of the per-image values (PSNR: the PSNR of the mean MSE). Also
        ``n_images``, ``n_identical``, ``ms_per_image`` (mean inference time) and ``params``
        (``method.num_parameters()``, or missing). Unsupported pairs have NaN metrics and
        ``n_images`` 0.

    Notes
    -----
    Methods run under ``torch.no_grad()``. ``nn.Module`` methods are put in ``eval()`` mode and their
    previous mode is restored afterwards. The first batch includes any warm-up cost.
    """
    per_image, _ = measure(methods, test_set, batch_size, device, progress)
    return per_image, _summarise(per_image, methods, list(dict.fromkeys(test_set.kinds)))


def measure(methods: Mapping[str, Method], test_set: FixedTestSet, batch_size: int = 16,
            device: str | torch.device | None = None, progress: bool = True):
    """The per-image table of :func:`evaluate` (no summary: a caller that summarises otherwise,
    :func:`inpainting.evaluation.comparison.compare`, computes its own once) and the composited
    outputs it measured: ``(per_image, composites)`` with ``composites[(method, kind)]`` uint8
    ``(n, S, S, 3)`` in the order of that kind's test images (for the realism metrics)."""
    if not methods:
        raise ValueError("methods is empty; pass e.g. {'biharmonic': biharmonic_method}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    _check_test_set(test_set)
    kinds = list(dict.fromkeys(test_set.kinds))
    positions = {kind: [i for i, k in enumerate(test_set.kinds) if k == kind] for kind in kinds}
    plan = [(name, method, kind) for name, method in methods.items() for kind in kinds
            if supported_kinds(method) is None or kind in supported_kinds(method)]
    n_batches = sum(-(-len(positions[kind]) // batch_size) for _, _, kind in plan)
    frames, composites = [], {}
    with tqdm(total=n_batches, desc="evaluate", disable=not progress) as bar:
        for name, method, kind in plan:
            bar.set_postfix_str(f"{name} / {kind}")
            pos = positions[kind]
            done, seconds = _run(name, method, test_set.images[pos], test_set.masks[pos],
                                 batch_size, device, bar)
            gt8, out8 = to_uint8(test_set.images[pos]), to_uint8(done)
            composites[(name, kind)] = out8
            frame = batch_metrics(gt8, out8, test_set.masks[pos])
            frame.insert(0, "method", name)
            frame.insert(1, "kind", kind)
            frame.insert(2, "sample", pos)
            frame.insert(3, "index", [test_set.indices[i] for i in pos])
            frame["identical"] = (gt8 == out8).all(axis=(1, 2, 3))
            frame["seconds"] = seconds
            frames.append(frame)
    per_image = (pd.concat(frames, ignore_index=True) if frames
                 else pd.DataFrame(columns=list(PER_IMAGE_COLUMNS)))
    return per_image, composites


def _summarise(per_image: pd.DataFrame, methods: Mapping[str, Method], kinds: list[str]) -> pd.DataFrame:
    grid = pd.MultiIndex.from_product([list(methods), kinds], names=["method", "kind"])
    grouped = per_image.groupby(["method", "kind"], sort=False)
    summary = grouped[list(METRIC_COLUMNS)].mean().astype(float)
    for column in PSNR_COLUMNS:   # the PSNR of the mean MSE (metrics module docstring)
        summary[column] = grouped[column].agg(stats.psnr_of_mean_mse).astype(float)
    summary["n_images"] = grouped.size()
    summary["n_identical"] = grouped["identical"].sum()
    summary["ms_per_image"] = grouped["seconds"].mean().astype(float) * 1000.0
    summary = summary.reindex(grid)
    summary["n_images"] = summary["n_images"].fillna(0).astype(int)
    summary["n_identical"] = summary["n_identical"].fillna(0).astype(int)
    params = {name: parameter_count(method) for name, method in methods.items()}
    summary["params"] = pd.array([params[name] for name in grid.get_level_values("method")], dtype="Int64")
    return summary.reset_index()[list(SUMMARY_COLUMNS)]
