"""Calibration of the semantic scores: adversarial and near-correct fills of the semantic test holes
(the public ``fill_*`` builders, listed in ``FACE_FILLS`` / ``FACADE_FILLS`` with the outcome
each must get), the table of their scores (:func:`calibration`) and its command.

Calibration [measured, this kit's data]
---------------------------------------
Command: ``python -m inpainting.evaluation.semantic.calibration --n 200 --sizes 32,64,128
--blur-sweep`` (test split of the procedural sets, dataset seed 0, semantic test set seed 1234, 200
images per size; the same
table comes from :func:`calibration`, and the fills are the public ``fill_*`` builders listed in
``FACE_FILLS`` / ``FACADE_FILLS`` with their expected outcome). Each cell: mean error, hit rate.
"blurred truth" is the truth blurred with :func:`blur_sigma` = 2.5 px at 64 px (scaled with
``S``); the ``sigma`` rows sweep that blur (sigma in px at 64 px, scaled) to show where the scores
stop accepting it.

::

    faces: mean eye_error / hit rate, n = 200
      fill                               must            32 px          64 px         128 px
      truth                              hit      0.019   91%    0.006  100%    0.004  100%
      mirrored eye                       hit      0.091  63.5%   0.031  99.5%   0.019  100%
      flat iris colour                   miss     6.043    0%    4.109    0%    3.613    0%
      flat mean colour                   miss     5.440    0%    4.641    0%    4.166    0%
      flat grey                          miss     5.254    0%    4.531    0%    4.105    0%
      blurred truth                      miss     2.416    0%    2.497    0%    2.347    0%
      eye without pupil                  miss     0.588   14%    0.765    0%    0.939    0%
      iris disc, no sclera               miss     0.815    0%    0.902    0%    0.936    0%
      wrong iris colour                  miss     2.234    0%    1.432    0%    0.895    0%
      eye shifted                        miss     0.493    4%    2.308    0%    2.637    0%
      blurred truth, sigma 0.5 px at 64  either   0.019   91%    0.123   92%    0.348   42%
      blurred truth, sigma 1 px at 64    either   0.467   27%    0.708    0%    0.879    0%
      blurred truth, sigma 1.5 px at 64  either   1.271    0%    1.348    0%    1.390    0%
      blurred truth, sigma 2 px at 64    either   1.895    0%    1.986    0%    1.918    0%
      blurred truth, sigma 3 px at 64    either   2.838    0%    2.869    0%    2.665    0%
    facades: mean grid_error / hit rate, n = 200
      fill                               must            32 px          64 px         128 px
      truth                              hit      0.089   99%    0.068  100%    0.063  100%
      continued grid                     hit      0.138   98%    0.077  100%    0.061  100%
      expected grid                      hit      0.000  100%    0.000  100%    0.000  100%
      flat window colour                 miss     1.000    0%    1.000    0%    1.000    0%
      flat mean colour                   miss     1.000    0%    1.000    0%    1.000    0%
      flat grey                          miss     1.000    0%    1.000    0%    1.000    0%
      blurred truth                      miss     0.759    0%    0.778    0%    0.796    0%
      vertical stripes                   miss     1.174    0%    1.065    0%    1.045    0%
      horizontal stripes                 miss     1.000    0%    1.000    0%    1.000    0%
      grid, x phase + 1/2                miss     3.482    0%    3.405    0%    3.342    0%
      grid, y phase + 1/2                miss     3.551    0%    3.488    0%    3.436    0%
      grid, both phases + 1/2            miss     2.390    0%    2.274    0%    2.257    0%
      grid, windows x 0.5                miss     1.023    1%    1.166    0%    1.269    0%
      grid, windows x 1.5                miss     0.934   0.5%   0.994    0%    1.056    0%
      blurred truth, sigma 0.5 px at 64  either   0.089   99%    0.068  100%    0.126  100%
      blurred truth, sigma 1 px at 64    either   0.126  100%    0.243   96%    0.299   93%
      blurred truth, sigma 1.5 px at 64  either   0.371   76%    0.437  63.5%   0.482  46.5%
      blurred truth, sigma 2 px at 64    either   0.588  10.5%   0.624   4.5%   0.654   1.5%
      blurred truth, sigma 3 px at 64    either   0.876    0%    0.885    0%    0.894    0%

*Thresholds.* Faces at 64 px: the hits' largest ``eye_error`` is 0.038 (truth) and 0.274 (one
mirrored eye in 200, its ``sclera_error``: a light skin close to the sclera colour leaves the
sclera term little signal), the misses' smallest 0.276 (eye without pupil, a pupil of 0.5-0.9 px
radius) and 0.308 (wrong iris colour, which the colour term rejects anyway); at 128 px hits <= 0.09,
misses >= 0.48 (wrong iris colour 0.22, rejected by its colour): ``EYE_HIT_THRESHOLD = 0.25``.
Facades: hits <= 0.35 at 64 px and <= 0.28 at 128 px; misses >= 0.53 at 64 px (windows x 1.5; the
blur >= 0.59) and >= 0.59 at 128 px: ``GRID_HIT_THRESHOLD = 0.45``. Blur: the score accepts a blur of sigma ~1 px at 64 px and rejects it from ~2 px (faces
from 1 px), so the adversarial blur's 2.5 px (about the iris radius, 3x the pupil radius, half a
window width) is a blur that has destroyed the structure, not a near-copy.

*32 px.* Faces are unreliable: the iris ring is ~1.3 px wide and the pupil radius 0.3-0.4 px, so
the colour term misses 9 % of the true eyes, the mirrored eye is a hit on 63.5 %, and an eye
without pupil passes 14 %: read 32-px face scores as indicative only. Facades stay usable (truth
99 %, continued grid 98 %, adversarial fills <= 1 % hits).

*Speed.* ~3.5 ms per face and ~2 ms per facade at 64 px, ~8 and ~5 ms at 128 px (CPU time, one
core).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from ...data.masks import FixedTestSet
from ...data.semantic_holes import SEMANTIC_DATASETS, make_semantic_test_set
from ..metrics import to_uint8
from .scores import HIT_COLUMN, PRIMARY_SCORE, _hidden_eye, semantic_scores
from .templates import eye_template, window_grid

# blur of the adversarial "blur" fill, px at 64 px (scaled with the image size)
BLUR_SIGMA_64 = 2.5


def _paste(image: np.ndarray, mask: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """``image`` with the hole (``mask > 0.5``) replaced by ``fill`` (broadcastable, 0-255 float)."""
    out = np.asarray(image).copy()
    hole = np.asarray(mask) > 0.5
    fill = np.broadcast_to(np.asarray(fill, float), out.shape)
    out[hole] = np.clip(np.rint(fill[hole]), 0, 255).astype(np.uint8)
    return out


def fill_truth(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """The ground truth itself (the reference a hit must include)."""
    return np.asarray(image).copy()


def fill_flat(image: np.ndarray, mask: np.ndarray, colour) -> np.ndarray:
    """The hole filled with one flat colour ``(3,)`` (0-255)."""
    return _paste(image, mask, np.asarray(colour, float))


def fill_grey(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Flat mid-grey (128): the masked input as a method would leave it."""
    return fill_flat(image, mask, (128.0, 128.0, 128.0))


def fill_mean_colour(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Flat mean colour of the known pixels (outside the hole)."""
    known = np.asarray(image)[np.asarray(mask) <= 0.5]
    return fill_flat(image, mask, known.reshape(-1, 3).mean(axis=0))


def fill_iris_colour(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Flat patch of the true iris colour (faces): what fooled the old colour-only score."""
    return fill_flat(image, mask, attributes["iris_rgb"])


def fill_window_colour(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Flat patch of the true window-glass colour (facades)."""
    return fill_flat(image, mask, attributes["window_rgb"])


def blur_sigma(image_size: int) -> float:
    """Gaussian sigma of :func:`fill_blur`: ``BLUR_SIGMA_64 * S / 64`` px (2.5 px at 64 px).

    At 64 px this is about the iris radius (2.4-2.9 px), 3x the pupil radius (0.5-0.9 px) and more
    than the sclera band beside the iris (1-2 px), so the pupil / iris / sclera arrangement is gone;
    on facades it is about half the window width (3.6-8.4 px), so windows become soft blobs."""
    return BLUR_SIGMA_64 * image_size / 64


def fill_blur(image: np.ndarray, attributes: dict, mask: np.ndarray,
              sigma: float | None = None) -> np.ndarray:
    """The hole filled with a Gaussian-blurred copy of the ground truth (the whole truth image
    blurred per channel, ``sigma`` px, default :func:`blur_sigma`)."""
    from scipy.ndimage import gaussian_filter
    image = np.asarray(image)
    sigma = blur_sigma(image.shape[0]) if sigma is None else sigma
    blurred = gaussian_filter(image.astype(float), sigma=(sigma, sigma, 0), mode="nearest")
    return _paste(image, mask, blurred)


def fill_mirrored_eye(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Faces: every hole pixel copied from the pixel mirrored about the face's vertical axis
    (``face_center`` column; nearest pixel, so up to 0.5 px off). Faces are symmetric, so this is
    the visible eye copied into the hole: a semantic completion that is not the ground truth."""
    image = np.asarray(image)
    rows, cols = np.nonzero(np.asarray(mask) > 0.5)
    source = np.clip(np.rint(2 * attributes["face_center"][1] - cols).astype(int), 0, image.shape[1] - 1)
    out = image.copy()
    out[rows, cols] = image[rows, source]
    return out


def _eye_fill(image, attributes, mask, **changes) -> np.ndarray:
    s = np.asarray(image).shape[0]
    hidden = _hidden_eye(attributes, np.asarray(mask)) or "left"
    rows, cols = np.arange(s, dtype=float)[:, None], np.arange(s, dtype=float)[None, :]
    offset = changes.pop("offset", (0.0, 0.0))
    return _paste(image, mask, eye_template(attributes, hidden, rows, cols, offset, **changes)[0])


def fill_eye_without_pupil(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Faces: the rendered eye (right sclera, iris, colours, position) with no pupil."""
    return _eye_fill(image, attributes, mask, pupil_radius=0.0)


def fill_iris_disc(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Faces: an iris-coloured disc of the true iris radius with the pupil, on skin, but no
    sclera (sclera painted in the skin colour): right colour and pupil, wrong arrangement."""
    return _eye_fill(image, attributes, mask, sclera_rgb=list(np.asarray(attributes["skin_rgb"])))


def fill_wrong_iris_colour(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Faces: the rendered eye with the iris colour of the palette entry farthest from the true
    one: right structure, wrong colour (the colour term's job)."""
    from ...data.procedural import IRIS_RGB
    truth = np.asarray(attributes["iris_rgb"])
    other = IRIS_RGB[int(np.argmax(np.abs(IRIS_RGB - truth).mean(axis=1)))]
    return _eye_fill(image, attributes, mask, iris_rgb=list(other))


def fill_shifted_eye(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Faces: the rendered eye moved by half the iris radius down and sideways (wrong position)."""
    d = 0.5 * attributes["iris_radius"]
    return _eye_fill(image, attributes, mask, offset=(d, d))


def fill_continued_grid(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Facades: the visible grid continued into the hole, a semantic completion that is not the
    ground truth. Every hole pixel takes the value of the pixel whole horizontal periods away
    (``k * period_x`` for the smallest ``|k|`` whose source lies outside the hole and inside the
    image, linear interpolation between columns), else whole vertical periods away inside the
    window floors; pixels with neither keep the mean colour of the known pixels."""
    image = np.asarray(image)
    s = image.shape[0]
    hole = np.asarray(mask) > 0.5
    src = image.astype(float)
    out = src.copy()
    todo = hole.copy()
    px, py = attributes["period_x"], attributes["period_y"]
    rows, cols = np.nonzero(todo)
    for axis, period in (("x", px), ("y", py)):
        for k in sorted([k for k in range(-int(s / period) - 1, int(s / period) + 2) if k], key=abs):
            rows, cols = np.nonzero(todo)
            if not len(rows):
                break
            pos = (cols if axis == "x" else rows) + k * period
            p0 = np.floor(pos).astype(int)
            ok = (p0 >= 0) & (p0 + 1 < s)
            if axis == "y":
                ok &= (pos >= attributes["grid_top"]) & (pos + 1 < attributes["ground_top"])
            p0c = np.clip(p0, 0, s - 2)
            if axis == "x":
                ok &= ~hole[rows, p0c] & ~hole[rows, p0c + 1]
                a, b = src[rows, p0c], src[rows, p0c + 1]
            else:
                ok &= ~hole[p0c, cols] & ~hole[p0c + 1, cols]
                a, b = src[p0c, cols], src[p0c + 1, cols]
            f = (pos - p0)[:, None]
            value = (1 - f) * a + f * b
            out[rows[ok], cols[ok]] = value[ok]
            todo[rows[ok], cols[ok]] = False
    out[todo] = src[~hole].mean(axis=0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _grid_fill(image, attributes, mask, **kwargs) -> np.ndarray:
    s = np.asarray(image).shape[0]
    rows, cols = np.arange(s, dtype=float)[:, None], np.arange(s, dtype=float)[None, :]
    return _paste(image, mask, window_grid(attributes, rows, cols, **kwargs))


def fill_expected_grid(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Facades: the expected window grid (:func:`window_grid`) on a flat wall: a hit."""
    return _grid_fill(image, attributes, mask)


def fill_vertical_stripes(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Facades: vertical stripes at the true x period and phase, window width and colours."""
    return _grid_fill(image, attributes, mask, stripes="vertical")


def fill_horizontal_stripes(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Facades: horizontal stripes at the true y period and phase, window height and colours."""
    return _grid_fill(image, attributes, mask, stripes="horizontal")


def fill_grid_wrong_phase_x(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Facades: the right grid shifted by half a horizontal period."""
    return _grid_fill(image, attributes, mask, shift=(0.0, attributes["period_x"] / 2))


def fill_grid_wrong_phase_y(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Facades: the right grid shifted by half a vertical period."""
    return _grid_fill(image, attributes, mask, shift=(attributes["period_y"] / 2, 0.0))


def fill_grid_wrong_phase(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Facades: the right grid shifted by half a period on both axes."""
    return _grid_fill(image, attributes, mask,
                      shift=(attributes["period_y"] / 2, attributes["period_x"] / 2))


def fill_grid_small_windows(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Facades: the right grid (periods, phase, colours) with windows of half the height and width."""
    return _grid_fill(image, attributes, mask, scale=(0.5, 0.5))


def fill_grid_large_windows(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Facades: the right grid with windows 1.5 times as high and wide."""
    return _grid_fill(image, attributes, mask, scale=(1.5, 1.5))


FillFunction = Callable[[np.ndarray, dict, np.ndarray], np.ndarray]

#: name -> (fill, expected outcome: True = must be a hit, False = must be a miss). Each fill maps
#: ``(truth uint8 (S, S, 3), attributes, mask float32 (S, S))`` to a uint8 completion that equals
#: the truth outside the hole.


FACE_FILLS: dict[str, tuple[FillFunction, bool]] = {
    "truth": (fill_truth, True),
    "mirrored eye": (fill_mirrored_eye, True),
    "flat iris colour": (fill_iris_colour, False),
    "flat mean colour": (fill_mean_colour, False),
    "flat grey": (fill_grey, False),
    "blurred truth": (fill_blur, False),
    "eye without pupil": (fill_eye_without_pupil, False),
    "iris disc, no sclera": (fill_iris_disc, False),
    "wrong iris colour": (fill_wrong_iris_colour, False),
    "eye shifted": (fill_shifted_eye, False),
}
FACADE_FILLS: dict[str, tuple[FillFunction, bool]] = {
    "truth": (fill_truth, True),
    "continued grid": (fill_continued_grid, True),
    "expected grid": (fill_expected_grid, True),
    "flat window colour": (fill_window_colour, False),
    "flat mean colour": (fill_mean_colour, False),
    "flat grey": (fill_grey, False),
    "blurred truth": (fill_blur, False),
    "vertical stripes": (fill_vertical_stripes, False),
    "horizontal stripes": (fill_horizontal_stripes, False),
    "grid, x phase + 1/2": (fill_grid_wrong_phase_x, False),
    "grid, y phase + 1/2": (fill_grid_wrong_phase_y, False),
    "grid, both phases + 1/2": (fill_grid_wrong_phase, False),
    "grid, windows x 0.5": (fill_grid_small_windows, False),
    "grid, windows x 1.5": (fill_grid_large_windows, False),
}


def fills(dataset_name: str) -> dict[str, tuple[FillFunction, bool]]:
    """The calibration fills of ``dataset_name``: ``FACE_FILLS`` or ``FACADE_FILLS``."""
    if dataset_name not in SEMANTIC_DATASETS:
        raise ValueError(f"dataset_name={dataset_name!r}; semantic scores exist for faces, facades")
    return FACE_FILLS if dataset_name == "faces" else FACADE_FILLS


def apply_fill(fill: FillFunction, test_set: FixedTestSet) -> np.ndarray:
    """``fill`` applied to every image of a semantic test set: uint8 ``(N, S, S, 3)``."""
    images, masks = to_uint8(test_set.images), test_set.masks[:, 0].numpy()
    return np.stack([fill(img, a, m) for img, a, m in zip(images, test_set.attributes, masks)])


def calibration(dataset_name: str, test_set: FixedTestSet,
                fill_set: dict[str, tuple[FillFunction, bool]] | None = None) -> pd.DataFrame:
    """Mean error and hit rate of every calibration fill over a semantic test set.

    Parameters
    ----------
    dataset_name : {"faces", "facades"}
    test_set : FixedTestSet
        A semantic test set (:func:`make_semantic_test_set`) of that dataset.
    fill_set : dict, optional
        name -> ``(fill, must_hit)`` (``must_hit`` True, False or None = no expectation);
        default :func:`fills` of the dataset.

    Returns
    -------
    pandas.DataFrame
        One row per fill: ``fill``, ``expected`` ("hit" / "miss"), ``n``, ``error_mean``,
        ``error_sd``, ``error_min``, ``error_max`` (of ``PRIMARY_SCORE[dataset_name]``),
        ``hit_rate``, ``as_expected`` (fraction of images with the expected outcome), then the
        mean of every other numeric score column.
    """
    fill_set = fills(dataset_name) if fill_set is None else fill_set
    primary, hit = PRIMARY_SCORE.get(dataset_name), HIT_COLUMN.get(dataset_name)
    masks = test_set.masks[:, 0].numpy()
    rows = []
    for name, (fill, must_hit) in fill_set.items():
        scores = semantic_scores(dataset_name, apply_fill(fill, test_set), test_set.attributes, masks)
        err, hits = scores[primary], scores[hit].astype(bool)
        expected = {True: "hit", False: "miss", None: "either"}[must_hit]
        row = {"fill": name, "expected": expected, "n": len(scores),
               "error_mean": err.mean(), "error_sd": err.std(ddof=1) if len(err) > 1 else np.nan,
               "error_min": err.min(), "error_max": err.max(), "hit_rate": hits.mean(),
               "as_expected": (hits == must_hit).mean() if must_hit is not None else np.nan}
        for c in scores.columns:
            if c not in ("sample", primary, hit) and pd.api.types.is_numeric_dtype(scores[c]) \
                    and not pd.api.types.is_bool_dtype(scores[c]):
                row[c] = scores[c].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def blur_fills(sigmas_at_64=(0.5, 1.0, 1.5, 2.0, 2.5, 3.0)) -> dict[str, tuple[FillFunction, None]]:
    """Blurred-truth fills for a sweep of sigmas (px at 64 px, scaled with the image size), with
    no expected outcome: where the score stops accepting a blur. For :func:`calibration`."""
    def make(sigma64):
        def fill(image, attributes, mask):
            return fill_blur(image, attributes, mask, sigma64 * np.asarray(image).shape[0] / 64)
        return fill
    return {f"blurred truth, sigma {g:g} px at 64": (make(g), None) for g in sigmas_at_64}


def main(argv: list[str] | None = None) -> None:
    """``python -m inpainting.evaluation.semantic.calibration [--n N] [--sizes 32,64,128] [--seed 0]
    [--blur-sweep]``:
    print the calibration tables (procedural test split, semantic test set seed 1234)."""
    import argparse
    from ...data.procedural import FacadeDataset, FaceDataset
    parser = argparse.ArgumentParser(prog="python -m inpainting.evaluation.semantic.calibration",
                                     description=main.__doc__)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--sizes", default="32,64,128")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed")
    parser.add_argument("--datasets", default="faces,facades")
    parser.add_argument("--blur-sweep", action="store_true", help="also blurred truth at several sigmas")
    args = parser.parse_args(argv)
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        for size in (int(v) for v in args.sizes.split(",")):
            for name in args.datasets.split(","):
                cls = {"faces": FaceDataset, "facades": FacadeDataset}[name]
                test_set = make_semantic_test_set(cls(args.n, size, args.seed, "test"), args.n, 1234)
                fill_set = {**fills(name), **(blur_fills() if args.blur_sweep else {})}
                table = calibration(name, test_set, fill_set)
                print(f"== {name}, {size} px, n = {args.n} (dataset seed {args.seed}, test split)")
                print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
