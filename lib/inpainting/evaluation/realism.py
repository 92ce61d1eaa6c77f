"""Realism metrics: FID and KID from Inception-v3 pool features, offline.

Features: Inception-v3 pool3 features of the images (:mod:`inpainting.evaluation.inception`).

Definitions (``a``: features of the completions, ``b``: of the real images; docs/method.md):

* ``FID = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))`` with sample means and
  covariances (``ddof = 1``), in float64. For ``n <= 2048`` the trace of the square root is the
  nuclear norm of ``A B^T / sqrt((n_a - 1)(n_b - 1))`` (``A``, ``B`` centred features): the same
  non-zero eigenvalues, exact, no ``sqrtm`` of a singular matrix; above, the symmetric form
  ``tr((S_a^(1/2) S_b S_a^(1/2))^(1/2))`` from eigendecompositions. FID is biased: its expected
  value falls with n, so a value at n = 48 is not comparable to a paper's FID on 10k+ images.
* ``KID``: the squared MMD with the kernel ``k(x, y) = (x . y / d + 1)^3`` (Binkowski et al. 2018),
  estimated without bias. :func:`kid` is their estimator for two independent sets (any sizes).
  The comparison tables use :func:`kid_paired`: completion ``i`` and real image ``i`` are the same
  test image, so cross pairs ``(i, i)`` are dependent and are left out (Gretton et al. 2012's
  U-statistic ``MMD^2_u`` for ``m = n``); the ground truth then scores exactly 0. Tables show
  ``KID x 1000`` (:data:`KID_COLUMN`).

Intervals. Test images are resampled as in :mod:`.stats` (same seed, same resamples as every mean
of the same n): a resample gives each image a count ``w_i`` and the statistic is recomputed on it,
``sum_{i != j} w_i w_j h_ij / ((sum w)^2 - sum w^2)`` (pairs of copies of one image are left out,
as the diagonal is), with completions and real images resampled jointly; BCa with the
leave-one-image-out jackknife (:func:`inpainting.evaluation.stats.bca_bounds`). Two methods are
compared on the same resamples (:func:`kid_difference`). A method with several training seeds has
the mean over its seeds of the statistic, per resample. Above :data:`MAX_KID_IMAGES` images, KID
uses a seeded subset of that many (the note says so).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from . import stats
from .inception import INCEPTION_PIP, INCEPTION_SIZE, features

KID_COLUMN = "kid_x1000"
KID_SCALE = 1000.0
FID_COLUMN = "fid"
REALISM_COLUMNS = (KID_COLUMN, FID_COLUMN)   # both lower is better
TABLE_COLUMNS = (KID_COLUMN, f"{KID_COLUMN}_lo", f"{KID_COLUMN}_hi", FID_COLUMN)
SPREAD_COLUMNS = tuple(f"{c}_seed_{s}" for c in REALISM_COLUMNS for s in ("sd", "min", "max"))
MAX_KID_IMAGES = 2000
MIN_IMAGES = 3   # per mask kind for a table cell: KID's leave-one-image-out jackknife needs 2 left


def _checked(a, b, least: int = 2) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (n, d) arrays of one d, got {a.shape} and {b.shape}")
    if len(a) < least or len(b) < least:
        raise ValueError(f"FID/KID need at least {least} images per set, got {len(a)} and {len(b)}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):   # else numpy's bare LinAlgError
        raise ValueError("FID/KID features hold NaN or infinite values: compute them with "
                         "features() (a damaged cache file is set aside and computed again)")
    return a, b


def fid(feats_a, feats_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (module docstring)."""
    a, b = _checked(feats_a, feats_b)
    ca, cb = a - a.mean(0), b - b.mean(0)
    na, nb, d = len(a), len(b), a.shape[1]
    mean_term = float(((a.mean(0) - b.mean(0)) ** 2).sum())
    tr_a, tr_b = (ca * ca).sum() / (na - 1), (cb * cb).sum() / (nb - 1)
    if max(na, nb) <= d:
        cross = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / math.sqrt((na - 1) * (nb - 1))
    else:
        sa, sb = ca.T @ ca / (na - 1), cb.T @ cb / (nb - 1)
        values, vectors = np.linalg.eigh(sa)
        root = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
        cross = np.sqrt(np.clip(np.linalg.eigvalsh(root @ sb @ root), 0, None)).sum()
    return float(mean_term + tr_a + tr_b - 2 * cross)


def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def _offdiagonal_mean(k: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum_{i != j} w_i w_j k_ij / ((sum w)^2 - sum w^2)`` for each row of weights ``w``
    (``k``'s diagonal is ignored)."""
    k = k.copy()
    np.fill_diagonal(k, 0.0)
    total = w.sum(1)
    return ((w @ k) * w).sum(1) / (total**2 - (w * w).sum(1))


def kid(feats_a, feats_b) -> float:
    """KID (Binkowski et al. 2018): unbiased MMD^2, cubic polynomial kernel, of two independent
    feature sets of any sizes (``>= 2`` each); raw units (tables show x 1000)."""
    a, b = _checked(feats_a, feats_b)
    ones_a, ones_b = np.ones((1, len(a))), np.ones((1, len(b)))
    return float(_offdiagonal_mean(_kernel(a, a), ones_a)[0]
                 + _offdiagonal_mean(_kernel(b, b), ones_b)[0] - 2 * _kernel(a, b).mean())


def paired_kernel(feats_fake, feats_real) -> np.ndarray:
    """``h_ij = k(x_i, x_j) + k(y_i, y_j) - k(x_i, y_j) - k(x_j, y_i)`` of paired sets
    (completion ``x_i`` of real image ``y_i``); :func:`kid_paired` is its off-diagonal mean."""
    x, y = _checked(feats_fake, feats_real)
    if len(x) != len(y):
        raise ValueError(f"paired KID needs one completion per real image, got {len(x)} and {len(y)}")
    kxy = _kernel(x, y)
    return _kernel(x, x) + _kernel(y, y) - kxy - kxy.T


def kid_paired(feats_fake, feats_real) -> float:
    """Unbiased KID of completions against their own real images (module docstring); raw units."""
    h = paired_kernel(feats_fake, feats_real)
    return float(_offdiagonal_mean(h, np.ones((1, len(h))))[0])


def _mean_kernel(fakes: Sequence[np.ndarray], real: np.ndarray) -> np.ndarray:
    """The paired kernel averaged over a method's seeds (KID is linear in it)."""
    return np.mean([paired_kernel(f, real) for f in fakes], axis=0)


def _counts(n: int, resamples: int, seed: int):
    """The resamples of :func:`stats.resample_indices` as counts: yields ``(start, stop, w)``,
    ``w[r, i]`` = how often image ``i`` is drawn in resample ``start + r``."""
    for start, stop, idx in stats.resample_indices(n, resamples, seed):
        rows = stop - start
        yield start, stop, np.bincount((np.arange(rows)[:, None] * n + idx).ravel(),
                                       minlength=rows * n).reshape(rows, n).astype(np.float64)


def _replicates(h: np.ndarray, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap replicates and jackknife values of the off-diagonal mean of ``h``."""
    boot = np.empty(resamples)
    for start, stop, w in _counts(len(h), resamples, seed):
        with np.errstate(invalid="ignore", divide="ignore"):
            boot[start:stop] = _offdiagonal_mean(h, w)  # NaN: every draw the same image
    return boot, _offdiagonal_mean(h, 1.0 - np.eye(len(h)))


def _interval(h: np.ndarray, resamples: int, confidence: float, seed: int, scale: float,
              note: str = "") -> stats.Interval:
    stats._check_settings(resamples, confidence)
    n = len(h)
    estimate = float(_offdiagonal_mean(h, np.ones((1, n)))[0]) * scale
    if n < 3:
        return stats.Interval(estimate, math.nan, math.nan, n, 0, confidence, resamples, "none",
                              f"n = {n}, no interval")
    boot, jack = _replicates(h, resamples, seed)
    boot = boot[np.isfinite(boot)] * scale
    lo, hi = stats.bca_bounds(estimate, boot, jack * scale, confidence)
    return stats.Interval(estimate, lo, hi, n, 0, confidence, resamples, stats.METHOD, note)


def _subset(n: int) -> np.ndarray:
    """All positions, or a seeded subset of :data:`MAX_KID_IMAGES` (the same for every method)."""
    if n <= MAX_KID_IMAGES:
        return np.arange(n)
    return np.sort(np.random.default_rng(stats.BOOTSTRAP_SEED).choice(n, MAX_KID_IMAGES, replace=False))


def _subset_note(n: int) -> str:
    return "" if n <= MAX_KID_IMAGES else f"KID on a seeded subset of {MAX_KID_IMAGES} of {n} images"


def _as_seeds(fakes) -> list[np.ndarray]:
    return [fakes] if isinstance(fakes, np.ndarray) and fakes.ndim == 2 else list(fakes)


def kid_value(fakes, real, scale: float = KID_SCALE) -> float:
    """The estimate of :func:`kid_interval` alone (no resampling)."""
    keep = _subset(len(real))
    h = _mean_kernel([np.asarray(f)[keep] for f in _as_seeds(fakes)], np.asarray(real)[keep])
    return float(_offdiagonal_mean(h, np.ones((1, len(h))))[0]) * scale


def kid_interval(fakes, real, resamples: int = stats.DEFAULT_RESAMPLES,
                 confidence: float = stats.DEFAULT_CONFIDENCE, seed: int = stats.BOOTSTRAP_SEED,
                 scale: float = KID_SCALE) -> stats.Interval:
    """Paired KID x ``scale`` of completions (one ``(n, d)`` array, or one per training seed:
    their mean) against the real images, with its BCa bootstrap interval over test images."""
    keep = _subset(len(real))
    real = np.asarray(real)[keep]
    h = _mean_kernel([np.asarray(f)[keep] for f in _as_seeds(fakes)], real)
    return _interval(h, resamples, confidence, seed, scale, _subset_note(len(keep)))


def kid_difference(fakes_a, fakes_b, real, resamples: int = stats.DEFAULT_RESAMPLES,
                   confidence: float = stats.DEFAULT_CONFIDENCE, seed: int = stats.BOOTSTRAP_SEED,
                   scale: float = KID_SCALE) -> stats.Interval:
    """KID(A) - KID(B) x ``scale`` on the same test images and the same resamples (A's and B's
    completions and the real images resampled jointly), with its BCa interval; for
    :func:`inpainting.evaluation.decisions.difference_statement`."""
    keep = _subset(len(real))
    real = np.asarray(real)[keep]
    h = (_mean_kernel([np.asarray(f)[keep] for f in _as_seeds(fakes_a)], real)
         - _mean_kernel([np.asarray(f)[keep] for f in _as_seeds(fakes_b)], real))
    return _interval(h, resamples, confidence, seed, scale, _subset_note(len(keep)))


def kid_two_sample_interval(feats_a, feats_b, resamples: int = stats.DEFAULT_RESAMPLES,
                            confidence: float = stats.DEFAULT_CONFIDENCE,
                            seed: int = stats.BOOTSTRAP_SEED,
                            scale: float = KID_SCALE) -> stats.Interval:
    """:func:`kid` of two independent sets x ``scale`` with a BCa interval: each set resampled on
    its own (``seed`` and ``seed + 1``), the jackknife leaving out one image of either set."""
    a, b = _checked(feats_a, feats_b, least=3)
    stats._check_settings(resamples, confidence)
    kaa, kbb, kab = _kernel(a, a), _kernel(b, b), _kernel(a, b)

    def value(wa, wb):
        cross = ((wa @ kab) * wb).sum(1) / (wa.sum(1) * wb.sum(1))
        return _offdiagonal_mean(kaa, wa) + _offdiagonal_mean(kbb, wb) - 2 * cross

    def counts(n, s):
        return np.concatenate([w for _, _, w in _counts(n, resamples, s)])
    estimate = kid(a, b) * scale
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = value(counts(len(a), seed), counts(len(b), seed + 1)) * scale
    jack = np.concatenate([value(1 - np.eye(len(a)), np.ones((len(a), len(b)))),
                           value(np.ones((len(b), len(a))), 1 - np.eye(len(b)))]) * scale
    lo, hi = stats.bca_bounds(estimate, boot[np.isfinite(boot)], jack, confidence)
    return stats.Interval(estimate, lo, hi, len(a) + len(b), 0, confidence, resamples, stats.METHOD)


# ------------------------------------------------------------------------ one comparison's scores
def table_note(n_images: Sequence[int] | int, image_size: int) -> str:
    """What every table with FID/KID columns says about them."""
    ns = sorted({int(n) for n in np.atleast_1d(n_images) if int(n) > 0})
    n_text = " / ".join(map(str, ns)) if ns else "0"
    resize = ("" if image_size == INCEPTION_SIZE else
              f"; the {image_size}-px images are {'upsampled' if image_size < INCEPTION_SIZE else 'downsampled'} "
              f"to {INCEPTION_SIZE} px (TF bilinear) for the network, so the features also see the "
              "resizing")
    return (f"{FID_COLUMN} and {KID_COLUMN} (KID x 1000, unbiased, paired by test image; lower is "
            f"better, the ground truth scores 0) compare Inception-v3 pool3 features (the TF FID "
            f"network, from {INCEPTION_PIP}) of the composited outputs with those of the real test "
            f"images of the same mask kind{resize}; FID at n = {n_text} images is biased and not "
            "comparable to papers' FID on 10k+ samples; KID's interval is the BCa bootstrap over "
            "test images (completions and real images resampled together)")


def caption(n_images: Sequence[int] | int, image_size: int) -> str:
    """The short form of :func:`table_note` for plot titles."""
    ns = sorted({int(n) for n in np.atleast_1d(n_images) if int(n) > 0})
    resize = "" if image_size == INCEPTION_SIZE else f", {image_size} px resized to {INCEPTION_SIZE}"
    return (f"lower is better; n = {' / '.join(map(str, ns)) or 0}{resize}; FID biased at this n, "
            "not comparable to papers'")


@dataclass(frozen=True)
class RealismScores:
    """The Inception features behind one comparison's FID/KID columns: ``real`` (mask kind ->
    ``(n, 2048)`` features of the real test images of that kind) and ``fake`` (method -> kind ->
    one ``(n, 2048)`` array per training seed, of the composited outputs); ``image_size``."""

    real: dict[str, np.ndarray]
    fake: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict)
    image_size: int = INCEPTION_SIZE

    def has(self, method: str, kind: str) -> bool:
        """Whether ``method`` has completions of ``kind`` and the kind has enough images for
        FID/KID (fewer: the cells are NaN and there is no KID finding, as with n = 1 elsewhere)."""
        return (bool(self.fake.get(method, {}).get(kind))
                and len(self.real.get(kind, ())) >= MIN_IMAGES)

    def per_seed(self, method: str, kind: str) -> np.ndarray:
        """KID x 1000 of each of ``method``'s training seeds on ``kind``."""
        return np.array([kid_value(f, self.real[kind]) for f in self.fake[method][kind]])

    def seed_means(self, kind: str) -> dict[str, np.ndarray]:
        """Method -> :meth:`per_seed` (the findings' check against training-seed variation)."""
        return {m: self.per_seed(m, kind) for m in self.fake if self.has(m, kind)}

    def cells(self, method: str, kind: str, resamples: int, confidence: float) -> dict:
        """The table's cells of one (method, kind): :data:`TABLE_COLUMNS` (KID x 1000 with its
        interval, FID: the mean over seeds) and :data:`SPREAD_COLUMNS` (their spread across
        training seeds); NaN with one seed, and all NaN without completions of that kind."""
        cells = dict.fromkeys([*TABLE_COLUMNS, *SPREAD_COLUMNS], math.nan)
        if not self.has(method, kind):
            return cells
        seeds = self.fake[method][kind]
        ci = kid_interval(seeds, self.real[kind], resamples, confidence)
        fids = np.array([fid(f, self.real[kind]) for f in seeds])
        cells.update(zip(TABLE_COLUMNS, (ci.estimate, ci.lo, ci.hi, float(fids.mean()))))
        if len(seeds) > 1:
            for column, values in ((KID_COLUMN, self.per_seed(method, kind)), (FID_COLUMN, fids)):
                spread = stats.seed_spread(values)
                cells.update({f"{column}_seed_sd": spread.sd, f"{column}_seed_min": spread.min,
                              f"{column}_seed_max": spread.max})
        return cells

    def estimates(self, kind: str) -> dict[str, float]:
        """Method -> KID x 1000 on ``kind`` (methods with completions of that kind)."""
        return {m: kid_value(k[kind], self.real[kind]) for m, k in self.fake.items()
                if self.has(m, kind)}

    def difference(self, a: str, b: str, kind: str, resamples: int,
                   confidence: float) -> stats.Interval:
        """KID(a) - KID(b) x 1000 on ``kind``, paired (:func:`kid_difference`)."""
        return kid_difference(self.fake[a][kind], self.fake[b][kind], self.real[kind], resamples,
                              confidence)

    def note(self, n_images) -> str:
        return table_note(n_images, self.image_size)

    def caption(self, n_images) -> str:
        return caption(n_images, self.image_size)


def score_methods(real: dict[str, np.ndarray], composites: dict[str, dict[str, list]],
                  image_size: int, cache_dir: str | Path | None = None,
                  progress: bool = False) -> RealismScores:
    """The :class:`RealismScores` of composited outputs (method -> kind -> one uint8 ``(n, H, W,
    3)`` array per seed) against real images (kind -> uint8 ``(n, H, W, 3)``); every set's
    features are computed once (:func:`features`, cached by content)."""
    from tqdm.auto import tqdm
    total = len(real) + sum(len(seeds) for kinds in composites.values() for seeds in kinds.values())
    with tqdm(total=total, desc="Inception features (FID/KID)", disable=not progress) as bar:
        def run(images):
            out = features(images, cache_dir)
            bar.update(1)
            return out
        return RealismScores(
            real={kind: run(images) for kind, images in real.items()},
            fake={m: {kind: [run(c) for c in seeds] for kind, seeds in kinds.items()}
                  for m, kinds in composites.items()},
            image_size=image_size)
