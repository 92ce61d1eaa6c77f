"""Issue 18, family 5: the kit's own comparison procedures hold their stated error rates at the n and
seeds they are used with. Simulated with a fixed seed, no true difference between methods
(exchangeable methods; one config with methods of different noise shapes, so the paired
differences are skewed too), per-image values normal or skewed:

* a findings block (``reporting.findings._block``: ranking on the paired images, reference vs every other
  method plus best vs runner-up, Bonferroni, the Student t / delta-method intervals) makes any false
  "above"/"below" claim in at most 5 % of blocks, for hole SSIM-like means and for PSNR (summarised
  as the PSNR of the mean MSE), at n = 8, 16, 48;
* with training seeds (1-3), a block about trained methods whose seeds scatter more than the
  image-level noise makes a false claim in at most 5 % of blocks (one seed: no claim at all);
* the table's intervals (``summary_interval``) cover the true value >= 93 % of the time, and the
  intervals of true differences cover them;
* below ``decisions.MIN_IMAGES`` paired images a block says "too few images to compare".

The threshold ``decisions.MIN_IMAGES`` was found with :func:`family_error` over n = 2 ... 8 (the
docs/method.md statistics section gives the numbers). Runs in about 30 s on one core.
"""
from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd
import pytest

from inpainting.evaluation import decisions, stats
from inpainting.evaluation.comparison import Comparison
from inpainting.reporting.findings import _block
from inpainting.evaluation.summaries import summary_interval

METHODS = ["A (full)", "B", "C", "D", "E"]
CLAIM = re.compile(r"^  - (.+?) (above|below) (.+?) by ")
BOUNDS = re.compile(r"\[(-?[\d.]+), (-?[\d.]+)\]")


def comparison(n_seeds: int = 1, trained: bool = False) -> Comparison:
    """A comparison shell whose ``_block`` is the kit's findings procedure."""
    runs = {m: [{"seed": k} for k in range(n_seeds)] for m in METHODS} if trained else {}
    return Comparison(role="faces", dataset_name="faces", test_set=None,
                      methods={m: None for m in METHODS}, per_image=pd.DataFrame(),
                      summary=pd.DataFrame(), runs=runs,
                      n_seeds={m: n_seeds for m in METHODS})


def noise(rng, shape, skewed: bool, scale: float = 1.0):
    """Normal, or gamma(shape 4) centred (skewness 1), with sd ``scale``."""
    if not skewed:
        return rng.normal(0.0, scale, shape)
    return (rng.gamma(4.0, 1.0, shape) - 4.0) / 2.0 * scale


def simulate(rng, n: int, skewed: bool, mixed: bool = False, seeds: int = 1, tau: float = 0.0,
             psnr: bool = False, shift: float = 0.0):
    """Per-seed values ``(seeds, methods, n)``: a shared image effect + a per-(method, seed)
    offset of sd ``tau`` (training randomness) + per-image noise. ``mixed``: methods alternate
    normal and skewed noise (equal means, different shapes). ``shift``: A's true advantage."""
    k = len(METHODS)
    image = rng.gamma(2.0, 1.5, n) if skewed else rng.normal(0.0, 1.5, n)
    shapes = [skewed and (not mixed or j % 2 == 1) for j in range(k)]
    e = np.stack([noise(rng, (seeds, n), s, 0.5) for s in shapes], axis=1)
    offset = rng.normal(0.0, tau, (seeds, k, 1))
    values = image + offset + e
    values[:, 0] += shift
    if psnr:   # per-image PSNR around 25 dB: the image effect and noise in dB
        values = 25.0 + 2.0 * values
    return values


def block_lines(comp: Comparison, values: np.ndarray, metric: str) -> list[str]:
    seeds, k, n = values.shape
    wide = pd.DataFrame(values.mean(axis=0).T, columns=METHODS)
    per_seed = None
    if seeds > 1 or comp.runs:
        per_seed = pd.DataFrame({
            "method": np.repeat(np.tile(METHODS, seeds), n),
            "seed_index": np.repeat(np.arange(seeds), k * n),
            "sample": np.tile(np.arange(n), seeds * k),
            metric: values.reshape(-1)})
    return _block(comp, "[centre] x", wide, METHODS[0], "", 4, False, per_seed, metric)


def false_claims(lines: list[str], true_pairs: set = frozenset()) -> bool:
    for line in lines:
        match = CLAIM.match(line)
        if match and (match.group(1), match.group(3)) not in true_pairs \
                and (match.group(3), match.group(1)) not in true_pairs:
            return True
    return False


def at_most(rate: float, reps: int, bound: float = 0.05) -> bool:
    """``rate`` (a fraction of ``reps`` simulated blocks) is not significantly above ``bound``:
    within 1.64 binomial standard errors (a one-sided 5 % test). The kit's old procedure (23 % at
    n = 8) fails this by far; Bonferroni with exact t intervals sits at or below 5 %."""
    return rate <= bound + 1.64 * (bound * (1 - bound) / reps) ** 0.5


def family_error(n: int, skewed: bool, reps: int, mixed: bool = False, psnr: bool = False,
                 seeds: int = 1, tau: float = 0.0, seed: int = 0) -> float:
    rng = np.random.default_rng([seed, n, skewed, mixed, psnr, seeds])
    comp = comparison(seeds, trained=seeds > 1 or tau > 0)
    metric = "psnr_hole" if psnr else "ssim_hole"
    errors = sum(false_claims(block_lines(comp, simulate(rng, n, skewed, mixed, seeds, tau, psnr),
                                          metric)) for _ in range(reps))
    return errors / reps


@pytest.mark.parametrize("n", [8, 16, 48])
@pytest.mark.parametrize("skewed", [False, True], ids=["normal", "skewed"])
def test_a_findings_block_claims_a_nonexistent_difference_at_most_5_percent(n, skewed):
    # 800 blocks: the estimate's sd is 0.8 % at a true 5 %; Bonferroni over 4-5 comparisons
    # measured 3.5-5 % (the kit's former BCa intervals: 23 % at n = 8, issue 18)
    assert at_most(family_error(n, skewed, reps=800, mixed=skewed), 800)
    assert at_most(family_error(n, skewed, reps=400, psnr=True), 400)


@pytest.mark.parametrize("seeds", [2, 3])
def test_training_seeds_that_scatter_do_not_make_a_claim(seeds):
    # seed offsets sd 1 against per-image noise sd 0.5: the image-level intervals alone would
    # claim most of the time (issue 18: the old check let 18.6 % stand with 2 seeds, 11.6 % with 3)
    for skewed in (False, True):
        assert at_most(family_error(16, skewed, reps=250, seeds=seeds, tau=1.0), 250)


def test_one_training_seed_makes_no_claim_about_trained_methods():
    rng = np.random.default_rng(5)
    comp = comparison(1, trained=True)
    lines = block_lines(comp, simulate(rng, 48, False, seeds=1, shift=3.0), "ssim_hole")
    assert not any(CLAIM.match(line) for line in lines)
    assert sum("too few seeds to compare" in line for line in lines) >= 4   # A vs every other


def test_below_min_images_a_block_says_too_few_images():
    rng = np.random.default_rng(6)
    values = simulate(rng, decisions.MIN_IMAGES - 1, False, shift=10.0)
    lines = block_lines(comparison(), values, "ssim_hole")
    assert len(lines) == 1 and "too few images to compare" in lines[0]
    assert f"{decisions.MIN_IMAGES - 1} paired images" in lines[0]
    enough = block_lines(comparison(), simulate(rng, decisions.MIN_IMAGES, False, shift=10.0),
                         "ssim_hole")
    assert any(CLAIM.match(line) for line in enough)


@functools.lru_cache
def psnr_truth(skewed: bool) -> float:
    return stats.psnr_of_mean_mse(simulate(np.random.default_rng(8), 400_000, skewed, psnr=True)[0, 1])


@pytest.mark.parametrize("n", [8, 16, 48])
def test_table_intervals_cover_the_true_value(n):
    rng = np.random.default_rng([7, n])
    reps = 800
    for skewed in (False, True):
        for psnr in (False, True):
            if psnr:   # the PSNR of the population's mean MSE, from a large sample
                truth = psnr_truth(skewed)
            else:      # the gamma(2, 1.5) image effect has mean 3, the noise mean 0
                truth = 3.0 if skewed else 0.0
            covered = 0
            for _ in range(reps):
                values = simulate(rng, n, skewed, psnr=psnr)[0, 1]
                ci = summary_interval("psnr_hole" if psnr else "ssim_hole", values, 2000, 0.95)
                covered += ci.lo <= truth <= ci.hi
            assert covered / reps >= 0.93, (skewed, psnr, covered / reps)


@pytest.mark.parametrize("n", [8, 48])
def test_intervals_of_a_true_difference_cover_it(n):
    """A is better by 1 than every other method: the intervals of its claims hold the true 1
    (printed as positive amounts, "B below A by x [lo, hi]")."""
    rng = np.random.default_rng([9, n])
    reps, covered, total = 300, 0, 0
    for _ in range(reps):
        for line in block_lines(comparison(), simulate(rng, n, True, mixed=True, shift=1.0),
                                "ssim_hole"):
            match = CLAIM.match(line)
            if match and METHODS[0] in (match.group(1), match.group(3)):
                lo, hi = map(float, BOUNDS.search(line).groups())   # amounts, as printed
                covered += lo <= 1.0 <= hi
                total += 1
    assert total > reps and covered / total >= 0.93
