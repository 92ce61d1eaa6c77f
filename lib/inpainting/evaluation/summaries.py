"""How one per-image column of a comparison is summarised over test images and training seeds:
the PSNR of the mean MSE for PSNR columns, the mean otherwise; its interval; the paired
difference of two methods; each seed's summary. One definition for the tables, the findings
(:mod:`inpainting.evaluation.comparison`) and the claims ledger (:mod:`inpainting.evaluation.claims`)."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from . import stats
from .metrics import PSNR_COLUMNS

SEMANTIC_PREFIX = "semantic_"   # a semantic score's column in the comparison tables


def summary_function(value: str) -> Callable[[np.ndarray], float]:
    """How a column is summarised over images: the PSNR of the mean MSE for PSNR columns
    (:data:`inpainting.evaluation.metrics.PSNR_COLUMNS`), the mean otherwise."""
    if value.removeprefix(SEMANTIC_PREFIX) in PSNR_COLUMNS:
        return stats.psnr_of_mean_mse
    return lambda values: float(np.nanmean(values)) if np.isfinite(values).any() else math.nan


def summary_interval(value: str, values, resamples: int, confidence: float) -> stats.Interval:
    """The summary of column ``value`` over images with its interval (:func:`summary_function`)."""
    if value.removeprefix(SEMANTIC_PREFIX) in PSNR_COLUMNS:
        return stats.psnr_summary(values, resamples, confidence)
    return stats.mean_interval(values, resamples, confidence)


def paired_differences(common: pd.DataFrame, value: str) -> Callable:
    """``difference(a, b, resamples, level)``: the paired interval of ``a - b`` of column ``value`` on
    the images of ``common`` (image x method, no NaN); PSNR as the PSNR of the mean MSE."""
    difference = stats.paired_psnr_difference if value.removeprefix(SEMANTIC_PREFIX) in PSNR_COLUMNS \
        else stats.paired_difference
    return lambda a, b, r, lvl: difference(common[a].to_numpy(), common[b].to_numpy(), r, lvl)


def seed_summaries(per_seed: pd.DataFrame | None, value: str, samples=None,
                   summarise: Callable | None = None) -> dict[str, np.ndarray]:
    """Method -> the summary of ``value`` over test images (``samples`` when given) for each of
    its training seeds (:func:`summary_function`)."""
    if per_seed is None or value not in per_seed or "seed_index" not in per_seed:
        return {}
    if samples is not None:
        per_seed = per_seed[per_seed["sample"].isin(samples)]
    summarise = summarise or summary_function(value)
    means = per_seed.groupby(["method", "seed_index"], sort=False)[value].agg(
        lambda v: summarise(v.to_numpy(dtype=float)))
    return {m: means.loc[m].to_numpy(dtype=float) for m in means.index.get_level_values(0).unique()}
