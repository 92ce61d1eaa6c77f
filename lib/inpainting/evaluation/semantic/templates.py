"""What a semantic hole should show: the procedural renderer's eye and window grid drawn from the
generating attributes with the renderer's own functions (:mod:`inpainting.data.drawing`), on plain
skin or a flat wall, without sensor noise, shifted or resized on request.

Coordinates are pixels ``[row, col]``, with the centre of pixel ``[r, c]`` at ``(r, c)``."""
from __future__ import annotations

import numpy as np

from ...data.drawing import (LID_SHADE, PUPIL_RGB, RAIL_RGB, balcony_rails, blend, draw_eye, eye_parts,
                             mullion_cross, skin_shading, window_parts)


def lit_skin(attributes: dict, rows, cols) -> np.ndarray:
    """The renderer's lit skin colour at ``(rows, cols)`` (broadcast), float ``(..., 3)``."""
    return np.asarray(attributes["skin_rgb"]) * skin_shading(attributes, rows, cols)[..., None]


def eye_template(attributes: dict, which: str, rows, cols, offset=(0.0, 0.0),
                 **changes) -> tuple[np.ndarray, dict]:
    """The eye ``which`` as the renderer draws it, without sensor noise.

    Parameters
    ----------
    attributes : dict
        Face attributes at size ``S``.
    which : {"left", "right"}
    rows, cols : np.ndarray
        Pixel coordinates, broadcastable against each other (e.g. ``(h, 1)`` and ``(1, w)``, or
        with a leading axis of shifts).
    offset : (float, float) or arrays
        Shift ``(d_row, d_col)`` of the eye centre in px (broadcast with ``rows`` / ``cols``).
    **changes
        Attribute overrides for adversarial renders: ``iris_rgb``, ``pupil_radius``,
        ``iris_radius``, ``sclera_rgb``.

    Returns
    -------
    image : np.ndarray
        float ``(..., 3)`` RGB 0-255: skin, sclera, iris, pupil and lid painted in the renderer's
        order.
    weights : dict
        ``skin``, ``sclera``, ``iris``, ``pupil``, ``lid``: the fraction of every pixel each part
        covers in the final image (they sum to 1), float ``(...)``.
    """
    a = {**attributes, **changes}
    er = a[f"eye_{which}_center"][0] + np.asarray(offset[0], dtype=float)
    ec = a[f"eye_{which}_center"][1] + np.asarray(offset[1], dtype=float)
    rows, cols = np.asarray(rows, float), np.asarray(cols, float)
    lit = lit_skin(a, rows, cols)  # independent of the offset: computed before broadcasting
    rows, cols = np.broadcast_arrays(rows + 0 * er, cols + 0 * ec)
    parts = eye_parts(a, er, ec, rows, cols)
    img = draw_eye(np.broadcast_to(lit, (*rows.shape, 3)), parts,
                   {"sclera": a["sclera_rgb"], "iris": a["iris_rgb"], "pupil": PUPIL_RGB,
                    "lid": LID_SHADE * np.asarray(a["hair_rgb"])})
    sclera, iris, pupil, lid = (parts[p] for p in ("sclera", "iris", "pupil", "lid"))
    keep_lid, keep_pupil, keep_iris = 1 - lid, (1 - lid) * (1 - pupil), (1 - lid) * (1 - pupil) * (1 - iris)
    weights = {"pupil": pupil * keep_lid, "iris": iris * keep_pupil, "sclera": sclera * keep_iris,
               "lid": lid, "skin": (1 - sclera) * keep_iris}
    return img, weights


def _window_profiles(attributes: dict, rows, cols, shift=(0.0, 0.0), scale=(1.0, 1.0)):
    """Per-axis window offsets, sizes and the window-floor indicator (broadcast over shift / scale)."""
    px, py = attributes["period_x"], attributes["period_y"]
    oy = attributes["grid_origin"][0] + np.asarray(shift[0], float)
    ox = attributes["grid_origin"][1] + np.asarray(shift[1], float)
    wh = attributes["window_size"][0] * np.asarray(scale[0], float)
    ww = attributes["window_size"][1] * np.asarray(scale[1], float)
    dyw = (rows - oy + py / 2) % py - py / 2
    dxw = (cols - ox + px / 2) % px - px / 2
    floor = np.floor((rows - np.asarray(shift[0], float) - attributes["grid_top"]) / py)
    in_grid = ((floor >= 0) & (floor < attributes["floor_count"])).astype(float)
    return dyw, dxw, wh, ww, attributes["frame_thickness"], in_grid, floor


def window_grid(attributes: dict, rows, cols, shift=(0.0, 0.0), scale=(1.0, 1.0),
                stripes: str | None = None) -> np.ndarray:
    """The facade's window grid as the renderer draws it, on a flat wall, without noise.

    Wall in ``wall_rgb``; windows on the periodic grid of ``period_x`` / ``period_y`` through
    ``grid_origin``, on the ``floor_count`` window floors below ``grid_top``: frame
    (``frame_rgb``, ``frame_thickness`` px wide), glass (``window_rgb`` with the renderer's vertical
    shading), mullions when ``attributes["mullions"]``, balcony rails with their bars on
    ``balcony_floors`` (when the attributes give ``rail_height`` and ``balcony_continuous``).
    Wall texture, cornices, shop windows and the sky are not drawn.

    Parameters
    ----------
    attributes : dict
        Facade attributes at size ``S``.
    rows, cols : np.ndarray
        Pixel coordinates, broadcastable (e.g. ``(h, 1)`` and ``(1, w)``).
    shift : (float, float)
        Grid origin moved by ``(d_row, d_col)`` px (a phase error when not a multiple of the period).
    scale : (float, float)
        Window height and width multiplied by these factors.
    stripes : {None, "vertical", "horizontal"}
        ``"vertical"``: the window columns painted over the whole height (a function of the column
        alone, at the true x period and phase); ``"horizontal"``: the window rows over the whole
        width (the true y period and phase). No mullions, balconies or shading.

    Returns
    -------
    np.ndarray
        float ``(..., 3)`` RGB 0-255.
    """
    if stripes not in (None, "vertical", "horizontal"):
        raise ValueError(f"stripes={stripes!r}; valid: None, vertical, horizontal")
    rows, cols = np.asarray(rows, float), np.asarray(cols, float)
    dyw, dxw, wh, ww, ft, in_grid, floor = _window_profiles(attributes, rows, cols, shift, scale)
    if stripes == "vertical":     # every row is a window row: the column profile alone
        dyw, wh, in_grid = np.zeros_like(dyw), np.inf, 1.0
    elif stripes == "horizontal":
        dxw, ww = np.zeros_like(dxw), np.inf
    frame, glass, shade = window_parts(dxw, dyw, wh, ww, ft, in_grid)
    if stripes is not None:
        shade = np.ones_like(shade)
    frame_rgb, glass_rgb = np.asarray(attributes["frame_rgb"]), np.asarray(attributes["window_rgb"])
    img = np.broadcast_to(np.asarray(attributes["wall_rgb"], float), (*frame.shape, 3))
    img = blend(img, frame, frame_rgb)
    img = blend(img, glass, glass_rgb * shade[..., None])
    if stripes is None and attributes.get("mullions"):
        img = blend(img, glass * mullion_cross(dxw, dyw, wh, ft), frame_rgb)
    if stripes is None and "rail_height" in attributes and attributes.get("balcony_floors"):
        on_balcony = np.isin(floor, attributes["balcony_floors"]) * in_grid
        img = blend(img, balcony_rails(dxw, dyw, wh, ww, ft, attributes["rail_height"], on_balcony,
                                       attributes.get("balcony_continuous"), cols,
                                       attributes["image_size"]), RAIL_RGB)
    return img
