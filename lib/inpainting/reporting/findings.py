"""The findings of a :class:`~inpainting.evaluation.comparison.Comparison` in words: which
method is above or below which, on hole PSNR, hole SSIM, KID and the primary semantic score,
claiming only what the kit's test (:func:`inpainting.evaluation.decisions.seed_image_test`) supports.

Per (metric, mask kind) block: on the images every method of the block has (how many is said),
methods are ranked by their summary on those images; every method is compared with a reference
(the full model, else the first method given), plus the best with the runner-up. Multiplicity:
Bonferroni within the block. With fewer than ``decisions.MIN_SEEDS`` seeds of a trained method a
line says "too few seeds to compare", and below ``decisions.MIN_IMAGES`` paired images "too few
images" (calibration: ``tests/test_stats_calibration.py``).
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd

from ..evaluation import decisions, stats
from ..evaluation import records as R
from ..evaluation.comparison import (GREY_FILL, Comparison, hit_column, lower_is_better, paired_values,
                                     primary_score)
from ..evaluation.metrics import PSNR_COLUMNS
from ..evaluation.realism import KID_COLUMN
from ..evaluation.summaries import summary_function

FINDINGS_METRICS = {"psnr_hole": ("hole PSNR", "dB", 2), "ssim_hole": ("hole SSIM", "", 3)}
KID_FINDINGS = ("KID x 1000", "", 2)   # label, unit, decimals of the KID findings blocks


def reference_method(c: Comparison, reference: str | None = None) -> str:
    """The method the findings compare every other one with: ``reference`` when given, else
    the first method whose name contains "(full)", else the first method given to
    :func:`compare` (never the grey fill, unless it is the only one)."""
    names = [m for m in c.methods if m != GREY_FILL] or list(c.methods)
    if reference is not None:
        if reference not in c.methods:
            raise ValueError(f"reference {reference!r} is not a method of this comparison; "
                             f"methods: {', '.join(c.methods)}")
        return reference
    return next((m for m in names if "(full)" in m), names[0])


def findings_text(c: Comparison, reference: str | None = None) -> str:
    """Statements about hole PSNR, hole SSIM, KID and the primary semantic score that the paired
    bootstrap supports: "A above B by x [lo, hi]" or "not distinguishable at n = N" (KID:
    "A below B" = A's completions closer to the real images).

    Per (metric, mask kind): every method is compared with the reference
    (:func:`reference_method`), and the best by mean with the runner-up when neither is the reference.
    Multiplicity: Bonferroni within each block of ``m`` comparisons (each interval at level
    ``1 - (1 - confidence) / m``, with ``m`` times the profile's resamples so each tail keeps as
    many resamples as one ordinary interval)."""
    ref = reference_method(c, reference)
    level = f"{c.confidence:.0%}"
    lines = [f"Paired comparisons of methods seed by seed on the same test images: the "
             f"per-seed paired differences with their seed and image variance together (t "
             f"with Satterthwaite's df from {decisions.SATTERTHWAITE_FROM} seeds, the seeds' own "
             f"below; PSNR as 10 log10 of the ratio of mean MSEs). Reference: {ref!r}. "
             f"Bonferroni within each block: any unsupported 'above/below' in a block has "
             f"probability <= {1 - c.confidence:.0%} (family level {level}). A trained "
             f"method needs at least {decisions.MIN_SEEDS} seeds for a claim; no block claims "
             f"anything below {decisions.MIN_IMAGES} paired images."]
    per_image = c.per_image
    sizes = per_image.loc[per_image["method"] == GREY_FILL].groupby("kind").size().tolist()
    if c.semantic_per_image is not None and len(c.semantic_per_image):
        sizes.append(int((c.semantic_per_image["method"] == GREY_FILL).sum()))
    warning = stats.small_n_warning(min(sizes)) if sizes else None
    if warning:
        lines.append(f"Note: {warning}.")
    single = [m for m in c.runs if c.n_seeds.get(m, 1) == 1]
    if single:
        lines.append(
            f"Note: {len(single)} trained method(s) have one training seed here, so their "
            "intervals cover the choice of test images, not training randomness: retraining "
            "the same model with another seed moves its scores too (README, 'Trust'). Their "
            "lines say 'too few seeds' instead of a claim and give the difference on these "
            f"test images (experiments.seeds >= {decisions.MIN_SEEDS} measures it).")
    for kind in dict.fromkeys(c.test_set.kinds):
        rows = per_image[per_image["kind"] == kind]
        for metric, (label, unit, decimals) in FINDINGS_METRICS.items():
            wide, seeded = c.image_table(metric, kind)
            lines += _block(c, f"[{kind}] {label}", wide, ref, unit, decimals,
                            lower_is_better(metric), seeded, metric)
        if c.realism is not None and c.realism.estimates(kind):
            label, unit, decimals = KID_FINDINGS
            n = int((rows["method"] == GREY_FILL).sum()) or rows["sample"].nunique()
            lines += _verdicts(c, f"[{kind}] {label}", c.realism.estimates(kind), ref, unit,
                               decimals, True, c.kid_values(kind), KID_COLUMN, f"{n} images",
                               "KID x 1000 of each method", n_images=n)
    if c.semantic_per_image is not None and len(c.semantic_per_image):
        columns = [col for col in c.semantic_per_image.columns if col not in ("method", "sample", "n_seeds")]
        key = primary_score(c.dataset_name, columns)
        if key:
            wide, seeded = c.image_table(key)
            kind = c.semantic_set.kinds[0] if c.semantic_set is not None else "semantic"
            lines += _block(c, f"[{kind}] semantic {key}", wide, ref, "", 3,
                            lower_is_better(key), seeded, key)
        hits = hit_column(c.dataset_name, columns)
        if hits:
            rate = c.semantic_per_image.groupby("method", sort=False)[hits]
            rates = [f"{m} {stats.hit_rate_interval(rate.get_group(m), c.confidence).format(3)}"
                     for m in c.methods if m in rate.groups]
            lines.append(f"  {hits} (rate, {level} exact Clopper-Pearson intervals): "
                         + "; ".join(rates))
    return "\n".join(lines)


def _block(c: Comparison, title: str, wide: pd.DataFrame, ref: str, unit: str, decimals: int,
           lower_better: bool, per_seed: pd.DataFrame | None, value: str) -> list[str]:
    """One findings block of a per-image column ``value`` (``wide``: image x method), on the
    images every method of the block has."""
    available = [m for m in wide.columns if wide[m].notna().any()]
    common = wide[available].dropna()   # the images every method of the block has
    n, left_out = len(common), len(wide) - len(common)
    paired = f"{n} paired images" + (f", {left_out} left out where a method has no value"
                                     if left_out else "")
    if len(available) >= 2 and n < decisions.MIN_IMAGES:
        return [f"{title}: too few images to compare ({paired}; the kit compares from "
                f"{decisions.MIN_IMAGES})"]
    summarise = summary_function(value)
    scores = {m: summarise(common[m].to_numpy(dtype=float)) for m in available}
    return _verdicts(c, title, scores, ref, unit, decimals, lower_better,
                     paired_values(common, per_seed, value), value, paired,
                     "PSNR of the mean MSE" if value in PSNR_COLUMNS else "means")


def _verdicts(c: Comparison, title: str, scores: Mapping[str, float], ref: str, unit: str,
              decimals: int, lower_better: bool, vals: Mapping[str, R.Values], metric: str,
              paired: str, summary: str, n_images: int | None = None) -> list[str]:
    """Rank ``scores`` (method -> its summary on the block's images), compare every method with
    ``ref`` and the best with the runner-up, each by the kit's one rule over training seeds and
    test images together (:func:`inpainting.evaluation.decisions.seed_image_test` on the
    seed-by-seed paired differences of ``vals``: method -> its values of ``metric``);
    Bonferroni over the block."""
    available = list(scores)
    if len(available) < 2:
        return [f"{title}: fewer than two methods, no comparison"]
    if ref not in available:
        ref = next((m for m in available if m != GREY_FILL), available[0])
    ranked = sorted(available, key=lambda m: scores[m], reverse=not lower_better)
    pairs = [(m, ref) for m in available if m != ref]
    best, runner_up = ranked[0], ranked[1]
    if ref not in (best, runner_up):
        pairs.append((best, runner_up))
    level = decisions.bonferroni(c.confidence, len(pairs))
    direction = "lower is better" if lower_better else "higher is better"
    unit_text = f" {unit}" if unit else ""
    head = (f"{title} ({direction}; on {paired}; {len(pairs)} "
            f"comparison{'s' if len(pairs) > 1 else ''}, each at {level:.2%}); "
            f"{summary} on them, best first: "
            + ", ".join(f"{m} {scores[m]:.{decimals}f}{unit_text}" for m in ranked))
    lines = [head]
    for a, b in pairs:
        fixed = tuple(m for m in (a, b) if not c.trained(m))
        p = R.pair_values(metric, vals[a], vals[b], a in fixed, b in fixed, n_images)
        o = decisions.seed_image_test(p.d, p.v_image, p.n_images, confidence=level,
                                      seeds_vary=len(fixed) < 2, image_df=p.image_df)
        sign = -1.0 if lower_better else 1.0
        lo, hi = sorted((sign * o.lo, sign * o.hi))
        diff = stats.Interval(sign * o.estimate, lo, hi, o.n_images, 0, level, 0, stats.T_METHOD,
                              o.problem)
        f = f".{decimals}f"
        if not o.tested and o.n_seeds < decisions.MIN_SEEDS and len(fixed) < 2:
            image_only = decisions.seed_image_test(p.d[:1], p.v_image, p.n_images,
                                                   confidence=level, seeds_vary=False,
                                                   image_df=p.image_df)
            lo, hi = sorted((sign * image_only.lo, sign * image_only.hi))
            line = (f"{a} and {b}: too few seeds to compare ({o.n_seeds} of a trained method; a "
                    f"test needs {decisions.MIN_SEEDS}); on these test images with seed "
                    f"{p.seeds[0]} {a} - {b} = {sign * image_only.estimate:{f}} [{lo:{f}}, "
                    f"{hi:{f}}]{unit_text}")
        elif not o.tested:
            line = f"{a} and {b}: no comparison ({o.problem})"
        else:
            line = decisions.difference_statement(a, b, diff, unit, decimals)
            if len(fixed) < 2:
                line += f" (over {o.n_seeds} training seeds and {o.n_images} images)"
        lines.append("  - " + line)
    return lines
