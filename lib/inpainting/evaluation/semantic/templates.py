"""The procedural renderer's eyes and window grids re-drawn from the generating attributes,
without sensor noise: what a semantic hole should show (:mod:`inpainting.data.procedural`
draws the images; these templates follow its drawing order and colours).

Coordinates are pixels ``[row, col]``, with the centre of pixel ``[r, c]`` at ``(r, c)``."""
from __future__ import annotations

import numpy as np

PUPIL_RGB = (15.0, 10.0, 10.0)  # the renderer's pupil colour (procedural._draw_face)
LID_SHADE = 0.3              # the renderer's lid colour: hair_rgb * 0.3


def _cov(signed_distance):
    """Anti-aliased coverage from a signed distance in px (negative = inside), as the renderer."""
    return np.clip(0.5 - signed_distance, 0.0, 1.0)


def _skin(attributes: dict, rows, cols) -> np.ndarray:
    """The renderer's lit skin colour at ``(rows, cols)`` (broadcast), float ``(..., 3)``."""
    s = attributes["image_size"]
    angle, strength = attributes["light_angle"], attributes["light_strength"]
    light = 1 + strength * 2 * ((cols / s - 0.5) * np.cos(angle) + (rows / s - 0.5) * np.sin(angle))
    (cy, cx), (fb, fa) = attributes["face_center"], attributes["face_axes"]
    q = np.sqrt(((rows - cy) / fb) ** 2 + ((cols - cx) / fa) ** 2)
    return np.asarray(attributes["skin_rgb"]) * (light * (1 - 0.2 * np.clip(q, 0, 1) ** 6))[..., None]


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
    s = a["image_size"]
    er = a[f"eye_{which}_center"][0] + np.asarray(offset[0], dtype=float)
    ec = a[f"eye_{which}_center"][1] + np.asarray(offset[1], dtype=float)
    rx, ry, m = a["eye_radius"], a["eye_height"], min(a["eye_radius"], a["eye_height"])
    rows, cols = np.asarray(rows, float), np.asarray(cols, float)
    skin = _skin(a, rows, cols)  # independent of the offset: computed before broadcasting
    rows, cols = np.broadcast_arrays(rows + 0 * er, cols + 0 * ec)
    q = np.sqrt(((rows - er) / ry) ** 2 + ((cols - ec) / rx) ** 2)
    d = np.hypot(rows - er, cols - ec)
    sclera = _cov((q - 1) * m)
    iris = sclera * _cov(d - a["iris_radius"])
    pupil = sclera * _cov(d - a["pupil_radius"])
    lid = _cov(np.abs((q - 1) * m) - max(0.35, 0.006 * s)) * _cov(rows - er)
    img = np.broadcast_to(skin, (*rows.shape, 3))
    for alpha, colour in ((sclera, a["sclera_rgb"]), (iris, a["iris_rgb"]), (pupil, PUPIL_RGB),
                          (lid, LID_SHADE * np.asarray(a["hair_rgb"]))):
        img = img + alpha[..., None] * (np.asarray(colour, float) - img)
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
    fx, gx = _cov(np.abs(dxw) - (ww / 2 + ft)), _cov(np.abs(dxw) - ww / 2)
    fy, gy = _cov(np.abs(dyw) - (wh / 2 + ft)) * in_grid, _cov(np.abs(dyw) - wh / 2) * in_grid
    shade = 1 + 0.3 * np.clip(dyw / wh, -0.5, 0.5)
    if stripes == "vertical":
        fy, gy, shade = np.ones_like(fy), np.ones_like(gy), np.ones_like(shade)
    elif stripes == "horizontal":
        fx, gx, shade = np.ones_like(fx), np.ones_like(gx), np.ones_like(shade)
    frame, glass = fx * fy, gx * gy
    frame_rgb, glass_rgb = np.asarray(attributes["frame_rgb"]), np.asarray(attributes["window_rgb"])
    img = np.broadcast_to(np.asarray(attributes["wall_rgb"], float), (*frame.shape, 3))
    img = img + frame[..., None] * (frame_rgb - img)
    img = img + glass[..., None] * (glass_rgb * shade[..., None] - img)
    if stripes is None and attributes.get("mullions"):
        bar = max(0.3, ft * 0.3)
        cross = np.maximum(_cov(np.abs(dxw) - bar), _cov(np.abs(dyw + wh * 0.15) - bar))
        img = img + (glass * cross)[..., None] * (frame_rgb - img)
    if stripes is None and "rail_height" in attributes and attributes.get("balcony_floors"):
        rail_h, s = attributes["rail_height"], attributes["image_size"]
        balcony = np.isin(floor, attributes["balcony_floors"]) * in_grid
        rail = _cov(np.abs(dyw - (wh / 2 + ft - rail_h / 2)) - rail_h / 2) * balcony
        if not attributes.get("balcony_continuous"):
            rail = rail * _cov(np.abs(dxw) - (ww / 2 + 2 * ft))
        bar_period = max(3.0, 0.03 * s)
        bars = np.where(cols % bar_period < bar_period / 2, 1.0, 0.5)
        img = img + (rail * bars)[..., None] * (np.array([35.0, 35.0, 38.0]) - img)
    return img
