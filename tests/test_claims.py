"""Tests of inpainting.evaluation.claims: the claims ledger's verdicts on synthetic comparisons (A
clearly better, clearly worse, equal, one training seed, a missing row, non-inferiority within and
outside its margin, KID), its family-wise error under no difference, the claim-level rule, the
paper's claims against the experiments' row names, and the ledger at the top of summary.md from a
real smoke comparison."""
import math
import types

import numpy as np
import pandas as pd
import pytest
import torch

from inpainting.evaluation import claims as C
from inpainting.evaluation import realism, stats
from inpainting.evaluation.claims import SEMANTIC, Claim, Margin, ClaimTest, claim_verdicts, ledger
from inpainting.evaluation.comparison import Comparison
from inpainting.experiments import (CONTEXT_ENCODER, FACADES_VARIANTS, FACES_ALL_VARIANTS, FULL_MODEL,
                                    GLCIC, paper_claims, variants_for)
from inpainting.profiles import get_profile
from fixtures import make_oracle

N = 24


@pytest.fixture(scope="module")
def profile():
    return get_profile("smoke")


def synthetic(values: dict, trained=(), role="faces", kid=None, params=None) -> Comparison:
    """A Comparison from per-image values: ``values[metric][method]`` is an array ``(seeds, n)``
    (or ``(n,)`` for one seed); metric ``eye_error`` is the faces' semantic score. ``trained``:
    the methods that are training runs; ``kid``: a RealismScores."""
    columns, semantic, seeds = {}, [], {}
    for metric, per_method in values.items():
        for method, arr in per_method.items():
            arr = np.atleast_2d(np.asarray(arr, dtype=float))
            seeds[method] = len(arr)
            k, i = np.meshgrid(np.arange(arr.shape[0]), np.arange(arr.shape[1]), indexing="ij")
            index = {"method": method, "seed_index": k.ravel(), "sample": i.ravel()}
            if metric == "eye_error":
                semantic.append(pd.DataFrame({**index, metric: arr.ravel()}))
            else:
                columns.setdefault(method, index)[metric] = arr.ravel()
    per_seed = semantic_per_seed = semantic_per_image = None
    if columns:
        per_seed = pd.concat([pd.DataFrame(c) for c in columns.values()], ignore_index=True)
        per_seed["kind"] = "centre"
        per_image = per_seed.groupby(["method", "kind", "sample"], sort=False).mean(
            numeric_only=True).drop(columns="seed_index").reset_index()
    else:
        per_image = pd.DataFrame(columns=["method", "kind", "sample"])
    if semantic:
        semantic_per_seed = pd.concat(semantic, ignore_index=True)
        semantic_per_image = semantic_per_seed.groupby(["method", "sample"], sort=False)[
            "eye_error"].mean().reset_index()
    methods = dict.fromkeys([*seeds, *(kid.fake if kid is not None else {})])
    summary = pd.DataFrame({"method": list(methods), "params": pd.array(
        [(params or {}).get(m) for m in methods], dtype="Int64")})
    return Comparison(role=role, dataset_name="faces", test_set=None, methods=methods,
                      per_image=per_image, summary=summary, per_seed=per_seed,
                      semantic_set=types.SimpleNamespace(kinds=["eye"]) if semantic else None,
                      semantic_per_image=semantic_per_image, semantic_per_seed=semantic_per_seed,
                      runs={m: [{"run": m}] * seeds.get(m, 1) for m in trained},
                      n_seeds={m: seeds.get(m, 1) for m in methods}, realism=kid)


def one_claim(*tests, roles=("faces",)):
    return [Claim("X", "the words", roles, tuple(tests))]


def seeded(rng, mean, spread=0.002, seeds=3, noise=0.01):
    """``seeds`` arrays of N per-image values around ``mean`` (each seed shifted by ``spread``)."""
    return np.stack([mean + rng.normal(0, spread) + rng.normal(0, noise, N) for _ in range(seeds)])


def test_clearly_better_worse_and_equal_methods(profile):
    """A far above B on SSIM (3 tight seeds each) and far below it on the semantic error: supported;
    B against A: contradicted; two equal methods: not established, saying the budget; the
    interval is given in every case and is the findings' paired interval."""
    rng = np.random.default_rng(1)
    base = rng.normal(0.7, 0.05, N)
    b = base + seeded(rng, 0)
    comparison = synthetic({
        "ssim_hole": {"A": base + 0.1 + seeded(rng, 0), "B": b, "E": b + rng.normal(0, 0.01, b.shape)},
        "eye_error": {"A": seeded(rng, 1.0, noise=0.1), "B": seeded(rng, 2.0, noise=0.1)},
    }, trained=("A", "B", "E"))
    table = ledger({"faces": comparison}, profile, one_claim(
        ClaimTest("ssim_hole", "A", "B"), ClaimTest("ssim_hole", "B", "A"), ClaimTest(SEMANTIC, "A", "B"),
        ClaimTest("ssim_hole", "B", "E")))
    assert list(table.columns) == list(C.LEDGER_COLUMNS)
    assert table["status"].tolist() == [C.SUPPORTED, C.CONTRADICTED, C.SUPPORTED, C.NOT_ESTABLISHED]
    assert table.loc[0, "verdict"].startswith("supported: A - B = 0.")
    assert abs(table.loc[0, "estimate"] - 0.1) < 0.01
    assert table.loc[1, "verdict"].startswith("contradicted: A - B = -0.")
    equal = table.loc[3, "verdict"]
    assert equal.startswith(f"not established at this budget ({N} images, "
                            f"{profile.train.steps_g}/{profile.train.steps_d}/{profile.train.steps_joint} "
                            "steps (G/D/joint), 3 / 3 training seeds; the interval contains 0)")
    assert table.loc[2, "metric"] == "semantic_eye_error" and table.loc[2, "kind"] == "eye"
    level = stats.bonferroni(0.95, 4)
    assert (table["level"] == level).all() and (table["n_images"] == N).all()
    # the same interval as the findings' own paired difference at that level
    wide, _ = comparison.image_table("ssim_hole", "centre")
    ci = stats.paired_difference(wide["A"], wide["B"], 2000 * 4, level)
    assert (table.loc[0, "estimate"], table.loc[0, "lo"], table.loc[0, "hi"]) == (ci.estimate, ci.lo, ci.hi)
    assert "Welch t needs" in table.loc[0, "why"]


def test_one_training_seed_is_not_established_and_says_seeds(profile):
    """A clear per-image difference of two trained methods with one seed each is 'too few seeds';
    the same values as untrained callables (no training randomness) are supported."""
    rng = np.random.default_rng(2)
    base = rng.normal(25, 2, N)
    values = {"psnr_hole": {"A": base + 2 + rng.normal(0, 0.1, N), "B": base + rng.normal(0, 0.1, N)}}
    claim = one_claim(ClaimTest("psnr_hole", "A", "B"))
    trained = ledger({"faces": synthetic(values, trained=("A", "B"))}, profile, claim).iloc[0]
    assert trained["status"] == C.NOT_ESTABLISHED and trained["seeds"] == "1 / 1"
    assert "1 / 1 training seeds; too few seeds" in trained["verdict"]
    assert "too few training seeds (1 and 1" in trained["why"] and trained["lo"] > 1.5
    untrained = ledger({"faces": synthetic(values)}, profile, claim).iloc[0]
    assert untrained["status"] == C.SUPPORTED and "no training randomness" in untrained["why"]
    assert untrained["verdict"].endswith(" dB")


def test_seeds_that_scatter_more_than_the_difference_are_not_established(profile):
    rng = np.random.default_rng(3)
    base = rng.normal(0.7, 0.05, N)
    comparison = synthetic({"ssim_hole": {"A": base + 0.02 + seeded(rng, 0, spread=0.1),
                                          "B": base + seeded(rng, 0, spread=0.1)}},
                           trained=("A", "B"))
    row = ledger({"faces": comparison}, profile, one_claim(ClaimTest("ssim_hole", "A", "B"))).iloc[0]
    assert row["status"] == C.NOT_ESTABLISHED and "seeds disagree" in row["verdict"]


def test_missing_rows_roles_and_scores_are_not_tested(profile):
    rng = np.random.default_rng(4)
    comparison = synthetic({"ssim_hole": {"A": rng.normal(0.8, 0.01, N), "B": rng.normal(0.7, 0.01, N)}})
    table = ledger({"faces": comparison}, profile, one_claim(
        ClaimTest("ssim_hole", "A", "B"), ClaimTest("ssim_hole", "A", GLCIC), ClaimTest(SEMANTIC, "A", "B"),
        ClaimTest("kid_x1000", "A", "B"), ClaimTest("ssim_hole", "A", "B", kind="squares"),
        roles=("faces", "facades")))
    assert table["status"].tolist() == [C.SUPPORTED] + [C.NOT_TESTED] * 9
    verdicts = table["verdict"].tolist()
    assert verdicts[1] == f"not tested here (row missing: {GLCIC})"
    assert verdicts[2] == "not tested here (no semantic score on faces)"
    assert verdicts[3] == "not tested here (no KID of A, B on centre holes)"
    assert verdicts[4] == "not tested here (no ssim_hole of A, B on squares holes)"
    assert verdicts[5:] == ["not tested here (no facades comparison given)"] * 5
    assert math.isnan(table.loc[1, "estimate"]) and table.loc[1, "n_images"] == 0
    # only the one test that could be run counts for Bonferroni
    assert table.loc[0, "level"] == pytest.approx(0.95)


def test_non_inferiority_within_and_outside_the_margin(profile):
    """A is 0.2 dB below B: non-inferior within 1 dB (supported), inferior beyond 0.05 dB
    (contradicted), and not established with a margin of 0.2 dB (the interval straddles it)."""
    rng = np.random.default_rng(5)
    base = rng.normal(25, 2, N)
    b = base + rng.normal(0, 0.05, N)
    a = b - 0.2 + rng.normal(0, 0.05, N)
    comparison = synthetic({"psnr_hole": {"A": a, "B": b}}, params={"A": 1_372_883, "B": 6_072_131})
    margins = [Margin(value, "dB", "test") for value in (1.0, 0.05, 0.2)]
    table = ledger({"faces": comparison}, profile,
                   one_claim(*[ClaimTest("psnr_hole", "A", "B", margin=m) for m in margins]))
    assert table["status"].tolist() == [C.SUPPORTED, C.CONTRADICTED, C.NOT_ESTABLISHED]
    assert table["margin"].tolist() == [1.0, 0.05, 0.2]
    assert (table["hi"] < 0).all()   # A is worse in every case: the margin decides
    assert "the interval reaches past the margin" in table.loc[2, "verdict"]
    assert table.loc[0, "why"].startswith("margin 1 dB (test); ")
    assert table.loc[0, "params"] == "1,372,883 / 6,072,131"
    assert table.loc[0, "direction"] == "A not worse than B by more than the margin (higher is better)"
    with pytest.raises(ValueError, match="positive number"):
        Margin(0.0, "dB", "none")


def kid_scores(rng, noise: dict) -> realism.RealismScores:
    """Features of the real images and of each method's completions: the real ones plus noise."""
    real = rng.normal(0, 1, (N, 16))
    return realism.RealismScores(real={"centre": real}, fake={
        m: {"centre": [real + rng.normal(0, s, real.shape)]} for m, s in noise.items()})


def test_kid_tests_use_the_paired_kid_difference(profile):
    """KID: completions close to the real images beat far ones (supported), the other way round
    is contradicted, and a relative margin is a fraction of B's KID (0 where B's unbiased KID
    is below 0, as the near completions' is here)."""
    rng = np.random.default_rng(6)
    scores = kid_scores(rng, {"near": 0.2, "far": 3.0})
    comparison = synthetic({}, kid=scores)
    relative = Margin(0.1, "KID x 1000", "test", relative=True)
    table = ledger({"faces": comparison}, profile, one_claim(
        ClaimTest("kid_x1000", "near", "far"), ClaimTest("kid_x1000", "far", "near"),
        ClaimTest("kid_x1000", "far", "near", margin=relative),
        ClaimTest("kid_x1000", "near", "far", margin=relative)))
    assert table["status"].tolist() == [C.SUPPORTED, C.CONTRADICTED, C.CONTRADICTED, C.SUPPORTED]
    level = stats.bonferroni(0.95, 4)
    diff = scores.difference("near", "far", "centre", 2000 * 4, level)
    assert tuple(table.loc[0, ["estimate", "lo", "hi"]]) == (diff.estimate, diff.lo, diff.hi)
    kid = scores.estimates("centre")
    assert kid["near"] < 0 < kid["far"] and table.loc[2, "margin"] == 0
    assert table.loc[3, "margin"] == pytest.approx(0.1 * kid["far"])
    assert table.loc[0, "direction"] == "A better than B (lower is better)"


def test_the_ledgers_family_error_under_no_difference_stays_at_5_percent(profile):
    """400 ledgers of 8 tests between five methods with no true difference (shared image effect,
    normal and skewed per-image noise; hole PSNR and a mean score, two non-inferiority tests):
    the share of ledgers with any supported or contradicted superiority verdict, or any
    contradicted non-inferiority verdict, stays within sampling error of 5 % (measured: 14 of 400
    ledgers, 3.5 %, with this seed; 2-core AMD EPYC, float64, 11 CPU seconds)."""
    rng = np.random.default_rng(7)
    others = ["B", "C", "D", "E"]
    tests = [*[ClaimTest("ssim_hole", "A", m) for m in others],
             *[ClaimTest("psnr_hole", "A", m) for m in others[:2]],
             *[ClaimTest("psnr_hole", "A", m, margin=Margin(0.3, "dB", "sim")) for m in others[2:]]]
    claims = one_claim(*tests)
    wrong = 0
    replicates = 400
    for r in range(replicates):
        n = (8, 16, 24)[r % 3]
        ssim_base, psnr_base = rng.normal(0.7, 0.1, n), rng.normal(24, 2, n)

        def noise(scale):
            return rng.gamma(4.0, scale / 2.0, n) - 2.0 * scale if r % 2 else rng.normal(0, scale, n)
        comparison = synthetic({
            "ssim_hole": {m: ssim_base + noise(0.02) for m in ["A", *others]},
            "psnr_hole": {m: psnr_base + noise(0.5) for m in ["A", *others]}})
        table = ledger({"faces": comparison}, profile, claims)
        superiority = table["margin"].isna()
        bad = (superiority & table["status"].isin([C.SUPPORTED, C.CONTRADICTED])) | \
            (~superiority & (table["status"] == C.CONTRADICTED))
        wrong += bool(bad.any())
    rate = wrong / replicates
    # 5 % plus two binomial standard errors at 400 ledgers (1.1 %)
    assert rate <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / replicates), rate


def test_claim_verdicts_combine_tests_by_the_stated_rule():
    def table(*statuses_by_claim):
        rows = [{"claim": c, "words": f"words {c}", "role": "faces", "status": s}
                for c, statuses in statuses_by_claim for s in statuses]
        return pd.DataFrame(rows)
    out = claim_verdicts(table(
        ("C1", [C.SUPPORTED, C.SUPPORTED]), ("C2", [C.SUPPORTED, C.CONTRADICTED]),
        ("C3", [C.SUPPORTED, C.NOT_ESTABLISHED]), ("C4", [C.NOT_TESTED, C.NOT_TESTED]),
        ("C5", [C.SUPPORTED, C.NOT_TESTED])))
    assert list(out.columns) == list(C.VERDICT_COLUMNS)
    assert out["verdict"].tolist() == [
        "supported", "contradicted", "not established at this budget (1 of 2 tests supported)",
        "not tested here",
        "not established at this budget (1 of 2 tests supported; 1 of 2 tests not tested here)"]
    assert out.loc[1, C.CONTRADICTED] == 1 and out.loc[0, "words"] == "words C1"
    assert C.CLAIM_RULE in out.attrs["how"]
    with pytest.raises(ValueError, match="lacks"):
        claim_verdicts(pd.DataFrame({"claim": ["C1"]}))


def test_bad_ledger_inputs_are_clear_errors(profile):
    rng = np.random.default_rng(8)
    comparison = synthetic({"ssim_hole": {"A": rng.normal(0.8, 0.01, N), "B": rng.normal(0.7, 0.01, N)}})
    claim = one_claim(ClaimTest("ssim_hole", "A", "B"))
    with pytest.raises(ValueError, match="unknown role 'celeba'"):
        ledger({"celeba": comparison}, profile, claim)
    with pytest.raises(ValueError, match=r"comparisons\['facades'\] is the comparison of role 'faces'"):
        ledger({"facades": comparison}, profile, claim)
    with pytest.raises(ValueError, match="distinct ids"):
        ledger({"faces": comparison}, profile, claim + claim)
    with pytest.raises(ValueError, match="not a metric the ledger knows; use one of"):
        ClaimTest("psnr_mean", "A", "B")
    with pytest.raises(ValueError, match="with itself"):
        ClaimTest("ssim_hole", "A", "A")
    with pytest.raises(ValueError, match="roles"):
        Claim("X", "w", ("celeba",), (ClaimTest("ssim_hole", "A", "B"),))


@pytest.mark.parametrize("name", ["smoke", "demo", "paper"])
def test_paper_claims_name_rows_notebook_06_trains(name):
    """Every method of every claim is a row of notebook 06 for a profile that trains every row
    (an absent row would make a claim 'not tested' for good); the relu3_1 row is the full model."""
    profile = get_profile(name, {"experiments.faces_baselines": ["glcic", "context_encoder"],
                                 "experiments.facades_baselines": ["glcic", "context_encoder"],
                                 "experiments.perceptual_levels": ["relu1_1", "relu3_1", "relu5_1"]})
    rows = {"faces": set(variants_for(profile, FACES_ALL_VARIANTS, "faces")),
            "facades": set(variants_for(profile, FACADES_VARIANTS, "facades"))}
    claims = paper_claims(profile)
    assert [c.id for c in claims] == ["C1", "C2", "C3", "C4", "C5"]
    for claim in claims:
        assert "docs/method.md §1" in claim.words and claim.reading
        for role in claim.roles:
            for test in claim.tests:
                assert {test.a, test.b} <= rows[role], (claim.id, role, test)
    assert {t.a for t in claims[2].tests} == {FULL_MODEL}
    assert {t.b for t in claims[4].tests} == {CONTEXT_ENCODER, GLCIC}
    assert all(t.margin is not None for t in claims[3].tests)


# ------------------------------------------------------------- a real smoke comparison, summary.md
def noise_fill(images, masks):
    g = torch.Generator().manual_seed(0)
    return torch.rand(images.shape, generator=g) * 0.6 - 0.3


def test_ledger_of_a_real_smoke_comparison_is_written_first_in_the_summary(tmp_path, monkeypatch):
    """notebook 06's call on a smoke comparison of plain callables named as the paper's rows: the
    exact 'full model' beats the noise 'L_rec + L_adv' on KID and on the semantic score (C1),
    rows the comparison lacks are 'not tested here', and the two tables open summary.md."""
    from inpainting.evaluation.comparison import compare
    from inpainting.reporting.report import Report, read_outputs
    monkeypatch.setenv("INPAINTING_RESULTS", str(tmp_path))
    # 24 test images: the graded eye error of a noise fill is heavy-tailed (3 to 35 tolerances on
    # smoke's 8 images), so at n = 8 the paired t interval at the ledger's Bonferroni level still
    # contains 0 although every noise eye misses; at 24 both tests are decided.
    profile = get_profile("smoke", {"faces.n_test": 24})
    faces = compare({FULL_MODEL: make_oracle(profile), "L_rec + L_adv": noise_fill}, profile,
                    "faces", progress=False)
    report = Report(profile.name, "06_evaluation")
    report.table(faces.table(), "faces_all_methods", "the comparison", runs=faces)
    verdicts, tests = C.write_ledger(report, {"faces": faces}, profile, paper_claims(profile))
    c1 = tests[(tests["claim"] == "C1") & (tests["B"] == "L_rec + L_adv")]
    assert c1["status"].tolist() == [C.SUPPORTED, C.SUPPORTED]
    assert c1["metric"].tolist() == ["kid_x1000", "semantic_eye_error"]
    assert (tests.loc[tests["role"] == "facades", "verdict"]
            == "not tested here (no facades comparison given)").all()
    assert verdicts["verdict"].tolist()[0].startswith("not established at this budget (2 of 4")
    assert (tests["level"] == stats.bonferroni(0.95, 2)).all()
    summary = (tmp_path / "smoke" / "summary.md").read_text()
    first = summary.index("## claim_verdicts (06_evaluation)")
    assert first < summary.index("## claims_ledger (06_evaluation)") < summary.index("## 06_evaluation")
    assert "### faces_all_methods" in summary and "### claim_verdicts" not in summary
    assert "Bonferroni over the 2 tests that could be run, each at 97.50%" in summary[first:]
    assert verdicts.attrs["how"].startswith("Verdict per claim of the abstract (a claim is supported")
    entries = read_outputs("smoke")
    assert entries["06_evaluation/claims_ledger"]["first"] is True
    assert entries["06_evaluation/faces_all_methods"]["first"] is False
    saved = pd.read_csv(tmp_path / "smoke" / "tables" / "claims_ledger.csv")
    assert saved["verdict"].tolist() == tests["verdict"].tolist()
