"""Decisions: whether a difference between two methods is claimed, and in which words.

The kit's one test of a paired difference over training seeds and test images together
(:func:`seed_image_test`), multiplicity (:func:`bonferroni`, :func:`holm`,
:func:`intersection_union`), power (:func:`seeds_needed`) and the sentence a paired interval
supports (:func:`difference_statement`). The intervals themselves: :mod:`inpainting.evaluation.stats`.

* **Training seeds and images together** (:func:`seed_image_test`). A claim about the
  *methods* (another training run would agree) rests on the seed-by-seed paired differences on
  the same test images: their spread across seeds and the image-level variance of their mean are
  added (Satterthwaite degrees of freedom), one test with both sources of variance. With fewer
  than ``MIN_SEEDS`` seeds of a trained method no such test exists, and the kit says "too few
  seeds" instead of a claim.
* **Too few images.** Below ``MIN_IMAGES`` paired images a block of findings makes no claim and says
  "too few images to compare" (the threshold comes from the simulation in
  ``tests/test_stats_calibration.py``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.stats import t as student_t

from .stats import DEFAULT_CONFIDENCE, Interval

MIN_IMAGES = 4       # findings claim nothing below this many paired images (simulation: see docs)
MIN_SEEDS = 2        # ... nor about a trained method with fewer training seeds
# Below this many seeds a seed variance can be near 0 by chance (1-6 df) and Satterthwaite's df
# then jumps to the image part's: 26 % false claims at 2 seeds (tests/test_stats_calibration.py).
# There the df are the seeds' (conservative); from it on, Satterthwaite's (calibrated at 8 and 12
# seeds, tests/test_decision_calibration.py).
SATTERTHWAITE_FROM = 8


def difference_statement(name_a: str, name_b: str, difference: Interval, unit: str = "",
                         decimals: int = 2) -> str:
    """The verdict on a paired difference ``a - b``, claiming only what the interval supports.

    * interval above 0: ``"A above B by x [lo, hi] unit"``;
    * interval below 0: ``"A below B by x [lo, hi] unit"`` (x, lo, hi as positive amounts);
    * interval containing 0: ``"A and B not distinguishable at n = N (A - B = x [lo, hi] unit)"``;
    * no interval (n < 2): ``"A and B: no comparison at n = N (...)"``;
    * fewer than ``MIN_IMAGES`` pairs: ``"A and B: too few images to compare (n = N, ...)"``.
    """
    unit = f" {unit}" if unit else ""
    d, lo, hi, n = difference.estimate, difference.lo, difference.hi, difference.n
    if difference.excludes_zero:  # a supported difference never prints a bound as 0.00
        while decimals < 6 and min(abs(lo), abs(hi)) < 0.5 * 10.0 ** -decimals:
            decimals += 1
    f = f".{decimals}f"
    if difference.excludes_zero and min(abs(lo), abs(hi)) < 0.5 * 10.0 ** -decimals:
        f = ".1e"   # below 6 decimals: significant digits (1e-9 dB is 1.0e-09, never 0.000000)
    if not difference.has_interval:
        return f"{name_a} and {name_b}: no comparison at n = {n} ({difference.note})"
    if n < MIN_IMAGES:
        return (f"{name_a} and {name_b}: too few images to compare (n = {n}; the kit compares "
                f"from {MIN_IMAGES} paired images; {name_a} - {name_b} = {d:{f}}{unit})")
    if lo > 0:
        return f"{name_a} above {name_b} by {d:{f}} [{lo:{f}}, {hi:{f}}]{unit}"
    if hi < 0:
        return f"{name_a} below {name_b} by {-d:{f}} [{-hi:{f}}, {-lo:{f}}]{unit}"
    return (f"{name_a} and {name_b} not distinguishable at n = {n} "
            f"({name_a} - {name_b} = {d:{f}} [{lo:{f}}, {hi:{f}}]{unit})")


def bonferroni(confidence: float, comparisons: int) -> float:
    """Per-comparison level that keeps the family-wise level ``confidence`` over ``comparisons``."""
    if comparisons < 1:
        raise ValueError(f"comparisons must be >= 1, got {comparisons}")
    return 1 - (1 - confidence) / comparisons


@dataclass(frozen=True)
class Outcome:
    """A paired difference tested over training seeds and test images together
    (:func:`seed_image_test`): ``estimate`` (A better is positive, margin shift included), its
    standard error and Satterthwaite ``df``, the one-sided p-values of "A better" and "A worse",
    the two-sided interval at ``confidence``, the variance parts (``seed_var``: the variance of
    the per-seed differences; ``image_var``: the variance of their mean from the draw of test
    images), the counts, and ``problem``: why no test exists (then the p-values are NaN)."""

    estimate: float
    se: float
    df: float
    p_better: float
    p_worse: float
    lo: float
    hi: float
    confidence: float
    n_seeds: int
    n_images: int
    seed_var: float
    image_var: float
    problem: str = ""

    @property
    def tested(self) -> bool:
        return not self.problem


def seed_image_test(d, image_var: float, n_images: int, shift: float = 0.0,
                    confidence: float = DEFAULT_CONFIDENCE, resolution: float = 0.0,
                    seeds_vary: bool = True, image_df: float | None = None) -> Outcome:
    """Test the mean of per-seed paired differences ``d`` (A better positive; seed s of A and B
    trained alike, evaluated on the same test images) plus ``shift`` (a non-inferiority margin).

    Its variance has two parts: across seeds, ``var(d) / S``, and from which test images were
    drawn, ``image_var`` (the images are shared by every seed, so this part does not shrink with
    more seeds and is not in ``var(d)``). ``t = mean / sqrt(sum)`` with Satterthwaite's degrees of
    freedom (``S - 1`` and ``n_images - 1`` for the two parts). No test (``problem`` says why)
    with fewer than 2 seeds or 2 images, with no variance at all, or when ``|mean|`` is below
    ``resolution`` (a difference no larger than the values' rounding). ``seeds_vary`` False:
    neither method is trained (no seed part; one "seed" is enough). ``image_df``: the image
    part's degrees of freedom when not ``n_images - 1`` (an MSE-weighted summary's effective
    number of images)."""
    d = np.asarray(d, dtype=float)
    if not np.isfinite(d).all() or not math.isfinite(image_var):
        raise ValueError("per-seed differences and the image variance must be finite")
    S, estimate = len(d), float(d.mean()) + shift if len(d) else math.nan
    seed_var = float(d.var(ddof=1)) if S > 1 else math.nan
    nan = dict(se=math.nan, df=math.nan, p_better=math.nan, p_worse=math.nan, lo=math.nan,
               hi=math.nan, confidence=confidence, n_seeds=S, n_images=n_images,
               seed_var=seed_var, image_var=image_var)
    if (S < 2 and seeds_vary) or S < 1 or n_images < 2:
        return Outcome(estimate, problem=f"{S} seed(s) and {n_images} image(s): a test needs at "
                       "least 2 of each", **nan)
    parts = (seed_var / S if seeds_vary else 0.0, max(image_var, 0.0))
    var = sum(parts)
    if var <= 0.0:
        return Outcome(estimate, problem="no variance across seeds or images (identical values): "
                       "nothing to test", **nan)
    if abs(float(d.mean())) <= resolution and shift == 0.0:
        return Outcome(estimate, problem=f"the difference ({float(d.mean()):.2g}) is below the "
                       "values' resolution", **nan)
    df = _df(parts, S, n_images - 1 if image_df is None else image_df)
    se = math.sqrt(var)
    t = estimate / se
    half = float(student_t.ppf(0.5 + confidence / 2, df)) * se
    return Outcome(estimate, se, df, float(student_t.sf(t, df)), float(student_t.cdf(t, df)),
                   estimate - half, estimate + half, confidence, S, n_images, seed_var,
                   max(image_var, 0.0))


def _df(parts: tuple[float, float], seeds: int, image_df: float) -> float:
    """Satterthwaite's degrees of freedom of ``seed part + image part``; the seeds' own ``S - 1``
    below :data:`SATTERTHWAITE_FROM` seeds when the seed part is estimated."""
    if parts[0] > 0 and seeds < SATTERTHWAITE_FROM:
        return float(seeds - 1)
    return sum(parts)**2 / sum(p**2 / k for p, k in zip(parts, (seeds - 1, image_df)) if p > 0)


def seeds_needed(outcome: Outcome, alpha: float, power: float = 0.8, effect: float | None = None,
                 n_images: int | None = None, most: int = 10_000) -> int | None:
    """The fewest seeds at which a one-sided test at ``alpha`` has ``power`` to find ``effect``
    (default: the estimate), from the measured variance parts, with ``n_images`` test images
    (default: as measured; the image part scales as 1 / n). None when no number of seeds
    reaches it (the image part alone is too large: more test images are needed) or no test."""
    effect = abs(outcome.estimate if effect is None else effect)
    if not outcome.tested or effect == 0 or not math.isfinite(effect):
        return None
    n = n_images or outcome.n_images
    image_part = outcome.image_var * outcome.n_images / n

    def power_at(s: int) -> float:
        parts = (outcome.seed_var / s, image_part)
        var = sum(parts)
        df = _df(parts, s, n - 1)
        return float(student_t.sf(student_t.ppf(1 - alpha, df) - effect / math.sqrt(var), df))
    if power_at(most) < power:
        return None
    lo, hi = 2, most
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if power_at(mid) >= power else (mid + 1, hi)
    return lo


def intersection_union(p_better: Sequence[float], p_worse: Sequence[float]) -> tuple[float, float]:
    """A conjunctive claim (every test must hold): its p-value for "supported" is the largest of
    its tests' (an intersection-union test needs no split of alpha); for "contradicted" (some
    test goes the other way) the smallest times the number of tests (Bonferroni over a union)."""
    return float(max(p_better)), float(min(1.0, len(p_worse) * min(p_worse)))


def holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Holm's step-down procedure: which hypotheses are rejected at family-wise level ``alpha``."""
    order = np.argsort(np.asarray(p_values, dtype=float), kind="stable")
    rejected = [False] * len(order)
    for rank, i in enumerate(order):
        if not p_values[i] <= alpha / (len(order) - rank):
            break
        rejected[i] = True
    return rejected
