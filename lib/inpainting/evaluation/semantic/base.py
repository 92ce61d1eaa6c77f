"""What the face and facade scores share: the input check, the luma / chroma comparison space and
its smoothing inside the hole, and the grid of template shifts.

Both scores compare a completion ``C`` with a noise-free template ``T`` of what the hole should
show, after the same linear operator ``L`` on both: RGB to YCbCr (ITU-R BT.601, full range), then a
Gaussian smoothing restricted to the hole (normalised convolution: ``L(x) = G * (m x) / G * m``
with ``m`` the hole), luma with ``sigma_luma`` and chroma with the larger ``sigma_chroma`` (px at
64 px, scaled with the image size ``S``). Why: a near-correct completion differs from the template
by what a camera or a codec adds at the finest scale (a JPEG's 4:2:0 chroma subsampling averages
chroma over 2 x 2 pixels, a slight blur, sensor noise, sub-pixel misregistration); comparing at a
slightly coarser scale, coarser in chroma as in JPEG and in human vision, removes that and keeps
every structure larger than a pixel. Restricting ``L`` to the hole keeps the constructions of the
scores exact: ``L`` maps a constant fill to a constant (so every flat fill still scores at least
the template's own variance), and on a rectangular hole it maps a function of the row plus a
function of the column to another such function (so stripes still have no 2-D grid).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

#: RGB (0-255) to YCbCr (BT.601, full range, without the +128 offset of the chroma): rows Y, Cb, Cr
YCC = np.array([[0.299, 0.587, 0.114],
                [-0.168736, -0.331264, 0.5],
                [0.5, -0.418688, -0.081312]])
TRUNCATE = 3.0          # Gaussian kernels are cut at 3 sigma


def check_image(image: np.ndarray, attributes: dict) -> np.ndarray:
    """``image`` as float64 ``(S, S, 3)``; a clear error when its size is not the attributes'."""
    image = np.asarray(image)
    size = attributes["image_size"]
    if image.shape != (size, size, 3):
        raise ValueError(f"image of shape {image.shape}, but the attributes describe a "
                         f"{size} x {size} RGB image")
    return image.astype(np.float64)


def to_ycc(rgb: np.ndarray) -> np.ndarray:
    """RGB ``(..., 3)`` (0-255) to Y, Cb, Cr ``(..., 3)`` (:data:`YCC`)."""
    return np.asarray(rgb, dtype=np.float64) @ YCC.T


def scaled(px_at_64: float, image_size: int) -> float:
    """A length given in px at 64 px, at the image size ``S``: ``px_at_64 * S / 64``."""
    return px_at_64 * image_size / 64


def pad_for(sigma: float) -> int:
    """Pixels a box needs around what is compared so that smoothing with ``sigma`` sees all it uses."""
    return int(np.ceil(TRUNCATE * sigma)) + 1


def smooth_in_support(x: np.ndarray, support: np.ndarray, sigma_luma: float,
                      sigma_chroma: float) -> np.ndarray:
    """The operator ``L`` of the module docstring on YCbCr pictures.

    Parameters
    ----------
    x : np.ndarray
        float ``(..., h, w, 3)`` in YCbCr (any leading axes: several templates at once).
    support : np.ndarray
        float or bool ``(h, w)``, 1 where pixels may be used (the hole inside the box).
    sigma_luma, sigma_chroma : float
        Gaussian sigmas in px for Y and for Cb, Cr (0 = no smoothing of that part).

    Returns
    -------
    np.ndarray
        Same shape; values outside the support are those of the nearest smoothing, i.e. defined but
        not meant to be compared.
    """
    m = np.asarray(support, dtype=np.float64)
    out = np.empty_like(x, dtype=np.float64)
    lead = x.ndim - 3
    for channels, sigma in ((slice(0, 1), sigma_luma), (slice(1, 3), sigma_chroma)):
        part = x[..., channels]
        if sigma <= 0:
            out[..., channels] = part
            continue
        sig = (0,) * lead + (sigma, sigma, 0)
        num = gaussian_filter(part * m[..., None], sig, mode="constant", truncate=TRUNCATE)
        den = gaussian_filter(m, sigma, mode="constant", truncate=TRUNCATE)
        out[..., channels] = num / np.maximum(den, 1e-12)[..., None]
    return out


def shift_grid(limit: float, step: float, centre=(0.0, 0.0)) -> np.ndarray:
    """Offsets ``(K, 2)`` ``(d_row, d_col)`` on a square grid of ``step`` around ``centre`` whose
    distance from the origin is at most ``limit`` (the centre itself is always included)."""
    n = int(np.floor(limit / step + 1e-9))
    t = np.arange(-n, n + 1) * step
    dr, dc = np.meshgrid(t + centre[0], t + centre[1], indexing="ij")
    grid = np.stack([dr.ravel(), dc.ravel()], axis=1)
    keep = np.hypot(grid[:, 0], grid[:, 1]) <= limit + 1e-9
    keep |= (np.abs(grid - np.asarray(centre)) < 1e-12).all(axis=1)
    return grid[keep]


def sample(picture: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``picture (H, W, C)`` at float pixel coordinates ``rows``, ``cols``
    (broadcast against each other; clamped to the picture): ``(..., C)``."""
    h, w = picture.shape[:2]
    rows, cols = np.broadcast_arrays(np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1))
    r0 = np.minimum(np.floor(rows).astype(int), max(h - 2, 0))
    c0 = np.minimum(np.floor(cols).astype(int), max(w - 2, 0))
    fr, fc = (rows - r0)[..., None], (cols - c0)[..., None]
    r1, c1 = np.minimum(r0 + 1, h - 1), np.minimum(c0 + 1, w - 1)
    top = (1 - fc) * picture[r0, c0] + fc * picture[r0, c1]
    bottom = (1 - fc) * picture[r1, c0] + fc * picture[r1, c1]
    return (1 - fr) * top + fr * bottom
