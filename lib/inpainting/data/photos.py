"""A small real-photo set from the photos bundled with scikit-image (``skimage.data``), offline.

Only photos that ship inside the scikit-image wheel are used (no pooch download; ``motorcycle`` is
the left view of the bundled stereo pair). Grey photos are repeated to three channels. The split is
**by source photo**, so no test crop shares pixels with any training photo:

* ``TEST_PHOTOS`` = ``("chelsea", "coffee")``: a cat and a coffee cup;
* ``TRAIN_PHOTOS``: the other twelve (astronaut, rocket, motorcycle, hubble_deep_field,
  immunohistochemistry, retina, camera, coins, brick, grass, gravel, moon).

Each photo is first scaled (anti-aliased) so that its short side is at most ``4 * image_size``.
The deterministic view (``__getitem__``) cuts every photo of the split into a grid of square crops
at three scales, ``CROP_SCALES`` of the short side; along each axis the crops are spread evenly
from edge to edge, as many as needed to cover it. The crop geometry is fixed in original pixels,
so the set is the same at every ``image_size``: 70 test and 292 training crops. Each crop is
resized (anti-aliased, bilinear) to ``image_size`` and quantised to 8 bits. ``train_sample(i, rng)``
takes the photo of crop ``i`` (so photos are drawn in proportion to their crop count) and cuts a
fresh square crop (side uniform in ``[min(CROP_SCALES), 1]`` of the short side, uniform position),
flipped horizontally with probability 0.5.
"""
from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
import torch
from skimage import data as skdata
from skimage.io import imread
from skimage.transform import resize
from torch.utils.data import Dataset

_LOADERS = {
    "astronaut": skdata.astronaut, "rocket": skdata.rocket,
    "motorcycle": lambda: imread(os.path.join(skdata.data_dir, "motorcycle_left.png")),
    "hubble_deep_field": skdata.hubble_deep_field,
    "immunohistochemistry": skdata.immunohistochemistry, "retina": skdata.retina,
    "camera": skdata.camera, "coins": skdata.coins, "brick": skdata.brick, "grass": skdata.grass,
    "gravel": skdata.gravel, "moon": skdata.moon,
    "chelsea": skdata.chelsea, "coffee": skdata.coffee,
}
TEST_PHOTOS = ("chelsea", "coffee")
TRAIN_PHOTOS = tuple(name for name in _LOADERS if name not in TEST_PHOTOS)
CROP_SCALES = (1.0, 0.5, 0.25)


@lru_cache(maxsize=None)
def load_photo(name: str) -> np.ndarray:
    """One bundled photo as uint8 ``(H, W, 3)`` RGB (grey repeated to three channels)."""
    if name not in _LOADERS:
        raise ValueError(f"unknown photo {name!r}; valid: {', '.join(_LOADERS)}")
    img = np.asarray(_LOADERS[name]())
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3].astype(np.uint8))


@lru_cache(maxsize=32)
def _scaled_photo(name: str, image_size: int) -> np.ndarray:
    """The photo as float32 ``(h, w, 3)`` in [0, 1], short side at most ``4 * image_size``."""
    img = load_photo(name).astype(np.float32) / 255.0
    h, w = img.shape[:2]
    scale = min(1.0, 4 * image_size / min(h, w))
    if scale < 1.0:
        img = resize(img, (round(h * scale), round(w * scale)), order=1, anti_aliasing=True)
    return img.astype(np.float32)


def _positions(length: int, side: int) -> list[int]:
    n = int(np.ceil(length / side))
    return [int(round(x)) for x in np.linspace(0, length - side, n)]


def _to_tensor(crop: np.ndarray, image_size: int) -> torch.Tensor:
    """Float ``(h, w, 3)`` in [0, 1] -> quantised float32 ``(3, S, S)`` in [-1, 1]."""
    img = resize(crop, (image_size, image_size), order=1, anti_aliasing=True)
    img = np.clip(np.rint(img * 255.0), 0, 255).astype(np.float32)
    return torch.from_numpy(img).permute(2, 0, 1) / 127.5 - 1.0


class PhotoDataset(Dataset):
    """Square crops of the scikit-image photos of one split (see the module docstring).

    Parameters
    ----------
    image_size : int
        Output side in pixels (32-256).
    split : {"train", "test"}
        ``TRAIN_PHOTOS`` or ``TEST_PHOTOS``.
    """

    name = "photos"

    def __init__(self, image_size: int = 64, split: str = "test"):
        if split not in ("train", "test"):
            raise ValueError(f"split={split!r}; valid: train, test")
        self.image_size, self.split = int(image_size), split
        self.photos = TRAIN_PHOTOS if split == "train" else TEST_PHOTOS
        #: one ``(photo, top, left, side)`` per item, in pixels of the original photo
        self.crops: list[tuple[str, int, int, int]] = []
        for photo in self.photos:
            h, w = load_photo(photo).shape[:2]
            for scale in CROP_SCALES:
                side = max(1, int(round(scale * min(h, w))))
                self.crops += [(photo, top, left, side) for top in _positions(h, side)
                               for left in _positions(w, side)]
        self.description = (f"skimage.data photos (built-in, real), {image_size} px, {split} split: "
                            f"{len(self.photos)} photos, {len(self.crops)} crops")
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, i: int) -> torch.Tensor:
        """Crop ``i``: float32 ``(3, S, S)`` in [-1, 1], the same on every call."""
        if i not in self._cache:
            photo, top, left, side = self.crops[i]
            img = _scaled_photo(photo, self.image_size)
            f = img.shape[0] / load_photo(photo).shape[0]
            top, left, side = round(top * f), round(left * f), max(1, round(side * f))
            self._cache[i] = _to_tensor(img[top:top + side, left:left + side], self.image_size)
        return self._cache[i].clone()

    def train_sample(self, i: int, rng: np.random.Generator) -> torch.Tensor:
        """A random square crop of the photo of crop ``i``, flipped with probability 0.5."""
        img = _scaled_photo(self.crops[i][0], self.image_size)
        h, w = img.shape[:2]
        side = int(round(rng.uniform(min(CROP_SCALES), 1.0) * min(h, w)))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = img[top:top + side, left:left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return _to_tensor(crop, self.image_size)

    def attributes(self, i: int) -> dict:
        """Real photos have no generating attributes: ``{}`` (crop geometry is in ``crops``)."""
        return {}
