"""The one data model (inpainting.evaluation.records) and the ledger over it
(inpainting.evaluation.claims): records of a real completion method, files written once and read
back checked, seed pairs with the kit's estimands, degenerate inputs that get no verdict, the
ledger's verdicts on synthetic studies, its refusal to judge part of a study, and the plan it
checks."""
import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from inpainting.evaluation import claims as C
from inpainting.evaluation import preregistration as P
from inpainting.evaluation import records as R
from inpainting.evaluation import decisions
from inpainting.profiles import get_profile
from inpainting.stored import DamagedFileError
from fixtures import make_oracle


def frame(role, method, seed, metric, values, kind="centre", unit=R.IMAGE, key=None):
    values = np.asarray(values, dtype=float)
    return pd.DataFrame({"role": role, "method": method, "seed": seed,
                         "key": key or f"{role}-{method}-{seed}", "kind": kind, "unit": unit,
                         "index": np.arange(len(values)) - (unit == R.WHOLE), "metric": metric,
                         "value": values})


def study(effects: dict, plan=P.STUDY_PLAN, n=192, seed_sd=0.05, image_sd=1.0, rng_seed=0):
    """Synthetic records for every row a plan's primary tests name: hole PSNR per image and KID
    (whole + resamples) per seed; ``effects[(role, row)]`` in dB (PSNR) / KID units, better = up."""
    rng = np.random.default_rng(rng_seed)
    rows = {(h.role, m) for c in plan.claims for h in c.tests for m in (h.a, h.b)}
    base = {role: rng.normal(20, image_sd, n) for role in ("faces", "facades")}
    frames = []
    for role, method in sorted(rows):
        effect = effects.get((role, method), 0.0)
        for s in plan.seeds:
            psnr = base[role] + effect + rng.normal(0, seed_sd) + rng.normal(0, 0.3, n)
            frames.append(frame(role, method, s, "psnr_hole", psnr))
            kid = 10.0 - effect + rng.normal(0, seed_sd)
            resamples = kid + rng.normal(0, 0.2, 50)
            frames.append(frame(role, method, s, "kid_x1000", [kid], unit=R.WHOLE))
            frames.append(frame(role, method, s, "kid_x1000", resamples, unit=R.RESAMPLE))
    return pd.concat(frames, ignore_index=True)


def test_seed_pairs_use_the_psnr_of_the_mean_mse_and_the_metric_direction():
    a = np.array([[20.0, 30.0], [22.0, 28.0]])
    b = np.array([[21.0, 21.0], [21.0, 21.0]])
    rec = pd.concat([frame("faces", "A", s, "psnr_hole", a[s]) for s in (0, 1)]
                    + [frame("faces", "B", s, "psnr_hole", b[s]) for s in (0, 1)])
    p = R.seed_pairs(rec, "psnr_hole", "A", "B", "faces", "centre")
    for s in (0, 1):   # 10 log10 of the ratio of mean MSEs, not a difference of mean PSNRs
        mse_a, mse_b = (10 ** (-a[s] / 10)).mean(), (10 ** (-b[s] / 10)).mean()
        assert p.d[s] == pytest.approx(10 * math.log10(mse_b / mse_a))
    assert p.a_value == pytest.approx(-10 * math.log10((10 ** (-a / 10)).mean()))
    assert min(a[:, 0].min(), a[:, 1].min()) <= p.a_value <= max(a.ravel())
    l1 = pd.concat([frame("faces", m, 0, "l1_hole_pct", v) for m, v in (("A", [1, 1]), ("B", [2, 2]))])
    assert R.seed_pairs(l1, "l1_hole_pct", "A", "B", "faces", "centre").d[0] == 1.0  # lower is better


def test_records_of_a_real_method_cover_every_metric_kind_and_kid(tmp_path):
    profile = get_profile("smoke")
    rec = R.run_records(make_oracle(profile), profile, "faces", 20, 3)
    assert set(rec.columns) == set(R.RUN_COLUMNS)
    kinds = set(rec.loc[rec["unit"] == R.IMAGE, "kind"])
    assert {"centre", "squares"} <= kinds and len(kinds) == 3    # + the semantic test set's kind
    kid = rec[rec["metric"] == "kid_x1000"]
    assert (kid["unit"] == R.WHOLE).sum() == 1 and (kid["unit"] == R.RESAMPLE).sum() == 20
    assert set(rec["metric"]) >= {"psnr_hole", "ssim_hole", "kid_x1000", "eye_error", "eye_hit"}


def test_files_are_written_once_and_checked_when_read(tmp_path):
    P.write(tmp_path)
    facts = {"role": "faces", "method": "A", "seed": 0, "key": "abc", "generator": "lite"}
    one = frame("faces", "A", 0, "psnr_hole", [20.0, 21.0])[list(R.RUN_COLUMNS)]
    path = R.write_run(tmp_path, facts, one)
    assert R.write_run(tmp_path, facts, one) == path          # the same records: nothing to do
    with pytest.raises(FileExistsError, match="already recorded"):
        R.write_run(tmp_path, facts, one.assign(value=1.0))
    assert len(R.load(tmp_path)) == 2
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DamagedFileError, match="is not the recorded file"):
        R.load(tmp_path)


def test_one_run_listed_twice_never_counts_as_two_seeds(tmp_path):
    one = frame("faces", "A", 0, "psnr_hole", [20.0, 21.0])[list(R.RUN_COLUMNS)]
    R.write_run(tmp_path, {"role": "faces", "method": "A", "seed": 0, "key": "abc", "generator": "lite"}, one)
    index = R.read_index(tmp_path)
    twice = pd.concat([index, index.assign(seed=1)])
    twice.to_csv(tmp_path / R.RECORDS / R.INDEX, index=False)
    with pytest.raises(ValueError, match="twice"):
        R.load(tmp_path)


@pytest.mark.parametrize("case", ["one seed", "no variance", "below resolution"])
def test_degenerate_inputs_get_no_verdict(case):
    if case == "one seed":
        out = decisions.seed_image_test([0.5], 0.01, 100)
    elif case == "no variance":   # the same difference on every image and seed: a point, no test
        out = decisions.seed_image_test([0.5] * 8, 0.0, 4)
    else:
        out = decisions.seed_image_test([1e-12] * 8, 0.0, 192, resolution=1e-9)
    assert not out.tested and math.isnan(out.p_better) and out.problem


def test_a_clear_study_is_decided_and_a_null_one_is_not():
    clear = {("faces", "L_rec + L_per"): 1.0, ("faces", P.FULL): 0.0, ("faces", P.GLCIC): -1.0,
             ("facades", P.GLCIC): -1.0, ("faces", P.CONTEXT_ENCODER): -1.0,
             ("facades", P.CONTEXT_ENCODER): -1.0}
    result = C.ledger(study(clear))
    verdict = result.claims.set_index("claim")["verdict"]
    assert verdict["C2"] == C.SUPPORTED and verdict["C4"] == C.SUPPORTED and verdict["C5"] == C.SUPPORTED
    assert verdict["C1"].startswith("exploratory")
    null = C.ledger(study({}))
    nv = null.claims.set_index("claim")["verdict"]
    assert nv["C2"].startswith("not established") and nv["C5"].startswith("not established")
    # C4 non-inferiority with no true difference: within the 0.41 dB margin, so supported
    assert nv["C4"] == C.SUPPORTED
    worse = C.ledger(study({("faces", P.GLCIC): 2.0, ("facades", P.GLCIC): 2.0}))
    assert worse.claims.set_index("claim")["verdict"]["C4"] == C.CONTRADICTED
    secondary = result.tests[result.tests["status"] == "secondary"]
    assert len(secondary) and secondary["verdict"].str.startswith(("secondary", "not tested")).all()


def test_too_few_seeds_says_how_many_are_needed():
    plan = dataclasses.replace(P.STUDY_PLAN, seeds=(0, 1, 2))
    result = C.ledger(study({("faces", "L_rec + L_per"): 0.5}, plan=plan, seed_sd=0.5), plan)
    c2 = result.claims.set_index("claim").loc["C2"]
    assert c2["verdict"].startswith("too few seeds (3; needs about")
    row = result.tests[(result.tests["claim"] == "C2") & (result.tests["status"] != "secondary")].iloc[0]
    assert "too few seeds to separate" in row["verdict"]


def test_the_ledger_is_not_computed_from_part_of_a_study():
    rec = study({})
    part = rec[~((rec["method"] == P.GLCIC) & (rec["seed"] == 7))]
    with pytest.raises(ValueError, match="planned runs have no records"):
        C.ledger(part)


def test_the_committed_plan_is_the_codes_plan(tmp_path):
    assert P.check("references/study") == P.STUDY_PLAN.sha256()
    P.write(tmp_path)
    (tmp_path / P.PLAN_FILE).write_text(P.STUDY_PLAN.text().replace('"alpha": 0.05', '"alpha": 0.1'))
    with pytest.raises(ValueError, match="differs"):
        P.check(tmp_path)
    with pytest.raises(SystemExit, match="never rewritten"):
        P.write(tmp_path)
