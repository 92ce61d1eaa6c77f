"""The claims' decision rule (``decisions.seed_image_test`` on ``records.seed_pairs``) holds its level
where the study uses it: no true difference, 8 and 12 seeds, 192 test images, seed noise from
0.25x to 4x the image noise (each in units of the mean paired difference), PSNR-like values
(per-image MSE, summarised as 10 log10 of the ratio of mean MSEs) and KID-like values (a real
paired KID on small features, its image part from shared resamples). A false verdict is either
one-sided p below half the level; the test fails above 1.25x nominal. The rule that was replaced
(an image-level t interval on seed-averaged values AND Welch's t on per-seed means) is run on the
same data and must fail the same check where seed and image noise are of equal size: the check
has the power to catch it.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t

from inpainting.evaluation import decisions, records

N_IMAGES = 192
RATIOS = (0.25, 0.5, 1.0, 2.0, 4.0)
LEVELS = (0.05, 0.05 / 3)   # two-sided: the rule's alpha, and Holm's smallest step over 3 claims


def psnr_like(rng, sims: int, seeds: int, ratio: float, n: int = N_IMAGES):
    """Per-image hole PSNRs ``(sims, seeds, n)`` of A and B, exchangeable: image difficulty
    shared by both, an image-specific advantage (shared by every seed: the image part), a
    per-seed advantage (``ratio`` times the image part's sd of the mean) and interaction noise."""
    image_sd = 0.3                                    # log-MSE advantage of A on one image
    seed_sd = ratio * image_sd / math.sqrt(n)         # in units of the mean difference
    difficulty = rng.normal(0, 0.8, (sims, 1, n))
    image = rng.normal(0, image_sd, (sims, 1, n))
    seed = rng.normal(0, seed_sd, (sims, seeds, 1))
    noise_a, noise_b = rng.normal(0, 0.1, (2, sims, seeds, n))
    log_a = difficulty + (image + seed) / 2 + noise_a
    log_b = difficulty - (image + seed) / 2 + noise_b
    return -10 * log_a / math.log(10), -10 * log_b / math.log(10)   # PSNR = -10 log10 MSE


def pairs_from_psnr(a: np.ndarray, b: np.ndarray):
    """One simulated study through the kit's own data model: records in, ``SeedPairs`` out."""
    seeds, n = a.shape
    frames = [pd.DataFrame({"role": "faces", "method": name, "seed": np.repeat(np.arange(seeds), n),
                            "key": "k", "kind": "centre", "unit": records.IMAGE,
                            "index": np.tile(np.arange(n), seeds), "metric": "psnr_hole",
                            "value": v.ravel()}) for name, v in (("A", a), ("B", b))]
    return records.seed_pairs(pd.concat(frames), "psnr_hole", "A", "B", "faces", "centre")


def new_rule(d, image_var, n, level, image_df=None):
    out = decisions.seed_image_test(d, image_var, n, image_df=image_df)
    return out.p_better < level / 2 or out.p_worse < level / 2


def old_rule(a_seed_means, b_seed_means, image_diffs, level):
    """The replaced rule: an image-level t interval of the seed-averaged paired differences
    excluding 0 AND Welch's t on the per-seed means, both at ``level``."""
    n = len(image_diffs)
    half = student_t.ppf(1 - level / 2, n - 1) * image_diffs.std(ddof=1) / math.sqrt(n)
    if abs(image_diffs.mean()) <= half:
        return False
    va, vb = a_seed_means.var(ddof=1) / len(a_seed_means), b_seed_means.var(ddof=1) / len(b_seed_means)
    df = (va + vb) ** 2 / (va**2 / (len(a_seed_means) - 1) + vb**2 / (len(b_seed_means) - 1))
    return abs(a_seed_means.mean() - b_seed_means.mean()) > student_t.ppf(1 - level / 2, df) * math.sqrt(va + vb)


def false_rates(seeds: int, ratio: float, sims: int, levels=LEVELS, seed: int = 0):
    """False-verdict rates of the new rule through ``records.seed_pairs`` (PSNR-like)."""
    rng = np.random.default_rng(seed)
    a, b = psnr_like(rng, sims, seeds, ratio)
    hits = np.zeros(len(levels))
    for k in range(sims):
        p = pairs_from_psnr(a[k], b[k])
        hits += [new_rule(p.d, p.v_image, p.n_images, level, p.image_df) for level in levels]
    return hits / sims


def fast_psnr_rates(seeds: int, ratio: float, sims: int, level: float, rule: str, seed: int = 1):
    """Vectorised twin of :func:`false_rates` (same estimator, thousands of studies)."""
    rng = np.random.default_rng(seed)
    a, b = psnr_like(rng, sims, seeds, ratio)
    ea, eb = 10 ** (-a / 10), 10 ** (-b / 10)
    d = 10 * np.log10(eb.mean(2) / ea.mean(2))
    if rule == "new":
        sa, sb = ea.sum(2, keepdims=True), eb.sum(2, keepdims=True)
        left_out = (10 * np.log10((sb - eb) / (sa - ea))).mean(1)
        image_var = (N_IMAGES - 1) / N_IMAGES * ((left_out - left_out.mean(1, keepdims=True)) ** 2).sum(1)
        w = (ea / ea.mean(2, keepdims=True) + eb / eb.mean(2, keepdims=True)).mean(1)
        image_df = np.maximum((w**2).sum(1) ** 2 / (w**4).sum(1) - 1, 1)
        return np.mean([new_rule(d[k], image_var[k], N_IMAGES, level, image_df[k]) for k in range(sims)])
    diffs = (a - b).mean(1)    # the old rule: seed-averaged per-image differences, per-seed means
    return np.mean([old_rule(a[k].mean(1), b[k].mean(1), diffs[k], level) for k in range(sims)])


@pytest.mark.parametrize("seeds", (8, 12))
@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("level", LEVELS)
def test_psnr_like_false_verdicts_stay_near_nominal(seeds, ratio, level):
    rate = fast_psnr_rates(seeds, ratio, 6000, level, "new")
    assert rate <= 1.25 * level, f"false-verdict rate {rate:.4f} at level {level:.4f}"


def test_the_data_model_path_gives_the_same_rates():
    """The vectorised twin computes what ``records.seed_pairs`` computes (checked on 300 studies)."""
    rng = np.random.default_rng(5)
    a, b = psnr_like(rng, 3, 8, 1.0)
    for k in range(3):
        p = pairs_from_psnr(a[k], b[k])
        ea, eb = 10 ** (-a[k] / 10), 10 ** (-b[k] / 10)
        d = 10 * np.log10(eb.mean(1) / ea.mean(1))
        np.testing.assert_allclose(p.d, d, rtol=1e-9)
        sa, sb = ea.sum(1, keepdims=True), eb.sum(1, keepdims=True)
        left_out = (10 * np.log10((sb - eb) / (sa - ea))).mean(0)
        assert p.v_image == pytest.approx(191 / 192 * ((left_out - left_out.mean()) ** 2).sum())
    rates = false_rates(8, 1.0, 300, levels=(0.05,))
    assert rates[0] <= 0.1


@pytest.mark.parametrize("seeds", (8, 12))
def test_the_replaced_rule_fails_the_same_check(seeds):
    """Seed noise twice the image noise: the old AND of two tests rejects far too often (each of its
    tests leaves out the other's variance)."""
    rate = fast_psnr_rates(seeds, 2.0, 6000, 0.05, "old")
    assert rate > 1.25 * 0.05, f"old rule's rate {rate:.4f}: the check would not catch it"


def kid_like_rates(seeds: int, seed_scale: float, sims: int, level: float, n: int = 64,
                   dim: int = 8, resamples: int = 200, seed: int = 2):
    """A real paired KID x 1000 (the kit's ``records.kid_rows``) on small features: completions of
    real image y_i are y_i + a method-specific image deviation (shared by every seed: the image
    part) + a per-seed offset of size ``seed_scale`` + noise; A and B exchangeable."""
    rng = np.random.default_rng(seed)
    false = 0
    ratios = []
    for _ in range(sims):
        real = rng.normal(0, 1, (n, dim))
        rows = []
        for name in ("A", "B"):
            deviation = rng.normal(0, 0.4, (n, dim))
            for s in range(seeds):
                fake = real + deviation + rng.normal(0, seed_scale, (1, dim)) + rng.normal(0, 0.2, (n, dim))
                frame = records.kid_rows(fake, real, "centre", resamples, 7)
                rows.append(frame.assign(role="faces", method=name, seed=s, key=f"{name}{s}"))
        image = pd.DataFrame({"role": "faces", "method": "A", "seed": 0, "key": "A0", "kind": "centre",
                              "unit": records.IMAGE, "index": np.arange(n), "metric": "psnr_hole",
                              "value": 0.0})
        p = records.seed_pairs(pd.concat(rows + [image]), "kid_x1000", "A", "B", "faces", "centre")
        out = decisions.seed_image_test(p.d, p.v_image, p.n_images)
        ratios.append(math.sqrt(out.seed_var / seeds / out.image_var))
        false += out.p_better < level / 2 or out.p_worse < level / 2
    return false / sims, float(np.median(ratios))


@pytest.mark.slow
@pytest.mark.parametrize("seed_scale", (0.01, 0.04, 0.12))
def test_kid_like_false_verdicts_stay_near_nominal(seed_scale):
    rate, ratio = kid_like_rates(8, seed_scale, 400, 0.05)
    # 400 studies: the binomial sd at 5 % is 1.1 points; 1.25x nominal plus two sd
    assert rate <= 1.25 * 0.05 + 2 * math.sqrt(0.05 * 0.95 / 400), (rate, ratio)
