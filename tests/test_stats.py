"""Tests of inpainting.evaluation.stats: coverage, paired differences, determinism and the edge cases."""
import math

import numpy as np
import pytest
import scipy.stats

from inpainting.evaluation import decisions, stats
from inpainting.evaluation.decisions import bonferroni, difference_statement
from inpainting.evaluation.stats import (SMALL_N, Interval, bootstrap_mean, paired_difference, seed_spread,
                                         small_n_warning)


def test_interval_covers_the_true_mean_about_95_percent_of_the_time():
    # 400 independent normal samples of n = 40. If the intervals had the stated level, the number
    # covering the true mean would be Binomial(400, 0.95): sd = sqrt(400 * .95 * .05) = 4.4 (1.1 %).
    # Bootstrap intervals under-cover slightly at small n (about 1 % at n = 40), so we accept
    # 95 % +- 3 sd, i.e. 91.7 % - 98.3 %. An interval built from the sd instead of the standard
    # error covers ~100 %, one with half the right width ~68 %: both fail.
    rng = np.random.default_rng(7)
    reps, n, mu = 400, 40, 3.0
    covered = 0
    for _ in range(reps):
        ci = bootstrap_mean(rng.normal(mu, 2.0, n), resamples=1000)
        covered += ci.lo <= mu <= ci.hi
    sd = math.sqrt(reps * 0.95 * 0.05)
    assert abs(covered - 0.95 * reps) <= 3 * sd, f"coverage {covered / reps:.3f}"


def test_interval_width_matches_the_normal_theory_interval():
    rng = np.random.default_rng(1)
    x = rng.normal(20, 3, 200)
    ci = bootstrap_mean(x)
    half = 1.96 * x.std(ddof=1) / math.sqrt(len(x))
    assert ci.estimate == pytest.approx(x.mean())
    assert (ci.hi - ci.lo) == pytest.approx(2 * half, rel=0.1)
    assert ci.method == "BCa" and ci.n == 200 and ci.resamples == 2000 and ci.confidence == 0.95


def test_bca_agrees_with_scipy_on_skewed_data():
    rng = np.random.default_rng(3)
    x = rng.lognormal(0, 1, 60)
    ours = bootstrap_mean(x, resamples=4000)
    ref = scipy.stats.bootstrap((x,), np.mean, n_resamples=4000, method="BCa",
                                random_state=np.random.default_rng(0)).confidence_interval
    width = ref.high - ref.low
    assert ours.lo == pytest.approx(ref.low, abs=0.08 * width)
    assert ours.hi == pytest.approx(ref.high, abs=0.08 * width)
    # Skewed data: the interval is asymmetric around the mean (longer upper arm).
    assert ours.hi - ours.estimate > ours.estimate - ours.lo


def test_higher_confidence_gives_a_wider_interval():
    x = np.random.default_rng(4).normal(0, 1, 50)
    narrow, wide = bootstrap_mean(x, confidence=0.8), bootstrap_mean(x, confidence=0.99)
    assert wide.lo < narrow.lo < narrow.hi < wide.hi


def test_same_inputs_give_the_same_numbers():
    x = np.random.default_rng(5).normal(0, 1, 30)
    assert bootstrap_mean(x) == bootstrap_mean(x.copy())
    assert bootstrap_mean(x, seed=1) != bootstrap_mean(x, seed=2)
    y = x + np.random.default_rng(6).normal(0, 1, 30)
    assert paired_difference(x, y) == paired_difference(x, y)


def test_a_known_difference_is_detected_with_its_sign():
    rng = np.random.default_rng(8)
    base = rng.normal(20, 5, 48)                  # large image-to-image variation ...
    a = base + 0.5 + rng.normal(0, 0.3, 48)       # ... shared by both methods: A is 0.5 dB better
    diff = paired_difference(a, base)
    assert diff.excludes_zero and diff.lo > 0 and diff.lo < 0.5 < diff.hi
    text = difference_statement("A", "B", diff, "dB")
    assert text.startswith("A above B by 0.") and text.endswith("] dB")
    flipped = difference_statement("B", "A", paired_difference(base, a), "dB")
    assert flipped.startswith("B below A by 0.")
    # The unpaired intervals overlap although the paired one is clear.
    ia, ib = bootstrap_mean(a), bootstrap_mean(base)
    assert ia.lo < ib.hi


def test_a_zero_difference_is_not_distinguishable():
    rng = np.random.default_rng(9)
    base = rng.normal(20, 5, 48)
    a = base + rng.normal(0, 0.3, 48)
    a = a - (a - base).mean()                     # exactly zero mean difference
    diff = paired_difference(a, base)
    assert not diff.excludes_zero and diff.lo < 0 < diff.hi
    assert difference_statement("A", "B", diff, "dB").startswith(
        "A and B not distinguishable at n = 48 (A - B = ")
    same = paired_difference(base, base)
    assert same.lo == same.hi == 0 and not same.excludes_zero and "point" in same.note
    assert "not distinguishable at n = 48" in difference_statement("A", "B", same)


def test_nan_values_are_dropped_and_counted():
    x = np.array([1.0, 2.0, np.nan, 4.0, 3.0, np.nan])
    ci = bootstrap_mean(x)
    assert ci.n == 4 and ci.n_missing == 2 and ci.estimate == pytest.approx(2.5)
    clean = bootstrap_mean([1.0, 2.0, 4.0, 3.0])
    assert (clean.lo, clean.hi) == (ci.lo, ci.hi)
    diff = paired_difference([1.0, np.nan, 3.0, 5.0], [0.0, 1.0, np.nan, 4.0])
    assert diff.n == 2 and diff.n_missing == 2 and diff.estimate == pytest.approx(1.0)
    with pytest.raises(ValueError, match="inf"):
        bootstrap_mean([1.0, np.inf])


def test_one_value_or_none_give_no_interval_without_crashing():
    one = bootstrap_mean([19.5])
    assert one.estimate == 19.5 and math.isnan(one.lo) and math.isnan(one.hi) and one.n == 1
    assert not one.has_interval and not one.excludes_zero
    assert one.format() == "19.50 (n = 1, no interval)"
    assert "no comparison at n = 1" in difference_statement("A", "B", paired_difference([2.0], [1.0]))
    empty = bootstrap_mean([np.nan, np.nan])
    assert empty.n == 0 and empty.n_missing == 2 and math.isnan(empty.estimate)
    assert empty.format() == "n/a (no values)"


def test_interval_format():
    ci = Interval(19.523, 19.1, 19.9, 48, 0, 0.95, 2000, "BCa")
    assert ci.format() == "19.52 [19.10, 19.90]"
    assert ci.format(1) == "19.5 [19.1, 19.9]"


def test_seed_spread():
    s = seed_spread([20.0, 21.0, 22.5, np.nan])
    assert s.n_seeds == 3 and s.mean == pytest.approx(21.1666, abs=1e-3)
    assert s.sd == pytest.approx(np.std([20, 21, 22.5], ddof=1)) and (s.min, s.max) == (20.0, 22.5)
    one = seed_spread([20.0])
    assert one.n_seeds == 1 and math.isnan(one.sd) and one.min == one.max == 20.0
    assert "1 seed, no spread" in one.format()
    assert seed_spread([]).n_seeds == 0


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_mean([1.0, 2.0], resamples=10)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_mean([1.0, 2.0], confidence=95)
    with pytest.raises(ValueError, match="same length"):
        paired_difference([1.0, 2.0], [1.0])
    assert bonferroni(0.95, 5) == pytest.approx(0.99)


def test_small_samples_are_flagged():
    assert "n = 8 is small" in small_n_warning(8)
    assert small_n_warning(SMALL_N) is None and small_n_warning(48) is None


def test_a_supported_tiny_difference_never_prints_a_zero_bound():
    base = np.random.default_rng(10).normal(0.5, 0.1, 48)
    diff = paired_difference(base + 0.0004 + np.random.default_rng(11).normal(0, 1e-4, 48), base)
    assert diff.excludes_zero
    text = difference_statement("A", "B", diff, decimals=3)
    assert text.startswith("A above B by 0.0004") and "[0.000," not in text


def test_seed_and_image_variance_are_tested_together():
    # seeds scattering far more than their mean: no claim, whatever the image part
    wide = decisions.seed_image_test([3.0, -2.0, 2.5, -1.0, 2.0, -2.5, 1.0, 0.5], 1e-6, 192)
    assert wide.tested and wide.lo < 0 < wide.hi and wide.p_better > 0.05
    # tight seeds, but a large image part that more seeds would not shrink: still no claim
    shared = decisions.seed_image_test([0.5] * 7 + [0.51], 0.25, 192)
    assert shared.lo < 0 < shared.hi
    # both small: a claim, and the df sit between the two parts' (Satterthwaite)
    clear = decisions.seed_image_test([0.5, 0.52, 0.48, 0.51, 0.49, 0.5, 0.53, 0.47], 1e-4, 192)
    assert clear.p_better < 1e-6 and 7 <= clear.df <= 191
    # below 8 seeds the seeds' own df: a near-zero seed variance cannot borrow the images' df
    assert decisions.seed_image_test([0.5, 0.5 + 1e-9], 1e-4, 192).df == 1
    # one seed of a trained method: no test; an untrained pair needs no seeds
    assert not decisions.seed_image_test([0.5], 1e-4, 192).tested
    assert decisions.seed_image_test([0.5], 1e-4, 192, seeds_vary=False).tested


def test_intersection_union_and_holm():
    assert decisions.intersection_union([0.01, 0.03], [0.9, 0.2]) == (0.03, 0.4)
    assert decisions.holm([0.01, 0.04, 0.03], 0.05) == [True, False, False]
    assert decisions.holm([0.01, 0.02, 0.04], 0.05) == [True, True, True]


def test_seeds_needed_grows_as_the_effect_shrinks_and_stops_at_the_image_part():
    base = decisions.seed_image_test([0.3, 0.1, 0.2, 0.4, 0.0, 0.2, 0.3, 0.1], 1e-4, 192)
    big, small = (decisions.seeds_needed(base, 0.0083, effect=e) for e in (0.2, 0.05))
    assert 2 <= big < small
    assert decisions.seeds_needed(decisions.seed_image_test([0.3, 0.1, 0.2, 0.4], 0.04, 192), 0.0083,
                              effect=0.05) is None   # the image part alone is 0.2 > 0.05


def test_interval_labels_name_the_method_the_tables_used():
    assert stats.interval_label([48, 48], 0.95) == "intervals: 95% Student t over test images"
    assert "BCa bootstrap" in stats.interval_label([192], 0.95, 2000)
    assert "below 100 images" in stats.interval_label([48, 192], 0.95)


def test_small_n_uses_the_t_interval_and_large_n_bca():
    x = np.random.default_rng(12).normal(0, 1, 8)
    ci = stats.mean_interval(x)
    ref = scipy.stats.t.interval(0.95, 7, loc=x.mean(), scale=scipy.stats.sem(x))
    assert ci.method == "t" and (ci.lo, ci.hi) == (pytest.approx(ref[0]), pytest.approx(ref[1]))
    big = np.random.default_rng(13).normal(0, 1, stats.T_BELOW_N)
    assert stats.mean_interval(big) == bootstrap_mean(big)
    assert paired_difference(x, np.zeros(8)).method == "t"


def test_one_perfect_image_cannot_dominate_the_psnr_summary():
    """Issue 18: one image at the 100 dB cap turned 'not distinguishable (0.06 [-0.03, 0.15])'
    into 'above by 1.69 [0.03, 8.17] dB' when PSNR was summarised by its per-image mean."""
    rng = np.random.default_rng(14)
    b = rng.normal(25, 2, 48)
    a = b + rng.normal(0, 0.3, 48)
    a = a - (a - b).mean()
    assert not stats.paired_psnr_difference(a, b).excludes_zero
    a[0] = 100.0                                   # one image completed exactly
    assert paired_difference(a, b).estimate > 1.0  # the per-image mean jumps by ~1.5 dB
    diff = stats.paired_psnr_difference(a, b)
    # in MSE units the exact image removes its own error only: at most its share of the total
    share = stats.relative_mse(b[0]) / stats.relative_mse(b).sum()
    assert 0 < diff.estimate <= -10 * math.log10(1 - share) + 0.3
    assert not diff.excludes_zero
    assert "not distinguishable at n = 48" in difference_statement("A", "B", diff, "dB")
    summary = stats.psnr_summary(a)
    assert summary.estimate == pytest.approx(stats.psnr_of_mean_mse(a))
    assert summary.lo < summary.estimate < summary.hi <= 100.0
    assert summary.estimate < np.mean(a) - 1.0      # the per-image mean is pulled up by the cap
    assert stats.psnr_of_mean_mse([20.0, 20.0]) == pytest.approx(20.0)
    assert stats.psnr_of_mean_mse([20.0, 100.0]) == pytest.approx(20 + 10 * math.log10(2))


def test_too_few_images_is_said_instead_of_a_claim():
    n = decisions.MIN_IMAGES - 1
    diff = paired_difference(np.arange(n) + 10.0, np.arange(n) * 0.9)
    assert diff.excludes_zero
    text = difference_statement("A", "B", diff, "dB")
    assert "too few images to compare" in text and "above" not in text


def test_proportion_interval_is_the_exact_clopper_pearson_interval():
    for k, n in ((0, 48), (1, 48), (24, 48), (47, 48), (48, 48), (3, 7)):
        ci = stats.proportion_interval(k, n, 0.95)
        ref = scipy.stats.binomtest(k, n).proportion_ci(0.95, method="exact")
        assert ci.estimate == k / n and ci.method == "Clopper-Pearson" and ci.n == n
        # the same beta quantiles (scipy's binomtest uses them too): same code path up to rounding
        assert ci.lo == pytest.approx(ref.low, abs=1e-12) and ci.hi == pytest.approx(ref.high, abs=1e-12)
    none = stats.proportion_interval(0, 48)
    assert none.lo == 0 and none.hi == pytest.approx(0.07397, abs=1e-5)
    assert none.format(3) == "0.000 [0.000, 0.074]"
    assert stats.proportion_interval(0, 0).note == "no values"
    for bad in ((5, 4), (-1, 4), (1, 2.5)):
        with pytest.raises(ValueError):
            stats.proportion_interval(*bad)


def test_hit_rate_interval_takes_hits_or_seed_averaged_rates():
    hits = np.array([1, 0, 0, 1, np.nan, 1.0])
    ci = stats.hit_rate_interval(hits)
    assert (ci.n, ci.n_missing, ci.estimate) == (5, 1, 0.6)
    assert (ci.lo, ci.hi) == (stats.proportion_interval(3, 5).lo, stats.proportion_interval(3, 5).hi)
    rates = stats.hit_rate_interval([0.5, 0.5, 1.0, 0.0])   # two seeds: fractional hits
    assert rates.estimate == 0.5 and 0 < rates.lo < 0.5 < rates.hi < 1
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        stats.hit_rate_interval([0.5, 2.0])
