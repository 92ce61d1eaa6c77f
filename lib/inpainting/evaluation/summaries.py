"""How one per-image column of a comparison is summarised over test images and training seeds:
the PSNR of the mean MSE for PSNR columns, the mean otherwise; its interval; the paired
One definition for the tables and the findings (:mod:`inpainting.evaluation.comparison`); paired
differences over seeds and images are :func:`inpainting.evaluation.records.seed_pairs`."""
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
