"""Hole masks (1 = hole) and the fixed test set every model is evaluated on.

Mask kinds for an ``S x S`` image (numbers in brackets are for ``S = 128``):

* ``centre``: the central square of side ``S / 2``: rows and columns ``[S/4, 3S/4)`` ([32:96]),
  the Context Encoder benchmark.
* ``squares`` [PROTO]: one square of side uniform in ``[S/4, S/2]`` ([32, 64]) with its top-left corner
  uniform in ``[m, S - m - 1 - side]`` on both axes, ``m = S // 16`` ([8, 119 - side], docs/method.md §6.4).
* ``rects``: one rectangle, height and width independently uniform in ``[S/8, S/2]`` ([16, 64]),
  anywhere inside the image.
* ``strokes``: free-form brush strokes after DeepFill v2's ``brush_stroke_mask`` with its 256-px
  parameters scaled by ``S / 256``: each stroke is a polyline of 4-12 vertices whose segment directions
  alternate around ``2 pi / 5``, segment lengths ~ N(r, r/2) clipped to [0, 2r] with
  ``r = sqrt(2) S / 8``, drawn with a width uniform in ``[12, 40] * S / 256`` and round joints. First
  1-4 strokes are planned and strokes are added until the planned number is drawn and the hole
  covers at least 10 % of the image; a stroke that would push the cover above 40 % is discarded (and
  ends the drawing if the cover is already >= 10 %), so the cover always lies in [10 %, 40 %].

Fractions of ``S`` use integer division (``S // 4``) when ``S`` is not a multiple. Every mask is
``float32`` with values exactly 0 or 1 and is never all-zero. All randomness comes
from the ``np.random.Generator`` passed in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from skimage.draw import disk, polygon

from ..profiles import MASK_KINDS, MaskConfig
from ..disk import atomic_write

STROKE_COVER = (0.10, 0.40)
_MAX_STROKE_DRAWS = 200
_FORMAT_VERSION = 1


def _check_size(size: int) -> None:
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"mask size={size!r}: must be an integer >= 16")


def _box(size: int, top: int, left: int, height: int, width: int) -> np.ndarray:
    mask = np.zeros((size, size), np.float32)
    mask[top:top + height, left:left + width] = 1.0
    return mask


def _centre(size: int, rng: np.random.Generator) -> np.ndarray:
    return _box(size, size // 4, size // 4, size // 2, size // 2)


def _squares(size: int, rng: np.random.Generator) -> np.ndarray:
    side = int(rng.integers(size // 4, size // 2 + 1))
    margin = size // 16
    top, left = rng.integers(margin, size - margin - side, size=2)  # high end exclusive
    return _box(size, int(top), int(left), side, side)


def _rects(size: int, rng: np.random.Generator) -> np.ndarray:
    height, width = (int(v) for v in rng.integers(size // 8, size // 2 + 1, size=2))
    top = int(rng.integers(0, size - height + 1))
    left = int(rng.integers(0, size - width + 1))
    return _box(size, top, left, height, width)


def _thick_segment(mask: np.ndarray, p0: np.ndarray, p1: np.ndarray, width: float) -> None:
    """Draw the segment ``p0 -> p1`` (row, col) of ``width`` pixels with round ends into ``mask``."""
    direction = p1 - p0
    length = float(np.hypot(*direction))
    if length > 0:
        normal = np.array([-direction[1], direction[0]]) / length * (width / 2)
        corners = np.stack([p0 + normal, p1 + normal, p1 - normal, p0 - normal])
        mask[polygon(corners[:, 0], corners[:, 1], shape=mask.shape)] = True
    for point in (p0, p1):
        mask[disk((point[0], point[1]), width / 2, shape=mask.shape)] = True


def _brush_stroke(size: int, rng: np.random.Generator) -> np.ndarray:
    """One DeepFill v2 brush stroke scaled to ``size``: ``bool (size, size)``."""
    scale = size / 256
    n_vertices = int(rng.integers(4, 13))
    width = rng.uniform(12 * scale, 40 * scale)
    radius = math.hypot(size, size) / 8
    mean_angle, angle_range = 2 * math.pi / 5, 2 * math.pi / 15
    point = rng.uniform(0, size - 1, size=2)
    stroke = np.zeros((size, size), bool)
    for j in range(n_vertices):
        angle = rng.uniform(mean_angle - angle_range, mean_angle + angle_range)
        angle = 2 * math.pi - angle if j % 2 == 0 else angle
        length = float(np.clip(rng.normal(radius, radius / 2), 0, 2 * radius))
        step = length * np.array([math.sin(angle), math.cos(angle)])
        nxt = np.clip(point + step, 0, size - 1)
        _thick_segment(stroke, point, nxt, width)
        point = nxt
    return stroke


def _strokes(size: int, rng: np.random.Generator) -> np.ndarray:
    low, high = STROKE_COVER
    n_first = int(rng.integers(1, 5))
    mask = np.zeros((size, size), bool)
    drawn = 0
    for _ in range(_MAX_STROKE_DRAWS):
        candidate = mask | _brush_stroke(size, rng)
        if candidate.mean() > high:
            if mask.mean() >= low:  # enough cover; more strokes would overfill
                return mask.astype(np.float32)
            continue
        mask, drawn = candidate, drawn + 1
        if drawn >= n_first and mask.mean() >= low:
            return mask.astype(np.float32)
    raise RuntimeError(f"could not draw a {size}px stroke mask covering {low:.0%}-{high:.0%} in "
                       f"{_MAX_STROKE_DRAWS} strokes")  # never observed; would be a bug


_GENERATORS = {"centre": _centre, "squares": _squares, "rects": _rects, "strokes": _strokes}
assert tuple(_GENERATORS) == MASK_KINDS


def make_mask(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One mask of ``kind`` (module docstring) for a ``size x size`` image.

    Returns
    -------
    np.ndarray
        ``float32 (size, size)``, values exactly 0 or 1 (1 = hole), never all-zero.
    """
    if kind not in _GENERATORS:
        raise ValueError(f"unknown mask kind {kind!r}; valid kinds: {', '.join(MASK_KINDS)}")
    _check_size(size)
    return _GENERATORS[kind](int(size), rng)


def sample_masks(cfg: MaskConfig, n: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """``n`` training masks, each kind drawn from ``cfg.train_kinds`` with ``cfg.train_probs``
    (normalised to sum to 1).

    Returns
    -------
    torch.Tensor
        ``float32 (n, 1, size, size)``, values 0 or 1.
    """
    probs = np.asarray(cfg.train_probs, dtype=np.float64)
    if len(probs) != len(cfg.train_kinds) or (probs < 0).any() or probs.sum() <= 0:
        raise ValueError(f"train_probs={cfg.train_probs}: need one non-negative probability per "
                         f"kind in {cfg.train_kinds}, not all zero")
    choices = rng.choice(len(probs), size=n, p=probs / probs.sum())
    masks = np.zeros((n, size, size), np.float32)
    for j, k in enumerate(choices):
        masks[j] = make_mask(cfg.train_kinds[k], size, rng)
    return torch.from_numpy(masks).unsqueeze(1)


def _as_2d(mask: np.ndarray | torch.Tensor) -> np.ndarray:
    array = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    while array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f"expected one mask (H, W), (1, H, W) or (1, 1, H, W); got {mask.shape}")
    return array


def hole_bbox(mask: np.ndarray | torch.Tensor) -> tuple[int, int, int, int]:
    """Bounding box ``(top, left, bottom, right)`` of the hole, bottom/right exclusive, so that
    ``mask[top:bottom, left:right]`` holds every hole pixel. ``mask``: one mask ``(H, W)``,
    ``(1, H, W)`` or ``(1, 1, H, W)``; ``ValueError`` if it has no hole."""
    rows, cols = np.nonzero(_as_2d(mask) > 0.5)
    if rows.size == 0:
        raise ValueError("the mask has no hole (all zeros)")
    return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1


def _expected_image_shape(mask: np.ndarray | torch.Tensor) -> tuple[str, tuple[int, ...]]:
    """Layout name and the image shape (``-1`` = any) that goes with ``mask``'s shape."""
    shape = tuple(mask.shape)
    if isinstance(mask, torch.Tensor):
        if len(shape) == 4 and shape[1] == 1:
            return "(B, 1, H, W)", (shape[0], 3, shape[2], shape[3])
        if len(shape) == 3 and shape[0] == 1:
            return "(1, H, W)", (3, shape[1], shape[2])
        raise ValueError(f"mask tensor has shape {shape}; expected (B, 1, H, W) or (1, H, W)")
    if len(shape) == 2:
        return "(H, W)", (shape[0], shape[1], 3)
    if len(shape) == 3:
        return "(B, H, W)", (shape[0], shape[1], shape[2], 3)
    raise ValueError(f"mask array has shape {shape}; expected (H, W) or (B, H, W)")


def validate_mask(mask: np.ndarray | torch.Tensor, image: np.ndarray | torch.Tensor | None = None
                  ) -> None:
    """Check a mask (and that it fits ``image``), raising ``ValueError`` with the reason.

    Accepted pairs: torch ``mask (B, 1, H, W)`` with ``image (B, 3, H, W)``, torch ``(1, H, W)`` with
    ``(3, H, W)``; NumPy ``mask (H, W)`` with ``image (H, W, 3)``, NumPy ``(B, H, W)`` with
    ``(B, H, W, 3)``. The mask must be float32 with values exactly 0 or 1 (1 = hole) and every mask in
    a batch must have at least one hole pixel.
    """
    if not isinstance(mask, (np.ndarray, torch.Tensor)):
        raise ValueError(f"mask must be a torch.Tensor or np.ndarray, got {type(mask).__name__}")
    layout, image_shape = _expected_image_shape(mask)
    is_float32 = (mask.dtype == torch.float32 if isinstance(mask, torch.Tensor)
                  else mask.dtype == np.float32)
    if not is_float32:
        raise ValueError(f"mask dtype is {mask.dtype}; expected float32 with values 0/1 "
                         "(convert with mask.float() / mask.astype(np.float32))")
    values = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else mask
    bad = ~((values == 0) | (values == 1))
    if bad.any():
        raise ValueError(f"mask has {int(bad.sum())} values not in {{0, 1}} (e.g. "
                         f"{values[bad].flat[0]!r}); masks must be exactly 0 (known) or 1 (hole) (a 0/255 "
                         "mask: pass mask > 0)")
    per_mask = values.reshape(-1, *values.shape[-2:])
    empty = np.flatnonzero(per_mask.reshape(len(per_mask), -1).max(axis=1) == 0)
    if empty.size:
        raise ValueError(f"mask {int(empty[0])} (of {len(per_mask)}) is all zeros: no hole to "
                         "complete")
    if image is not None and tuple(image.shape) != image_shape:
        raise ValueError(f"image shape {tuple(image.shape)} does not match mask shape "
                         f"{tuple(mask.shape)} {layout}; expected image shape {image_shape}")


def _plain(value: Any) -> Any:
    """``value`` with NumPy scalars / arrays turned into Python objects (safe for weights_only)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return value


@dataclass
class FixedTestSet:
    """Images and masks every model is evaluated on.

    Attributes
    ----------
    images : torch.Tensor
        ``float32 (N, 3, S, S)`` in [-1, 1] (test views).
    masks : torch.Tensor
        ``float32 (N, 1, S, S)``, 0/1, 1 = hole.
    kinds : list[str]
        Mask kind of each entry.
    indices : list[int]
        Dataset index of each image.
    attributes : list[dict]
        ``dataset.attributes(index)`` of each image.
    description : str
        One line naming the dataset, the count per kind and the seed.
    """

    images: torch.Tensor
    masks: torch.Tensor
    kinds: list[str]
    indices: list[int]
    attributes: list[dict] = field(default_factory=list)
    description: str = ""

    def __post_init__(self) -> None:
        n = len(self.images)
        if not (len(self.masks) == len(self.kinds) == len(self.indices) == len(self.attributes) == n):
            raise ValueError("FixedTestSet fields must all have one entry per image")
        if n:
            validate_mask(self.masks, self.images)

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, kind: str) -> "FixedTestSet":
        """The entries whose mask kind is ``kind``."""
        if kind not in self.kinds:
            raise ValueError(f"no {kind!r} masks in this test set; kinds: "
                             f"{', '.join(dict.fromkeys(self.kinds))}")
        keep = [j for j, k in enumerate(self.kinds) if k == kind]
        return FixedTestSet(self.images[keep], self.masks[keep], [kind] * len(keep),
                            [self.indices[j] for j in keep], [self.attributes[j] for j in keep],
                            f"{self.description} [{kind} only]")

    def head(self, n: int) -> "FixedTestSet":
        """The first ``n`` entries."""
        return FixedTestSet(self.images[:n], self.masks[:n], self.kinds[:n], self.indices[:n],
                            self.attributes[:n], self.description)

    def save(self, path: str | Path) -> Path:
        """Write to ``path`` atomically (``torch.save`` of plain tensors, lists and strings)."""
        payload = {"format": _FORMAT_VERSION, "images": self.images.contiguous(),
                   "masks": self.masks.contiguous(), "kinds": list(self.kinds),
                   "indices": [int(i) for i in self.indices],
                   "attributes": _plain(self.attributes), "description": self.description}
        return atomic_write(path, lambda tmp: torch.save(payload, tmp))

    @classmethod
    def load(cls, path: str | Path) -> "FixedTestSet":
        """Read a file written by :meth:`save` (``torch.load`` with ``weights_only=True``)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"fixed test set {path} not found; build it with "
                                    "make_test_set(...) and .save(path)")
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("format") != _FORMAT_VERSION:
            raise ValueError(f"{path}: test-set format {payload.get('format')!r}, expected "
                             f"{_FORMAT_VERSION}; rebuild it with make_test_set")
        return cls(payload["images"], payload["masks"], payload["kinds"], payload["indices"],
                   payload["attributes"], payload["description"])


def make_test_set(dataset, mask_cfg: MaskConfig, n_per_kind: int | None,
                  seed: int | None = None) -> FixedTestSet:
    """The fixed test set: for each kind in ``mask_cfg.test_kinds``, the test views of images
    ``0 .. n - 1`` of ``dataset`` with one mask each.

    ``n = min(n_per_kind, len(dataset))`` (``None`` = all images). The mask of image ``i`` for a kind
    is drawn from ``np.random.default_rng([seed, MASK_KINDS.index(kind), i])``: the index in the
    global tuple ``inpainting.profiles.MASK_KINDS``, so a kind's masks do not depend on which other
    kinds are tested. ``seed=None`` uses ``mask_cfg.seed``. The same arguments always give identical
    tensors, so every model sees identical inputs.
    """
    unknown = [kind for kind in mask_cfg.test_kinds if kind not in MASK_KINDS]
    if unknown:
        raise ValueError(f"unknown mask kinds {unknown}; valid kinds: {', '.join(MASK_KINDS)}")
    seed = mask_cfg.seed if seed is None else seed
    n = len(dataset) if n_per_kind is None else min(n_per_kind, len(dataset))
    if n < 1:
        raise ValueError(f"n_per_kind={n_per_kind} with a dataset of {len(dataset)} images: "
                         "the test set would be empty")
    views = [dataset[i] for i in range(n)]
    size = views[0].shape[-1]
    kinds = list(mask_cfg.test_kinds)
    masks = [make_mask(kind, size, np.random.default_rng([seed, MASK_KINDS.index(kind), i]))
             for kind in kinds for i in range(n)]
    description = (f"{dataset.description}; {n} test images x {len(kinds)} mask kinds "
                   f"({', '.join(kinds)}), mask seed {seed}")
    return FixedTestSet(images=torch.stack(views * len(kinds)),
                        masks=torch.from_numpy(np.stack(masks)).unsqueeze(1),
                        kinds=[kind for kind in kinds for _ in range(n)],
                        indices=list(range(n)) * len(kinds),
                        attributes=[dataset.attributes(i) for _ in kinds for i in range(n)],
                        description=description)
