"""The faces' semantic score: is the completed eye an eye like the visible one?

See :mod:`inpainting.evaluation.semantic.scores` for the definition (module docstring, "Faces");
this module computes it.
"""
from __future__ import annotations

import numpy as np

from ...data.semantic_holes import EYES, eye_mask
from .base import check_image, pad_for, sample, scaled, shift_grid, smooth_in_support, to_ycc
from ...data.drawing import PUPIL_RGB
from .templates import eye_template, lit_skin

EYE_SIGMA_LUMA_64 = 0.6      # px at 64 px: smoothing of luma before comparing (base.smooth_in_support)
EYE_SIGMA_CHROMA_64 = 1.2    # px at 64 px: smoothing of chroma
EYE_SHIFT_LIMIT_64 = 2.5     # px at 64 px: the template shift whose term reaches 1 (the hit's limit)
EYE_SHIFT_STEP_64 = 0.25     # px at 64 px: step of the shift search
#: each term's tolerance: ``eye_error`` is the largest term divided by its tolerance
EYE_TOLERANCE = {"eye_region_error": 0.35, "pupil_error": 0.8, "iris_zone_error": 0.4,
                 "sclera_error": 0.45, "iris_colour_error": 28.0, "eye_shift_error": EYE_SHIFT_LIMIT_64}
EYE_HIT_THRESHOLD = 1.0      # eye_hit = eye_error < 1: every term within its tolerance
EYE_PARTS = {"pupil": "pupil_error", "iris": "iris_zone_error", "sclera": "sclera_error"}


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


def _box(attributes: dict, rs: slice, cs: slice, pad: int) -> tuple[int, int, int, int]:
    s = attributes["image_size"]
    return max(0, rs.start - pad), max(0, cs.start - pad), min(s, rs.stop + pad), min(s, cs.stop + pad)


def eye_structure_error(image: np.ndarray, attributes: dict, which: str) -> tuple[float, dict]:
    """``eye_error`` of one eye of ``image`` and its terms at the best shift.

    The template (:func:`~inpainting.evaluation.semantic.templates.eye_template`) and the
    completion are both smoothed by :func:`~inpainting.evaluation.semantic.base.smooth_in_support`
    inside the eye's hole (:func:`inpainting.data.semantic_holes.eye_mask`); the smoothed
    completion is then sampled (bilinear) at the region's pixels moved by every offset ``d`` of a
    grid of ``EYE_SHIFT_STEP_64`` steps within 1.2 ``EYE_SHIFT_LIMIT_64`` (px at 64 px, scaled):
    the completion's eye is looked for around the expected place, and the offset whose largest
    normalised term is smallest is kept.

    Parameters
    ----------
    image : np.ndarray
        uint8 or float ``(S, S, 3)``.
    attributes : dict
        Face attributes at size ``S``.
    which : {"left", "right"}

    Returns
    -------
    error : float
        ``max(term / EYE_TOLERANCE[term])`` at the best offset (0 = the rendered eye; < 1 = a hit).
    terms : dict
        The terms of ``EYE_TOLERANCE`` at that offset (raw, not divided) and ``shift``
        ``(d_row, d_col)`` px.
    """
    image = check_image(image, attributes)
    s = attributes["image_size"]
    sigmas = (scaled(EYE_SIGMA_LUMA_64, s), scaled(EYE_SIGMA_CHROMA_64, s))
    limit = 1.2 * scaled(EYE_SHIFT_LIMIT_64, s)
    rs, cs, region = _eye_region(attributes, which)
    hole = eye_mask(attributes, s, which)
    rr, cc = np.nonzero(region)
    # the template and its part-less versions, smoothed, at the region's pixels
    top, left, bottom, right = _box(attributes, rs, cs, pad_for(max(sigmas)))
    r, c = np.arange(top, bottom, dtype=float)[:, None], np.arange(left, right, dtype=float)[None, :]
    template, w = eye_template(attributes, which, r, c)
    beneath = {"pupil": np.asarray(attributes["iris_rgb"], float),
               "iris": np.asarray(attributes["sclera_rgb"], float), "sclera": lit_skin(attributes, r, c)}
    colours = {"pupil": np.asarray(PUPIL_RGB, float), "iris": np.asarray(attributes["iris_rgb"], float),
               "sclera": np.asarray(attributes["sclera_rgb"], float)}
    stack = np.stack([template] + [template + w[p][..., None] * (beneath[p] - colours[p])
                                   for p in EYE_PARTS])                          # (4, h, w, 3)
    at = (rr + rs.start - top, cc + cs.start - left)
    smooth = smooth_in_support(to_ycc(stack), hole[top:bottom, left:right], *sigmas)[:, at[0], at[1]]
    t = smooth[0]                                                               # (n, 3)
    # each part's own signal, weighted by the part's coverage of every pixel
    signals = {name: w[part][at] * ((t - smooth[k]) ** 2).sum(axis=-1)
               for k, (part, name) in enumerate(EYE_PARTS.items(), 1)}
    cover = {name: w[part][at] for part, name in EYE_PARTS.items()}
    spread = max(((t - t.mean(axis=0)) ** 2).sum(), 1e-9)
    iris = w["iris"][at] / max(w["iris"][at].sum(), 1e-9)
    # the completion, smoothed alike, sampled at the region moved by every offset
    top, left, bottom, right = _box(attributes, rs, cs, pad_for(max(sigmas)) + int(np.ceil(limit)) + 1)
    completed = smooth_in_support(to_ycc(image[top:bottom, left:right]), hole[top:bottom, left:right],
                                  *sigmas)
    offsets = shift_grid(limit, scaled(EYE_SHIFT_STEP_64, s))                   # (K, 2)
    moved = sample(completed, (rr + rs.start - top)[None] + offsets[:, :1],
                   (cc + cs.start - left)[None] + offsets[:, 1:])                # (K, n, 3)
    diff = moved - t[None]
    residual = (diff ** 2).sum(axis=-1)                                         # (K, n)
    terms = {"eye_region_error": residual.sum(axis=1) / spread}
    for name, signal in signals.items():
        terms[name] = residual @ cover[name] / max(signal.sum(), 1e-9)
    terms["iris_colour_error"] = np.sqrt((diff ** 2).sum(axis=-1) @ iris)
    terms["eye_shift_error"] = np.hypot(offsets[:, 0], offsets[:, 1]) * 64 / s
    errors = (np.stack([terms[name] for name in EYE_TOLERANCE], axis=1)
              / np.array(list(EYE_TOLERANCE.values()))).max(axis=1)
    k = int(np.argmin(terms["eye_region_error"]))     # where the completion's eye is
    out = {name: float(v[k]) for name, v in terms.items()}
    out["shift"] = (float(offsets[k, 0]), float(offsets[k, 1]))
    return float(errors[k]), out


def mirror_pair_error(image: np.ndarray, attributes: dict, hidden: str) -> float:
    """``sum (C - R)^2 / sum (R - mean R)^2`` over the hidden eye's region (RGB), ``R`` the visible
    eye mirrored about the face's vertical axis (``face_center`` column), sampled with linear
    interpolation. Needs no colour attribute; 0 when equal, >= 1 for any flat fill."""
    rs, cs, region = _eye_region(attributes, hidden)
    rr, cc = np.nonzero(region)
    rows, cols = rr + rs.start, cc + cs.start
    mirrored = 2 * attributes["face_center"][1] - cols
    c0 = np.clip(np.floor(mirrored).astype(int), 0, image.shape[1] - 2)
    f = np.clip(mirrored - c0, 0, 1)[:, None]
    reference = (1 - f) * image[rows, c0] + f * image[rows, c0 + 1]
    residual = ((image[rows, cols] - reference) ** 2).sum()
    spread = ((reference - reference.mean(axis=0)) ** 2).sum()
    return float(residual / max(spread, 1e-9))


def face_eye_consistency(completed: np.ndarray, attributes: dict, hidden: str = "left") -> dict:
    """Is the completed eye an eye like the visible one: pupil, iris, sclera, lid, colour in place?

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
        ``hidden`` and the columns of ``scores.FACE_COLUMNS`` (described in that module's docstring).
    """
    if hidden not in EYES:
        raise ValueError(f"hidden={hidden!r}; valid: left, right")
    image = check_image(completed, attributes)
    visible = EYES[1 - EYES.index(hidden)]
    error, parts = eye_structure_error(image, attributes, hidden)
    return {"hidden": hidden, "eye_error": error, "eye_hit": bool(error < EYE_HIT_THRESHOLD),
            **{name: parts[name] for name in EYE_TOLERANCE},
            "eye_pair_error": mirror_pair_error(image, attributes, hidden),
            "eye_error_visible": eye_structure_error(image, attributes, visible)[0]}


def hidden_eye(attributes: dict, mask: np.ndarray) -> str | None:
    """The eye whose box the hole covers most, or ``None`` when it covers neither."""
    cover = []
    for which in EYES:
        top, left, bottom, right = attributes[f"eye_{which}_bbox"]
        cover.append(mask[top:bottom, left:right].mean())
    return EYES[int(np.argmax(cover))] if max(cover) > 0 else None
