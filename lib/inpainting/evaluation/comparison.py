"""Side-by-side comparison of completion methods on one dataset role, for notebooks 04-06.

:func:`compare` evaluates methods on the profile's fixed test set with the canonical metrics
(:mod:`inpainting.evaluation.runner`) and, on the procedural datasets, on the semantic test set
(:mod:`inpainting.evaluation.semantic`: one eye hidden on faces, a block of windows hidden on facades). A
method is a trained run (``TrainResult``), a list of trained runs (one per training seed, as
``experiments.Plan.train`` returns them), an ``Inpainter`` or a plain callable. Every
comparison also holds the reference row ``masked input (grey hole)``: the input itself, hole left
at mid-grey, the floor any method must beat.

Statistics (:mod:`inpainting.evaluation.stats`) [this kit's choices]
----------------------------------------------------------
* **Seeds.** Every seed's model is evaluated on the same test images. The per-image value of a
  method pools its seeds as the metric summarises (PSNR: the PSNR of the mean MSE over seeds; the
  mean otherwise); the spread of the per-seed summaries (sd, min, max) is reported beside the
  image-level interval of the tables.
* **Intervals.** Every metric of every row carries an interval over test images
  (:func:`inpainting.evaluation.stats.mean_interval`: Student t below ``stats.T_BELOW_N`` images,
  BCa bootstrap with ``profile.experiments.bootstrap`` resamples from there on; level
  ``profile.experiments.confidence``): columns ``<metric>``, ``<metric>_lo``, ``<metric>_hi``.
  PSNR columns are the PSNR of the mean MSE (:func:`inpainting.evaluation.stats.psnr_summary`).
  Semantic hit rates (``semantic_eye_hit``, ``semantic_grid_hit``) carry the exact Clopper-Pearson
  interval instead (:func:`inpainting.evaluation.stats.hit_rate_interval`): 0 hits of 48 is
  [0, 0.074], not [0, 0].
* **Findings.** Within each (metric, mask kind) block, on the images every method of the block
  has a value (how many is said), methods are ranked by their summary on those images, which is
  the order of their paired differences; every method is compared with a reference (the full
  model, else the first method given), plus the best with the runner-up. Multiplicity:
  Bonferroni within the block. Each comparison is the kit's one rule
  (:func:`inpainting.evaluation.stats.seed_image_test`): the seed-by-seed paired differences with
  their seed and image variance together; with fewer than ``stats.MIN_SEEDS`` seeds of a trained
  method the line says "too few seeds to compare", and below ``stats.MIN_IMAGES`` paired images
  "too few images" (calibration: ``tests/test_stats_calibration.py``).
* **Realism** (:mod:`inpainting.evaluation.realism`): KID x 1000 (with its bootstrap interval, the
  completions and the real images resampled together) and FID per (method, mask kind), from the
  Inception features of each seed's composited outputs, computed once (cached by content); KID's
  findings compare methods on the same resamples of the test images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..data.masks import FixedTestSet
from ..profiles import Profile
from ..disk import results_dir
from ..reporting import viz
from . import realism as realism_metrics
from . import records as R
from . import stats
from .metrics import LOWER_IS_BETTER, METRIC_COLUMNS, PSNR_COLUMNS, to_uint8
from .runner import completions, evaluate_with_composites, supported_kinds
from .summaries import SEMANTIC_PREFIX, summary_function, summary_interval
from .semantic.scores import ERROR_COLUMNS, HIT_COLUMN, PRIMARY_SCORE, semantic_scores

GREY_FILL = "masked input (grey hole)"
SPREAD_STATS = ("sd", "min", "max")
FINDINGS_METRICS = {"psnr_hole": ("hole PSNR", "dB", 2), "ssim_hole": ("hole SSIM", "", 3)}


def interval_columns(metric: str) -> list[str]:
    """``[metric, metric_lo, metric_hi]``: the mean and its bootstrap interval."""
    return [metric, f"{metric}_lo", f"{metric}_hi"]


def spread_columns(metric: str) -> list[str]:
    """``[metric_seed_sd, metric_seed_min, metric_seed_max]``: the spread of per-seed means."""
    return [f"{metric}_seed_{s}" for s in SPREAD_STATS]


TABLE_COLUMNS = ["method", "kind", *[c for m in METRIC_COLUMNS for c in interval_columns(m)],
                 *realism_metrics.TABLE_COLUMNS,
                 "n_images", "n_identical", "n_seeds", "ms_per_image", "params",
                 *[c for m in METRIC_COLUMNS for c in spread_columns(m)],
                 *realism_metrics.SPREAD_COLUMNS]
KID_FINDINGS = ("KID x 1000", "", 2)   # label, unit, decimals of the KID findings blocks


def grey_fill(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The generator's input as a 'completion': known pixels, hole at 0 (mid-grey)."""
    return images * (1 - masks)


def as_method(candidate, device=None):
    """A ``TrainResult`` (anything with ``generator_path``) becomes its loaded ``Inpainter``;
    ``Inpainter`` objects and callables are returned unchanged."""
    if hasattr(candidate, "generator_path"):
        from ..models import load_inpainter
        return load_inpainter(candidate.generator_path, device or "auto")
    return candidate


def _members(name: str, value) -> list:
    """The models behind one method: a list (one per seed) or a single value."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"method {name!r} is an empty list of runs")
        return list(value)
    return [value]


def lower_is_better(column: str) -> bool:
    """Direction of a metric or semantic score: error-like columns are better when lower
    (:data:`inpainting.evaluation.metrics.LOWER_IS_BETTER` for the metrics,
    :data:`inpainting.evaluation.semantic.scores.ERROR_COLUMNS` for the semantic scores)."""
    if column in realism_metrics.REALISM_COLUMNS:
        return True
    column = column.removeprefix(SEMANTIC_PREFIX)
    if column in METRIC_COLUMNS:
        return column in LOWER_IS_BETTER
    return column in ERROR_COLUMNS


def primary_score(dataset_name: str, columns: Sequence[str]) -> str | None:
    """The semantic score the findings compare (:data:`inpainting.evaluation.semantic.scores.PRIMARY_SCORE`), when
    it is among ``columns``."""
    declared = PRIMARY_SCORE.get(dataset_name)
    return declared if declared in columns else None


def hit_column(dataset_name: str, columns: Sequence[str]) -> str | None:
    """The semantic hit column (:data:`inpainting.evaluation.semantic.scores.HIT_COLUMN`), when among ``columns``."""
    declared = HIT_COLUMN.get(dataset_name)
    return declared if declared in columns else None


@dataclass(frozen=True)
class Comparison:
    """Metrics, semantic scores, intervals and image grids of several methods on one role.

    ``methods``: name -> the model shown in grids (the first seed's, for multi-seed rows);
    ``per_seed``: one row per (method, seed, test image) (``evaluation.PER_IMAGE_COLUMNS`` +
    ``seed_index``); ``per_image``: the same averaged over seeds (+ ``n_seeds``); ``summary``: the
    full numeric table (see :meth:`table`); ``semantic_per_image``: per-image semantic scores averaged
    over seeds (0/1 hits become rates), ``semantic_per_seed`` before averaging (both ``None``
    without a semantic test set or a method that completes it); ``runs``: name -> the provenance
    dicts of the row's training runs (rows that are not training runs are absent);
    ``bootstrap`` / ``confidence``: the intervals' settings; ``realism``: the Inception features
    behind the FID/KID columns (:class:`inpainting.evaluation.realism.RealismScores`). Built once,
    by keyword, by :func:`compare`."""

    role: str
    dataset_name: str
    test_set: FixedTestSet | None
    methods: dict[str, Callable]
    per_image: pd.DataFrame
    summary: pd.DataFrame
    per_seed: pd.DataFrame | None = None
    semantic_set: FixedTestSet | None = None
    semantic_per_image: pd.DataFrame | None = None
    semantic_per_seed: pd.DataFrame | None = None
    runs: dict[str, list[dict]] = field(default_factory=dict)
    n_seeds: dict[str, int] = field(default_factory=dict)
    bootstrap: int = stats.DEFAULT_RESAMPLES
    confidence: float = stats.DEFAULT_CONFIDENCE
    realism: realism_metrics.RealismScores | None = None

    @property
    def realism_attrs(self) -> dict:
        """``realism_columns``, ``realism_note`` and ``realism_caption`` (the short form for plot
        titles): what :class:`inpainting.reporting.report.Report` and
        :func:`inpainting.reporting.viz.bar_plot` attach to the FID/KID columns."""
        if self.realism is None:
            return {}
        n = self.summary.loc[self.summary["n_images"] > 0, "n_images"].tolist()
        return {"realism_columns": realism_metrics.REALISM_COLUMNS,
                "realism_note": self.realism.note(n), "realism_caption": self.realism.caption(n)}

    @property
    def provenance(self) -> list[dict]:
        """The provenance of every training run behind this comparison (every seed of every row);
        :class:`inpainting.reporting.report.Report` derives the caveats of an output from it."""
        return [p for provs in self.runs.values() for p in provs]

    @property
    def semantic_columns(self) -> list[str]:
        """The semantic scores in the table (without the ``semantic_`` prefix): the primary score
        and the hit column of :mod:`inpainting.evaluation.semantic.scores`
        (``semantic_per_image`` holds every score per image)."""
        return _semantic_columns(self.semantic_per_image, self.dataset_name)

    def table(self) -> pd.DataFrame:
        """One row per (method, mask kind), all numeric (rounded to 4 decimals).

        Columns: ``method``, ``kind``; for each metric of ``metrics.METRIC_COLUMNS`` the mean over
        test images and its bootstrap interval (``<m>``, ``<m>_lo``, ``<m>_hi``); ``n_images``,
        ``n_identical`` (images completed exactly by every seed), ``n_seeds`` (models averaged),
        ``ms_per_image``, ``params``; the spread across seeds of the per-seed means
        (``<m>_seed_sd``, ``<m>_seed_min``, ``<m>_seed_max``; NaN with one seed). The realism
        columns (:mod:`inpainting.evaluation.realism`) follow the metrics: ``kid_x1000`` with its
        interval and ``fid``, per mask kind, and their seed spreads; ``attrs["realism_note"]``
        says what they are (:attr:`realism_note`). Then the same
        for every semantic score (``semantic_<score>``, ...), computed on the semantic test set and
        therefore the same on every row of a method. A method that cannot run on a kind has NaN
        metrics and ``n_images`` 0."""
        table = self.summary.round(4)
        table.attrs.update(self.summary.attrs, **self.realism_attrs)
        return table

    def _columns(self, test_set, methods: Sequence[str] | None, n: int) -> dict:
        names = list(methods or self.methods)
        unknown = [m for m in names if m not in self.methods]
        if unknown:
            raise ValueError(f"no method named {unknown} in this comparison; its methods: "
                             f"{list(self.methods)}")
        images, masks = test_set.images[:n], test_set.masks[:n]
        columns = {"input": viz.masked_input(images, masks)}
        for name in names:
            allowed = supported_kinds(self.methods[name])
            if allowed is None or set(test_set.kinds[:n]) <= set(allowed):
                columns[name] = completions(self.methods[name], test_set.head(n))
        columns["ground truth"] = images
        return columns

    def grid(self, kind: str, methods: Sequence[str] | None = None, title: str = "", n: int = 5):
        """Image grid on the first ``n`` test images of mask ``kind``: input | methods | truth.
        Methods that cannot complete this kind (the Context Encoder off-centre) are left out; a
        multi-seed method shows its first seed's model."""
        return viz.image_grid(self._columns(self.test_set.subset(kind), methods, n), title=title,
                              max_rows=n)

    def semantic_grid(self, methods: Sequence[str] | None = None, title: str = "", n: int = 5):
        """The same grid on the semantic test set (one eye / a block of windows hidden)."""
        if self.semantic_set is None:
            raise ValueError(f"no semantic test set for dataset {self.dataset_name!r}")
        return viz.image_grid(self._columns(self.semantic_set, methods, n), title=title, max_rows=n)

    def size_table(self, kind: str) -> pd.DataFrame:
        """Parameters against hole PSNR/SSIM (with intervals) on mask ``kind`` for the methods
        that have a size."""
        rows = self.summary[(self.summary["kind"] == kind) & self.summary["params"].notna()]
        table = rows[["method", "params", *interval_columns("psnr_hole"),
                      *interval_columns("ssim_hole"), "ms_per_image"]].copy()
        table["params (M)"] = (table["params"].astype(float) / 1e6).round(3)
        return table.sort_values("params").reset_index(drop=True)

    # ------------------------------------------------------------------------------- findings
    def reference(self, reference: str | None = None) -> str:
        """The method the findings compare every other one with: ``reference`` when given, else
        the first method whose name contains "(full)", else the first method given to
        :func:`compare` (never the grey fill, unless it is the only one)."""
        names = [m for m in self.methods if m != GREY_FILL] or list(self.methods)
        if reference is not None:
            if reference not in self.methods:
                raise ValueError(f"reference {reference!r} is not a method of this comparison; "
                                 f"methods: {', '.join(self.methods)}")
            return reference
        return next((m for m in names if "(full)" in m), names[0])

    def findings(self, reference: str | None = None) -> str:
        """Statements about hole PSNR, hole SSIM, KID and the primary semantic score that the paired
        bootstrap supports: "A above B by x [lo, hi]" or "not distinguishable at n = N" (KID:
        "A below B" = A's completions closer to the real images).

        Per (metric, mask kind): every method is compared with the reference
        (:meth:`reference`), and the best by mean with the runner-up when neither is the reference.
        Multiplicity: Bonferroni within each block of ``m`` comparisons (each interval at level
        ``1 - (1 - confidence) / m``, with ``m`` times the profile's resamples so each tail keeps as
        many resamples as one ordinary interval)."""
        ref = self.reference(reference)
        level = f"{self.confidence:.0%}"
        lines = [f"Paired comparisons of methods seed by seed on the same test images: the "
                 f"per-seed paired differences with their seed and image variance together (t "
                 f"with Satterthwaite's df from {stats.SATTERTHWAITE_FROM} seeds, the seeds' own "
                 f"below; PSNR as 10 log10 of the ratio of mean MSEs). Reference: {ref!r}. "
                 f"Bonferroni within each block: any unsupported 'above/below' in a block has "
                 f"probability <= {1 - self.confidence:.0%} (family level {level}). A trained "
                 f"method needs at least {stats.MIN_SEEDS} seeds for a claim; no block claims "
                 f"anything below {stats.MIN_IMAGES} paired images."]
        per_image = self.per_image
        sizes = per_image.loc[per_image["method"] == GREY_FILL].groupby("kind").size().tolist()
        if self.semantic_per_image is not None and len(self.semantic_per_image):
            sizes.append(int((self.semantic_per_image["method"] == GREY_FILL).sum()))
        warning = stats.small_n_warning(min(sizes)) if sizes else None
        if warning:
            lines.append(f"Note: {warning}.")
        single = [m for m in self.runs if self.n_seeds.get(m, 1) == 1]
        if single:
            lines.append(
                f"Note: {len(single)} trained method(s) have one training seed here, so their "
                "intervals cover the choice of test images, not training randomness: retraining "
                "the same model with another seed moves its scores too (README, 'Trust'). Their "
                "lines say 'too few seeds' instead of a claim and give the difference on these "
                f"test images (experiments.seeds >= {stats.MIN_SEEDS} measures it).")
        for kind in dict.fromkeys(self.test_set.kinds):
            rows = per_image[per_image["kind"] == kind]
            for metric, (label, unit, decimals) in FINDINGS_METRICS.items():
                wide, seeded = self.image_table(metric, kind)
                lines += self._block(f"[{kind}] {label}", wide, ref, unit, decimals,
                                     lower_is_better(metric), seeded, metric)
            if self.realism is not None and self.realism.estimates(kind):
                label, unit, decimals = KID_FINDINGS
                n = int((rows["method"] == GREY_FILL).sum()) or rows["sample"].nunique()
                lines += self._verdicts(
                    f"[{kind}] {label}", self.realism.estimates(kind), ref, unit, decimals, True,
                    self.kid_values(kind), realism_metrics.KID_COLUMN, f"{n} images",
                    "KID x 1000 of each method", n_images=n)
        if self.semantic_per_image is not None and len(self.semantic_per_image):
            columns = [c for c in self.semantic_per_image.columns if c not in ("method", "sample", "n_seeds")]
            key = primary_score(self.dataset_name, columns)
            if key:
                wide, seeded = self.image_table(key)
                kind = self.semantic_set.kinds[0] if self.semantic_set is not None else "semantic"
                lines += self._block(f"[{kind}] semantic {key}", wide, ref, "", 3,
                                     lower_is_better(key), seeded, key)
            hits = hit_column(self.dataset_name, columns)
            if hits:
                rate = self.semantic_per_image.groupby("method", sort=False)[hits]
                rates = [f"{m} {stats.hit_rate_interval(rate.get_group(m), self.confidence).format(3)}"
                         for m in self.methods if m in rate.groups]
                lines.append(f"  {hits} (rate, {level} exact Clopper-Pearson intervals): "
                             + "; ".join(rates))
        return "\n".join(lines)

    def records(self, kid_resamples: int = 500) -> pd.DataFrame:
        """Every score of this comparison as records (:mod:`inpainting.evaluation.records`): each
        seed's per-image metrics and semantic scores, and KID x 1000 per seed on every mask kind
        (``kid_resamples`` shared resamples). Seeds are numbered by position (0, 1, ...)."""
        frames = []
        if self.per_seed is not None and len(self.per_seed):
            rows = self.per_seed.rename(columns={"seed_index": "seed"})
            frames.append(R.image_rows(rows, ("method", "seed")))
        if self.semantic_per_seed is not None and len(self.semantic_per_seed):
            kind = self.semantic_set.kinds[0] if self.semantic_set is not None else "semantic"
            rows = self.semantic_per_seed.rename(columns={"seed_index": "seed"}).assign(kind=kind)
            metrics = [c for c in rows.columns if c in R.METRICS]
            frames.append(R.image_rows(rows[["kind", "sample", "method", "seed", *metrics]],
                                       ("method", "seed")))
        if self.realism is not None:
            for kind in self.realism.real:
                for m in self.realism.fake:
                    if self.realism.has(m, kind):
                        frames += [R.kid_rows(f, self.realism.real[kind], kind, kid_resamples,
                                              stats.BOOTSTRAP_SEED).assign(method=m, seed=k)
                                   for k, f in enumerate(self.realism.fake[m][kind])]
        out = pd.concat(frames, ignore_index=True).assign(role=self.role)
        out["key"] = out["method"] + "#" + out["seed"].astype(str)
        return out[list(R.COLUMNS)]

    def kid_values(self, kind: str) -> dict[str, R.Values]:
        """Method -> KID x 1000 of each seed on ``kind``: the whole test set and the same
        ``bootstrap`` resamples of its images for every method (paired)."""
        out = {}
        for m in self.realism.fake:
            if self.realism.has(m, kind):
                frames = [R.kid_rows(f, self.realism.real[kind], kind, self.bootstrap,
                                     stats.BOOTSTRAP_SEED) for f in self.realism.fake[m][kind]]
                out[m] = R.Values(tuple(range(len(frames))),
                                  np.stack([f["value"].to_numpy()[1:] for f in frames]),
                                  np.array([f["value"].iloc[0] for f in frames]))
        return out

    def image_table(self, value: str, kind: str | None = None):
        """``(wide, per_seed)``: image x method values of column ``value`` (a metric on mask ``kind``;
        ``kind`` None: a semantic score) in the order of :attr:`methods`, and their per-seed rows."""
        if kind is None:
            rows, seeds = self.semantic_per_image, self.semantic_per_seed
        else:
            rows = self.per_image[self.per_image["kind"] == kind]
            seeds = None if self.per_seed is None else self.per_seed[self.per_seed["kind"] == kind]
        wide = rows.pivot(index="sample", columns="method", values=value)
        return wide.reindex(columns=[m for m in self.methods if m in wide.columns]), seeds

    def trained(self, method: str) -> bool:
        """Whether ``method`` has training randomness: a trained run, or several models (seeds)."""
        return method in self.runs or self.n_seeds.get(method, 1) > 1

    def _block(self, title: str, wide: pd.DataFrame, ref: str, unit: str, decimals: int,
               lower_better: bool, per_seed: pd.DataFrame | None, value: str) -> list[str]:
        """One findings block of a per-image column ``value`` (``wide``: image x method), on the
        images every method of the block has."""
        available = [m for m in wide.columns if wide[m].notna().any()]
        common = wide[available].dropna()   # the images every method of the block has
        n, left_out = len(common), len(wide) - len(common)
        paired = f"{n} paired images" + (f", {left_out} left out where a method has no value"
                                         if left_out else "")
        if len(available) >= 2 and n < stats.MIN_IMAGES:
            return [f"{title}: too few images to compare ({paired}; the kit compares from "
                    f"{stats.MIN_IMAGES})"]
        summarise = summary_function(value)
        scores = {m: summarise(common[m].to_numpy(dtype=float)) for m in available}
        return self._verdicts(title, scores, ref, unit, decimals, lower_better,
                              _block_values(common, per_seed, value), value, paired,
                              "PSNR of the mean MSE" if value in PSNR_COLUMNS else "means")

    def _verdicts(self, title: str, scores: Mapping[str, float], ref: str, unit: str,
                  decimals: int, lower_better: bool, vals: Mapping[str, R.Values], metric: str,
                  paired: str, summary: str, n_images: int | None = None) -> list[str]:
        """Rank ``scores`` (method -> its summary on the block's images), compare every method with
        ``ref`` and the best with the runner-up, each by the kit's one rule over training seeds and
        test images together (:func:`inpainting.evaluation.stats.seed_image_test` on the
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
        level = stats.bonferroni(self.confidence, len(pairs))
        direction = "lower is better" if lower_better else "higher is better"
        unit_text = f" {unit}" if unit else ""
        head = (f"{title} ({direction}; on {paired}; {len(pairs)} "
                f"comparison{'s' if len(pairs) > 1 else ''}, each at {level:.2%}); "
                f"{summary} on them, best first: "
                + ", ".join(f"{m} {scores[m]:.{decimals}f}{unit_text}" for m in ranked))
        lines = [head]
        for a, b in pairs:
            fixed = tuple(m for m in (a, b) if not self.trained(m))
            p = R.pair_values(metric, vals[a], vals[b], a in fixed, b in fixed, n_images)
            o = stats.seed_image_test(p.d, p.v_image, p.n_images, confidence=level,
                                      seeds_vary=len(fixed) < 2, image_df=p.image_df)
            sign = -1.0 if lower_better else 1.0
            lo, hi = sorted((sign * o.lo, sign * o.hi))
            diff = stats.Interval(sign * o.estimate, lo, hi, o.n_images, 0, level, 0, stats.T_METHOD,
                                  o.problem)
            f = f".{decimals}f"
            if not o.tested and o.n_seeds < stats.MIN_SEEDS and len(fixed) < 2:
                image_only = stats.seed_image_test(p.d[:1], p.v_image, p.n_images, confidence=level,
                                                   seeds_vary=False, image_df=p.image_df)
                lo, hi = sorted((sign * image_only.lo, sign * image_only.hi))
                line = (f"{a} and {b}: too few seeds to compare ({o.n_seeds} of a trained method; a "
                        f"test needs {stats.MIN_SEEDS}); on these test images with seed "
                        f"{p.seeds[0]} {a} - {b} = {sign * image_only.estimate:{f}} [{lo:{f}}, "
                        f"{hi:{f}}]{unit_text}")
            elif not o.tested:
                line = f"{a} and {b}: no comparison ({o.problem})"
            else:
                line = stats.difference_statement(a, b, diff, unit, decimals)
                if len(fixed) < 2:
                    line += f" (over {o.n_seeds} training seeds and {o.n_images} images)"
            lines.append("  - " + line)
        return lines


def _block_values(common: pd.DataFrame, per_seed: pd.DataFrame | None,
                  value: str) -> dict[str, R.Values]:
    """Method -> its :class:`~inpainting.evaluation.records.Values` on the block's images: each
    seed's per-image values where there are several, else the image x method table as one seed."""
    out = {}
    if per_seed is not None and value in per_seed and "seed_index" in per_seed:
        rows = per_seed[per_seed["sample"].isin(common.index)]
        for method, group in rows.groupby("method", sort=False):
            if method in common.columns:
                table = group.pivot(index="seed_index", columns="sample", values=value)
                table = table.reindex(columns=common.index).sort_index()
                out[method] = R.Values(tuple(table.index), table.to_numpy(dtype=float))
    for method in common.columns:
        out.setdefault(method, R.Values((0,), common[method].to_numpy(dtype=float)[None, :]))
    return out


# ------------------------------------------------------------------------------------ building
def _summary(names: list[str], kinds: list[str], per_seed: pd.DataFrame, per_image: pd.DataFrame,
             params: dict, n_seeds: dict, resamples: int, confidence: float,
             realism: realism_metrics.RealismScores) -> pd.DataFrame:
    rows = []
    for name in names:
        for kind in kinds:
            images = per_image[(per_image["method"] == name) & (per_image["kind"] == kind)]
            seeds = per_seed[(per_seed["method"] == name) & (per_seed["kind"] == kind)]
            row = {"method": name, "kind": kind}
            for metric in METRIC_COLUMNS:
                row.update(_interval_cells(metric, images[metric], resamples, confidence))
            row.update(realism.cells(name, kind, resamples, confidence))
            row["n_images"] = len(images)
            row["n_identical"] = int(images["identical"].sum()) if len(images) else 0
            row["n_seeds"] = n_seeds[name]
            row["ms_per_image"] = seeds["seconds"].mean() * 1000.0 if len(seeds) else math.nan
            row["params"] = params[name]
            for metric in METRIC_COLUMNS:
                row.update(_spread_cells(metric, seeds, metric))
            rows.append(row)
    summary = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    summary["params"] = pd.array(summary["params"], dtype="Int64")
    summary.attrs.update(confidence=confidence, bootstrap=resamples)
    return summary


def _semantic_columns(table: pd.DataFrame | None, dataset_name: str) -> list[str]:
    """The primary semantic score and the hit column among the columns of ``table``."""
    if table is None or not len(table):
        return []
    columns = [c for c in table.columns if c not in ("method", "sample", "n_seeds")]
    return [c for c in (primary_score(dataset_name, columns), hit_column(dataset_name, columns)) if c]


def _interval_cells(column: str, values, resamples: int, confidence: float) -> dict:
    ci = summary_interval(column, np.asarray(values, dtype=float), resamples, confidence)
    return dict(zip(interval_columns(column), (ci.estimate, ci.lo, ci.hi)))


def _spread_cells(column: str, seeds: pd.DataFrame, value: str) -> dict:
    summarise = summary_function(value)
    per_seed = seeds.groupby("seed_index")[value].agg(lambda v: summarise(v.to_numpy(dtype=float))) \
        if len(seeds) else pd.Series(dtype=float)
    spread = stats.seed_spread(per_seed.to_numpy(dtype=float))
    cells = (spread.sd, spread.min, spread.max) if spread.n_seeds > 1 else (math.nan,) * 3
    return dict(zip(spread_columns(column), cells))


def _average_over_seeds(per_seed: pd.DataFrame) -> pd.DataFrame:
    keys = ["method", "kind", "sample", "index"]
    grouped = per_seed.groupby(keys, sort=False)
    out = grouped[[*METRIC_COLUMNS, "seconds"]].mean()
    for column in PSNR_COLUMNS:   # PSNR of the mean MSE over seeds, as over images
        out[column] = grouped[column].agg(stats.psnr_of_mean_mse)
    out["identical"] = grouped["identical"].all()
    out["n_seeds"] = grouped.size()
    return out.reset_index()


def _semantic_tables(frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    per_seed = pd.concat(frames, ignore_index=True)
    scores = [c for c in per_seed.columns if c not in ("method", "sample", "seed_index", "index")
              and (pd.api.types.is_numeric_dtype(per_seed[c]) or pd.api.types.is_bool_dtype(per_seed[c]))]
    per_seed[scores] = per_seed[scores].astype(float)
    per_seed = per_seed[["method", "seed_index", "sample", *scores]]
    grouped = per_seed.groupby(["method", "sample"], sort=False)
    averaged = grouped[scores].mean()
    averaged["n_seeds"] = grouped.size()
    return per_seed, averaged.reset_index()


def _add_semantic(summary: pd.DataFrame, semantic_per_image: pd.DataFrame, semantic_per_seed: pd.DataFrame,
                  columns: list[str], resamples: int, confidence: float) -> pd.DataFrame:
    cells = {}
    for name, rows in semantic_per_image.groupby("method", sort=False):
        seeds = semantic_per_seed[semantic_per_seed["method"] == name]
        row = {}
        for c in columns:
            if c in HIT_COLUMN.values():   # a rate: the exact interval, never a collapsed bootstrap
                ci = stats.hit_rate_interval(rows[c], confidence)
                row.update(zip(interval_columns(SEMANTIC_PREFIX + c), (ci.estimate, ci.lo, ci.hi)))
            else:
                row.update(_interval_cells(SEMANTIC_PREFIX + c, rows[c], resamples, confidence))
        for c in columns:
            row.update(_spread_cells(SEMANTIC_PREFIX + c, seeds, c))
        cells[name] = row
    order = [*[x for c in columns for x in interval_columns(SEMANTIC_PREFIX + c)],
             *[x for c in columns for x in spread_columns(SEMANTIC_PREFIX + c)]]
    extra = pd.DataFrame.from_dict(cells, orient="index").reindex(columns=order)
    return summary.merge(extra, left_on="method", right_index=True, how="left")


def compare(methods: Mapping[str, object], profile: Profile, role: str = "faces",
            semantic_n: int | None = None, progress: bool = True) -> Comparison:
    """Evaluate ``methods`` on the fixed test set of ``role`` and, for procedural data, on its
    semantic test set.

    Parameters
    ----------
    methods : mapping of str to method
        Display name to a ``TrainResult`` (anything with ``generator_path``, loaded with
        ``inpainting.models.load_inpainter``), a list of them (one per training seed), an
        ``Inpainter`` or a callable ``fn(images, masks)``. The grey-fill reference row
        (:data:`GREY_FILL`) is added first.
    profile : Profile
        Gives the test sets and ``experiments.bootstrap`` / ``experiments.confidence``.
    role : {"faces", "facades", "photos"}
        The dataset role.
    semantic_n : int, optional
        Size of the semantic test set (default: the role's ``n_test``).
    progress : bool
        Progress bars while evaluating.

    Returns
    -------
    Comparison
        Models of multi-seed rows other than the first are released after evaluation.
    """
    from ..data.test_sets import fixed_test_set, semantic_test_set
    if not methods:
        raise ValueError("methods is empty; pass e.g. {'full': Plan(profile).train(...)['full']}")
    if GREY_FILL in methods:
        raise ValueError(f"{GREY_FILL!r} is the reference row compare adds; use another name")
    resamples, confidence = profile.experiments.bootstrap, profile.experiments.confidence
    test_set = fixed_test_set(profile, role)
    dataset_name = getattr(profile, role).name
    semantic_set = semantic_test_set(profile, role, semantic_n)
    members = {GREY_FILL: [grey_fill], **{name: _members(name, v) for name, v in methods.items()}}
    kinds = list(dict.fromkeys(test_set.kinds))
    realism_metrics.inception_model()   # a missing or damaged network fails before any method runs
    shown, runs, params, frames, semantic_frames, composites = {}, {}, {}, [], [], {}
    for name, models in members.items():
        provs = [p for p in (getattr(m, "provenance", None) for m in models) if p]
        if provs:
            runs[name] = provs
        for k, member in enumerate(models):
            method = as_method(member)
            per_image, summary, done = evaluate_with_composites({name: method}, test_set,
                                                                progress=progress)
            frames.append(per_image.assign(seed_index=k))
            for (_, kind), images in done.items():
                composites.setdefault(name, {}).setdefault(kind, []).append(images)
            if k == 0:
                shown[name] = method
                params[name] = summary["params"].iloc[0]
                params[name] = None if pd.isna(params[name]) else int(params[name])
            if semantic_set is not None:
                allowed = supported_kinds(method)
                if allowed is None or set(semantic_set.kinds) <= set(allowed):
                    done = to_uint8(completions(method, semantic_set))
                    scores = semantic_scores(dataset_name, done, semantic_set.attributes,
                                             semantic_set.masks[:, 0].numpy())
                    semantic_frames.append(scores.assign(method=name, seed_index=k))
            del method
    per_seed = pd.concat(frames, ignore_index=True)
    per_image = _average_over_seeds(per_seed)
    n_seeds = {name: len(models) for name, models in members.items()}
    real = {kind: to_uint8(test_set.subset(kind).images) for kind in kinds}
    realism = realism_metrics.score_methods(real, composites, test_set.images.shape[-1],
                                            results_dir(profile.name, "test_sets", "inception"),
                                            progress)
    summary = _summary(list(members), kinds, per_seed, per_image, params, n_seeds, resamples,
                       confidence, realism)
    semantic_per_seed = semantic_averaged = None
    if semantic_frames:
        semantic_per_seed, semantic_averaged = _semantic_tables(semantic_frames)
        columns = _semantic_columns(semantic_averaged, dataset_name)
        with_semantic = _add_semantic(summary, semantic_averaged, semantic_per_seed, columns,
                                      resamples, confidence)
        with_semantic.attrs.update(summary.attrs)
        summary = with_semantic
    comparison = Comparison(
        role=role, dataset_name=dataset_name, test_set=test_set, methods=shown,
        per_image=per_image, summary=summary, per_seed=per_seed, semantic_set=semantic_set,
        semantic_per_image=semantic_averaged, semantic_per_seed=semantic_per_seed, runs=runs,
        n_seeds=n_seeds, bootstrap=resamples, confidence=confidence, realism=realism)
    return comparison
