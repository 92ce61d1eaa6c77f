"""The hand-made completions of the semantic test holes that calibrate the semantic scores.

Every builder maps ``(truth uint8 (S, S, 3), attributes, mask float32 (S, S))`` to a uint8
completion equal to the truth outside the hole (``mask > 0.5``). Two kinds:

* **degradations** of the truth (:func:`degrade`): what a near-correct completion differs by, with a
  strength: a shift (px at 64 px), a Gaussian blur (sigma, px at 64 px), JPEG (PIL quality, 4:2:0
  chroma subsampling), Gaussian noise (sd, 0-255), a brightness gain and a colour tint (fractions);
  the whole truth is degraded and its hole pasted in;
* **constructed fills**: flat colours, the visible eye mirrored, the visible grid continued,
  rendered eyes and grids with one thing wrong (:mod:`.templates`), noise, blobs.

Which must hit and which must miss is the registry of :mod:`.calibration`.
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter, shift as nd_shift

from .faces import hidden_eye
from .templates import eye_template, lit_skin, window_grid

FillFunction = Callable[[np.ndarray, dict, np.ndarray], np.ndarray]
NOISE_SEED = 20_240_611     # the fixed seed of the noise degradation and the noise fill
BLUR_SIGMA_64 = 2.5         # blur of the adversarial "blurred truth", px at 64 px (scaled)
DEGRADATIONS = ("shift", "blur", "jpeg", "noise", "brightness", "tint")


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
    hidden = hidden_eye(attributes, np.asarray(mask)) or "left"
    rows, cols = np.arange(s, dtype=float)[:, None], np.arange(s, dtype=float)[None, :]
    offset = changes.pop("offset", (0.0, 0.0))
    return _paste(image, mask, eye_template(attributes, hidden, rows, cols, offset, **changes)[0])


def fill_eye_without_pupil(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Faces: the rendered eye (right sclera, iris, colours, position) with no pupil (drawn with
    radius -1 px: a radius of 0 would still leave the anti-aliased half-covered centre pixel)."""
    return _eye_fill(image, attributes, mask, pupil_radius=-1.0)


def fill_iris_disc(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Faces: an iris-coloured disc of the true iris radius with the pupil, on skin, but no
    sclera (the sclera painted over by the lit skin beneath it): right colour and pupil, wrong
    arrangement."""
    s = np.asarray(image).shape[0]
    hidden = hidden_eye(attributes, np.asarray(mask)) or "left"
    rows, cols = np.arange(s, dtype=float)[:, None], np.arange(s, dtype=float)[None, :]
    eye, w = eye_template(attributes, hidden, rows, cols)
    skin = lit_skin(attributes, rows, cols)
    return _paste(image, mask, eye + w["sclera"][..., None] * (skin - np.asarray(attributes["sclera_rgb"])))


def fill_wrong_iris_colour(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Faces: the rendered eye with the iris colour of the palette entry farthest from the true
    one: right structure, wrong colour (the colour term's job)."""
    from ...data.procedural import IRIS_RGB
    truth = np.asarray(attributes["iris_rgb"])
    other = IRIS_RGB[int(np.argmax(np.abs(IRIS_RGB - truth).mean(axis=1)))]
    return _eye_fill(image, attributes, mask, iris_rgb=list(other))


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


def degrade(image: np.ndarray, kind: str, strength: float, direction=(0.0, 1.0)) -> np.ndarray:
    """The whole image degraded (float ``(S, S, 3)``, 0-255, before rounding).

    ``kind``: ``"shift"`` (``strength`` px at 64 px, scaled with ``S``, along ``direction``
    ``(d_row, d_col)``, linear interpolation, edges repeated), ``"blur"`` (Gaussian sigma, px at
    64 px, scaled), ``"jpeg"`` (PIL quality 1-95, default 4:2:0 chroma subsampling), ``"noise"``
    (Gaussian sd in 0-255, seed ``NOISE_SEED``), ``"brightness"`` (gain ``1 + strength``),
    ``"tint"`` (red times ``1 + strength``, blue times ``1 - strength``)."""
    image = np.asarray(image)
    x = image.astype(np.float64)
    scale = image.shape[0] / 64
    if kind == "shift":
        d = np.asarray(direction, float) / max(np.hypot(*direction), 1e-12) * strength * scale
        return nd_shift(x, (d[0], d[1], 0), order=3, mode="nearest")
    if kind == "blur":
        s = strength * scale
        return gaussian_filter(x, (s, s, 0), mode="nearest") if s > 0 else x
    if kind == "jpeg":
        buffer = io.BytesIO()
        Image.fromarray(image.astype(np.uint8)).save(buffer, "JPEG", quality=int(strength))
        buffer.seek(0)
        return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float64)
    if kind == "noise":
        return x + np.random.default_rng(NOISE_SEED).normal(0.0, strength, x.shape)
    if kind == "brightness":
        return x * (1 + strength)
    if kind == "tint":
        return x * np.array([1 + strength, 1.0, 1 - strength])
    raise ValueError(f"kind={kind!r}; valid: {', '.join(DEGRADATIONS)}")


def degraded(kind: str, strength: float, direction=(0.0, 1.0)) -> FillFunction:
    """The fill "truth degraded by ``kind`` at ``strength``" (:func:`degrade`, hole pasted)."""
    if kind not in DEGRADATIONS:
        raise ValueError(f"kind={kind!r}; valid: {', '.join(DEGRADATIONS)}")

    def fill(image, attributes, mask):
        return _paste(image, mask, degrade(image, kind, strength, direction))
    fill.__name__ = f"degraded_{kind}_{strength:g}"
    return fill


def fill_blur(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """The truth blurred with sigma ``BLUR_SIGMA_64`` = 2.5 px at 64 px (scaled): about the iris
    radius (2.4-2.9 px), 3x the pupil radius and half a window width, so the eye's and the
    windows' structure is gone."""
    return _paste(image, mask, degrade(image, "blur", BLUR_SIGMA_64))


def fill_noise(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Gaussian noise with the per-channel mean and sd of the truth's hole (seed ``NOISE_SEED``)."""
    image = np.asarray(image)
    hole = image[np.asarray(mask) > 0.5].astype(float)
    rng = np.random.default_rng(NOISE_SEED)
    return _paste(image, mask, rng.normal(hole.mean(axis=0), hole.std(axis=0) + 1e-9, image.shape))


def _grid_coords(image):
    s = np.asarray(image).shape[0]
    return np.arange(s, dtype=float)[:, None], np.arange(s, dtype=float)[None, :]


def fill_shifted_eye(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Faces: the rendered eye moved by one iris radius down and sideways (3.4-4.1 px at 64 px, 1.4-1.6
    times the score's shift limit): the eye in the wrong place."""
    d = attributes["iris_radius"]
    return _eye_fill(image, attributes, mask, offset=(d, d))


def fill_eye_scaled(factor: float) -> FillFunction:
    """Faces: the rendered eye (right colours and centre) with eye, iris and pupil ``factor`` times
    as large."""
    def fill(image, attributes, mask):
        return _eye_fill(image, attributes, mask, **{k: attributes[k] * factor for k in
                         ("eye_radius", "eye_height", "iris_radius", "pupil_radius")})
    fill.__name__ = f"fill_eye_scaled_{factor:g}"
    return fill


def fill_other_face_eye(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Faces: the eye of another face drawn at this eye's centre: the first face of the procedural
    training set (seed 0, same size) whose iris colour differs from this one by at least 40 (mean
    absolute RGB), with its iris colour, sclera colour and radii. A real eye, of someone else."""
    from ...data.procedural import FaceDataset
    own = np.asarray(attributes["iris_rgb"])
    others = FaceDataset(64, attributes["image_size"], 0, "train")
    for j in range(len(others)):
        other = others.attributes(j)
        if np.abs(np.asarray(other["iris_rgb"]) - own).mean() >= 40:
            break
    keys = ("iris_rgb", "sclera_rgb", "eye_radius", "eye_height", "iris_radius", "pupil_radius")
    return _eye_fill(image, attributes, mask, **{k: other[k] for k in keys})


def fill_eye_blob(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Faces: a soft blob of the eye's mean colour (the truth's mean over the eye's pixels, weighted
    by coverage) on the lit skin, shaped like the eye (its coverage blurred by half the eye
    height): the right colour in the right place, no eye."""
    image = np.asarray(image)
    hidden = hidden_eye(attributes, np.asarray(mask)) or "left"
    rows, cols = _grid_coords(image)
    _, w = eye_template(attributes, hidden, rows, cols)
    eye = 1 - w["skin"]
    mean = (eye[..., None] * image).sum(axis=(0, 1)) / max(eye.sum(), 1e-9)
    blob = gaussian_filter(eye, attributes["eye_height"] / 2)
    blob = blob / max(blob.max(), 1e-9)
    skin = lit_skin(attributes, rows, cols)
    return _paste(image, mask, skin + blob[..., None] * (mean - skin))


def fill_frame_coloured_windows(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Facades: the expected grid (right periods, phase, window size) with the glass painted in the
    frame colour: window-shaped patches, no glass."""
    return _grid_fill(image, {**attributes, "window_rgb": attributes["frame_rgb"]}, mask)


def fill_grid_period(factor: float) -> FillFunction:
    """Facades: a window grid with both periods ``factor`` times the true ones, the windows scaled
    alike, centred on the same window of the grid origin."""
    def fill(image, attributes, mask):
        changed = {**attributes, "period_x": attributes["period_x"] * factor,
                   "period_y": attributes["period_y"] * factor,
                   "window_size": [v * factor for v in attributes["window_size"]]}
        return _grid_fill(image, changed, mask)
    fill.__name__ = f"fill_grid_period_{factor:g}"
    return fill


def fill_window_blobs(image: np.ndarray, attributes: dict, mask: np.ndarray) -> np.ndarray:
    """Facades: the expected grid blurred by half the window width: soft blobs of the windows'
    colours at the right places, no frames or panes."""
    rows, cols = _grid_coords(image)
    sigma = attributes["window_size"][1] / 2
    grid = window_grid(attributes, rows, cols)
    return _paste(image, mask, gaussian_filter(grid, (sigma, sigma, 0), mode="nearest"))
