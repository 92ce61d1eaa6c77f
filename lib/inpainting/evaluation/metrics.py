"""Image-completion metrics: the kit's canonical protocol (docs/method.md §8.3 "metric protocol",
docs/method.md §8.3).

Protocol
--------
* Measure the **composited** output (known pixels pasted back: ``image * (1 - mask) + output * mask``)
  against the ground truth. These functions do not composite; :mod:`inpainting.evaluation.runner` does.
* Both images are **RGB uint8 (H, W, 3)** after rounding ``(x + 1) * 127.5`` (:func:`to_uint8`).
* Compute one value per image; a table reports the mean of the per-image values over the test set,
  except PSNR (``PSNR_COLUMNS``): the PSNR of the mean MSE over the test set
  (:func:`inpainting.evaluation.stats.psnr_of_mean_mse`), so one image completed exactly (the
  100 dB cap) counts as an image with no error instead of outweighing the others.
* **PSNR**: ``10 * log10(255**2 / MSE)`` (data_range 255), MSE over all pixels and all 3 channels, or
  over the hole pixels (all 3 channels) for the hole variant.
* **SSIM** (Wang et al. 2004): ``skimage.metrics.structural_similarity(gt, out, channel_axis=-1,
  data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``: an 11x11 Gaussian
  window (sigma 1.5, truncated at 3.5 sigma), population covariance, mean over the 3 channels, the
  5-pixel border of the SSIM map excluded (skimage's "valid" region).
* Masks are ``(H, W)`` with values exactly 0 or 1, **1 = hole**.

Two rules the literature leaves open
------------------------------------
* **Identical images (infinite PSNR).** :func:`psnr` floors the MSE at ``PSNR_MSE_FLOOR`` (so
  ``255**2 / PSNR_MSE_FLOOR`` is 1e10) and therefore never exceeds ``PSNR_CAP_DB`` = 100 dB. Identical
  images get exactly 100 dB, never ``inf``, so a table's mean stays finite. The floor is below the
  smallest non-zero MSE of any uint8 image with fewer than 153,788 values (e.g. 226x226 RGB). At the
  kit's image sizes every non-identical pair therefore gets the exact, uncapped PSNR, and the cap is
  monotone. :func:`inpainting.evaluation.runner.evaluate` counts the identical images (``n_identical``), so
  a reader can see how many capped values a mean contains.
* **Hole SSIM** is the whole-image SSIM formula applied to the crop of the hole's **bounding box**
  (the 64x64 square for a centre hole). skimage needs a crop side of at least the 11-pixel window
  (``SSIM_MIN_SIDE``). A smaller box is grown symmetrically to 11 pixels on that side, shifted to stay
  inside the image, so the crop then includes some known pixels. Window and sigma do not change. For
  scattered holes (several squares, strokes) the bounding box also holds known pixels between them.
  Read ``ssim_hole`` as "SSIM of the completed region".

Extra, non-canonical columns: :func:`ce_l1_l2` gives the Context-Encoder-style mean L1 % and L2 %
over the hole on a [0, 1] scale. This is an **unverified convention** (docs/method.md §8.2).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from skimage.metrics import structural_similarity

from ..data import masks
from ..data.images import RANGE_TOLERANCE, to_uint8

DATA_RANGE = 255
PSNR_CAP_DB = 100.0
PSNR_MSE_FLOOR = DATA_RANGE**2 * 10.0 ** (-PSNR_CAP_DB / 10.0)
SSIM_SIGMA = 1.5
SSIM_MIN_SIDE = 2 * int(3.5 * SSIM_SIGMA + 0.5) + 1  # skimage's Gaussian window: 11
METRIC_COLUMNS = ("psnr", "ssim", "psnr_hole", "ssim_hole", "l1_hole_pct", "l2_hole_pct")
LOWER_IS_BETTER = frozenset({"l1_hole_pct", "l2_hole_pct"})   # the error metrics; the rest: higher
# summarised over images as the PSNR of the mean MSE (inpainting.evaluation.stats.psnr_of_mean_mse)
PSNR_COLUMNS = frozenset({"psnr", "psnr_hole"})


def _check_pair(gt: np.ndarray, out: np.ndarray) -> None:
    for name, image in (("gt", gt), ("out", out)):
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            raise ValueError(f"{name} must be a NumPy uint8 (H, W, 3) image (canonical protocol); got "
                             f"{type(image).__name__} {getattr(image, 'dtype', '')}; convert with "
                             "inpainting.evaluation.metrics.to_uint8")
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"{name} must have shape (H, W, 3), got {image.shape}; for a (3, H, W) tensor "
                             "use inpainting.evaluation.metrics.to_uint8")
    if gt.shape != out.shape:
        raise ValueError(f"gt and out shapes differ: {gt.shape} vs {out.shape}")


def _check_mask(mask: np.ndarray | torch.Tensor, shape: tuple[int, ...]) -> np.ndarray:
    """Return the mask as a bool (H, W) array (True = hole) after validating it."""
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.shape != tuple(shape[:2]):
        hint = "; drop the channel axis with mask[0]" if mask.ndim == 3 and mask.shape[0] == 1 else ""
        raise ValueError(f"mask must have shape (H, W) = {tuple(shape[:2])}, got {mask.shape}{hint}")
    if not np.isin(mask, (0, 1)).all():
        raise ValueError("mask values must be exactly 0 or 1 (1 = hole); threshold a soft mask with "
                         "(mask > 0.5)")
    hole = mask.astype(bool)
    if not hole.any():
        raise ValueError("mask has no hole pixels (all 0), so hole metrics are undefined; masks use "
                         "1 = hole, 0 = known")
    return hole


def _mse(gt: np.ndarray, out: np.ndarray, hole: np.ndarray | None) -> float:
    diff = gt.astype(np.float64) - out.astype(np.float64)
    if hole is not None:
        diff = diff[hole]
    return float(np.mean(diff**2))


def psnr(gt: np.ndarray, out: np.ndarray, mask: np.ndarray | torch.Tensor | None = None) -> float:
    """Peak signal-to-noise ratio in dB, data_range 255, capped at ``PSNR_CAP_DB``.

    Parameters
    ----------
    gt, out : numpy.ndarray
        ``uint8 (H, W, 3)`` ground truth and composited output.
    mask : numpy.ndarray or torch.Tensor, optional
        ``(H, W)``, values 0/1, 1 = hole. If given, the MSE is averaged over the hole pixels only
        (all 3 channels).

    Returns
    -------
    float
        ``10 * log10(255**2 / max(MSE, PSNR_MSE_FLOOR))``: 100 dB for identical images, otherwise the
        standard PSNR (see the module docstring).
    """
    _check_pair(gt, out)
    hole = None if mask is None else _check_mask(mask, gt.shape)
    return 10.0 * math.log10(DATA_RANGE**2 / max(_mse(gt, out, hole), PSNR_MSE_FLOOR))


def ssim_crop(mask: np.ndarray | torch.Tensor, min_side: int = SSIM_MIN_SIDE) -> tuple[slice, slice]:
    """Bounding box of the hole, grown to at least ``min_side`` per side (used by :func:`ssim`).

    Parameters
    ----------
    mask : numpy.ndarray or torch.Tensor
        ``(H, W)``, values 0/1, 1 = hole, not empty; H and W at least ``min_side``.
    min_side : int
        Minimum crop side. A shorter side is grown about the hole's centre and shifted to stay
        inside the image.

    Returns
    -------
    (slice, slice)
        Row and column slices of the crop.
    """
    mask_array = np.asarray(mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else mask)
    hole = _check_mask(mask_array, mask_array.shape[:2])
    top, left, bottom, right = masks.hole_bbox(hole)
    bounds = []
    for (start, stop), size in zip(((top, bottom), (left, right)), hole.shape):
        if size < min_side:
            raise ValueError(f"image side {size} is smaller than the SSIM window ({min_side} px)")
        if stop - start < min_side:
            start = (start + stop - min_side) // 2
            start = min(max(start, 0), size - min_side)
            stop = start + min_side
        bounds.append(slice(start, stop))
    return bounds[0], bounds[1]


def ssim(gt: np.ndarray, out: np.ndarray, mask: np.ndarray | torch.Tensor | None = None) -> float:
    """Structural similarity with Wang et al.'s settings, whole image or hole bounding box.

    Parameters
    ----------
    gt, out : numpy.ndarray
        ``uint8 (H, W, 3)`` ground truth and composited output, H and W at least 11.
    mask : numpy.ndarray or torch.Tensor, optional
        ``(H, W)``, values 0/1, 1 = hole. If given, SSIM is computed on the crop ``ssim_crop(mask)``:
        the hole's bounding box, grown to at least 11x11 (module docstring).

    Returns
    -------
    float
        Mean SSIM in [-1, 1]; 1.0 for identical images.
    """
    _check_pair(gt, out)
    if min(gt.shape[:2]) < SSIM_MIN_SIDE:
        raise ValueError(f"SSIM needs images of at least {SSIM_MIN_SIDE}x{SSIM_MIN_SIDE} pixels, "
                         f"got {gt.shape[:2]}")
    if mask is not None:
        _check_mask(mask, gt.shape)
        rows, cols = ssim_crop(mask)
        gt, out = gt[rows, cols], out[rows, cols]
    return float(structural_similarity(gt, out, channel_axis=-1, data_range=DATA_RANGE,
                                       gaussian_weights=True, sigma=SSIM_SIGMA,
                                       use_sample_covariance=False))


def ce_l1_l2(gt: np.ndarray, out: np.ndarray, mask: np.ndarray | torch.Tensor) -> tuple[float, float]:
    """Context-Encoder-style mean L1 % and mean L2 % over the hole on a [0, 1] scale.

    **Unverified convention** (docs/method.md §8.2): how Pathak et al. computed their Table 1 is not
    certain. Use this for the labelled extra columns only, never as the canonical metric.

    Parameters
    ----------
    gt, out : numpy.ndarray
        ``uint8 (H, W, 3)`` ground truth and composited output.
    mask : numpy.ndarray or torch.Tensor
        ``(H, W)``, values 0/1, 1 = hole, not empty.

    Returns
    -------
    (float, float)
        ``100 * mean|a - b|`` and ``100 * mean (a - b)**2`` with ``a = gt / 255``, ``b = out / 255``,
        the means over hole pixels and all 3 channels.
    """
    _check_pair(gt, out)
    hole = _check_mask(mask, gt.shape)
    diff = (gt.astype(np.float64) - out.astype(np.float64))[hole] / DATA_RANGE
    return 100.0 * float(np.mean(np.abs(diff))), 100.0 * float(np.mean(diff**2))


def image_metrics(gt: np.ndarray, out: np.ndarray, mask: np.ndarray | torch.Tensor) -> dict[str, float]:
    """All canonical metrics of one image, plus the CE-style extras.

    Parameters
    ----------
    gt, out : numpy.ndarray
        ``uint8 (H, W, 3)`` ground truth and composited output.
    mask : numpy.ndarray or torch.Tensor
        ``(H, W)``, values 0/1, 1 = hole, not empty.

    Returns
    -------
    dict
        Keys ``METRIC_COLUMNS``: ``psnr``, ``ssim`` (whole image), ``psnr_hole``, ``ssim_hole``,
        ``l1_hole_pct``, ``l2_hole_pct``.
    """
    l1, l2 = ce_l1_l2(gt, out, mask)
    return {"psnr": psnr(gt, out), "ssim": ssim(gt, out),
            "psnr_hole": psnr(gt, out, mask), "ssim_hole": ssim(gt, out, mask),
            "l1_hole_pct": l1, "l2_hole_pct": l2}


def batch_metrics(gt_batch: torch.Tensor | np.ndarray, out_batch: torch.Tensor | np.ndarray,
                  masks: torch.Tensor | np.ndarray) -> pd.DataFrame:
    """:func:`image_metrics` for each image of a batch.

    Parameters
    ----------
    gt_batch, out_batch : torch.Tensor or numpy.ndarray
        Ground truth and composited outputs. Either float tensors ``(B, 3, H, W)`` in [-1, 1] or
        uint8 arrays ``(B, H, W, 3)``; both go through :func:`to_uint8`.
    masks : torch.Tensor or numpy.ndarray
        ``(B, 1, H, W)`` or ``(B, H, W)``, values 0/1, 1 = hole.

    Returns
    -------
    pandas.DataFrame
        One row per image (index 0..B-1), columns ``METRIC_COLUMNS``.
    """
    gt, out = to_uint8(gt_batch), to_uint8(out_batch)
    if gt.ndim != 4 or gt.shape != out.shape:
        raise ValueError(f"expected two batches of the same shape, got {gt.shape} and {out.shape}")
    masks = masks.detach().cpu().numpy() if isinstance(masks, torch.Tensor) else np.asarray(masks)
    if masks.ndim == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.shape != gt.shape[:3]:
        raise ValueError(f"masks must have shape (B, 1, H, W) or (B, H, W) = {gt.shape[:3]}, got "
                         f"{masks.shape}")
    return pd.DataFrame([image_metrics(g, o, m) for g, o, m in zip(gt, out, masks)],
                        columns=list(METRIC_COLUMNS))
