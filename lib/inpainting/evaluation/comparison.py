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
* **Findings** in words (:mod:`inpainting.reporting.findings`) rest on the paired values of each
  block (:func:`paired_values`, read as the claims ledger reads its records) and the kit's one
  test (:func:`inpainting.evaluation.decisions.seed_image_test`).
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

from ..data.masks import FixedTestSet
from ..models.generator import masked
from ..profiles import Profile
from ..disk import results_dir
from . import inception
from . import realism as realism_metrics
from . import records as R
from . import stats
from .metrics import LOWER_IS_BETTER, METRIC_COLUMNS, PSNR_COLUMNS, to_uint8
from .runner import completions, measure, parameter_count, supported_kinds
from .summaries import SEMANTIC_PREFIX, summary_function, summary_interval
from .semantic.scores import ERROR_COLUMNS, HIT_COLUMN, PRIMARY_SCORE, semantic_scores

GREY_FILL = "masked input (grey hole)"
SPREAD_STATS = ("sd", "min", "max")


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
    """Metrics, semantic scores and intervals of several methods on one role (drawn and put in
    words by :mod:`inpainting.reporting`).

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

    def size_table(self, kind: str) -> pd.DataFrame:
        """Parameters against hole PSNR/SSIM (with intervals) on mask ``kind`` for the methods
        that have a size."""
        rows = self.summary[(self.summary["kind"] == kind) & self.summary["params"].notna()]
        table = rows[["method", "params", *interval_columns("psnr_hole"),
                      *interval_columns("ssim_hole"), "ms_per_image"]].copy()
        table["params (M)"] = (table["params"].astype(float) / 1e6).round(3)
        return table.sort_values("params").reset_index(drop=True)

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


def paired_values(common: pd.DataFrame, per_seed: pd.DataFrame | None,
                  value: str) -> dict[str, R.Values]:
    """Method -> its :class:`~inpainting.evaluation.records.Values` of ``value`` on the images of
    ``common`` (image x method): each seed's per-image values from ``per_seed`` read as records
    (:func:`inpainting.evaluation.records.values`, as the claims ledger reads them), else the
    column of ``common`` as one seed."""
    out = {}
    if per_seed is not None and value in per_seed and "seed_index" in per_seed:
        rows = per_seed.loc[per_seed["sample"].isin(common.index),
                            ["method", "seed_index", "sample", value]]
        rows = rows.rename(columns={"seed_index": "seed"}).assign(kind="")
        records = R.image_rows(rows, ("method", "seed")).assign(role="")
        for method in common.columns:
            found = R.values(records, value, method, "", "")
            if found is not None:
                out[method] = found
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
    members = {GREY_FILL: [masked], **{name: _members(name, v) for name, v in methods.items()}}
    kinds = list(dict.fromkeys(test_set.kinds))
    inception.inception_model()   # a missing or damaged network fails before any method runs
    shown, runs, params, frames, semantic_frames, composites = {}, {}, {}, [], [], {}
    for name, models in members.items():
        provs = [p for p in (getattr(m, "provenance", None) for m in models) if p]
        if provs:
            runs[name] = provs
        for k, member in enumerate(models):
            method = as_method(member)
            per_image, done = measure({name: method}, test_set, progress=progress)
            frames.append(per_image.assign(seed_index=k))
            for (_, kind), images in done.items():
                composites.setdefault(name, {}).setdefault(kind, []).append(images)
            if k == 0:
                shown[name] = method
                params[name] = parameter_count(method)
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
