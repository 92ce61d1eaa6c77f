"""The claims ledger: each claim of the abstract decided by its pre-registered primary tests
(:mod:`inpainting.evaluation.preregistration`) over a study's records (:mod:`inpainting.evaluation.records`).

One test: the per-seed paired differences of one metric, A against B on the same test images,
tested with their seed and image variance together (:func:`inpainting.evaluation.decisions.seed_image_test`).
One claim: an intersection-union test over its primary tests. The family: Holm over the
confirmatory claims at the plan's alpha. Exploratory claims and every secondary test are reported
with unadjusted 95 % intervals and never gate a verdict. Every sentence of the ledger is written
here, from the numbers beside it.

From the committed files alone::

    python -m inpainting.evaluation.claims --from references/study
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from . import records as R
from . import decisions
from .preregistration import CONFIRMATORY, STUDY_PLAN, AnalysisPlan, Hypothesis, check

SEMANTIC = "semantic"   # a secondary test's metric: the role's graded semantic error
SUPPORTED, CONTRADICTED = "supported", "contradicted"
CLAIM_WORDS = {   # the abstract's words (docs/method.md §1) and how the kit reads them [INFERRED]
    "C1": ("adversarial training and perceptual features complement each other: together they give "
           "\"nearly seamless fusion results\"", "the full model beats each term alone with L_rec"),
    "C2": ("a perceptual network supplies the fine detail adversarially trained networks lack",
           "L_rec + L_per beats L_rec alone"),
    "C3": ("mid-level perceptual features guide best", "relu3_1 (the full model) beats relu1_1 and "
           "relu5_1, each row the full model with only the layer changed"),
    "C4": ("an effective lightweight generator with far fewer parameters", "the lite generator "
           "(1.37 M parameters) is not worse than GLCIC's completion network (6.07 M) re-trained "
           "under the same protocol, within 10 % of its hole MSE"),
    "C5": ("the method significantly outperforms existing methods on CelebA and Paris StreetView",
           "the full model beats the Context Encoder and GLCIC, re-trained on the same data, masks "
           "and budget, on both datasets' roles"),
}
TEST_COLUMNS = ("claim", "status", "role", "metric", "kind", "A", "B", "margin", "a_value",
                "b_value", "a_minus_b", "lo", "hi", "favours", "p_better", "p_worse", "df",
                "n_seeds", "n_images", "seed_sd", "image_se", "seeds_needed", "verdict")
CLAIM_COLUMNS = ("claim", "words", "reading", "status", "tests", "p_support", "p_contradict",
                 "p_claim", "holm_level", "n_seeds", "seeds_needed", "core_hours_per_seed",
                 "verdict")


def secondary_tests(plan: AnalysisPlan) -> dict[str, tuple[Hypothesis, ...]]:
    """Claim -> tests reported beside the primary ones, never gating a verdict: the semantic score
    wherever the primary test is KID, KID wherever it is hole PSNR."""
    out = {}
    for claim in plan.claims:
        extra = []
        for h in claim.tests:
            other = SEMANTIC if h.metric == R.realism.KID_COLUMN else R.realism.KID_COLUMN
            extra.append(Hypothesis(other, h.a, h.b, h.role, h.kind))
        out[claim.id] = tuple(dict.fromkeys(extra))
    return out


def _metric_and_kind(records: pd.DataFrame, h: Hypothesis) -> tuple[str, str]:
    if h.metric != SEMANTIC:
        return h.metric, h.kind
    metric = R.SEMANTIC_METRICS[h.role][0]
    kinds = records.loc[(records["role"] == h.role) & (records["metric"] == metric), "kind"].unique()
    return metric, (kinds[0] if len(kinds) else "semantic")


@dataclass(frozen=True)
class Decision:
    """One test: its hypothesis, the seed pairs behind it and their :class:`decisions.Outcome`."""

    claim: str
    status: str
    hypothesis: Hypothesis
    metric: str
    kind: str
    pairs: R.SeedPairs | None
    outcome: decisions.Outcome | None
    seeds_needed: int | None = None

    def row(self, min_seeds: int) -> dict:
        h, o, p = self.hypothesis, self.outcome, self.pairs
        spec = R.METRICS[self.metric]
        row = {"claim": self.claim, "status": self.status, "role": h.role, "metric": self.metric,
               "kind": self.kind, "A": h.a, "B": h.b, "margin": h.margin if h.margin else math.nan}
        if p is None or o is None:
            return {**dict.fromkeys(TEST_COLUMNS, math.nan), **row,
                    "verdict": f"not tested: no records of both rows on {h.role} / {self.kind}"}
        sign = 1.0 if spec.higher else -1.0   # a_minus_b in the metric's own direction
        shift = h.margin or 0.0
        diff = [sign * (x - shift) for x in (o.estimate, o.lo, o.hi)]
        lo, hi = sorted(diff[1:])
        row.update(a_value=p.a_value, b_value=p.b_value, a_minus_b=diff[0], lo=lo, hi=hi,
                   favours="A" if o.estimate - shift > 0 else "B", p_better=o.p_better,
                   p_worse=o.p_worse, df=o.df, n_seeds=o.n_seeds, n_images=o.n_images,
                   seed_sd=math.sqrt(o.seed_var) if o.seed_var == o.seed_var else math.nan,
                   image_se=math.sqrt(o.image_var), seeds_needed=self.seeds_needed)
        row["verdict"] = words_of(self, min_seeds)
        return row


def _fmt(est: float, lo: float, hi: float, unit: str) -> str:
    width = abs(hi - lo) if hi == hi and lo == lo else abs(est)
    digits = max(2, 2 - int(math.floor(math.log10(max(width, 1e-12)))))
    return f"A - B = {est:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]{unit} (95 %)"


def words_of(t: Decision, min_seeds: int) -> str:
    """The sentence of one test (the only place test verdicts are worded)."""
    o, h = t.outcome, t.hypothesis
    spec = R.METRICS[t.metric]
    unit = f" {spec.unit}" if spec.unit else ""
    sign = 1.0 if spec.higher else -1.0
    shift = h.margin or 0.0

    def natural(out):
        est, lo, hi = (sign * (x - shift) for x in (out.estimate, out.lo, out.hi))
        return (est, *sorted((lo, hi)))
    if not o.tested:
        images = decisions.seed_image_test(t.pairs.d[:1], t.pairs.v_image, t.pairs.n_images,
                                       seeds_vary=False, image_df=t.pairs.image_df)
        where = f"seed {t.pairs.seeds[0]}'s test images only, not a test of the methods"
        return f"no test ({o.problem}); {where}: {_fmt(*natural(images), unit)}"
    interval = _fmt(*natural(o), unit)
    if t.status == "secondary":
        return f"secondary, unadjusted: {interval}"
    need = (f"needs about {t.seeds_needed} seeds" if t.seeds_needed
            else "no number of seeds suffices at this many images")
    if o.n_seeds < min_seeds:
        return f"too few seeds to separate ({o.n_seeds}; {need}): {interval}"
    return f"{interval}; one-sided p {min(o.p_better, o.p_worse):.2g} ({need} for 80 % power)"


@dataclass
class Ledger:
    """The ledger of one study: ``tests`` (one row per primary and secondary test,
    :data:`TEST_COLUMNS`), ``claims`` (one row per claim, :data:`CLAIM_COLUMNS`) and how they were
    made (``plan_sha256``, ``how``)."""

    tests: pd.DataFrame
    claims: pd.DataFrame
    plan_sha256: str
    how: str = ""
    results: list = field(default_factory=list, repr=False)


def _run_test(records, claim, status, h, plan) -> Decision:
    metric, kind = _metric_and_kind(records, h)
    pairs = R.seed_pairs(records, metric, h.a, h.b, h.role, kind)
    if pairs is None:
        return Decision(claim, status, h, metric, kind, None, None)
    resolution = 1e-9 * max(abs(pairs.a_value), abs(pairs.b_value), 1.0)
    outcome = decisions.seed_image_test(pairs.d, pairs.v_image, pairs.n_images, h.margin or 0.0,
                                    resolution=resolution, image_df=pairs.image_df)
    # each test of a confirmatory claim is judged at alpha / 2 per side at worst (Holm's last step)
    alpha = plan.alpha / 2 / max(len(plan.confirmatory), 1)
    # the effect to find is the measured one (for non-inferiority: its distance from the margin)
    needed = decisions.seeds_needed(outcome, alpha) if outcome.tested else None
    return Decision(claim, status, h, metric, kind, pairs, outcome, needed)


def _claim_words(status, recorded, tested, p_s, p_c, rejected, n_seeds, needed, plan) -> str:
    if needed:
        more = f"needs about {needed}"
    elif tested:
        more = f"no number of seeds suffices at {plan.n_test} test images: more images needed"
    else:
        more = f"the plan needs at least {plan.min_seeds}"
    if not recorded:
        return "not tested: a primary test's rows have no records here"
    if not tested:
        return f"too few seeds ({n_seeds}; {more})"
    if status != CONFIRMATORY:
        lean = "A better" if p_s < p_c else "A not better"
        return (f"exploratory (outside the tested family): leans {lean}, unadjusted p "
                f"{min(p_s, p_c):.2g}; {more}{' seeds' if needed else ''}")
    if rejected:
        return SUPPORTED if p_s <= p_c else CONTRADICTED
    if n_seeds < plan.min_seeds:
        return f"too few seeds ({n_seeds}; {more})"
    return f"not established at this budget ({more}{' seeds' if needed else ''})"


def ledger(records: pd.DataFrame, plan: AnalysisPlan = STUDY_PLAN, plan_sha256: str = "",
           require_complete: bool = True, seconds: dict | None = None) -> Ledger:
    """Decide the claims of ``plan`` from ``records``. With ``require_complete`` (a pre-registered
    study), every planned (role, row, seed) must have records first: no verdict is computed from
    part of a study. ``seconds``: row -> training seconds per seed (with its warm start), for the
    cost of the seeds the power analysis asks for."""
    if require_complete:
        missing = missing_runs(records, plan)
        if missing:
            shown = "; ".join(f"{role} {row}, seed {seed}" for role, row, seed in missing[:3])
            raise ValueError(f"{len(missing)} planned runs have no records yet (e.g. {shown}): the "
                             "ledger is computed once every planned run exists")
    secondary = secondary_tests(plan)
    results, claim_rows = [], []
    for claim in plan.claims:
        primary = [_run_test(records, claim.id, claim.status, h, plan) for h in claim.tests]
        results += primary + [_run_test(records, claim.id, "secondary", h, plan)
                              for h in secondary[claim.id]]
        recorded = all(t.outcome is not None for t in primary)
        tested = recorded and all(t.outcome.tested for t in primary)
        p_s, p_c = (decisions.intersection_union([t.outcome.p_better for t in primary],
                                             [t.outcome.p_worse for t in primary])
                    if tested else (math.nan, math.nan))
        needs = [t.seeds_needed for t in primary]
        needed = None if None in needs else max(needs)
        n_seeds = min((t.outcome.n_seeds for t in primary if t.outcome is not None), default=0)
        rows = {x for t in primary for x in ((t.hypothesis.role, t.hypothesis.a),
                                              (t.hypothesis.role, t.hypothesis.b))}
        cost = sum((seconds or {}).get(r, math.nan) for r in rows) / 3600
        claim_rows.append({"claim": claim.id, "words": CLAIM_WORDS[claim.id][0],
                           "reading": CLAIM_WORDS[claim.id][1], "status": claim.status,
                           "tests": len(primary), "p_support": p_s, "p_contradict": p_c,
                           "p_claim": min(1.0, 2 * min(p_s, p_c)) if tested else math.nan,
                           "n_seeds": n_seeds, "seeds_needed": needed,
                           "core_hours_per_seed": cost, "_tested": tested, "_recorded": recorded})
    confirm = [r for r in claim_rows if r["status"] == CONFIRMATORY and r["_tested"]]
    enough = [r for r in confirm if r["n_seeds"] >= plan.min_seeds]
    rejected = dict(zip([r["claim"] for r in enough],
                        decisions.holm([r["p_claim"] for r in enough], plan.alpha)))
    order = sorted(enough, key=lambda r: r["p_claim"])
    for k, r in enumerate(order):
        r["holm_level"] = plan.alpha / (len(order) - k)
    for r in claim_rows:
        r.setdefault("holm_level", math.nan)
        r["verdict"] = _claim_words(r["status"], r.pop("_recorded"), r.pop("_tested"), r["p_support"],
                                    r["p_contradict"], rejected.get(r["claim"], False),
                                    r["n_seeds"], r["seeds_needed"], plan)
    tests = pd.DataFrame([t.row(plan.min_seeds) for t in results], columns=list(TEST_COLUMNS))
    claims = pd.DataFrame(claim_rows, columns=list(CLAIM_COLUMNS))
    source = (f"Pre-registered plan {plan_sha256[:12]}" if plan_sha256 else
              "Not pre-registered (the study's rule applied to this profile's own runs)")
    how = (f"{source}: {plan.rule} Since the plan was written: the image part of a hole-PSNR "
           f"difference is a leave-one-image-out jackknife, and below "
           f"{decisions.SATTERTHWAITE_FROM} seeds the df are the seeds' own. Secondary tests: "
           f"unadjusted 95 % intervals, never gating a verdict.")
    return Ledger(tests, claims, plan_sha256, how, results)


def missing_runs(records: pd.DataFrame, plan: AnalysisPlan) -> list[tuple[str, str, int]]:
    """The planned (role, row, seed) that have no records: every row a primary test names, at
    every planned seed."""
    have = set(map(tuple, records[["role", "method", "seed"]].drop_duplicates().values.tolist()))
    rows = {(h.role, m) for c in plan.claims for h in c.tests for m in (h.a, h.b)}
    return sorted((role, m, s) for role, m in rows for s in plan.seeds if (role, m, s) not in have)


def seconds_per_seed(index: pd.DataFrame) -> dict[tuple[str, str], float]:
    """(role, row) -> training seconds of one seed (its warm start included): the fastest seed's,
    as wall time on a machine shared with other work only grows (seed 1 of the study: up to 2.5x)."""
    total = index["train_seconds"].astype(float) + index.get("init_seconds", 0.0)
    return index.assign(total=total).groupby(["role", "method"])["total"].min().to_dict()


def write_ledger(report, result: Ledger, runs=None) -> Ledger:
    """Save a :class:`Ledger` through ``report`` (:class:`inpainting.reporting.report.Report`) as
    ``tables/claim_verdicts.csv`` and ``tables/claims_ledger.csv``, first in ``summary.md``."""
    report.table(result.claims, "claim_verdicts", result.how, runs=runs, first=True)
    report.table(result.tests, "claims_ledger", result.how, runs=runs, first=True)
    return result


def from_folder(folder: str | Path, plan: AnalysisPlan = STUDY_PLAN) -> Ledger:
    """The ledger recomputed from a study folder's committed files alone (its plan is checked
    against the code's first)."""
    sha = check(folder, plan)
    records = R.load(folder)
    return ledger(records, plan, sha, seconds=seconds_per_seed(R.read_index(folder)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpainting.evaluation.claims",
                                     description="the claims ledger from a study's committed files")
    parser.add_argument("--from", dest="folder", required=True, help="e.g. references/study")
    parser.add_argument("--write", action="store_true",
                        help="also write tables/claims_ledger.csv and tables/claim_verdicts.csv there")
    args = parser.parse_args(argv)
    try:
        result = from_folder(args.folder)
    except (FileNotFoundError, ValueError) as exc:
        parser.exit(2, f"error: {exc}\n")
    pd.set_option("display.width", 200)
    print(f"plan sha256 {result.plan_sha256}")
    print(result.claims[["claim", "status", "n_seeds", "p_claim", "verdict"]].to_string(index=False))
    print("\npower: seeds per row for 80 % power at this many test images, and their cost "
          "(CPU core-hours per seed, the rows' training on the machines of records/index.csv)")
    print(result.claims[["claim", "seeds_needed", "core_hours_per_seed"]].to_string(index=False))
    print(result.tests[["claim", "status", "role", "metric", "A", "B", "verdict"]].to_string(index=False))
    if args.write:
        tables = Path(args.folder) / "tables"
        tables.mkdir(exist_ok=True)
        result.tests.to_csv(tables / "claims_ledger.csv", index=False)
        result.claims.to_csv(tables / "claim_verdicts.csv", index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
