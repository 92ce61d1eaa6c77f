"""Semantic-consistency scores from the generating attributes of the procedural datasets.

PSNR and SSIM reward a plausible blur; they cannot tell whether a completed eye is an eye like the
visible one, or whether filled-in windows continue the facade's grid. The procedural data
(:mod:`inpainting.data.procedural`) knows how every image was drawn, so the kit re-renders what
the hole should show (:mod:`.templates`) and scores the *structure* of a completion against it.
Every score is a graded error (lower is better, 0 = the rendered template), its boolean hit (the
error below 1, the same threshold for every term: **each term is divided by its tolerance**, and
the error is the largest quotient), and the raw terms that say why.
``PRIMARY_SCORE[dataset]`` names the error, ``HIT_COLUMN[dataset]`` the hit, ``ERROR_COLUMNS``
every error-like column. The tolerances were chosen from the calibration
(:mod:`.calibration`; its table is in docs/method.md): near-correct completions (the truth shifted
1-2 px at 64 px, saved as JPEG quality 50-95, blurred with sigma <= 0.6 px at 64 px, a few %
brighter / darker / tinted, with mild noise; the visible eye mirrored; the visible grid
continued) must hit, adversarial ones (flat colours, noise, a blurred truth, blobs of the right
colour, rendered eyes and grids with one thing wrong) must miss.

How a completion is compared (both datasets, :mod:`.base`)
----------------------------------------------------------
The completion ``C`` and the template ``T`` go through the same linear operator: RGB to YCbCr,
then a Gaussian smoothing restricted to the hole, sigma 0.6 px for luma and 1.2 px for chroma at
64 px (scaled with the image size ``S``). A codec or a camera changes an image at the finest scale
(JPEG's 4:2:0 subsampling averages chroma over 2 x 2 pixels); every structure scored here is
larger. The smoothed completion is then sampled (bilinear) at the compared pixels moved by every
offset ``d`` of a 0.25-px grid (at 64 px) within 3 px: the offset where the completion's eye /
grid matches the template best (smallest ``eye_region_error`` / ``grid_2d_error``) is where the
completion put it, all terms are read there, and the offset itself is a term
(``eye_shift_error`` / ``grid_shift_error``, px at 64 px, tolerance 2.5 px): a shift of 1-2 px
costs a little, one of 2.5 px or more misses.

Faces (one eye hidden, :func:`inpainting.data.semantic_holes.eye_mask`) [this kit's score]
------------------------------------------------------------------------------------------
:func:`~.templates.eye_template` re-renders the hidden eye as the renderer draws it: sclera
ellipse, iris disc in ``iris_rgb``, dark pupil disc, upper lid, at the known centre with the
radii and colours the visible eye shares, over the modelled lit skin, without sensor noise. The
compared region is every pixel the eye touches (above its centre, those it covers at least half:
the brow is not rendered) plus a ``max(1, S / 64)``-px skin margin beside and below it. Terms
(``r`` = squared YCbCr difference of smoothed ``C`` and ``T`` per pixel):

* ``eye_region_error`` = ``sum r / sum |T - mean T|^2`` (relative to the template's own variance:
  *every flat fill, whatever its colour, scores >= 1 by construction*, since the smoothing maps a
  constant to a constant); tolerance 0.35;
* ``pupil_error``, ``iris_zone_error``, ``sclera_error``: for each part ``sum w r / sum w |T -
  T_without_part|^2`` with ``w`` the part's coverage of each pixel and ``T_without_part`` the
  template with the part painted over by what lies beneath it (pupil by the iris colour, iris by
  the sclera colour, sclera by the skin): the fraction of the part's own signal the completion
  misses, so an eye without its pupil scores ~1 however few pixels the pupil covers; tolerances
  0.8, 0.4, 0.45;
* ``iris_colour_error``: RMS YCbCr difference over the iris (coverage-weighted), 0-255 units,
  tolerance 28 (luma included: JPEG keeps it, and it separates the palette's iris colours that
  chroma alone, blurred by 4:2:0 subsampling, does not);
* ``eye_shift_error``: the offset, px at 64 px, tolerance 2.5.

``eye_error`` (primary) = the largest term / tolerance; ``eye_hit`` = ``eye_error < 1``. Other
columns: ``eye_pair_error`` (``sum (C - R)^2 / sum (R - mean R)^2`` against the *visible* eye of
the completed image mirrored about the face's vertical axis, RGB, unsmoothed: needs no colour
attribute; ~0.05-0.1 for the truth because the skin lighting is not symmetric) and
``eye_error_visible`` (``eye_error`` of the untouched visible eye: that image's floor).

Facades (a block hole over the window grid, :func:`inpainting.data.semantic_holes.block_mask`) [this kit's score]
-----------------------------------------------------------------------------------------------------------------
:func:`~.templates.window_grid` renders the expected windows from the attributes: both periods,
the grid origin (the phase of the visible grid), the window size, frame thickness, the glass's
vertical shading, mullions and balcony rails, in ``wall_rgb`` / ``frame_rgb`` / ``window_rgb`` on
a flat wall (no wall texture or cornices). The compared box is the hole's bounding box moved
inwards by the shift search's reach (3 px at 64 px), restricted to the window floors, without the
rows of balcony rails (their bars are texture whose phase is not part of the grid). Terms (``Cd``
and ``Ed`` the smoothed pictures after a centring ``d``; channels weighted by how much the grid
shows in them, their share of the expected double-centred energy, so a wall texture in a channel
where the windows have no contrast does not count):

* ``grid_2d_error`` = ``sum (Cd - Ed)^2 / sum Ed^2`` with ``d`` = double-centred (minus row
  means and column means plus the grand mean: what is neither a pure row pattern nor a pure column
  pattern, i.e. the 2-D grid): *every fill that is a function of the row plus a function of the
  column (flat, vertical stripes, horizontal stripes, their sum) scores exactly 1*; ~2-3.5 =
  windows where the grid has wall; tolerance 0.45;
* ``grid_row_error``: the same with ``d`` = row-centred (keeps which rows hold windows, so a grid
  shifted half a period on *both* axes, whose double-centred picture is nearly the true one, is
  caught); tolerance 0.45;
* ``glass_error`` = ``sum g r / sum g |E - E_frame|^2`` over all channels, ``g`` the glass's
  coverage, ``E_frame`` the expected picture with the glass painted in the frame colour: windows
  without glass (frame-coloured patches) score ~1; the glass is compared 1 px (at 64 px) inside its
  edges, so a slight blur does not count; tolerance 0.45;
* ``wall_error`` = the same for a band of wall around each window (from 0.5 px beyond the frame to
  0.3 of the window size), against the wall painted in the glass colour: windows too large;
  tolerance 0.2;
* ``grid_shift_error``: the offset, px at 64 px, tolerance 2.5.

``grid_error`` (primary) = the largest term / tolerance; ``grid_hit`` = ``grid_error < 1``.
Diagnostics (on the unsmoothed box at the expected place): ``grid_corr`` (correlation of the
row-centred ``C`` and ``E``: the layout whatever the contrast) and ``grid_contrast`` (regression
slope of row-centred ``C`` on ``E``: 1 = the expected window contrast), both higher is better;
``phase_error_x`` / ``phase_error_y`` (phase of the grid's fundamental along the columns / rows in
the completion against the expected picture, fraction of a period, 0-0.5; 0.5 when the completion
has no fundamental along that axis); ``window_size_error`` (``max |ln scale|`` of the window
height and width scales, ``WINDOW_SCALES`` 0.5-2, whose frame + glass template at the completion's
phases matches it best; ``ln 2`` without a 2-D grid); ``period_error_x`` / ``period_error_y``
(relative error of the autocorrelation period of the box's column / row grey profile,
:func:`estimate_period`, capped at 1, 1 when undetected).

Images are metric-space uint8 ``(S, S, 3)`` (or batches ``(N, S, S, 3)``); masks are
``float32 (S, S)``, 1 = hole. Attribute coordinates are pixels ``[row, col]`` of the same size,
with the centre of pixel ``[r, c]`` at ``(r, c)``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...data.semantic_holes import SEMANTIC_DATASETS
from ..metrics import to_uint8
from .faces import (EYE_HIT_THRESHOLD, EYE_TOLERANCE, eye_structure_error,  # noqa: F401
                    face_eye_consistency, hidden_eye)
from .facades import (FACADE_COLUMNS, GRID_HIT_THRESHOLD, GRID_TOLERANCE,  # noqa: F401
                      estimate_period, facade_grid_consistency)

PRIMARY_SCORE = {"faces": "eye_error", "facades": "grid_error"}   # the graded error
HIT_COLUMN = {"faces": "eye_hit", "facades": "grid_hit"}           # the boolean hit
FACE_COLUMNS = ("hidden", "eye_error", "eye_hit", *EYE_TOLERANCE, "eye_pair_error",
                "eye_error_visible")
# every numeric score except grid_corr and grid_contrast (higher is better, 1 = expected)
ERROR_COLUMNS = frozenset(c for c in FACE_COLUMNS + FACADE_COLUMNS
                            if "_error" in c)


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
        hidden = hidden_eye(attrs, mask)
        if hidden is None:
            rows.append({"sample": i, **{c: np.nan for c in FACE_COLUMNS},
                         "hidden": "none", "eye_hit": False})
        else:
            rows.append({"sample": i, **face_eye_consistency(image, attrs, hidden)})
    columns = ["sample", *(FACE_COLUMNS if dataset_name == "faces" else FACADE_COLUMNS)]
    return pd.DataFrame(rows, columns=columns)
