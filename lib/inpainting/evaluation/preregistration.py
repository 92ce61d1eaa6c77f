"""The study's pre-registered analysis plan: one primary hypothesis per claim, the seeds, the test
images, the level and the rule, fixed before the study trains.

The plan is data (:data:`STUDY_PLAN`), written to ``references/<profile>/plan.json`` by
``python -m inpainting.evaluation.preregistration write`` and committed before the first run of
the study trains; the ledger prints the file's sha256 and refuses a plan that differs from the
code's. It is not the experiment plan (:class:`inpainting.experiments.Plan`: which runs a profile
trains): it fixes which tests decide the claims over those runs' rows.
Every test not listed here is *secondary*: reported with its unadjusted 95 % interval, labelled
secondary, never gating a verdict.
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from ..disk import file_sha256, sha256
from ..experiments import CONTEXT_ENCODER, FULL_MODEL as FULL, GLCIC, PER_LEVEL_PREFIX

PLAN_FILE = "plan.json"
CONFIRMATORY, EXPLORATORY = "confirmatory", "exploratory"


@dataclass(frozen=True)
class Hypothesis:
    """One primary test: ``metric`` of row ``a`` against row ``b`` on ``role`` / mask ``kind``;
    ``margin`` None: A better than B; else A not worse than B by more than ``margin`` (in the
    metric's unit)."""

    metric: str
    a: str
    b: str
    role: str
    kind: str = "centre"
    margin: float | None = None


@dataclass(frozen=True)
class PlannedClaim:
    """A claim, its primary tests (all must hold: an intersection-union test) and whether it is in
    the family whose error rate is controlled (``confirmatory``) or ``exploratory``; ``why`` the
    status was chosen before training."""

    id: str
    tests: tuple[Hypothesis, ...]
    status: str
    why: str


PSNR_MARGIN_DB = 10 * math.log10(1.1)   # A's hole MSE at most 10 % above B's


def _both(metric: str, a: str, b: str, **kw) -> tuple[Hypothesis, ...]:
    return tuple(Hypothesis(metric, a, b, role, **kw) for role in ("faces", "facades"))


@dataclass(frozen=True)
class AnalysisPlan:
    profile: str
    seeds: tuple[int, ...]
    n_test: int
    kinds: tuple[str, ...]
    alpha: float
    min_seeds: int
    kid_resamples: int
    kid_resample_seed: int
    claims: tuple[PlannedClaim, ...]
    rule: str
    training_parts: tuple[tuple[str, tuple[str, ...]], ...]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def text(self) -> str:
        return json.dumps(self.as_dict(), indent=1, sort_keys=True) + "\n"

    def sha256(self) -> str:
        return sha256(self.text())

    @property
    def confirmatory(self) -> tuple[PlannedClaim, ...]:
        return tuple(c for c in self.claims if c.status == CONFIRMATORY)


STUDY_PLAN = AnalysisPlan(
    profile="study",
    seeds=tuple(range(8)),
    n_test=192,
    kinds=("centre", "squares"),
    alpha=0.05,
    min_seeds=8,
    kid_resamples=500,
    kid_resample_seed=20_240_607,
    claims=(
        PlannedClaim("C1", (Hypothesis("kid_x1000", FULL, "L_rec + L_per", "faces"),
                            Hypothesis("kid_x1000", FULL, "L_rec + L_adv", "faces")),
                     EXPLORATORY, "2-seed pilot: 80 % power needs about 80-140 seeds"),
        PlannedClaim("C2", (Hypothesis("kid_x1000", "L_rec + L_per", "L_rec", "faces"),),
                     CONFIRMATORY, "2-seed pilot: 80 % power needs about 5-7 seeds"),
        PlannedClaim("C3", (Hypothesis("kid_x1000", FULL, PER_LEVEL_PREFIX + "relu1_1", "faces"),
                            Hypothesis("kid_x1000", FULL, PER_LEVEL_PREFIX + "relu5_1", "faces")),
                     EXPLORATORY, "2-seed pilot: 80 % power needs hundreds of seeds"),
        PlannedClaim("C4", _both("psnr_hole", FULL, GLCIC, margin=PSNR_MARGIN_DB),
                     CONFIRMATORY, "2-seed pilot: 80 % power needs about 6-8 seeds"),
        PlannedClaim("C5", _both("psnr_hole", FULL, GLCIC) + _both("psnr_hole", FULL, CONTEXT_ENCODER),
                     CONFIRMATORY, "2-seed pilot: 80 % power needs about 4 seeds"),
    ),
    rule=("per test: per-seed paired differences d_s on the same test images (hole PSNR as 10 log10 "
          "of the ratio of mean MSEs, KID as the paired difference on shared resamples), margin "
          "shifted; t = mean(d_s) / sqrt(var_s(d_s)/S + V_img), V_img the image-level variance of "
          "the seed-averaged difference (delta method, or the KID resamples), Satterthwaite df; "
          "one-sided p in each direction. A claim: intersection-union (support p = max over its "
          "tests; contradiction p = k x min over its k tests, opposite side); each claim's p = 2 x "
          "min of the two; Holm over the confirmatory claims at alpha. At least min_seeds seeds "
          "per row, else 'too few seeds (needs about k)'."),
    training_parts=(
        ("faces: L_rec, L_rec + L_per, full, GLCIC", ("faces",)),
        ("faces: Context Encoder, L_rec + L_adv, relu1_1, relu5_1", ("faces",)),
        ("facades: full, GLCIC, Context Encoder (C4 and C5 are claims on both roles)", ("facades",)),
    ),
)


def for_profile(profile) -> AnalysisPlan:
    """The study's hypotheses and rule applied to another profile's runs (its seeds and test
    images): an illustration, not a pre-registered study (no file, no hash)."""
    from ..experiments import Plan
    return dataclasses.replace(STUDY_PLAN, profile=profile.name, seeds=Plan(profile).seeds,
                               n_test=profile.faces.n_test or 0, kinds=profile.masks.test_kinds)


def plan_path(folder: str | Path) -> Path:
    return Path(folder) / PLAN_FILE


def write(folder: str | Path, plan: AnalysisPlan = STUDY_PLAN) -> Path:
    """Write ``plan.json``; refuse to replace a committed plan that differs (a plan changed after
    training is not a plan)."""
    path = plan_path(folder)
    if path.exists() and path.read_text() != plan.text():
        raise SystemExit(f"{path} exists and differs from the code's plan: a pre-registered plan is "
                         "never rewritten; make a new study (profile) for a new plan")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(plan.text())
    return path


def read_plan_file(path: str | Path, plan: AnalysisPlan = STUDY_PLAN) -> str:
    """The plan file's sha256, after checking (:mod:`inpainting.stored`) that it is ``plan``'s
    text byte for byte: any other content, a cut or an edited field, is not the pre-registered
    analysis."""
    from ..stored import damaged, require_file
    fix = ("restore the committed plan with `git checkout -- references/` (a pre-registered plan is "
           "never rewritten; a new plan is a new study)")
    path = require_file(path, fix)
    if path.read_bytes() != plan.text().encode("utf-8"):
        raise damaged(path, "differs from the plan in inpainting.evaluation.preregistration: the "
                            "analysis would not be the pre-registered one", fix)
    return file_sha256(path)


def check(folder: str | Path, plan: AnalysisPlan = STUDY_PLAN) -> str:
    """The committed plan's sha256, after checking that it is the code's plan."""
    path = plan_path(folder)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no pre-registered plan; a ledger needs one "
                                "(python -m inpainting.evaluation.preregistration write)")
    return read_plan_file(path, plan)


def _example(folder: Path, variant: int) -> tuple[Path, dict]:
    plan = dataclasses.replace(STUDY_PLAN, alpha=(STUDY_PLAN.alpha, STUDY_PLAN.alpha / 2)[variant])
    path = Path(folder) / PLAN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(plan.text())
    return path, {"plan": plan}


def _register() -> None:
    from ..stored import Kind, register
    register(Kind("analysis plan", "json", read_plan_file, _example, fields=tuple(STUDY_PLAN.as_dict()),
                  undetectable={"foreign_network": "a JSON plan holds no network"}))


_register()


if __name__ == "__main__":
    folder = sys.argv[2] if len(sys.argv) > 2 else "references/study"
    if sys.argv[1:2] == ["write"]:
        print(write(folder), check(folder))
    else:
        print(check(folder))
