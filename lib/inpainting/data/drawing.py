"""The procedural renderer's drawing: anti-aliased coverage from distance fields, alpha blending,
and the parts whose look the semantic scores check (the lit skin, the eye, the window grid).

:mod:`inpainting.data.procedural` paints its images with these functions (float32, with its
exact parameters) and :mod:`inpainting.evaluation.semantic.templates` re-draws an eye or a window
grid with the same functions from the generating attributes (float64, without noise): one
renderer. Every function computes in the precision of its inputs. Coordinates are pixels
``[row, col]``, with the centre of pixel ``[r, c]`` at ``(r, c)``; colours are RGB 0-255.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

PUPIL_RGB = (15.0, 10.0, 10.0)
LID_SHADE = 0.3                  # the lid is the hair colour times this
RAIL_RGB = (35.0, 35.0, 38.0)
EYE_PARTS = ("sclera", "iris", "pupil", "lid")   # in painting order


@lru_cache(maxsize=8)
def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column pixel coordinates, each float32 ``(size, size)``."""
    r = np.arange(size, dtype=np.float32)
    return np.broadcast_to(r[:, None], (size, size)), np.broadcast_to(r[None, :], (size, size))


def coverage(signed_distance: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] from a signed distance in pixels (negative = inside)."""
    return np.clip(0.5 - signed_distance, 0.0, 1.0)


def ellipse(rows, cols, r0, c0, ry, rx):
    """Coverage of the ellipse centred at ``(r0, c0)`` with semi-axes ``ry``, ``rx``, and its
    normalised radius ``q`` (1 on the outline)."""
    q = np.sqrt(((rows - r0) / ry) ** 2 + ((cols - c0) / rx) ** 2)
    return coverage((q - 1.0) * min(rx, ry)), q


def band(d: np.ndarray, half: float) -> np.ndarray:
    """Coverage of ``|d| <= half`` (1-D box, pixels)."""
    return coverage(np.abs(d) - half)


def capsule(rows, cols, p0, p1, radius):
    """Coverage of a thick segment from ``p0`` to ``p1`` (``(row, col)`` pixels)."""
    (r0, c0), (r1, c1) = p0, p1
    dr, dc = r1 - r0, c1 - c0
    t = np.clip(((rows - r0) * dr + (cols - c0) * dc) / (dr * dr + dc * dc), 0.0, 1.0)
    return coverage(np.hypot(rows - r0 - t * dr, cols - c0 - t * dc) - radius)


def blend(img: np.ndarray, alpha: np.ndarray, colour) -> np.ndarray:
    """``img`` with ``colour`` (``(3,)`` or ``(..., 3)``) alpha-blended in, in ``img``'s dtype."""
    return img + alpha[..., None] * (np.asarray(colour, dtype=img.dtype) - img)


def paint(img: np.ndarray, alpha: np.ndarray, colour) -> None:
    """:func:`blend` into ``img`` in place."""
    img[...] = blend(img, alpha, colour)


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1], float32 ``(size, size)``: a ``cells x cells`` random grid,
    interpolated with smoothstep weights (the draw does not depend on ``size``)."""
    grid = rng.random((cells, cells))
    pos = (np.arange(size) + 0.5) / size * (cells - 1)
    lo = np.minimum(pos.astype(int), cells - 2)
    f = pos - lo
    f = f * f * (3 - 2 * f)
    w = np.zeros((size, cells))
    w[np.arange(size), lo] = 1 - f
    w[np.arange(size), lo + 1] = f
    return (w @ grid @ w.T).astype(np.float32)


def finish(img: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Add Gaussian sensor noise (sigma in 0-255 units) and quantise to uint8."""
    img += rng.normal(0.0, sigma, img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- faces
def skin_shading(a: dict, rows, cols):
    """The factor of the skin colour at ``(rows, cols)``: a linear lighting gradient
    (``light_angle``, ``light_strength``), darker towards the edge of the face ellipse."""
    s, angle = a["image_size"], a["light_angle"]
    light = 1 + a["light_strength"] * 2 * ((cols / s - 0.5) * np.cos(angle)
                                           + (rows / s - 0.5) * np.sin(angle))
    (cy, cx), (fb, fa) = a["face_center"], a["face_axes"]
    q = ellipse(rows, cols, cy, cx, fb, fa)[1]
    return light * (1 - 0.2 * np.clip(q, 0, 1) ** 6)


def eye_parts(a: dict, er, ec, rows, cols) -> dict[str, np.ndarray]:
    """Coverage of each part of an eye centred at ``(er, ec)`` (:data:`EYE_PARTS`, in painting
    order), from the attributes ``eye_radius``, ``eye_height``, ``iris_radius``,
    ``pupil_radius`` and ``image_size``."""
    rx, ry = a["eye_radius"], a["eye_height"]
    sclera, q = ellipse(rows, cols, er, ec, ry, rx)
    d = np.hypot(rows - er, cols - ec)
    lid = band((q - 1.0) * min(rx, ry), max(0.35, 0.006 * a["image_size"])) * coverage(rows - er)
    return {"sclera": sclera, "iris": sclera * coverage(d - a["iris_radius"]),
            "pupil": sclera * coverage(d - a["pupil_radius"]), "lid": lid}


def draw_eye(img: np.ndarray, parts: dict[str, np.ndarray], colours: dict) -> np.ndarray:
    """``img`` with the eye's ``parts`` blended in, in painting order, in ``colours`` (part ->
    RGB)."""
    for name in EYE_PARTS:
        img = blend(img, parts[name], colours[name])
    return img


# ----------------------------------------------------------------------------- facades
def window_parts(dxw, dyw, wh, ww, ft, in_grid):
    """``(frame, glass, shade)`` of the window grid from each pixel's offsets ``(dyw, dxw)`` to
    the centre of its window: the coverage of the frame (``ft`` px around the ``wh x ww`` glass)
    and of the glass on the window floors (``in_grid``), and the glass's vertical shading."""
    frame = band(dxw, ww / 2 + ft) * band(dyw, wh / 2 + ft) * in_grid
    glass = band(dxw, ww / 2) * band(dyw, wh / 2) * in_grid
    return frame, glass, 1 + 0.3 * np.clip(dyw / wh, -0.5, 0.5)


def mullion_cross(dxw, dyw, wh, ft):
    """Coverage of a window's mullions: one vertical and one horizontal bar."""
    bar = max(0.3, ft * 0.3)
    return np.maximum(band(dxw, bar), band(dyw + wh * 0.15, bar))


def balcony_rails(dxw, dyw, wh, ww, ft, rail_height, on_balcony, continuous: bool, cols, size):
    """Coverage of the balcony rails (below each window of a balcony floor, ``on_balcony``; along
    the whole floor when ``continuous``), their bars at half strength between the posts."""
    rail = band(dyw - (wh / 2 + ft - rail_height / 2), rail_height / 2) * on_balcony
    if not continuous:
        rail = rail * band(dxw, ww / 2 + 2 * ft)
    bar_period = max(3.0, 0.03 * size)
    return rail * np.where(cols % bar_period < bar_period / 2, 1.0, 0.5)
