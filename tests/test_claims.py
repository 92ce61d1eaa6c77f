"""The claims ledger on notebook 06's path: the plan's rows are rows notebook 06 trains, a real
smoke comparison becomes records and a ledger that opens summary.md, and the CLI recomputes the
ledger from a folder's files alone (synthetic studies: tests/test_records.py; the rule's
calibration: tests/test_decision_calibration.py)."""
import numpy as np
import pandas as pd
import pytest
import torch

from inpainting.evaluation import claims as C
from inpainting.evaluation import preregistration as P
from inpainting.evaluation import records as R
from inpainting.experiments import Plan
from inpainting.profiles import get_profile
from fixtures import make_oracle
from test_records import study


@pytest.mark.parametrize("name", ["smoke", "demo", "study", "paper"])
def test_the_plans_rows_are_rows_notebook_06_trains(name):
    """Every row a primary test names is a row of notebook 06 for a profile that trains every row
    (an absent row would leave a claim untested for good); the relu3_1 row is the full model."""
    profile = get_profile(name, {"experiments.faces_baselines": ["glcic", "context_encoder"],
                                 "experiments.facades_baselines": ["glcic", "context_encoder"],
                                 "experiments.perceptual_levels": ["relu1_1", "relu3_1", "relu5_1"]})
    rows = {role: {row.name for row in Plan(profile).table("06_evaluation", role)}
            for role in ("faces", "facades")}
    plan = P.for_profile(profile)
    assert [c.id for c in plan.claims] == list(C.CLAIM_WORDS)
    for claim in plan.claims:
        for h in claim.tests + C.secondary_tests(plan)[claim.id]:
            assert {h.a, h.b} <= rows[h.role], (claim.id, h)
    assert {c.id for c in plan.confirmatory} == {"C2", "C4", "C5"}


def noise_fill(images, masks):
    g = torch.Generator().manual_seed(0)
    return torch.rand(images.shape, generator=g) * 0.6 - 0.3


def test_a_smoke_comparison_gives_records_and_a_ledger_first_in_the_summary(tmp_path, monkeypatch):
    """notebook 06's call on a smoke comparison of plain callables named as the paper's rows: the
    records hold every metric, KID per resample and the semantic score; untrained rows with one
    "seed" get "too few seeds"; absent rows are "not tested"; both tables open summary.md."""
    from inpainting.evaluation.comparison import compare
    from inpainting.reporting.report import Report, read_outputs
    monkeypatch.setenv("INPAINTING_RESULTS", str(tmp_path))
    profile = get_profile("smoke", {"faces.n_test": 24})
    faces = compare({P.FULL: make_oracle(profile), "L_rec + L_per": noise_fill, "L_rec": noise_fill},
                    profile, "faces", progress=False)
    records = faces.records(kid_resamples=50)
    assert set(records.columns) == set(R.COLUMNS)
    assert {"psnr_hole", "kid_x1000", "eye_error"} <= set(records["metric"])
    assert ((records["metric"] == "kid_x1000") & (records["unit"] == R.RESAMPLE)).sum() == 50 * 4 * 2
    report = Report(profile.name, "06_evaluation")
    report.table(faces.table(), "faces_all_methods", "the comparison", runs=faces)
    result = C.write_ledger(report, C.ledger(records, P.for_profile(profile), require_complete=False),
                            runs=[faces])
    verdict = result.claims.set_index("claim")["verdict"]
    assert verdict["C2"].startswith("too few seeds (1")
    assert verdict["C5"].startswith("not tested")
    summary = (tmp_path / "smoke" / "summary.md").read_text()
    first = summary.index("## claim_verdicts (06_evaluation)")
    assert first < summary.index("## claims_ledger (06_evaluation)") < summary.index("## 06_evaluation")
    assert "not pre-registered" in summary[first:].lower()
    assert read_outputs("smoke")["06_evaluation/claims_ledger"]["first"] is True


def test_the_ledger_is_recomputed_from_a_folders_files_alone(tmp_path, capsys):
    """Records written per run with the index, then the CLI: the same verdicts as in memory."""
    P.write(tmp_path)
    records = study({("faces", "L_rec + L_per"): 1.0, ("faces", P.GLCIC): -1.0,
                     ("facades", P.GLCIC): -1.0, ("faces", P.CONTEXT_ENCODER): -1.0,
                     ("facades", P.CONTEXT_ENCODER): -1.0})
    for (role, method, seed), rows in records.groupby(["role", "method", "seed"]):
        facts = {"role": role, "method": method, "seed": seed, "key": f"{role}-{method}-{seed}",
                 "generator": "lite", "train_seconds": 100.0, "init_seconds": 50.0}
        R.write_run(tmp_path, facts, rows[list(R.RUN_COLUMNS)])
    in_memory = C.ledger(records, plan_sha256=P.STUDY_PLAN.sha256())
    assert C.main(["--from", str(tmp_path), "--write"]) == 0
    out = capsys.readouterr().out
    assert f"plan sha256 {P.STUDY_PLAN.sha256()}" in out
    saved = pd.read_csv(tmp_path / "tables" / "claim_verdicts.csv")
    assert saved["verdict"].tolist() == in_memory.claims["verdict"].tolist()
    assert saved.set_index("claim").loc["C2", "verdict"] == C.SUPPORTED
    assert np.isclose(saved.set_index("claim").loc["C2", "core_hours_per_seed"], 2 * 150 / 3600)


def test_the_reproduction_report_is_pending_until_complete_then_states_each_verdict(tmp_path):
    from inpainting.reporting import reproduction
    P.write(tmp_path)
    records = study({("faces", "L_rec + L_per"): 1.0})
    groups = list(records.groupby(["role", "method", "seed"]))
    for (role, method, seed), rows in groups[:-1]:
        R.write_run(tmp_path, {"role": role, "method": method, "seed": seed, "key": f"{role}-{method}-{seed}",
                               "generator": "lite", "train_seconds": 100.0, "init_seconds": 0.0,
                               "cpu": "test CPU", "cpu_capability": "AVX2"}, rows[list(R.RUN_COLUMNS)])
    text = reproduction.report(tmp_path)
    assert "partial replication" in text and "**Pending: no verdict yet.** 1 planned runs" in text
    (role, method, seed), rows = groups[-1]
    R.write_run(tmp_path, {"role": role, "method": method, "seed": seed, "key": "last",
                           "generator": "lite", "train_seconds": 100.0, "init_seconds": 0.0,
                           "cpu": "test CPU", "cpu_capability": "AVX2"}, rows[list(R.RUN_COLUMNS)])
    text = reproduction.report(tmp_path)
    assert "Pending" not in text and "| C2 | confirmatory |" in text and "supported" in text
    out = tmp_path / "REPRODUCTION.md"
    out.write_text("my notes")
    with pytest.raises(SystemExit):   # never replaces a file it did not write
        reproduction.main(["--from", str(tmp_path), "--out", str(out)])
    assert out.read_text() == "my notes"
