"""The facades' semantic score: do the windows filled into the hole continue the 2-D window grid?

See :mod:`inpainting.evaluation.semantic.scores` for the definition (module docstring,
"Facades"); this module computes it.
"""
from __future__ import annotations

import numpy as np

from .base import check_image, pad_for, sample, scaled, shift_grid, smooth_in_support, to_ycc
from ...data.drawing import coverage
from .templates import _window_profiles, window_grid

GRID_SIGMA_LUMA_64 = 0.6     # px at 64 px: smoothing of luma before comparing (base.smooth_in_support)
GRID_SIGMA_CHROMA_64 = 1.2   # px at 64 px: smoothing of chroma
GRID_SHIFT_LIMIT_64 = 2.5    # px at 64 px: the grid shift whose term reaches 1 (the hit's limit)
GRID_SHIFT_STEP_64 = 0.25    # px at 64 px: step of the shift search
#: each term's tolerance: ``grid_error`` is the largest term divided by its tolerance
GRID_PART_INSET_64 = 1.0     # px at 64 px: glass (wall: half of it) compared this far from its edges
GRID_TOLERANCE = {"grid_2d_error": 0.45, "grid_row_error": 0.45, "glass_error": 0.45,
                  "wall_error": 0.2, "grid_shift_error": GRID_SHIFT_LIMIT_64}
GRID_HIT_THRESHOLD = 1.0     # grid_hit = grid_error < 1: every term within its tolerance
WINDOW_SCALES = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4, 1.6, 1.8, 2.0])
NO_STRUCTURE = 0.01          # double-centred energy below this share of the expected: no 2-D grid
PEAK_FRACTION = 0.7
FACADE_COLUMNS = ("grid_error", "grid_hit", "grid_2d_error", "grid_row_error", "glass_error",
                  "wall_error", "grid_shift_error", "grid_corr", "grid_contrast", "phase_error_x", "phase_error_y",
                  "window_size_error", "period_error_x", "period_error_y")


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


def _double_centre(x: np.ndarray, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """``x`` minus its row means and column means plus the grand mean, per channel; rows and
    columns along ``axes`` (``(h, w, ...)`` by default)."""
    r, c = axes
    return (x - x.mean(axis=r, keepdims=True) - x.mean(axis=c, keepdims=True)
            + x.mean(axis=axes, keepdims=True))


def _row_centre(x: np.ndarray, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """``x`` minus the mean of each row, per channel; rows and columns along ``axes``."""
    return x - x.mean(axis=axes[1], keepdims=True)


def _grid_box(attributes: dict, hole_mask: np.ndarray,
              inset: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Rows and columns of the hole's bounding box moved inwards by ``inset`` px, inside the window
    floors, without the rows of balcony rails (their bars are texture whose phase is not part of
    the grid); ``None`` if fewer than 2 x 2. Returns ``(rows, cols, all rows of the box inside
    the window floors)``."""
    box = _bbox(np.asarray(hole_mask))
    if box is None:
        return None
    top = max(box[0] + inset, int(np.ceil(attributes["grid_top"])))
    bottom = min(box[2] - inset, int(np.ceil(attributes["ground_top"])))
    rows = full = np.arange(top, bottom, dtype=float)
    if "rail_height" in attributes and attributes.get("balcony_floors") and len(rows):
        dyw, _, wh, _, ft, in_grid, floor = _window_profiles(attributes, rows, 0.0)
        rail = np.abs(dyw - (wh / 2 + ft - attributes["rail_height"] / 2)) < attributes["rail_height"] / 2 + 0.5
        rows = rows[~(rail & np.isin(floor, attributes["balcony_floors"]) & (in_grid > 0))]
    if len(rows) < 2 or box[3] - box[1] - 2 * inset < 2:
        return None
    return rows, np.arange(box[1] + inset, box[3] - inset, dtype=float), full


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
    yf, yg = coverage(np.abs(dyw) - (wh / 2 + ft)) * in_grid, coverage(np.abs(dyw) - wh / 2) * in_grid
    xf, xg = coverage(np.abs(dxw) - (ww / 2 + ft)), coverage(np.abs(dxw) - ww / 2)
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


def _grid_terms(attributes: dict, image: np.ndarray, hole: np.ndarray, rows: np.ndarray,
                cols: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The terms of ``grid_error`` (raw) for every offset of the shift search, and the offsets.

    ``rows`` / ``cols``: the compared pixels (inside the hole by the search's reach). The expected
    picture and its version with the glass painted in the frame colour are smoothed inside the
    hole; so is the completion, which is then sampled at the compared pixels moved by each offset.
    """
    s = attributes["image_size"]
    sigmas = (scaled(GRID_SIGMA_LUMA_64, s), scaled(GRID_SIGMA_CHROMA_64, s))
    limit = 1.2 * scaled(GRID_SHIFT_LIMIT_64, s)
    pad = pad_for(max(sigmas)) + int(np.ceil(limit)) + 1
    top, left = max(0, int(rows[0]) - pad), max(0, int(cols[0]) - pad)
    bottom, right = min(s, int(rows[-1]) + pad + 1), min(s, int(cols[-1]) + pad + 1)
    support = hole[top:bottom, left:right]
    r, c = np.arange(top, bottom, dtype=float)[:, None], np.arange(left, right, dtype=float)[None, :]
    no_glass = {**attributes, "window_rgb": attributes["frame_rgb"]}
    expected = np.stack([window_grid(attributes, r, c), window_grid(no_glass, r, c)])
    dyw_b, dxw_b, _, _, _, in_b, _ = _window_profiles(attributes, r, c)
    ri, ci = (rows - top).astype(int)[:, None], (cols - left).astype(int)[None, :]
    smooth = smooth_in_support(to_ycc(expected), support, *sigmas)[:, ri, ci]     # (2, h, w, 3)
    e = smooth[0]
    dyw, dxw, wh, ww, ft, in_grid, _ = _window_profiles(attributes, rows[:, None], cols[None, :])
    inset = scaled(GRID_PART_INSET_64, s)
    # the glass and the wall, each at least ``inset`` px from its edges (a blur's reach)
    glass = coverage(np.abs(dxw) - ww / 2 + inset) * coverage(np.abs(dyw) - wh / 2 + inset) * in_grid
    # the wall: a band around each window, from half the inset beyond the frame to 0.3 of the window
    def box(extra_x, extra_y):
        return coverage(np.abs(dxw) - ww / 2 - ft - extra_x) * coverage(np.abs(dyw) - wh / 2 - ft - extra_y)
    wall = (box(0.3 * ww, 0.3 * wh) - box(inset / 2, inset / 2)).clip(0, 1) * in_grid
    no_wall = expected[0] + (1 - coverage(np.abs(dxw_b) - ww / 2 - ft) * coverage(np.abs(dyw_b) - wh / 2 - ft) * in_b)[..., None] \
        * (np.asarray(attributes["window_rgb"], float) - np.asarray(attributes["wall_rgb"], float))
    smooth_wall = smooth_in_support(to_ycc(no_wall), support, *sigmas)[ri, ci]
    completed = smooth_in_support(to_ycc(image[top:bottom, left:right]), support, *sigmas)
    weight = (_double_centre(e) ** 2).sum(axis=(0, 1))
    weight = weight / max(weight.sum(), 1e-9)   # channels weighted by how much the grid shows in them
    e2d, erow = _double_centre(e), _row_centre(e)
    norms = {"grid_2d_error": max((e2d ** 2).sum(axis=(0, 1)) @ weight, 1e-9),
             "grid_row_error": max((erow ** 2).sum(axis=(0, 1)) @ weight, 1e-9)}
    signal = max((glass * ((e - smooth[1]) ** 2).sum(axis=-1)).sum(), 1e-9)
    wall_signal = max((wall * ((e - smooth_wall) ** 2).sum(axis=-1)).sum(), 1e-9)

    def evaluate(offsets):
        moved = sample(completed, ri[None] + offsets[:, 0, None, None],
                       ci[None] + offsets[:, 1, None, None])                          # (K, h, w, 3)
        terms = {"grid_2d_error": (((_double_centre(moved, (1, 2)) - e2d) ** 2).sum(axis=(1, 2)) @ weight)
                 / norms["grid_2d_error"],
                 "grid_row_error": (((_row_centre(moved, (1, 2)) - erow) ** 2).sum(axis=(1, 2)) @ weight)
                 / norms["grid_row_error"],
                 "glass_error": (((moved - e) ** 2).sum(axis=-1) * glass).sum(axis=(1, 2)) / signal,
                 "wall_error": (((moved - e) ** 2).sum(axis=-1) * wall).sum(axis=(1, 2)) / wall_signal,
                 "grid_shift_error": np.hypot(offsets[:, 0], offsets[:, 1]) * 64 / s}
        return terms

    # coarse search (4 steps), then the fine steps around its best
    step = scaled(GRID_SHIFT_STEP_64, s)
    coarse = shift_grid(limit, 4 * step)
    best = coarse[int(np.argmin(evaluate(coarse)["grid_2d_error"]))]
    fine = best + np.stack(np.meshgrid(*[np.arange(-3, 4) * step] * 2, indexing="ij"), -1).reshape(-1, 2)
    fine = fine[np.hypot(fine[:, 0], fine[:, 1]) <= limit + 1e-9]
    return evaluate(fine), fine


def facade_grid_consistency(completed: np.ndarray, attributes: dict, hole_mask: np.ndarray) -> dict:
    """Do the windows filled into the hole continue the facade's 2-D window grid?

    Parameters
    ----------
    completed : np.ndarray
        uint8 ``(S, S, 3)``, the composited completion.
    attributes : dict
        Facade attributes at size ``S``.
    hole_mask : np.ndarray
        float ``(S, S)``, 1 = hole. Its bounding box, restricted to the window floors and moved
        inwards by the shift search's reach, is scored; it should span at least two periods (the
        semantic test set's holes span 2.2 of the larger).

    Returns
    -------
    dict
        The columns of ``FACADE_COLUMNS`` (described in :mod:`.scores`). A hole that does not
        overlap the window floors (or an empty hole) gives NaN errors and ``grid_hit = False``.
    """
    image = check_image(completed, attributes)
    hole = (np.asarray(hole_mask) > 0.5).astype(np.float64)
    reach = int(np.ceil(1.2 * scaled(GRID_SHIFT_LIMIT_64, attributes["image_size"])))
    box = _grid_box(attributes, hole_mask, reach)
    if box is None:
        return {**{c: float("nan") for c in FACADE_COLUMNS}, "grid_hit": False}
    rows, cols, full_rows = box
    terms, offsets = _grid_terms(attributes, image, hole, rows, cols)
    k = int(np.argmin(terms["grid_2d_error"]))           # where the completion's grid is
    errors = {name: float(v[k]) for name, v in terms.items()}
    error = max(errors[name] / tol for name, tol in GRID_TOLERANCE.items())
    out = {"grid_error": error, "grid_hit": bool(error < GRID_HIT_THRESHOLD), **errors}
    # diagnostics on the unsmoothed crop at the expected place
    crop = image[rows.astype(int)][:, int(cols[0]):int(cols[-1]) + 1]
    expected = window_grid(attributes, rows[:, None], cols[None, :])
    weight = (_double_centre(expected) ** 2).sum(axis=(0, 1))
    weight = weight / max(weight.sum(), 1e-9)
    cr, er = _row_centre(crop) * np.sqrt(weight), _row_centre(expected) * np.sqrt(weight)
    energy_c, energy_e, inner = (cr ** 2).sum(), (er ** 2).sum(), (cr * er).sum()
    out.update(grid_corr=float(inner / max(np.sqrt(energy_c * energy_e), 1e-9)),
               grid_contrast=float(inner / max(energy_e, 1e-9)))
    phase_x, phase_y, size = _phase_and_size(attributes, rows, cols, crop, expected, weight)
    if (_double_centre(crop) ** 2).sum() < NO_STRUCTURE * (_double_centre(expected) ** 2).sum():
        size = float(np.log(2))                                            # no 2-D grid: the cap
    out.update(phase_error_x=phase_x, phase_error_y=phase_y, window_size_error=size)
    grey = image[full_rows.astype(int)][:, int(cols[0]):int(cols[-1]) + 1] @ np.array([0.299, 0.587, 0.114])
    for axis, profile in (("x", grey.mean(axis=0)), ("y", grey.mean(axis=1))):
        true = float(attributes[f"period_{axis}"])
        est = estimate_period(profile)
        out[f"period_error_{axis}"] = min(1.0, abs(est - true) / true) if np.isfinite(est) else 1.0
    return {c: out[c] for c in FACADE_COLUMNS}
