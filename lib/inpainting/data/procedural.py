"""Procedural faces (CelebA's role) and facades (Paris StreetView's role) with known attributes.

Every image is a pure function of ``(seed, split, index)``: its generator is
``np.random.default_rng([seed, split_id, index])`` with ``split_id`` 0 for ``train`` and 1 for
``test``, so the two splits never share an image. Shapes and positions are drawn in units of the
image size and rasterised at the requested size (32-256 px) with anti-aliased edges from distance
fields on the pixel grid, so one index gives the same picture at every size. All size-dependent
random draws (sensor noise, fine wall noise) come last, after the size-independent ones.

Attribute dicts hold plain Python values (lists, not tuples, so they survive a save / load
unchanged). Coordinates are pixels of the output size, ``[row, col]``, with the centre of pixel
``[r, c]`` at ``(r, c)``. Colours are RGB floats in 0-255 (the colour before lighting and sensor
noise). Boxes are ``[top, left, bottom, right]`` integer bounds, half-open, of the pixels a shape
touches.

Faces: "left" and "right" mean the image's left and right (smaller / larger column). The lighting
gradient shades skin only; both eyes are drawn unlit with the same iris colour and radii, so a
completed eye can be checked against the visible one (:mod:`inpainting.evaluation.semantic`).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch.utils.data import Dataset

from .drawing import (LID_SHADE, PUPIL_RGB, RAIL_RGB, balcony_rails, band, capsule, coverage, draw_eye,
                      ellipse, eye_parts, finish, mullion_cross, paint, pixel_grid,
                      skin_shading, smooth_noise, window_parts)

SPLITS = {"train": 0, "test": 1}

SKIN_LIGHT, SKIN_DARK = np.array([242.0, 205.0, 175.0]), np.array([92.0, 58.0, 40.0])
HAIR_RGB = np.array([[25, 20, 20], [60, 40, 25], [110, 75, 45], [205, 175, 115], [150, 65, 30],
                     [165, 165, 165]], dtype=float)
IRIS_RGB = np.array([[75, 45, 25], [60, 110, 190], [55, 140, 80], [145, 110, 45], [185, 125, 40],
                     [90, 130, 165], [120, 70, 150]], dtype=float)
HAIR_STYLES = ("short", "long", "bangs")
WALL_RGB = np.array([[228, 212, 182], [200, 180, 150], [172, 166, 160], [212, 172, 112],
                     [160, 82, 62], [236, 230, 220]], dtype=float)
GLASS_RGB = np.array([[40, 55, 80], [60, 70, 75], [25, 28, 35], [70, 95, 120]], dtype=float)
FRAME_RGB = np.array([[240, 240, 235], [45, 45, 45], [60, 100, 70], [110, 70, 40],
                      [150, 160, 175]], dtype=float)
DOOR_RGB = np.array([[95, 55, 30], [40, 80, 55], [35, 45, 85], [130, 35, 35]], dtype=float)


def _split_id(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"split={split!r}; valid: train, test")
    return SPLITS[split]


def _px(frac: float, size: int) -> float:
    """A position given as a fraction of the image (0 = top/left edge) in pixel coordinates."""
    return frac * size - 0.5


def _rgb(x) -> list[float]:
    return [round(float(v), 2) for v in np.clip(x, 0, 255)]


def _box(top, left, bottom, right, size) -> list[int]:
    """Half-open pixel bounds of the pixels an anti-aliased shape with these extents touches."""
    return [max(0, int(np.ceil(top - 0.5))), max(0, int(np.ceil(left - 0.5))),
            min(size, int(np.floor(bottom + 0.5)) + 1), min(size, int(np.floor(right + 0.5)) + 1)]


# ----------------------------------------------------------------------------------------- faces
def _face_params(rng: np.random.Generator) -> dict:
    """Size-independent face parameters (positions and lengths as fractions of the image)."""
    p = {"skin": SKIN_LIGHT + rng.random() * (SKIN_DARK - SKIN_LIGHT) + rng.normal(0, 6, 3)}
    p["cx"], p["cy"] = 0.5 + rng.normal(0, 0.008), rng.uniform(0.52, 0.56)
    p["a"] = rng.uniform(0.26, 0.3)
    p["b"] = p["a"] * rng.uniform(1.15, 1.32)
    p["eye_dy"], p["eye_dx"] = rng.uniform(0.12, 0.22), rng.uniform(0.125, 0.14)
    p["iris_r"] = rng.uniform(0.038, 0.046)
    p["eye_rx"], p["eye_ry"] = p["iris_r"] * rng.uniform(1.45, 1.7), p["iris_r"] * rng.uniform(1.05, 1.2)
    p["pupil"] = rng.uniform(0.22, 0.3)
    while True:  # an iris colour far from skin and mid-grey, so a filled-in blur cannot pass
        iris = IRIS_RGB[rng.integers(len(IRIS_RGB))] + rng.normal(0, 12, 3)
        if np.abs(iris - p["skin"]).mean() > 50 and np.abs(iris - 128).mean() > 40:
            break
    p["iris"], p["sclera"] = iris, np.array([238.0, 236.0, 228.0]) + rng.normal(0, 4, 3)
    p["hair"] = HAIR_RGB[rng.integers(len(HAIR_RGB))] + rng.normal(0, 10, 3)
    p["hair_style"] = HAIR_STYLES[rng.integers(len(HAIR_STYLES))]
    p["hairline"] = rng.uniform(0.5, 0.65)
    p["brow_gap"], p["brow_len"] = rng.uniform(0.025, 0.045), rng.uniform(1.0, 1.3)
    p["brow_thick"], p["brow_tilt"] = rng.uniform(0.008, 0.013), rng.uniform(-0.2, 0.25)
    p["nose_y"], p["nose_w"] = rng.uniform(0.12, 0.22), rng.uniform(0.025, 0.04)
    p["mouth_y"], p["mouth_hw"] = rng.uniform(0.45, 0.55), rng.uniform(0.07, 0.115)
    p["mouth_lift"], p["lip_thick"] = rng.uniform(-0.012, 0.03), rng.uniform(0.01, 0.02)
    p["lip"] = p["skin"] * np.array([0.85, 0.5, 0.5]) + np.array([40.0, 0, 0]) + rng.normal(0, 8, 3)
    p["clothes"] = rng.uniform(20, 235, 3)
    p["light_angle"], p["light"] = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.3)
    p["background"] = ("noise", "stripes")[rng.integers(2)]
    p["bg1"], p["bg2"] = rng.uniform(30, 230, 3), rng.uniform(30, 230, 3)
    p["stripe_f"], p["stripe_angle"] = rng.uniform(4, 9), rng.uniform(0, np.pi)
    p["noise_sigma"] = rng.uniform(1.5, 4.0)
    return p


def _face_attributes(p: dict, size: int) -> dict:
    s = size
    eye_row = _px(p["cy"] - p["b"] * p["eye_dy"], s)
    rx, ry = p["eye_rx"] * s, p["eye_ry"] * s
    centres = {side: (eye_row, _px(p["cx"] + sign * p["eye_dx"], s))
               for side, sign in (("left", -1), ("right", 1))}
    attrs = {
        "kind": "face", "image_size": s,
        "skin_rgb": _rgb(p["skin"]), "hair_rgb": _rgb(p["hair"]), "hair_style": p["hair_style"],
        "iris_rgb": _rgb(p["iris"]), "sclera_rgb": _rgb(p["sclera"]),
        "iris_radius": p["iris_r"] * s, "pupil_radius": p["iris_r"] * p["pupil"] * s,
        "eye_radius": rx, "eye_height": ry,
        "face_center": [_px(p["cy"], s), _px(p["cx"], s)],
        "face_axes": [p["b"] * s, p["a"] * s], "face_aspect": p["b"] / p["a"],
        "mouth_center": [_px(p["cy"] + p["b"] * p["mouth_y"], s), _px(p["cx"], s)],
        "mouth_half_width": p["mouth_hw"] * s, "mouth_lift": p["mouth_lift"] * s,
        "mouth_smile": bool(p["mouth_lift"] > 0), "lip_thickness": p["lip_thick"] * s,
        "lip_rgb": _rgb(p["lip"]),
        "light_angle": p["light_angle"], "light_strength": p["light"],
        "background": p["background"], "noise_sigma": p["noise_sigma"],
    }
    for side, (r, c) in centres.items():
        attrs[f"eye_{side}_center"] = [r, c]
        attrs[f"eye_{side}_bbox"] = _box(r - ry, c - rx, r + ry, c + rx, s)
    return attrs


def _draw_face(p: dict, a: dict, rng: np.random.Generator, size: int) -> np.ndarray:
    s = size
    rows, cols = pixel_grid(s)
    cy, cx, fa, fb = _px(p["cy"], s), _px(p["cx"], s), p["a"] * s, p["b"] * s
    # background: smooth noise or stripes between two colours
    if p["background"] == "noise":
        t = smooth_noise(rng, s, 5)
    else:
        phase = (cols * np.cos(p["stripe_angle"]) + rows * np.sin(p["stripe_angle"])) / s
        t = 0.5 + 0.5 * np.sin(2 * np.pi * p["stripe_f"] * phase)
    img = (p["bg1"] + t[..., None] * (p["bg2"] - p["bg1"])).astype(np.float32)
    hair = p["hair"] * (0.85 + 0.3 * smooth_noise(rng, s, 12))[..., None]
    # skin with a linear lighting gradient and darker edges of the face
    face_cov = ellipse(rows, cols, cy, cx, fb, fa)[0]
    skin = p["skin"] * skin_shading(a, rows, cols)[..., None]
    if p["hair_style"] == "long":
        back = np.maximum(ellipse(rows, cols, cy - 0.05 * s, cx, fb * 1.2, fa * 1.35)[0],
                          band(cols - cx, fa * 1.3) * coverage(cy - rows))
        paint(img, back, hair)
    paint(img, ellipse(rows, cols, 1.12 * s, cx, 0.3 * s, 0.45 * s)[0], p["clothes"])
    paint(img, band(cols - cx, fa * 0.45) * coverage(cy - rows), skin * 0.85)
    for sign in (-1, 1):
        paint(img, ellipse(rows, cols, a["eye_left_center"][0] + 0.04 * s, cx + sign * fa,
                             0.06 * s, 0.035 * s)[0], skin * 0.92)
    paint(img, face_cov, skin)
    # hair in front: a cap above the hairline, plus the temples beside the face
    hairline = {"short": cy - fb * p["hairline"], "long": cy - fb * p["hairline"],
                "bangs": a["eye_left_center"][0] - (p["eye_ry"] + p["brow_gap"] + 0.035) * s}
    cap = ellipse(rows, cols, cy - 0.12 * fb, cx, fb * 1.0 + 0.04 * s, fa * 1.1)[0]
    temples = (1 - face_cov) * coverage(rows - a["eye_left_center"][0])
    paint(img, cap * np.maximum(coverage(rows - hairline[p["hair_style"]]), temples), hair)
    # brows (mirrored tilt), eyes (shared iris), nose, mouth
    rx, ry = a["eye_radius"], a["eye_height"]
    for side, sign in (("left", -1), ("right", 1)):
        er, ec = a[f"eye_{side}_center"]
        br, half = er - ry - p["brow_gap"] * s, rx * p["brow_len"]
        inner, outer = (br, ec - sign * half), (br - p["brow_tilt"] * half, ec + sign * half)
        paint(img, capsule(rows, cols, inner, outer, p["brow_thick"] * s), p["hair"] * 0.6)
        img[...] = draw_eye(img, eye_parts(a, er, ec, rows, cols),
                            {"sclera": p["sclera"], "iris": p["iris"], "pupil": PUPIL_RGB,
                             "lid": p["hair"] * LID_SHADE})
    nose_r = cy + p["nose_y"] * fb
    paint(img, 0.5 * capsule(rows, cols, (a["eye_left_center"][0] + ry, cx + 0.01 * s),
                               (nose_r - 0.02 * s, cx + 0.015 * s), 0.006 * s), skin * 0.7)
    for sign in (-1, 1):
        paint(img, ellipse(rows, cols, nose_r, cx + sign * p["nose_w"] * s,
                             0.008 * s, 0.012 * s)[0], skin * 0.55)
    (mr, mc), hw = a["mouth_center"], a["mouth_half_width"]
    u = np.clip((cols - mc) / hw, -1, 1)
    centre_line = rows - (mr - a["mouth_lift"] * u ** 2)
    inside = band(cols - mc, hw)
    paint(img, inside * band(centre_line, a["lip_thickness"] * np.sqrt(1 - u ** 2) + 0.3),
           p["lip"])
    paint(img, inside * band(centre_line, 0.25), p["lip"] * 0.45)
    return finish(img, rng, p["noise_sigma"])


def render_face(rng: np.random.Generator, size: int) -> tuple[np.ndarray, dict]:
    """One procedural face.

    Parameters
    ----------
    rng : np.random.Generator
        The image's generator (all randomness comes from it).
    size : int
        Output side in pixels (32-256).

    Returns
    -------
    image : np.ndarray
        uint8 ``(size, size, 3)``, RGB 0-255.
    attributes : dict
        Generating attributes (see the module docstring for units), including ``iris_rgb``,
        ``eye_left_center`` / ``eye_right_center`` ``[row, col]``, ``eye_radius`` (horizontal
        semi-axis of the eye, px), ``eye_height``, ``iris_radius``, ``pupil_radius``,
        ``eye_left_bbox`` / ``eye_right_bbox``, ``skin_rgb``, ``hair_rgb``, ``hair_style``,
        ``mouth_center``, ``mouth_half_width``, ``mouth_lift`` (px; > 0 = smile), ``lip_rgb``.
    """
    p = _face_params(rng)
    attrs = _face_attributes(p, size)
    return _draw_face(p, attrs, rng, size), attrs


# --------------------------------------------------------------------------------------- facades
def _facade_params(rng: np.random.Generator) -> dict:
    """Size-independent facade parameters (fractions of the image)."""
    p = {"sky_h": rng.uniform(0.04, 0.1), "roof": rng.uniform(0.015, 0.03)}
    p["sky_top"] = np.array([70.0, 120.0, 200.0]) + rng.normal(0, 15, 3)
    p["sky_low"] = np.array([175.0, 200.0, 230.0]) + rng.normal(0, 10, 3)
    p["wall"] = WALL_RGB[rng.integers(len(WALL_RGB))] + rng.normal(0, 8, 3)
    p["texture"] = ("plain", "brick")[rng.integers(2)]
    p["brick_h"] = rng.uniform(0.03, 0.045)
    p["floors"] = int(rng.choice([3, 4]))
    p["ground_h"] = rng.uniform(0.14, 0.2)
    p["grid_top"] = p["sky_h"] + p["roof"] + rng.uniform(0.0, 0.03)
    p["py"] = (1 - p["ground_h"] - p["grid_top"]) / p["floors"]
    p["px"] = rng.uniform(0.14, 0.22)
    p["x0"] = rng.uniform(0, p["px"])
    p["win_w"], p["win_h"] = p["px"] * rng.uniform(0.4, 0.6), p["py"] * rng.uniform(0.45, 0.62)
    p["win_pos"] = rng.uniform(0.45, 0.55)
    p["frame_t"] = rng.uniform(0.008, 0.018)
    p["frame"] = FRAME_RGB[rng.integers(len(FRAME_RGB))] + rng.normal(0, 6, 3)
    p["glass"] = GLASS_RGB[rng.integers(len(GLASS_RGB))] + rng.normal(0, 6, 3)
    p["mullions"] = bool(rng.random() < 0.5)
    p["band_t"], p["band_shade"] = rng.uniform(0.008, 0.016), rng.uniform(0.75, 1.15)
    p["balconies"] = [j for j in range(p["floors"]) if rng.random() < 0.4]
    p["balcony_continuous"] = bool(rng.random() < 0.5)
    p["rail_h"] = p["py"] * rng.uniform(0.12, 0.2)
    p["ground_shade"] = rng.uniform(0.7, 0.9)
    p["shops"] = bool(rng.random() < 0.5)
    p["door_col"] = rng.uniform(0.3, 0.7)
    p["door"] = DOOR_RGB[rng.integers(len(DOOR_RGB))] + rng.normal(0, 8, 3)
    p["door_w"], p["door_top"] = p["win_w"] * rng.uniform(1.0, 1.3), rng.uniform(0.15, 0.3)
    p["noise_sigma"] = rng.uniform(1.5, 4.0)
    return p


def _facade_attributes(p: dict, size: int) -> dict:
    s = size
    door_k = round((p["door_col"] - p["x0"]) / p["px"])
    door_c = _px(p["x0"] + door_k * p["px"], s)
    ground_top = _px(1 - p["ground_h"], s) + 0.5
    door_half = p["door_w"] * s / 2
    return {
        "kind": "facade", "image_size": s,
        "period_x": p["px"] * s, "period_y": p["py"] * s,
        "window_size": [p["win_h"] * s, p["win_w"] * s],
        "grid_origin": [_px(p["grid_top"] + p["win_pos"] * p["py"], s), _px(p["x0"], s)],
        "window_rgb": _rgb(p["glass"]), "frame_rgb": _rgb(p["frame"]),
        "frame_thickness": p["frame_t"] * s, "mullions": p["mullions"],
        "wall_rgb": _rgb(p["wall"]), "wall_texture": p["texture"],
        "floor_count": p["floors"], "balcony_floors": list(p["balconies"]),
        "balcony_continuous": p["balcony_continuous"], "rail_height": p["rail_h"] * s,
        "sky_height": p["sky_h"] * s, "grid_top": p["grid_top"] * s, "ground_top": ground_top,
        "door_bbox": _box(ground_top + p["door_top"] * p["ground_h"] * s, door_c - door_half,
                          s - 1, door_c + door_half, s),
        "door_col": door_c, "door_width": 2 * door_half, "shop_windows": p["shops"],
        "noise_sigma": p["noise_sigma"],
    }


def _draw_facade(p: dict, a: dict, rng: np.random.Generator, size: int) -> np.ndarray:
    s = size
    rows, cols = pixel_grid(s)
    wall = p["wall"] * (0.92 + 0.16 * smooth_noise(rng, s, 8))[..., None]
    if p["texture"] == "brick":  # mortar lines and a per-brick tint, all in image units
        bh = p["brick_h"]
        n_rows, n_cols = int(np.ceil(1 / bh)) + 1, int(np.ceil(1 / (2.2 * bh))) + 2
        tint = rng.uniform(0.9, 1.1, (n_rows, n_cols))
        course = np.floor((rows + 0.5) / s / bh).astype(int)
        x = (cols + 0.5) / s / (2.2 * bh) + 0.5 * (course % 2)
        wall = wall * tint[course, np.floor(x).astype(int)][..., None]
        mortar = np.maximum(band(((rows + 0.5) / s / bh + 0.5) % 1 - 0.5, 0.0),
                            band((x + 0.5) % 1 - 0.5, 0.0) * 0.7) * 0.5
        wall = wall + mortar[..., None] * (230.0 - wall)
    img = wall.astype(np.float32)
    px, py = a["period_x"], a["period_y"]
    gtop, grid_top = a["ground_top"], _px(p["grid_top"], s) + 0.5
    # ground floor: darker stone, a door, shop windows in the other columns
    ground = coverage(gtop - rows)
    paint(img, ground, wall * p["ground_shade"])
    dxw = (cols - a["grid_origin"][1] + px / 2) % px - px / 2
    door = band(cols - a["door_col"], a["door_width"] / 2) * coverage(a["door_bbox"][0] - rows)
    if p["shops"]:
        shop_top, shop_bottom = gtop + 0.25 * (s - gtop), s - 0.15 * (s - gtop)
        shop = (band(dxw, a["window_size"][1] * 0.6) * band(rows - (shop_top + shop_bottom) / 2,
                                                                (shop_bottom - shop_top) / 2))
        paint(img, shop * (1 - door), p["glass"])
    paint(img, door, p["door"])
    # floors: cornice bands at each floor boundary, windows on a periodic grid, balconies
    floor_j = np.floor((rows - grid_top) / py)
    in_grid = (floor_j >= 0) & (floor_j < p["floors"])
    dyw = rows - (a["grid_origin"][0] + floor_j * py)
    bands = band((rows - grid_top + py / 2) % py - py / 2, p["band_t"] * s / 2)
    paint(img, bands * coverage(rows - gtop - p["band_t"] * s), p["wall"] * p["band_shade"])
    (wh, ww), ft = a["window_size"], a["frame_thickness"]
    frame, glass, shade = window_parts(dxw, dyw, wh, ww, ft, in_grid)
    paint(img, frame, p["frame"])
    paint(img, glass, p["glass"] * shade[..., None])
    if p["mullions"]:
        paint(img, glass * mullion_cross(dxw, dyw, wh, ft), p["frame"])
    sky_band = coverage(rows - _px(p["sky_h"] + p["roof"], s) - 0.5)
    paint(img, sky_band, p["wall"] * 0.6)
    balcony = np.isin(floor_j, p["balconies"]) & in_grid
    paint(img, balcony_rails(dxw, dyw, wh, ww, ft, a["rail_height"], balcony,
                             p["balcony_continuous"], cols, s), RAIL_RGB)
    # sky: vertical gradient with soft clouds, above the roof cornice
    v = np.clip(rows / max(1.0, p["sky_h"] * s), 0, 1)[..., None]
    sky = p["sky_top"] + v * (p["sky_low"] - p["sky_top"])
    sky = sky + 40 * smooth_noise(rng, s, 6)[..., None]
    paint(img, coverage(rows - _px(p["sky_h"], s) - 0.5), sky)
    img += rng.normal(0.0, 3.0, (s, s))[..., None].astype(np.float32)
    return finish(img, rng, p["noise_sigma"])


def render_facade(rng: np.random.Generator, size: int) -> tuple[np.ndarray, dict]:
    """One procedural building facade.

    Parameters
    ----------
    rng : np.random.Generator
        The image's generator.
    size : int
        Output side in pixels (32-256).

    Returns
    -------
    image : np.ndarray
        uint8 ``(size, size, 3)``, RGB 0-255.
    attributes : dict
        ``period_x`` / ``period_y`` (window-grid periods, px), ``window_size`` ``[h, w]`` px,
        ``grid_origin`` (centre ``[row, col]`` of one window of the top floor), ``window_rgb``,
        ``frame_rgb``, ``frame_thickness``, ``wall_rgb``, ``wall_texture``, ``floor_count``
        (window floors above the ground floor), ``balcony_floors`` (0 = top floor),
        ``balcony_continuous`` (rails along the whole floor, else per window), ``rail_height`` (px),
        ``sky_height``, ``grid_top``, ``ground_top`` (rows, px), ``door_bbox``.
    """
    p = _facade_params(rng)
    attrs = _facade_attributes(p, size)
    return _draw_facade(p, attrs, rng, size), attrs


# -------------------------------------------------------------------------------------- datasets
CACHE_BYTES = 512 * 2**20   # rendered images kept per process, over all procedural datasets
_CACHES: "OrderedDict[tuple, tuple[np.ndarray, np.ndarray]]" = OrderedDict()


def _rendered_cache(kind: str, seed: int, split_id: int, size: int, n: int):
    """``(images uint8 (n, S, S, 3), done bool (n,))`` for one dataset, filled lazily; ``None`` when
    the set alone would exceed :data:`CACHE_BYTES`. The least recently used sets are dropped to stay
    within it."""
    key = (kind, seed, split_id, size, n)
    need = n * size * size * 3
    if need > CACHE_BYTES:
        return None
    if key in _CACHES:
        _CACHES.move_to_end(key)
        return _CACHES[key]
    while _CACHES and sum(c[0].nbytes for c in _CACHES.values()) + need > CACHE_BYTES:
        _CACHES.popitem(last=False)
    _CACHES[key] = (np.empty((n, size, size, 3), np.uint8), np.zeros(n, bool))
    return _CACHES[key]


class _ProceduralDataset(Dataset):
    """``n`` procedural images of one split; see the module docstring for the random streams."""

    name = ""
    role = ""
    _params = staticmethod(_face_params)
    _attributes = staticmethod(_face_attributes)
    _render = staticmethod(render_face)

    def __init__(self, n: int, image_size: int = 64, seed: int = 0, split: str = "train"):
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{self.name}: n={n!r} must be a positive integer")
        if not 32 <= image_size <= 256:
            raise ValueError(f"{self.name}: image_size={image_size} must be between 32 and 256")
        self.n, self.image_size, self.seed, self.split = int(n), int(image_size), int(seed), split
        self._split_id = _split_id(split)
        self.description = (f"procedural {self.name} (built-in, {self.role} role), {image_size} px, "
                            f"seed {seed}, {split} split, {n} images")

    def __len__(self) -> int:
        return self.n

    def _rng(self, i: int) -> np.random.Generator:
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} images")
        return np.random.default_rng([self.seed, self._split_id, int(i)])

    def render(self, i: int) -> tuple[np.ndarray, dict]:
        """Image ``i`` as uint8 ``(S, S, 3)`` and its attributes."""
        return self._render(self._rng(i), self.image_size)

    def attributes(self, i: int) -> dict:
        """Generating attributes of image ``i`` (cheap: nothing is drawn)."""
        return self._attributes(self._params(self._rng(i)), self.image_size)

    def image(self, i: int) -> np.ndarray:
        """Image ``i`` as uint8 ``(S, S, 3)``, rendered once per process and kept
        (:func:`_rendered_cache`): training draws every image many times, and rendering is most of
        the cost of a batch. The cache holds exactly what :meth:`render` returns."""
        cache = _rendered_cache(type(self).__name__, self.seed, self._split_id, self.image_size,
                                self.n)
        if cache is None:
            return self.render(i)[0]
        images, done = cache
        if not done[i]:
            images[i] = self.render(i)[0]
            done[i] = True
        return images[i]

    def __getitem__(self, i: int) -> torch.Tensor:
        """Image ``i``: float32 ``(3, S, S)`` in [-1, 1], the same on every call."""
        self._rng(i)   # range check
        img = torch.from_numpy(self.image(i)).permute(2, 0, 1).float()
        return img / 127.5 - 1.0

    def train_sample(self, i: int, rng: np.random.Generator) -> torch.Tensor:
        """Training view of image ``i``: horizontally flipped with probability 0.5 (nothing else
        changes; :meth:`attributes` describe the unflipped image)."""
        img = self[i]
        return img.flip(-1) if rng.random() < 0.5 else img


class FaceDataset(_ProceduralDataset):
    """Procedural aligned frontal faces (CelebA's role); see :func:`render_face`."""

    name, role = "faces", "CelebA"


class FacadeDataset(_ProceduralDataset):
    """Procedural building facades (Paris StreetView's role); see :func:`render_facade`."""

    name, role = "facades", "Paris StreetView"
    _params = staticmethod(_facade_params)
    _attributes = staticmethod(_facade_attributes)
    _render = staticmethod(render_facade)
