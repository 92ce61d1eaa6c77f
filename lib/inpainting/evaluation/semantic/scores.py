"""Semantic-consistency scores from the generating attributes of the procedural datasets.

PSNR and SSIM reward a plausible blur; they cannot tell whether a completed eye is an eye like the
visible one, or whether filled-in windows continue the facade's grid. The procedural data
(:mod:`inpainting.data.procedural`) knows how every image was drawn, so the kit re-renders what
the hole should show and scores the *structure* of a completion against it, not one colour or one
period. Every score is a continuous error (lower is better, 0 = perfect), a boolean hit whose
threshold was chosen from the calibration
(:mod:`inpainting.evaluation.semantic.calibration`), and per-component values that say why.
``PRIMARY_SCORE[dataset]`` names the error, ``HIT_COLUMN[dataset]`` the hit, ``ERROR_COLUMNS``
every error-like column. The two scores replace the earlier iris-colour and x-period scores, which
a flat patch of the iris colour and plain vertical stripes at the true period fooled (issue 7).

Faces (one eye hidden, :func:`inpainting.data.semantic_holes.eye_mask`) [this kit's score]
------------------------------------------------------------------------------------------
:func:`~inpainting.evaluation.semantic.templates.eye_template` re-renders the hidden eye as the renderer draws it: sclera ellipse, iris disc
in ``iris_rgb``, dark pupil disc, upper lid, at the known centre with the radii and colours the
visible eye shares, over the modelled lit skin, without sensor noise. The compared region is every
pixel the eye touches (above its centre, those it covers at least half: the brow is not rendered)
plus a ``max(1, S / 64)``-px skin margin beside and below it. ``C`` is the completion, ``T`` the
template, both ``(n, 3)`` over the region.

* ``eye_error`` (primary) = the largest of four terms, each 0 for the rendered eye:
  ``eye_region_error = sum |C - T|^2 / sum |T - mean T|^2`` (relative to the template's own
  variance: *every flat fill, whatever its colour, scores >= 1 by construction*), and for each
  part (pupil, iris, sclera) ``sum w |C - T|^2 / sum w |T - T_without_part|^2`` with ``w`` the
  part's coverage of each pixel and ``T_without_part`` the template with that part painted over by
  what lies beneath it (pupil by iris colour, iris by sclera colour, sclera by skin): the fraction
  of the part's own signal the completion misses, so an eye without its pupil scores ~1 however
  few pixels the pupil covers. The template is shifted by up to ``EYE_SHIFT_TOLERANCE`` = 0.5 px on
  each axis (``EYE_SHIFT_STEPS`` = 5 steps) and the smallest value is kept: an eye half a pixel off
  (e.g. a nearest-pixel mirror) is still the right eye. **Scale**: 0 = the rendered eye; 1 = no
  better than a flat patch, or one part missing; the calibration's truth stays below 0.04 at 64 px.
* ``eye_hit`` = ``eye_error < EYE_HIT_THRESHOLD`` (0.25) **and** ``iris_colour_error <
  IRIS_COLOUR_THRESHOLD`` (20).
* components: ``iris_colour_error`` (the colour term: per-channel median of the completed eye's
  pure iris ring against ``iris_rgb``, mean absolute RGB difference 0-255; a flat patch of the iris
  colour scores ~0 here, which is why it is only a condition of the hit); ``eye_region_error``,
  ``pupil_error``, ``iris_zone_error``, ``sclera_error`` (the four terms above, at the best shift);
  ``eye_pair_error`` (``eye_region_error``'s formula against the *visible* eye of the completed
  image mirrored about the face's vertical axis, ``face_center`` column, linear interpolation:
  needs no colour attribute; ~0.05-0.1 for the truth because the skin lighting is not symmetric);
  ``eye_error_visible`` (``eye_error`` of the untouched visible eye: that image's floor).

Facades (a block hole over the window grid, :func:`inpainting.data.semantic_holes.block_mask`) [this kit's score]
-----------------------------------------------------------------------------------------------------------------
:func:`~inpainting.evaluation.semantic.templates.window_grid` renders the expected windows from the attributes: both periods, the grid origin
(the phase of the visible grid), the window size, frame thickness, the glass's vertical shading,
mullions and balcony rails, in ``wall_rgb`` / ``frame_rgb`` / ``window_rgb`` on a flat wall (no
wall texture or cornices). The compared box is the hole's bounding box restricted to the window
floors, without the rows of balcony rails (their bars are texture whose phase is not part of the
grid). Channels are weighted by how much the grid shows in them (their share of the expected
double-centred energy), so a wall texture in a channel where the windows have no contrast does not
count. ``C`` is the completion, ``E`` the expected picture, both ``(h, w, 3)``.

* ``grid_error`` (primary) = the larger of
  ``grid_2d_error = sum (Cd - Ed)^2 / sum Ed^2`` with ``d`` = double-centred (each channel minus its
  row means and column means plus the grand mean: what is neither a pure row pattern nor a pure
  column pattern, i.e. the 2-D grid) and ``grid_row_error``, the same with ``d`` = row-centred
  (minus each row's mean: keeps which rows hold windows, so a grid shifted half a period on *both*
  axes, whose double-centred picture is nearly the true one, is caught). **Scale**: 0 = the
  expected windows; *every fill that is a function of the row plus a function of the column (flat,
  vertical stripes, horizontal stripes, their sum) scores >= 1 by construction* (exactly 1 on
  ``grid_2d_error``); ~2-3.5 = windows where the grid has wall (wrong phase).
* ``grid_hit`` = ``grid_error < GRID_HIT_THRESHOLD`` (0.45).
* components: ``grid_2d_error``, ``grid_row_error``; ``grid_corr`` (correlation of the row-centred
  ``C`` and ``E``: the layout whatever the contrast) and ``grid_contrast`` (regression slope of
  row-centred ``C`` on ``E``: 1 = the expected window contrast, ~0.2 after the calibration's blur),
  both higher is better; ``phase_error_x`` / ``phase_error_y`` (phase of the grid's fundamental
  along the columns / rows in the completion against the expected picture, fraction of a period,
  0-0.5: the window centres whatever the window size; 0.5 when the completion has no fundamental
  along that axis, e.g. ``phase_error_y`` of vertical stripes); ``window_size_error`` (``max |ln
  scale|`` of the window height and width scales, ``WINDOW_SCALES`` 0.5-2, whose frame + glass
  template at the completion's phases matches it best; ``ln 2`` without a 2-D grid);
  ``period_error_x`` / ``period_error_y`` (relative error of the autocorrelation period of the
  box's column / row grey profile, :func:`estimate_period`, capped at 1, 1 when undetected;
  vertical stripes at the true x period pass ``period_error_x``, which is why a period is not the
  score).

Images are metric-space uint8 ``(S, S, 3)`` (or batches ``(N, S, S, 3)``); masks are
``float32 (S, S)``, 1 = hole. Attribute coordinates are pixels ``[row, col]`` of the same size,
with the centre of pixel ``[r, c]`` at ``(r, c)``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...data.semantic_holes import EYES, SEMANTIC_DATASETS
from ..metrics import to_uint8
from .templates import PUPIL_RGB, _cov, _skin, _window_profiles, eye_template, window_grid

# faces
EYE_HIT_THRESHOLD = 0.25
IRIS_COLOUR_THRESHOLD = 20.0
EYE_SHIFT_TOLERANCE = 0.5
EYE_SHIFT_STEPS = 5          # template shifts per axis in [-tolerance, +tolerance]
MIN_RING_PIXELS = 2
# facades
GRID_HIT_THRESHOLD = 0.45
WINDOW_SCALES = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4, 1.6, 1.8, 2.0])
NO_STRUCTURE = 0.01          # double-centred energy below this share of the expected: no 2-D grid
PEAK_FRACTION = 0.7

PRIMARY_SCORE = {"faces": "eye_error", "facades": "grid_error"}   # the continuous error
HIT_COLUMN = {"faces": "eye_hit", "facades": "grid_hit"}           # the boolean hit
FACE_COLUMNS = ("hidden", "eye_error", "eye_hit", "iris_colour_error", "eye_region_error",
                "pupil_error", "iris_zone_error", "sclera_error", "eye_pair_error",
                "eye_error_visible")
FACADE_COLUMNS = ("grid_error", "grid_hit", "grid_2d_error", "grid_row_error", "grid_corr",
                  "grid_contrast", "phase_error_x", "phase_error_y", "window_size_error",
                  "period_error_x", "period_error_y")
# every numeric score except grid_corr and grid_contrast (higher is better, 1 = expected)
ERROR_COLUMNS = frozenset(c for c in FACE_COLUMNS + FACADE_COLUMNS
                            if "_error" in c)


def _check_image(image: np.ndarray, attributes: dict) -> np.ndarray:
    image = np.asarray(image)
    size = attributes["image_size"]
    if image.shape != (size, size, 3):
        raise ValueError(f"image of shape {image.shape}, but the attributes describe a "
                         f"{size} x {size} RGB image")
    return image.astype(np.float64)


def _normalised_error(completed: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``sum (C - R)^2 / sum (R - mean R)^2`` over the last two axes ``(n, 3)``; broadcasts over
    leading axes of ``reference``. 0 when equal; >= 1 for any constant ``C``."""
    residual = ((completed - reference) ** 2).sum(axis=(-2, -1))
    spread = ((reference - reference.mean(axis=-2, keepdims=True)) ** 2).sum(axis=(-2, -1))
    return residual / np.maximum(spread, 1e-9)


def _eye_region(attributes: dict, which: str) -> tuple[slice, slice, np.ndarray]:
    """Box around the eye and the boolean region scored inside it: the pixels the eye touches
    (above the centre: those it covers at least half) plus a ``max(1, S / 64)``-px skin margin
    beside and below it (not above: the brow)."""
    s = attributes["image_size"]
    margin = max(1.0, s / 64)
    er, ec = attributes[f"eye_{which}_center"]
    rx, ry = attributes["eye_radius"], attributes["eye_height"]
    top, bottom = max(0, int(np.floor(er - ry - 1))), min(s, int(np.ceil(er + ry + margin + 1)) + 1)
    left, right = max(0, int(np.floor(ec - rx - margin - 1))), min(s, int(np.ceil(ec + rx + margin + 1)) + 1)
    rows, cols = np.arange(top, bottom, dtype=float)[:, None], np.arange(left, right, dtype=float)[None, :]
    _, w = eye_template(attributes, which, rows, cols)
    q = np.sqrt(((rows - er) / ry) ** 2 + ((cols - ec) / rx) ** 2)
    beside = ((q - 1) * min(rx, ry) <= margin) & (rows >= er - 0.5 * ry)
    # above the centre only pixels mostly covered by the eye: the brow (not rendered) can touch the
    # eye's faint upper edge on small images
    region = (w["skin"] < np.where(rows < er, 0.5, 0.95)) | beside
    return slice(top, bottom), slice(left, right), region


def _shift_grid(tolerance: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Offsets ``(K, 1)`` in rows and cols covering ``[-tolerance, tolerance]^2``."""
    t = np.linspace(-tolerance, tolerance, steps) if steps > 1 else np.zeros(1)
    dr, dc = np.meshgrid(t, t, indexing="ij")
    return dr.reshape(-1, 1), dc.reshape(-1, 1)


EYE_PARTS = {"pupil": "pupil_error", "iris": "iris_zone_error", "sclera": "sclera_error"}


def eye_structure_error(image: np.ndarray, attributes: dict, which: str,
                        tolerance: float = EYE_SHIFT_TOLERANCE) -> tuple[float, dict]:
    """``eye_error`` of one eye of ``image`` and its terms at the best template shift.

    For every template shift (``EYE_SHIFT_STEPS`` per axis in ``[-tolerance, tolerance]``):

    * ``eye_region_error`` = ``sum |C - T|^2 / sum |T - mean T|^2`` over the region (every flat
      fill scores >= 1);
    * for each part ``p`` in pupil, iris, sclera: ``sum w_p |C - T|^2 / sum w_p |T - T_no_p|^2``,
      where ``w_p`` is how much of every pixel the part covers and ``T_no_p`` is the template with
      that part painted over by what lies beneath it (pupil -> iris colour, iris -> sclera colour,
      sclera -> skin): the fraction of the part's own signal that the completion misses. An eye
      without its pupil scores 1 on ``pupil_error`` however few pixels the pupil covers.

    The shift's error is the largest of the four; the smallest over shifts is returned.

    Parameters
    ----------
    image : np.ndarray
        uint8 or float ``(S, S, 3)``.
    attributes : dict
        Face attributes at size ``S``.
    which : {"left", "right"}
    tolerance : float
        Largest template shift tried per axis, px.

    Returns
    -------
    error : float
        See above (0 = the rendered eye).
    terms : dict
        ``eye_region_error``, ``pupil_error``, ``iris_zone_error``, ``sclera_error`` at the best
        shift, and ``shift`` ``(d_row, d_col)`` px.
    """
    image = _check_image(image, attributes)
    rs, cs, region = _eye_region(attributes, which)
    rows, cols = np.arange(rs.start, rs.stop, dtype=float), np.arange(cs.start, cs.stop, dtype=float)
    dr, dc = _shift_grid(tolerance, EYE_SHIFT_STEPS)
    rr, cc = np.nonzero(region)
    r, c = rows[rr][None, :], cols[cc][None, :]
    templates, weights = eye_template(attributes, which, r, c, (dr, dc))    # (K, n, 3), (K, n)
    completed = image[rs, cs][region]                                          # (n, 3)
    squared = ((completed[None] - templates) ** 2).sum(axis=-1)                # (K, n)
    spread = ((templates - templates.mean(axis=1, keepdims=True)) ** 2).sum(axis=-1).sum(axis=1)
    terms = {"eye_region_error": squared.sum(axis=1) / np.maximum(spread, 1e-9)}
    beneath = {"pupil": np.asarray(attributes["iris_rgb"], float),
               "iris": np.asarray(attributes["sclera_rgb"], float),
               "sclera": _skin(attributes, r, c)}
    colours = {"pupil": np.asarray(PUPIL_RGB), "iris": np.asarray(attributes["iris_rgb"], float),
               "sclera": np.asarray(attributes["sclera_rgb"], float)}
    for part, name in EYE_PARTS.items():
        w = weights[part]
        signal = (w ** 2 * ((beneath[part] - colours[part]) ** 2).sum(axis=-1)) * w
        terms[name] = (w * squared).sum(axis=1) / np.maximum(signal.sum(axis=1), 1e-9)
    errors = np.max(list(terms.values()), axis=0)
    k = int(np.argmin(errors))
    out = {name: float(v[k]) for name, v in terms.items()}
    out["shift"] = (float(dr[k, 0]), float(dc[k, 0]))
    return float(errors[k]), out


def iris_colour(image: np.ndarray, attributes: dict, which: str) -> np.ndarray:
    """Estimated iris colour of one eye: per-channel median over the pure iris ring.

    Pixels whose centre lies at least 0.5 px outside the pupil and inside the iris edge (the
    ``MIN_RING_PIXELS`` purest on tiny eyes).

    Parameters
    ----------
    image : np.ndarray
        uint8 ``(S, S, 3)``.
    attributes : dict
        Face attributes at size ``S``.
    which : {"left", "right"}

    Returns
    -------
    np.ndarray
        float64 ``(3,)``, RGB 0-255.
    """
    image = _check_image(image, attributes)
    row, col = attributes[f"eye_{which}_center"]
    reach = attributes["iris_radius"] + 2
    top, left = max(0, int(row - reach)), max(0, int(col - reach))
    box = image[top:int(row + reach) + 2, left:int(col + reach) + 2]
    rows, cols = np.indices(box.shape[:2])
    d = np.hypot(rows + top - row, cols + left - col).ravel()
    purity = np.minimum(np.clip(attributes["iris_radius"] - d + 0.5, 0, 1),
                        np.clip(d - attributes["pupil_radius"] + 0.5, 0, 1))
    ring = np.flatnonzero(purity >= 1.0)
    if len(ring) < MIN_RING_PIXELS:  # tiny eyes (32 px): the purest pixels of the iris
        ring = np.argsort(-purity, kind="stable")[:MIN_RING_PIXELS]
    return np.median(box.reshape(-1, 3)[ring], axis=0)


def _mirror_pair_error(image: np.ndarray, attributes: dict, hidden: str) -> float:
    """Normalised error of the hidden eye's region against the visible eye mirrored about the
    face's vertical axis (``face_center`` column), sampled with linear interpolation."""
    rs, cs, region = _eye_region(attributes, hidden)
    rr, cc = np.nonzero(region)
    rows, cols = rr + rs.start, cc + cs.start
    mirrored = 2 * attributes["face_center"][1] - cols
    c0 = np.clip(np.floor(mirrored).astype(int), 0, image.shape[1] - 2)
    f = np.clip(mirrored - c0, 0, 1)[:, None]
    reference = (1 - f) * image[rows, c0] + f * image[rows, c0 + 1]
    return float(_normalised_error(image[rows, cols], reference))


def face_eye_consistency(completed: np.ndarray, attributes: dict, hidden: str = "left") -> dict:
    """Is the completed eye an eye like the visible one: pupil, iris, sclera, lid in place?

    Parameters
    ----------
    completed : np.ndarray
        uint8 ``(S, S, 3)``, the composited completion.
    attributes : dict
        Face attributes at size ``S``.
    hidden : {"left", "right"}
        The eye that was inside the hole.

    Returns
    -------
    dict
        ``hidden`` and the columns described in the module docstring: ``eye_error``,
        ``eye_hit``, ``iris_colour_error``, ``pupil_error``, ``iris_zone_error``,
        ``sclera_error``, ``eye_pair_error``, ``eye_error_visible``.
    """
    if hidden not in EYES:
        raise ValueError(f"hidden={hidden!r}; valid: left, right")
    image = _check_image(completed, attributes)
    visible = EYES[1 - EYES.index(hidden)]
    error, parts = eye_structure_error(image, attributes, hidden)
    colour = float(np.abs(iris_colour(image, attributes, hidden)
                          - np.asarray(attributes["iris_rgb"])).mean())
    return {"hidden": hidden, "eye_error": error,
            "eye_hit": bool(error < EYE_HIT_THRESHOLD and colour < IRIS_COLOUR_THRESHOLD),
            "iris_colour_error": colour, "eye_region_error": parts["eye_region_error"],
            "pupil_error": parts["pupil_error"], "iris_zone_error": parts["iris_zone_error"],
            "sclera_error": parts["sclera_error"],
            "eye_pair_error": _mirror_pair_error(image, attributes, hidden),
            "eye_error_visible": eye_structure_error(image, attributes, visible)[0]}


def _hidden_eye(attributes: dict, mask: np.ndarray) -> str | None:
    """The eye whose box the hole covers most, or ``None`` when it covers neither."""
    cover = []
    for which in EYES:
        top, left, bottom, right = attributes[f"eye_{which}_bbox"]
        cover.append(mask[top:bottom, left:right].mean())
    return EYES[int(np.argmax(cover))] if max(cover) > 0 else None


def estimate_period(profile: np.ndarray, min_lag: int = 3, max_fraction: float = 0.6,
                    min_peak: float = 0.3, min_std: float = 1.0) -> float:
    """Dominant period of a 1-D profile from its autocorrelation.

    The profile minus its mean is autocorrelated (unbiased, normalised by the variance). Among the
    local maxima at lags ``k = min_lag .. max_fraction * n`` whose correlation is at least
    ``max(min_peak, 2 / sqrt(n - k))`` (twice the spread white noise gives at that lag), each
    refined to sub-pixel by a parabola through its neighbours, the smallest lag whose peak height
    is at least ``PEAK_FRACTION`` of the highest one is taken (so a multiple of the period, whose
    peak is not split between two lags, is not preferred).

    Parameters
    ----------
    profile : np.ndarray
        float ``(n,)``, e.g. mean grey level of each column (0-255).

    Returns
    -------
    float
        Period in samples, or NaN when the profile is flat (std < ``min_std``) or no peak qualifies.
    """
    x = np.asarray(profile, dtype=np.float64)
    x = x - x.mean()
    n = len(x)
    max_lag = int(n * max_fraction)
    if max_lag < min_lag + 1 or x.std() < min_std:
        return float("nan")
    ac = np.array([np.dot(x[:n - k], x[k:]) / (n - k) for k in range(max_lag + 2)]) / x.var()
    significant = np.maximum(min_peak, 2.0 / np.sqrt(n - np.arange(max_lag + 2)))
    peaks = [k for k in range(min_lag, max_lag + 1)
             if ac[k] >= ac[k - 1] and ac[k] > ac[k + 1] and ac[k] >= significant[k]]
    if not peaks:
        return float("nan")
    vertices = {k: _parabola_vertex(ac[k - 1:k + 2]) for k in peaks}
    best = max(height for _, height in vertices.values())
    k = min(k for k in peaks if vertices[k][1] >= PEAK_FRACTION * best)
    return float(k + vertices[k][0])


def _parabola_vertex(y: np.ndarray) -> tuple[float, float]:
    """Offset (-0.5 .. 0.5) and height of the vertex of the parabola through ``y[0..2]`` at -1, 0, 1."""
    curvature = y[0] - 2 * y[1] + y[2]
    if curvature >= 0:
        return 0.0, float(y[1])
    offset = 0.5 * (y[0] - y[2]) / curvature
    return float(offset), float(y[1] - 0.25 * (y[0] - y[2]) * offset)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows, cols = np.nonzero(mask > 0.5)
    if not len(rows):
        return None
    return rows.min(), cols.min(), rows.max() + 1, cols.max() + 1


def _double_centre(x: np.ndarray) -> np.ndarray:
    """``x`` minus its row means and column means plus the grand mean, per channel; ``(h, w, ...)``."""
    return x - x.mean(axis=0, keepdims=True) - x.mean(axis=1, keepdims=True) + x.mean(axis=(0, 1), keepdims=True)


def _row_centre(x: np.ndarray) -> np.ndarray:
    """``x`` minus the mean of each row, per channel; ``(h, w, ...)``."""
    return x - x.mean(axis=1, keepdims=True)


def _grid_box(attributes: dict, hole_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Rows and columns of the hole's bounding box inside the window floors, without the rows of
    balcony rails (their bars are texture whose phase is not part of the grid); ``None`` if fewer
    than 2 x 2. Returns ``(rows, cols, all rows of the box inside the window floors)``."""
    box = _bbox(np.asarray(hole_mask))
    if box is None:
        return None
    top = max(box[0], int(np.ceil(attributes["grid_top"])))
    bottom = min(box[2], int(np.ceil(attributes["ground_top"])))
    rows = full = np.arange(top, bottom, dtype=float)
    if "rail_height" in attributes and attributes.get("balcony_floors"):
        dyw, _, wh, _, ft, in_grid, floor = _window_profiles(attributes, rows, 0.0)
        rail = np.abs(dyw - (wh / 2 + ft - attributes["rail_height"] / 2)) < attributes["rail_height"] / 2 + 0.5
        rows = rows[~(rail & np.isin(floor, attributes["balcony_floors"]) & (in_grid > 0))]
    if len(rows) < 2 or box[3] - box[1] < 2:
        return None
    return rows, np.arange(box[1], box[3], dtype=float), full


def _grid_match(attributes: dict, rows: np.ndarray, cols: np.ndarray, cr: np.ndarray,
                shifts: tuple[np.ndarray, np.ndarray], scales: tuple[np.ndarray, np.ndarray],
                weight: np.ndarray) -> np.ndarray:
    """Normalised match of ``cr`` with the row-centred frame + glass template for every pair of a
    row setting ``(shifts[0][i], scales[0][i])`` and a column setting ``(shifts[1][j], scales[1][j])``.

    The template ``(frame - wall) F + (glass - frame) G`` has ``F`` and ``G`` products of a row
    profile and a column profile, so every pair costs two small matrix products. ``cr`` is
    already multiplied by ``sqrt(weight)`` per channel; the template colours are weighted alike.
    Returns ``(K_rows, K_cols)``."""
    dyw, _, wh, _, ft, in_grid, _ = _window_profiles(attributes, rows[None, :], 0.0,
                                                     (shifts[0][:, None], 0.0), (scales[0][:, None], 1.0))
    _, dxw, _, ww, _, _, _ = _window_profiles(attributes, 0.0, cols[None, :],
                                              (0.0, shifts[1][:, None]), (1.0, scales[1][:, None]))
    yf, yg = _cov(np.abs(dyw) - (wh / 2 + ft)) * in_grid, _cov(np.abs(dyw) - wh / 2) * in_grid
    xf, xg = _cov(np.abs(dxw) - (ww / 2 + ft)), _cov(np.abs(dxw) - ww / 2)
    xf, xg = xf - xf.mean(axis=1, keepdims=True), xg - xg.mean(axis=1, keepdims=True)
    wall, frame = np.asarray(attributes["wall_rgb"]), np.asarray(attributes["frame_rgb"])
    a, b = (frame - wall) * np.sqrt(weight), (np.asarray(attributes["window_rgb"]) - frame) * np.sqrt(weight)
    inner = yf @ (cr @ a) @ xf.T + yg @ (cr @ b) @ xg.T
    norm2 = (a @ a * np.outer((yf * yf).sum(1), (xf * xf).sum(1))
             + b @ b * np.outer((yg * yg).sum(1), (xg * xg).sum(1))
             + 2 * a @ b * np.outer((yf * yg).sum(1), (xf * xg).sum(1)))
    return inner / np.sqrt(np.maximum(norm2, 1e-9))


def _fundamental(v: np.ndarray, coords: np.ndarray, period: float, origin: float, axis: int) -> complex:
    """Complex amplitude of the grid's fundamental along ``axis`` (0 = rows, 1 = columns) of the
    map ``v (h, w)``: ``sum v * exp(-2 pi i (coord - origin) / period)``."""
    phasor = np.exp(-2j * np.pi * (coords - origin) / period)
    return complex((v.sum(axis=1 - axis) * phasor).sum())


def _phase_and_size(attributes: dict, rows: np.ndarray, cols: np.ndarray, crop: np.ndarray,
                    expected: np.ndarray, weight: np.ndarray) -> tuple[float, float, float]:
    """Phase and window-size diagnostics of a completion ``crop (h, w, 3)`` against ``expected``.

    Both are weighted per channel and projected on the expected picture's principal colour
    direction. **Phase**: the angle of the fundamental of the window grid along the columns (of
    the row-centred map) and along the rows (of the column-centred map), completion against
    expected, as a fraction of a period (0-0.5; the centre of symmetric windows, whatever their
    size); 0.5 (the cap) when the completion's fundamental along that axis is below 10 % of the
    expected one. **Size**: the window height and width scales (``WINDOW_SCALES``) whose
    row-centred frame + glass template, placed at the completion's phases, matches best
    (:func:`_grid_match`); ``max |ln scale|``.
    """
    ec = _row_centre(expected) * np.sqrt(weight)
    u = np.linalg.svd(ec.reshape(-1, 3), full_matrices=False)[2][0]       # principal colour
    phases = []
    for axis, coords, period, origin in ((1, cols, attributes["period_x"], attributes["grid_origin"][1]),
                                         (0, rows, attributes["period_y"], attributes["grid_origin"][0])):
        centre = _row_centre if axis == 1 else (lambda x: x - x.mean(axis=0, keepdims=True))
        z_c, z_e = (_fundamental((centre(x) * np.sqrt(weight)) @ u, coords, period, origin, axis)
                    for x in (crop, expected))
        if abs(z_c) < 0.1 * abs(z_e):
            phases.append(0.5)                                                # no grid on this axis
        else:
            phases.append(float(np.angle(z_c / z_e) / (2 * np.pi)))          # signed, -0.5 .. 0.5
    n = len(WINDOW_SCALES)
    match = _grid_match(attributes, rows, cols, _row_centre(crop) * np.sqrt(weight),
                        (np.full(n, -phases[1] * attributes["period_y"]),
                         np.full(n, -phases[0] * attributes["period_x"])),
                        (WINDOW_SCALES, WINDOW_SCALES), weight)
    si, sj = np.unravel_index(int(np.argmax(match)), match.shape)
    size = max(abs(np.log(WINDOW_SCALES[si])), abs(np.log(WINDOW_SCALES[sj])))
    return abs(phases[0]), abs(phases[1]), float(size)


def facade_grid_consistency(completed: np.ndarray, attributes: dict, hole_mask: np.ndarray) -> dict:
    """Do the windows filled into the hole continue the facade's 2-D window grid?

    Parameters
    ----------
    completed : np.ndarray
        uint8 ``(S, S, 3)``, the composited completion.
    attributes : dict
        Facade attributes at size ``S``.
    hole_mask : np.ndarray
        float ``(S, S)``, 1 = hole. Its bounding box, restricted to the window floors, is scored;
        it should span at least two periods (the semantic test set's holes span 2.2 of the larger).

    Returns
    -------
    dict
        The columns described in the module docstring (``FACADE_COLUMNS``). A hole that does not
        overlap the window floors (or an empty hole) gives NaN errors and ``grid_hit = False``.
    """
    image = _check_image(completed, attributes)
    box = _grid_box(attributes, hole_mask)
    if box is None:
        return {**{c: float("nan") for c in FACADE_COLUMNS}, "grid_hit": False}
    rows, cols, full_rows = box
    crop = image[rows.astype(int)][:, int(cols[0]):int(cols[-1]) + 1]
    expected = window_grid(attributes, rows[:, None], cols[None, :])
    errors = {}
    weight = (_double_centre(expected) ** 2).sum(axis=(0, 1))
    weight = weight / max(weight.sum(), 1e-9)   # channels weighted by how much the grid shows in them
    for name, centre in (("grid_2d_error", _double_centre), ("grid_row_error", _row_centre)):
        c, e = centre(crop), centre(expected)
        errors[name] = float((((c - e) ** 2).sum(axis=(0, 1)) @ weight)
                             / max((e ** 2).sum(axis=(0, 1)) @ weight, 1e-9))
    cr, er = _row_centre(crop) * np.sqrt(weight), _row_centre(expected) * np.sqrt(weight)
    energy_c, energy_e, inner = (cr ** 2).sum(), (er ** 2).sum(), (cr * er).sum()
    error = max(errors.values())
    out = {"grid_error": error, "grid_hit": bool(error < GRID_HIT_THRESHOLD), **errors,
           "grid_corr": float(inner / max(np.sqrt(energy_c * energy_e), 1e-9)),
           "grid_contrast": float(inner / max(energy_e, 1e-9))}
    phase_x, phase_y, size = _phase_and_size(attributes, rows, cols, crop, expected, weight)
    if (_double_centre(crop) ** 2).sum() < NO_STRUCTURE * (_double_centre(expected) ** 2).sum():
        size = float(np.log(2))                                            # no 2-D grid: the cap
    out.update(phase_error_x=phase_x, phase_error_y=phase_y, window_size_error=size)
    grey = image[full_rows.astype(int)][:, int(cols[0]):int(cols[-1]) + 1] @ np.array([0.299, 0.587, 0.114])
    for axis, profile in (("x", grey.mean(axis=0)), ("y", grey.mean(axis=1))):
        true = float(attributes[f"period_{axis}"])
        est = estimate_period(profile)
        out[f"period_error_{axis}"] = min(1.0, abs(est - true) / true) if np.isfinite(est) else 1.0
    return out


def semantic_scores(dataset_name: str, completed, attributes: list[dict], masks) -> pd.DataFrame:
    """Semantic scores of a batch of completions, one row per image.

    Parameters
    ----------
    dataset_name : {"faces", "facades"}
    completed : np.ndarray or torch.Tensor
        uint8 ``(N, S, S, 3)`` (or a model-space tensor ``(N, 3, S, S)`` in [-1, 1]).
    attributes : list[dict]
        ``N`` attribute dicts at size ``S``.
    masks : np.ndarray or torch.Tensor
        ``(N, S, S)`` or ``(N, 1, S, S)``, 1 = hole. For faces the hidden eye is the one whose box
        the hole covers most (a hole over neither eye gives NaN scores, ``eye_hit = False`` and
        ``hidden = "none"``).

    Returns
    -------
    pandas.DataFrame
        Column ``sample`` (position in the batch) plus ``FACE_COLUMNS`` (:func:`face_eye_consistency`)
        or ``FACADE_COLUMNS`` (:func:`facade_grid_consistency`); ``PRIMARY_SCORE[dataset_name]``
        is the first numeric column, ``HIT_COLUMN[dataset_name]`` the boolean hit.
    """
    if dataset_name not in SEMANTIC_DATASETS:
        raise ValueError(f"dataset_name={dataset_name!r}; semantic scores exist for faces, facades")
    images = to_uint8(completed)
    masks = masks.numpy() if isinstance(masks, torch.Tensor) else np.asarray(masks)
    masks = masks.reshape(len(masks), *masks.shape[-2:])
    if not len(images) == len(attributes) == len(masks):
        raise ValueError(f"{len(images)} images, {len(attributes)} attribute dicts, {len(masks)} masks")
    rows = []
    for i, (image, attrs, mask) in enumerate(zip(images, attributes, masks)):
        if dataset_name == "facades":
            rows.append({"sample": i, **facade_grid_consistency(image, attrs, mask)})
            continue
        hidden = _hidden_eye(attrs, mask)
        if hidden is None:
            rows.append({"sample": i, **{c: np.nan for c in FACE_COLUMNS},
                         "hidden": "none", "eye_hit": False})
        else:
            rows.append({"sample": i, **face_eye_consistency(image, attrs, hidden)})
    columns = ["sample", *(FACE_COLUMNS if dataset_name == "faces" else FACADE_COLUMNS)]
    return pd.DataFrame(rows, columns=columns)
