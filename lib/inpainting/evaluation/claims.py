"""The claims ledger: each claim of the paper's abstract as tests on the kit's comparisons, and a
verdict per test and per claim, generated from the paired comparisons (never written by hand).

A :class:`Claim` holds the abstract's words (as docs/method.md §1 gives them), the dataset roles it
is tested on and its :class:`ClaimTest` s: a metric column, method A, method B and a direction: A better
than B, or A *non-inferior* to B within a stated :class:`Margin` (for "as good as, with fewer
parameters"). The paper's claims, with the method names of the experiments, are
:func:`inpainting.experiments.paper_claims`; this module only judges claims.

Statistics [this kit's rule, stated; the same as ``Comparison.findings``]
--------------------------------------------------------------------------
* **The interval.** The paired interval of ``A - B`` over the test images both methods have: a
  per-image metric on one mask kind through
  :func:`inpainting.evaluation.summaries.paired_differences` (hole PSNR as the PSNR of the mean
  MSE, delta method), the primary semantic score on the semantic test set the same way, KID x 1000
  by its paired difference on the same resamples of the test images
  (:meth:`inpainting.evaluation.realism.RealismScores.difference`). A method's per-image value is
  its mean over its training seeds.
* **The verdict** (:func:`inpainting.evaluation.stats.difference_verdict`, the findings' rule):
  *supported* when the interval lies wholly on the claimed side and, for a trained method, the
  training seeds agree (Welch t on the per-seed summaries, :func:`~inpainting.evaluation.stats.seed_test`,
  at least ``stats.MIN_SEEDS`` seeds of each trained method); *contradicted* when it lies wholly on
  the opposite side and the seeds agree; otherwise *not established at this budget* (images,
  training steps, seeds), with the reason; *not tested here* when the comparison lacks a row (a
  method, the role, the semantic score, KID on that mask kind). The interval is always given.
* **Non-inferiority** within a margin ``d`` (in the metric's unit, or a fraction of B's value):
  the same rule on ``A - B + d`` (``A - B - d`` where lower is better): supported means A is worse
  than B by less than ``d``, contradicted that A is worse by more than ``d``.
* **Multiplicity.** Bonferroni over every test of the ledger that can be run (``m``): each interval
  and seed test at level ``1 - (1 - confidence) / m``, with ``m`` times the profile's bootstrap
  resamples (as a findings block). The chance that any supported or contradicted verdict of the
  ledger is wrong is then at most ``1 - confidence`` (checked by simulation,
  ``tests/test_claims.py``).
* **A claim's verdict** (:data:`CLAIM_RULE`): supported when every test is supported; contradicted
  when any test is contradicted; not tested here when no test could be run; not established
  otherwise.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..profiles import ROLES, Profile
from . import stats
from .comparison import Comparison, lower_is_better, primary_score
from .summaries import paired_differences, seed_summaries, summary_function
from .metrics import METRIC_COLUMNS, PSNR_COLUMNS
from .realism import KID_COLUMN

SEMANTIC = "semantic"   # a ClaimTest's metric: the role's primary semantic score (PRIMARY_SCORE)
METRICS = (*METRIC_COLUMNS, KID_COLUMN, SEMANTIC)
SUPPORTED, CONTRADICTED, NOT_ESTABLISHED, NOT_TESTED = ("supported", "contradicted",
                                                        "not established", "not tested")
CLAIM_RULE = ("a claim is supported when every test is supported, contradicted when any test is "
              "contradicted, not tested here when no test could be run, not established otherwise")
LEDGER_COLUMNS = ("claim", "words", "role", "metric", "kind", "A", "B", "direction", "margin",
                  "estimate", "lo", "hi", "level", "n_images", "seeds", "steps", "params",
                  "status", "verdict", "why")
VERDICT_COLUMNS = ("claim", "words", "roles", "tests", SUPPORTED, CONTRADICTED, NOT_ESTABLISHED,
                   NOT_TESTED, "verdict")


@dataclass(frozen=True)
class Margin:
    """A non-inferiority margin: ``value`` in the metric's ``unit`` or, with ``relative``, a
    fraction of B's value (taken as fixed: its own uncertainty is not added); ``why`` it is that
    size."""

    value: float
    unit: str
    why: str
    relative: bool = False

    def __post_init__(self):
        if not (isinstance(self.value, (int, float)) and self.value > 0 and math.isfinite(self.value)):
            raise ValueError(f"Margin.value must be a positive number, got {self.value!r}")

    def amount(self, value_b: float) -> float:
        """The margin in the metric's unit, for B's value ``value_b``."""
        return self.value * max(value_b, 0.0) if self.relative else float(self.value)

    def describe(self) -> str:
        size = f"{self.value:.0%} of B's {self.unit}" if self.relative else f"{self.value:.3g} {self.unit}"
        return f"{size} ({self.why})"


@dataclass(frozen=True)
class ClaimTest:
    """One test of a claim: ``metric`` (a column of ``metrics.METRIC_COLUMNS``, ``kid_x1000`` or
    :data:`SEMANTIC`) of method ``a`` against method ``b`` (row names of the comparison), on mask
    ``kind`` (the semantic score has its own test set); ``margin`` None: A better than B, else A
    non-inferior to B within it."""

    metric: str
    a: str
    b: str
    kind: str = "centre"
    margin: Margin | None = None

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ValueError(f"ClaimTest.metric={self.metric!r} is not a metric the ledger knows; use one "
                             f"of {', '.join(METRICS)}")
        if self.a == self.b:
            raise ValueError(f"ClaimTest compares {self.a!r} with itself; give two different methods")

    def direction(self, lower_better: bool) -> str:
        side = "lower" if lower_better else "higher"
        if self.margin is None:
            return f"A better than B ({side} is better)"
        return f"A not worse than B by more than the margin ({side} is better)"


@dataclass(frozen=True)
class Claim:
    """A claim of the abstract: ``id``, the abstract's ``words``, the dataset ``roles`` it is
    tested on, its ``tests`` (each run on every role) and ``reading``: how the kit turns the words
    into these tests [INFERRED]."""

    id: str
    words: str
    roles: tuple[str, ...]
    tests: tuple[ClaimTest, ...]
    reading: str = ""

    def __post_init__(self):
        bad = [r for r in self.roles if r not in ROLES]
        if bad or not self.roles:
            raise ValueError(f"claim {self.id}: roles {list(self.roles)} must be among {ROLES}")
        if not self.tests:
            raise ValueError(f"claim {self.id} has no tests; a claim the kit cannot test is not a claim "
                             "of the ledger")


# ----------------------------------------------------------------------------- one test's data
def _column(comparison: Comparison, test: ClaimTest) -> str | None:
    """The comparison's column of the test's metric (the semantic score: without its prefix)."""
    if test.metric != SEMANTIC:
        return test.metric
    if comparison.semantic_per_image is None or not len(comparison.semantic_per_image):
        return None
    return primary_score(comparison.dataset_name, list(comparison.semantic_per_image.columns))


def _shown(comparison: Comparison | None, test: ClaimTest) -> tuple[str, str]:
    """(metric as the tables name it, kind) for the ledger's columns."""
    column = _column(comparison, test) if comparison is not None else None
    if test.metric != SEMANTIC:
        return test.metric, test.kind
    kind = comparison.semantic_set.kinds[0] if comparison is not None and \
        comparison.semantic_set is not None else "semantic"
    return (f"semantic_{column}" if column else SEMANTIC), kind


def _image_tables():
    """``table(comparison, test) -> (wide, per_seed)``: :meth:`Comparison.image_table` of the
    test's column and kind, each pivoted once per ledger."""
    cache = {}

    def table(comparison: Comparison, test: ClaimTest):
        column = _column(comparison, test)
        kind = None if test.metric == SEMANTIC else test.kind
        key = (id(comparison), column, kind)
        if key not in cache:
            cache[key] = comparison.image_table(column, kind)
        return cache[key]
    return table


def _missing(comparison: Comparison | None, role: str, test: ClaimTest, table) -> str | None:
    """Why ``test`` cannot be run on ``comparison`` (None when it can)."""
    if comparison is None:
        return f"no {role} comparison given"
    absent = [m for m in (test.a, test.b) if m not in comparison.methods]
    if absent:
        return f"row missing: {', '.join(absent)}"
    column = _column(comparison, test)
    if column is None:
        return f"no semantic score on {comparison.dataset_name}"
    if test.metric == KID_COLUMN:
        scores = comparison.realism
        lacking = [m for m in (test.a, test.b) if scores is None or not scores.has(m, test.kind)]
        return f"no KID of {', '.join(lacking)} on {test.kind} holes" if lacking else None
    wide, _ = table(comparison, test)
    lacking = [m for m in (test.a, test.b) if m not in wide or not wide[m].notna().any()]
    where = "the semantic test set" if test.metric == SEMANTIC else f"{test.kind} holes"
    return f"no {column} of {', '.join(lacking)} on {where}" if lacking else None


def _difference(comparison: Comparison, test: ClaimTest, level: float, resamples: int, table):
    """``(interval of A - B, per-seed summaries of A, of B, B's value)`` at ``level``: the
    findings' own computations (module docstring)."""
    a, b = test.a, test.b
    if test.metric == KID_COLUMN:
        scores = comparison.realism
        diff = scores.difference(a, b, test.kind, resamples, level)
        value_b = scores.estimates(test.kind)[b]
        return diff, scores.per_seed(a, test.kind), scores.per_seed(b, test.kind), value_b
    column = _column(comparison, test)
    wide, per_seed = table(comparison, test)
    common = wide[[a, b]].dropna()
    summarise = summary_function(column)
    diff = paired_differences(common, column)(a, b, resamples, level)
    trained = comparison.trained(a) or comparison.trained(b)   # else no seed test is made
    seeds = seed_summaries(per_seed, column, common.index, summarise) if trained else {}
    value_a, value_b = (summarise(common[m].to_numpy(dtype=float)) for m in (a, b))
    return diff, seeds.get(a, np.array([value_a])), seeds.get(b, np.array([value_b])), value_b


def _judge(comparison: Comparison, test: ClaimTest, level: float, resamples: int, table) -> dict:
    """The ledger cells of one test that can be run: interval, margin, status, reason."""
    column = _column(comparison, test)
    lower_better = lower_is_better(column)
    diff, seeds_a, seeds_b, value_b = _difference(comparison, test, level, resamples, table)
    claimed = -1.0 if lower_better else 1.0          # the sign of A - B that favours A
    margin = test.margin.amount(value_b) if test.margin is not None else 0.0
    shifted = dataclasses.replace(diff, estimate=diff.estimate + claimed * margin,
                                  lo=diff.lo + claimed * margin, hi=diff.hi + claimed * margin)
    trained = (comparison.trained(test.a), comparison.trained(test.b))
    outcome, why = stats.difference_verdict(shifted, np.asarray(seeds_a) + claimed * margin,
                                            seeds_b, level, trained)
    status, cause = NOT_ESTABLISHED, _CAUSES.get(outcome, outcome)
    if outcome == stats.SEEDS_ESTABLISHED:
        side = math.copysign(1.0, shifted.estimate)
        gap = float(np.nanmean(seeds_a)) + claimed * margin - float(np.nanmean(seeds_b))
        if any(trained) and gap * side <= 0:
            why, cause = f"the training seeds' means differ the other way ({why})", "seeds disagree"
        else:
            status = SUPPORTED if side == claimed else CONTRADICTED
    if test.margin is not None and outcome == stats.NOT_DISTINGUISHABLE and shifted.has_interval:
        cause = "the interval reaches past the margin"
    unit = " dB" if column in PSNR_COLUMNS else ""
    interval = f"A - B = {diff.estimate:.3g} [{diff.lo:.3g}, {diff.hi:.3g}]{unit}"
    return {"margin": margin if test.margin is not None else math.nan, "estimate": diff.estimate,
            "lo": diff.lo, "hi": diff.hi, "n_images": diff.n, "status": status, "why": why,
            "cause": cause, "interval": interval}


def _budget(profile: Profile) -> str:
    t = profile.train
    return f"{t.steps_g}/{t.steps_d}/{t.steps_joint} steps (G/D/joint)"


def _params(counts: Mapping, test: ClaimTest) -> str:
    """``"A / B"`` parameter counts (``?`` where a row has none) from ``counts``: method -> count."""
    return " / ".join("?" if c is None or pd.isna(c) else f"{int(c):,}"
                      for c in (counts.get(m) for m in (test.a, test.b)))


_CAUSES = {stats.NOT_DISTINGUISHABLE: "the interval contains 0", stats.IMAGES_TOO_FEW: "too few images",
           stats.SEEDS_TOO_FEW: "too few seeds", stats.SEEDS_NOT_ESTABLISHED: "seeds disagree"}


def _verdict(cells: dict, steps: str) -> str:
    """The verdict in words, with the interval (:data:`SUPPORTED`, ...; module docstring)."""
    status = cells["status"]
    if status in (SUPPORTED, CONTRADICTED):
        return f"{status}: {cells['interval']}"
    if status == NOT_TESTED:
        return f"not tested here ({cells['why']})"
    return (f"not established at this budget ({cells['n_images']} images, {steps}, "
            f"{cells['seeds']} training seeds; {cells['cause']}): {cells['interval']}")


# ----------------------------------------------------------------------------------- the ledger
def ledger(comparisons: Mapping[str, Comparison], profile: Profile,
           claims: Sequence[Claim]) -> pd.DataFrame:
    """One row per (claim, role, test) (:data:`LEDGER_COLUMNS`): the test, the paired interval of
    ``A - B`` (``estimate``, ``lo``, ``hi``) at the ledger's Bonferroni ``level``, the images,
    training seeds (A / B), the profile's training budget (``steps``) and parameter counts behind
    it, ``status`` (supported / contradicted / not established / not tested), the ``verdict`` in
    words and ``why``.

    ``comparisons``: role -> the :class:`~inpainting.evaluation.comparison.Comparison` of that role
    (notebook 06's); ``profile``: the profile they were made with (its budget, confidence and
    resamples); ``claims``: e.g. :func:`inpainting.experiments.paper_claims`. ``attrs["how"]``
    says how the verdicts were reached (multiplicity included)."""
    for role, comparison in comparisons.items():
        if role not in ROLES:
            raise ValueError(f"comparisons: unknown role {role!r}; the roles are {ROLES}")
        if getattr(comparison, "role", role) != role:
            raise ValueError(f"comparisons[{role!r}] is the comparison of role {comparison.role!r}; "
                             f"key each comparison by its own role")
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids) or not ids:
        raise ValueError(f"claims must be non-empty with distinct ids, got {ids}")
    items = [(claim, role, test) for claim in claims for role in claim.roles for test in claim.tests]
    table = _image_tables()
    missing = [_missing(comparisons.get(role), role, test, table) for _, role, test in items]
    m = sum(reason is None for reason in missing)
    confidence = profile.experiments.confidence
    level = stats.bonferroni(confidence, m) if m else confidence
    resamples = profile.experiments.bootstrap * max(m, 1)
    steps = _budget(profile)
    params = {role: dict(zip(c.summary["method"], c.summary["params"]))
              for role, c in comparisons.items()}
    rows = []
    for (claim, role, test), reason in zip(items, missing):
        comparison = comparisons.get(role)
        metric, kind = _shown(comparison, test)
        lower = lower_is_better(metric)
        row = {"claim": claim.id, "words": claim.words, "role": role, "metric": metric,
               "kind": kind, "A": test.a, "B": test.b, "direction": test.direction(lower),
               "level": level, "steps": steps}
        if reason is None:
            row.update(_judge(comparison, test, level, resamples, table))
            row["seeds"] = " / ".join(str(comparison.n_seeds.get(x, 1)) for x in (test.a, test.b))
            row["params"] = _params(params[role], test)
            if test.margin is not None:
                row["why"] = f"margin {test.margin.describe()}; {row['why']}"
        else:
            row.update(margin=math.nan, estimate=math.nan, lo=math.nan, hi=math.nan, n_images=0,
                       status=NOT_TESTED, why=reason, seeds="", params="")
        row["verdict"] = _verdict(row, steps)
        rows.append({c: row[c] for c in LEDGER_COLUMNS})
    out = pd.DataFrame(rows, columns=list(LEDGER_COLUMNS))
    out["n_images"] = out["n_images"].astype(int)
    out.attrs["multiplicity"] = (f"Bonferroni over the {m} tests that could be run, each at "
                                 f"{level:.2%}: any wrong supported or contradicted verdict has "
                                 f"probability <= {1 - confidence:.0%}")
    out.attrs["how"] = (
        f"Claims ledger, generated by inpainting.evaluation.claims.ledger ({profile.describe()}): "
        f"one row per test of a claim of the abstract; estimate [lo, hi] is the paired interval of "
        f"A - B over the test images both methods have (Student t below {stats.T_BELOW_N} images, "
        f"BCa from there; hole PSNR as the PSNR of the mean MSE; KID x 1000 paired on the same "
        f"resamples; a method's per-image value is its mean over its training seeds). "
        f"{out.attrs['multiplicity']}. Supported or contradicted also needs the training seeds "
        f"to agree (Welch t at the same level, at least {stats.MIN_SEEDS} seeds of each trained "
        f"method) and {stats.MIN_IMAGES} paired images; non-inferiority: the same rule on A - B "
        f"shifted by the margin.")
    return out


def claim_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """One row per claim of a :func:`ledger` (:data:`VERDICT_COLUMNS`): its words, roles, how many
    of its tests have each status, and its verdict by :data:`CLAIM_RULE`."""
    missing = [c for c in ("claim", "words", "role", "status") if c not in table]
    if missing:
        raise ValueError(f"claim_verdicts takes the table of ledger(); this one lacks {missing}")
    rows = []
    for claim, tests in table.groupby("claim", sort=False):
        counts = tests["status"].value_counts()
        n = {s: int(counts.get(s, 0)) for s in (SUPPORTED, CONTRADICTED, NOT_ESTABLISHED, NOT_TESTED)}
        if n[CONTRADICTED]:
            verdict = CONTRADICTED
        elif n[SUPPORTED] == len(tests):
            verdict = SUPPORTED
        elif n[NOT_TESTED] == len(tests):
            verdict = "not tested here"
        else:
            untested = f"; {n[NOT_TESTED]} of {len(tests)} tests not tested here" \
                if n[NOT_TESTED] else ""
            verdict = (f"not established at this budget ({n[SUPPORTED]} of {len(tests)} tests "
                       f"supported{untested})")
        rows.append({"claim": claim, "words": tests["words"].iloc[0],
                     "roles": ", ".join(dict.fromkeys(tests["role"])), "tests": len(tests), **n,
                     "verdict": verdict})
    out = pd.DataFrame(rows, columns=list(VERDICT_COLUMNS))
    multiplicity = table.attrs.get("multiplicity", "Bonferroni over its tests")
    out.attrs["how"] = (f"Verdict per claim of the abstract ({CLAIM_RULE}), from the tests of the "
                        f"claims ledger (tables/claims_ledger.csv: each test's interval, images, "
                        f"seeds and budget; {multiplicity}).")
    return out


def write_ledger(report, comparisons: Mapping[str, Comparison], profile: Profile,
                 claims: Sequence[Claim]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`ledger` and :func:`claim_verdicts`, saved through ``report``
    (:class:`inpainting.reporting.report.Report`) as ``tables/claim_verdicts.csv`` and
    ``tables/claims_ledger.csv`` and put first in ``summary.md``; returns ``(verdicts, ledger)``."""
    tests = ledger(comparisons, profile, claims)
    verdicts = claim_verdicts(tests)
    runs = list(comparisons.values())
    report.table(verdicts, "claim_verdicts", verdicts.attrs["how"], runs=runs, first=True)
    report.table(tests, "claims_ledger", tests.attrs["how"], runs=runs, first=True)
    return verdicts, tests
