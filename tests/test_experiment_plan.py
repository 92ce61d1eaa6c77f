"""The experiment plan (:class:`inpainting.experiments.Plan`): the rows a profile trains, computed
once, each run's profile validated once; and the pre-registered analysis plan beside it, whose
committed file never changes."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from inpainting import experiments, profile_checks
from inpainting.evaluation import preregistration
from inpainting.profiles import get_profile

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def validations(monkeypatch):
    """How many times a profile is validated (every profile ``with_overrides`` makes is)."""
    calls = []
    real = profile_checks.validate
    monkeypatch.setattr(profile_checks, "validate", lambda p: calls.append(p) or real(p))
    return calls


def test_each_run_of_the_plan_is_made_and_validated_once(validations):
    plan = experiments.Plan(get_profile("smoke", {"experiments.seeds": 2}))
    first = plan.named_runs
    made = len(validations)
    distinct = {(row.role, repr(sorted(row.overrides.items()))) for row in plan.rows}
    # at most three profiles per distinct row and seed: the row's, its warm start's, its own stages'
    assert 0 < made <= 3 * len(distinct) * len(plan.seeds)
    assert plan.named_runs is first and [r.spec for r in first] == plan.runs()
    plan.table("06_evaluation"), plan.rows, plan.warm_start("facades", 1)
    assert len(validations) == made   # every later question is answered from the plan


def test_the_rows_follow_each_notebooks_table_and_run_every_seed():
    profile = get_profile("study")
    plan = experiments.Plan(profile)
    assert plan.seeds == tuple(range(8))
    ablation = plan.table("04_loss_ablation", "faces")
    assert [row.name for row in ablation] == list(experiments.ABLATION_VARIANTS)
    for row in plan.rows:
        assert row.seeds == plan.seeds and len(row.runs) == len(plan.seeds)
        assert all(spec.role == row.role for spec in row.runs)
    # a row shown by several notebooks is one object with the same runs
    full = [row for row in plan.rows if row.name == experiments.FULL_MODEL and row.role == "faces"]
    assert len(full) == 1 and full[0] in plan.table("03_training") and full[0] in ablation
    # 05's relu3_1 row is the full model's run under another name
    relu3_1 = next(r for r in plan.table("05_perceptual_levels") if r.name == "relu3_1")
    assert [s.key for s in relu3_1.runs] == [s.key for s in full[0].runs]
    assert {row.role for row in plan.table("06_evaluation")} == {"faces", "facades"}


def test_named_runs_are_each_run_once_under_its_first_name_warm_starts_first():
    plan = experiments.Plan(get_profile("demo", {"experiments.seeds": 2}))
    named = plan.named_runs
    keys = [run.spec.key for run in named]
    assert len(keys) == len(set(keys)) == len({s.key for row in plan.rows for s in row.runs}
                                               | {s.init.key for row in plan.rows for s in row.runs
                                                  if s.init is not None})
    warm = [run for run in named if run.name == experiments.WARM_START]
    assert named[:len(warm)] == tuple(warm) and len(warm) == 2 * 2   # 2 roles x 2 seeds
    relu3_1 = plan.table("05_perceptual_levels")[1].runs[0]
    assert next(run.name for run in named if run.spec.key == relu3_1.key) == experiments.FULL_MODEL


def test_a_profile_picks_its_rows_and_a_plan_limits_to_notebooks():
    demo = get_profile("demo")
    names = {row.name for row in experiments.Plan(demo).rows}
    assert experiments.GLCIC not in names and experiments.CONTEXT_ENCODER in names
    assert "relu2_1" not in names and "relu5_1" in names
    only_03 = experiments.Plan(demo, ["03_training"])
    assert [row.name for row in only_03.rows] == [experiments.FULL_MODEL]
    assert len(only_03.runs()) == 2   # its warm start and the full model
    glcic = get_profile("demo", {"model.generator": "glcic"})
    with pytest.raises(ValueError, match="has no warm start"):
        experiments.Plan(glcic).warm_start()


def test_the_committed_pre_registered_plan_is_the_codes_byte_for_byte():
    """references/study/plan.json is cited by its sha256: the code's analysis plan must serialise
    to exactly its bytes (renaming or moving the plan's definitions must not change one)."""
    path = ROOT / "references" / "study" / preregistration.PLAN_FILE
    assert path.read_bytes() == preregistration.STUDY_PLAN.text().encode()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest.startswith("023a8a4e") and preregistration.check(path.parent) == digest
