"""The semantic test holes: one eye hidden on a procedural face, a block of windows hidden on a
procedural facade, and the semantic test set built from them (scored by
:mod:`inpainting.evaluation.semantic`)."""
from __future__ import annotations

import numpy as np
import torch

from .masks import FixedTestSet

EYES = ("left", "right")
SEMANTIC_DATASETS = ("faces", "facades")   # the datasets with generating attributes to score


def eye_mask(attributes: dict, image_size: int, which: str = "left") -> np.ndarray:
    """A square hole over one eye: centred on the eye, half side ``1.3 * eye_radius + 1`` px.

    Parameters
    ----------
    attributes : dict
        Face attributes (:func:`inpainting.data.procedural.render_face`) at ``image_size``.
    image_size : int
        Side ``S`` of the mask.
    which : {"left", "right"}
        The eye to hide (image left / right).

    Returns
    -------
    np.ndarray
        float32 ``(S, S)``, 1 = hole. The other eye stays fully visible.
    """
    if which not in EYES:
        raise ValueError(f"which={which!r}; valid: left, right")
    if attributes["image_size"] != image_size:
        raise ValueError(f"attributes describe a {attributes['image_size']}-px image, not {image_size}")
    row, col = attributes[f"eye_{which}_center"]
    half = 1.3 * attributes["eye_radius"] + 1.0
    mask = np.zeros((image_size, image_size), np.float32)
    top, left = max(0, round(row - half)), max(0, round(col - half))
    mask[top:round(row + half) + 1, left:round(col + half) + 1] = 1.0
    return mask


def block_mask(attributes: dict, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """A square hole over the window grid of a facade, spanning 2.2 of its larger period.

    Side ``max(S // 2, ceil(2.2 * max(period_x, period_y)))``; rows inside the window floors
    (between ``grid_top`` and ``ground_top``) when they fit, else centred on them; columns centred
    with a jitter of up to ``S / 16`` drawn from ``rng``.

    Returns
    -------
    np.ndarray
        float32 ``(S, S)``, 1 = hole.
    """
    s = image_size
    side = min(s - 2, max(s // 2, int(np.ceil(2.2 * max(attributes["period_x"],
                                                        attributes["period_y"])))))
    lo, hi = int(np.ceil(attributes["grid_top"])), int(attributes["ground_top"]) - side
    top = int(rng.integers(lo, hi + 1)) if hi >= lo else (lo + hi) // 2
    left = (s - side) // 2 + int(rng.integers(-(s // 16), s // 16 + 1))
    top, left = int(np.clip(top, 0, s - side)), int(np.clip(left, 0, s - side))
    mask = np.zeros((s, s), np.float32)
    mask[top:top + side, left:left + side] = 1.0
    return mask


def make_semantic_test_set(dataset, n: int, seed: int) -> FixedTestSet:
    """The semantic test set: the test views of images ``0 .. n - 1`` with a semantic hole each.

    Faces (``dataset.name == "faces"``): :func:`eye_mask` over the left eye for even positions and
    the right eye for odd ones (kind ``"eye"``). Facades: :func:`block_mask` with
    ``np.random.default_rng([seed, i])`` (kind ``"block"``).

    Returns
    -------
    FixedTestSet
        ``images (n, 3, S, S)`` in [-1, 1], ``masks (n, 1, S, S)``, ``kinds``, ``indices``,
        ``attributes``, ``description``.
    """
    if dataset.name not in SEMANTIC_DATASETS:
        raise ValueError(f"semantic test sets exist for faces and facades, not {dataset.name!r}")
    n = min(int(n), len(dataset))
    if n < 1:
        raise ValueError("the semantic test set needs n >= 1")
    size = dataset.image_size
    attributes = [dataset.attributes(i) for i in range(n)]
    if dataset.name == "faces":
        kind = "eye"
        masks = [eye_mask(a, size, EYES[i % 2]) for i, a in enumerate(attributes)]
        what = "one eye hidden (left / right alternating)"
    else:
        kind = "block"
        masks = [block_mask(a, size, np.random.default_rng([seed, i]))
                 for i, a in enumerate(attributes)]
        what = f"a block over >= 2 window periods, seed {seed}"
    return FixedTestSet(images=torch.stack([dataset[i] for i in range(n)]),
                        masks=torch.from_numpy(np.stack(masks)).unsqueeze(1),
                        kinds=[kind] * n, indices=list(range(n)), attributes=attributes,
                        description=f"{dataset.description}; semantic test set: {n} images, {what}")
