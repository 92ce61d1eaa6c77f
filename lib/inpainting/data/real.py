"""Real datasets read from disk, laid out exactly as they are distributed: CelebA, Paris StreetView and
any folder of images.

Every loader follows the dataset contract of ``docs/CONVENTIONS.md``: ``ds[i]`` is the deterministic
*test view* ``float32 (3, S, S)`` in [-1, 1], ``ds.train_sample(i, rng)`` the random *training view*
(all randomness from the ``np.random.Generator``), ``ds.attributes(i) == {}``, plus ``name``,
``image_size``, ``description``, ``files`` (the image paths, in index order) and ``verify()``.

Errors and damaged files
------------------------
* A missing root or sub-folder raises :class:`DatasetNotFoundError` (a ``FileNotFoundError``) whose
  message says what the dataset is, where to obtain it and the exact folder layout expected. A folder
  without images raises the same error naming the folder.
* Construction only *lists* files, it does not decode them (decoding 200,000 JPEGs takes minutes).
  A damaged file is found when a sample is read: ``ds[i]`` / ``train_sample`` then raise
  :class:`~inpainting.data.images.ImageReadError` naming the file (a ``DataLoader`` worker re-raises
  it with the same message), never an obscure decoder error.
* ``ds.verify()`` decodes every file of the loader and returns a :class:`VerifyReport` (counts of
  files that are ok, that needed a conversion such as grayscale -> RGB, and the corrupt ones with the
  reason). Run it once after downloading. ``ImageFolder(..., skip_corrupt=True)`` verifies all files at
  construction, drops the corrupt ones and prints how many were dropped.
* Odd but readable files (grayscale, alpha, 16-bit, palette, CMYK) are converted as documented in
  :mod:`inpainting.data.images`. Resizing is antialiased bilinear throughout.
* **No upscaling.** An image whose source region is smaller than ``image_size`` (CelebA: the face
  crop side; Paris StreetView and image folders: the shorter side) would have to be upscaled, which
  no protocol does: reading it raises ``ValueError`` naming the file, its size and the largest
  ``image_size`` it supports, and ``verify()`` counts it as ``unusable`` (never ``ok``).
  ``ImageFolder(..., skip_corrupt=True)`` drops such files with the corrupt ones.
* ``root`` must be a path (``str`` or ``os.PathLike``); anything else is a ``TypeError``.

Protocols (docs/method.md §7)
-----------------------------------------------------
* **CelebA** ``protocol="proto"`` [PROTO]: ``sorted(glob("img_align_celeba/*.jpg"))`` permuted by
  ``np.random.RandomState(0).permutation``; train = the first 200,000 of the permutation, test = the
  last 2,599, in permutation order. A folder of another size (a subset, a test fixture) keeps the same
  rule with ``n_test = max(1, round(N * 2599 / 202599))`` test images (the last ``n_test`` of the
  permutation) and a ``UserWarning`` that the split is not the paper's. ``protocol="official"``:
  ``list_eval_partition.txt`` (0 train, 1 val, 2 test), in file order; an empty, partial (fewer
  entries than images), malformed or non-text partition file, a name listed twice or an empty split
  is a ``ValueError`` naming the file (and line). Files: every image in ``img_align_celeba`` whose
  extension is in :data:`IMAGE_EXTENSIONS`, any case (``.JPG``, ``.jpeg``, ``.png``), sorted by
  name; files not named ``*.jpg`` are read with a ``UserWarning`` (the distributed set is all
  ``.jpg``), a partition entry ``000001.jpg`` matches ``000001.JPG`` / ``000001.png`` by stem, and two
  files of the same stem are a ``ValueError``. Test view: the fixed 160x160 crop at top 29, left 9, resized to ``image_size``. Training view:
  random 160x160 crop with top in [0, 57] and left in [0, 17], resized, horizontal flip with p = 0.5.
  Random draws, in order: top, left, flip. The geometry is given for 178x218 images; an image with the same aspect ratio (within 2 %) but
  another size, e.g. a half-size copy, gets every offset and the crop side scaled by ``width / 178``;
  any other shape raises ``ValueError`` naming the file.
* **Paris StreetView** (Context Encoder protocol, scaled by ``S / 128``): training view: the smaller
  side resized to ``round(350 * S / 128)``, a random ``S x S`` crop (draws: top, left), horizontal
  flip with p = 0.5; test view: the smaller side resized to ``round(129 * S / 128)`` (at least
  ``S``), then the central ``S x S`` crop.
* **ImageFolder**: every image under ``root`` (recursive; extensions in :data:`IMAGE_EXTENSIONS`, any
  case; hidden files and folders skipped), sorted by relative path. Split: the last
  ``round(N * test_fraction)`` (at least 1, at most N - 1) of ``RandomState(seed).permutation(N)`` are
  test, the rest train; each split is kept in path order. Test view: central square crop (the short
  side), resized. Training view: random square crop with side uniform in [ceil(0.8 * short), short]
  at a random position (draws: side, top, left), resized, horizontal flip with p = 0.5.

``n`` caps every loader to the first ``n`` images of its split (``None`` = all).
"""
from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .images import (ImageReadError, centre_crop, crop, decode_rgb, hflip, load_rgb, resize,
                     resize_short_side, to_model_tensor)

DATA_ENV = "INPAINTING_DATA"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm", ".pbm")

CELEBA_TOTAL, CELEBA_PROTO_TEST = 202_599, 2_599
CELEBA_SHAPE = (218, 178)                 # (height, width) of img_align_celeba
CELEBA_CROP, CELEBA_TEST_OFFSET = 160, (29, 9)
CELEBA_MAX_OFFSET = (57, 17)              # largest random (top, left) of the training crop
CELEBA_PARTITIONS = {"train": 0, "val": 1, "test": 2}
PARIS_TRAIN_LOAD, PARIS_TEST_LOAD = 350, 129   # smaller side at 128 px, Context Encoder


class DatasetNotFoundError(FileNotFoundError):
    """A dataset folder is missing or holds no images; the message says how to obtain the data."""


def default_root(dataset: str) -> str:
    """``$INPAINTING_DATA/<dataset>`` (``INPAINTING_DATA`` defaults to ``./data``)."""
    return os.path.join(os.environ.get(DATA_ENV, "data"), dataset)


def _celeba_help(root: str | os.PathLike) -> str:
    return (
        "CelebA (aligned and cropped faces: 202,599 JPEGs of 178x218, Liu et al. 2015). Download from "
        "the official CelebA page https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html: "
        "'Align&Cropped Images' -> img_align_celeba.zip and, for protocol='official', "
        "Eval/list_eval_partition.txt. Expected layout:\n"
        f"    {root}/img_align_celeba/000001.jpg ... 202599.jpg\n"
        f"    {root}/list_eval_partition.txt   (official protocol only)\n"
        f"The paper profile reads ${DATA_ENV}/celeba (${DATA_ENV} defaults to ./data).")


def _paris_help(root: str | os.PathLike) -> str:
    return (
        "Paris StreetView (Doersch et al. 2012, the split of Pathak et al.'s Context Encoders: 14,900 "
        "training and 100 test images). It is not publicly downloadable and may not be "
        "redistributed: request it by e-mail from the Context Encoder authors (see "
        "https://github.com/pathak22/context-encoder). Expected layout:\n"
        f"    {root}/paris_train_original/*.JPG   (14,900 training images)\n"
        f"    {root}/paris_eval_gt/001_im.png ... 100_im.png   (100 test images, 227x227)\n"
        f"The paper profile reads ${DATA_ENV}/paris (${DATA_ENV} defaults to ./data).")


def _as_root(root, what: str) -> Path:
    """``root`` as a ``Path``; ``TypeError`` naming the value unless it is a str or PathLike."""
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root={root!r} ({type(root).__name__}): the {what} root must be a folder "
                        "path (str or pathlib.Path)")
    return Path(root)


def _require_dir(path: Path, what: str, help_text: str) -> None:
    if not path.is_dir():
        raise DatasetNotFoundError(f"{what} not found: {path} does not exist or is not a folder.\n"
                                   + help_text)


def _is_image(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def list_images(folder: str | os.PathLike, recursive: bool = False) -> list[str]:
    """Sorted paths of the image files in ``folder`` (extensions :data:`IMAGE_EXTENSIONS`, any case;
    hidden files and, when ``recursive``, hidden folders skipped). Sorted by path relative to
    ``folder``."""
    folder = Path(folder)
    if not recursive:
        return sorted(e.path for e in os.scandir(folder) if e.is_file() and _is_image(e.name))
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [os.path.join(dirpath, f) for f in filenames if _is_image(f)]
    return sorted(found, key=lambda p: Path(p).relative_to(folder).as_posix())


@dataclass
class VerifyReport:
    """Outcome of decoding every file of a loader.

    ``ok``: usable 8-bit RGB files; ``converted``: usable files that needed a conversion (counts per
    kind in ``conversions``); ``corrupt``: paths that raised :class:`ImageReadError`; ``unusable``:
    readable files the loader refuses (smaller than its crop, CelebA files of another shape).
    Reasons of both in ``errors``. ``total == ok + converted + len(corrupt) + len(unusable)``.
    """

    total: int
    ok: int
    converted: int
    corrupt: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    conversions: dict[str, int] = field(default_factory=dict)
    unusable: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (f"{self.total} files: {self.ok} ok, {self.converted} converted, "
                f"{len(self.corrupt)} corrupt")
        if self.unusable:
            text += f", {len(self.unusable)} too small or wrong shape (unusable)"
        return (text + "".join(f"\n  corrupt: {p}" for p in self.corrupt)
                + "".join(f"\n  unusable: {self.errors[p]}" for p in self.unusable))


def verify_files(files: list[str], check=None) -> VerifyReport:
    """Decode every file in ``files`` and count the outcomes (see :class:`VerifyReport`).
    ``check(image, path)``, if given, raises ``ValueError`` for a readable image the loader cannot
    use (counted in ``unusable``)."""
    conversions: Counter[str] = Counter()
    errors: dict[str, str] = {}
    corrupt, unusable = [], []
    for path in files:
        try:
            image, conversion = decode_rgb(path)
        except ImageReadError as err:
            errors[path] = str(err)
            corrupt.append(path)
            continue
        if check is not None:
            try:
                check(image, path)
            except ValueError as err:
                errors[path] = str(err)
                unusable.append(path)
                continue
        if conversion is not None:
            conversions[conversion] += 1
    converted = sum(conversions.values())
    return VerifyReport(total=len(files), ok=len(files) - converted - len(corrupt) - len(unusable),
                        converted=converted, corrupt=corrupt, errors=errors,
                        conversions=dict(conversions), unusable=unusable)


def _too_small(path: str, image: np.ndarray, side: int, image_size: int, what: str) -> None:
    if side < image_size:
        h, w = image.shape[:2]
        raise ValueError(f"{path}: {w}x{h} image, its {what} is {side} px, smaller than "
                         f"image_size={image_size}: it would be upscaled (blurred), which no "
                         f"protocol does. Use image_size <= {side}, the full-size images, or remove "
                         "the file (verify() lists every such file)")


def _check_choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"{name}={value!r}; valid {name}s: {', '.join(valid)}")


def _cap(files: list[str], n: int | None) -> list[str]:
    if n is None:
        return files
    if n < 1:
        raise ValueError(f"n={n}: must be None (all images) or >= 1")
    return files[:n]


def _random_flip(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return hflip(image) if rng.random() < 0.5 else image


class _FileDataset(Dataset):
    """Shared machinery: a list of files, a test view and a training view of ``uint8 (H, W, 3)``."""

    name: str = ""
    description: str = ""

    def __init__(self, files: list[str], image_size: int):
        if image_size < 8:
            raise ValueError(f"image_size={image_size}: must be >= 8")
        self.files = files
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        """Deterministic test view of image ``i``: ``float32 (3, S, S)`` in [-1, 1]."""
        return to_model_tensor(self._test_view(self._read(i), i))

    def train_sample(self, i: int, rng: np.random.Generator) -> torch.Tensor:
        """Random training view of image ``i``: ``float32 (3, S, S)`` in [-1, 1]."""
        return to_model_tensor(self._train_view(self._read(i), i, rng))

    def check_image(self, image: np.ndarray, path: str) -> None:
        """``ValueError`` naming ``path`` if this loader cannot use ``image`` (module docstring:
        smaller than the crop). Default: the shorter side must be at least ``image_size``."""
        _too_small(path, image, min(image.shape[:2]), self.image_size, "shorter side")

    def attributes(self, i: int) -> dict:
        """Real images carry no generating attributes: ``{}``."""
        return {}

    def verify(self) -> VerifyReport:
        """Decode every file of this loader and check it fits ``image_size``; see
        :class:`VerifyReport`."""
        return verify_files(self.files, self.check_image)

    def _read(self, i: int) -> np.ndarray:
        image = load_rgb(self.files[i])
        self.check_image(image, self.files[i])
        return image

    def _test_view(self, image: np.ndarray, i: int) -> np.ndarray:
        raise NotImplementedError

    def _train_view(self, image: np.ndarray, i: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


def celeba_proto_split(n_files: int) -> tuple[np.ndarray, np.ndarray]:
    """[PROTO] CelebA split of ``n_files`` sorted files: ``(train_indices, test_indices)``.

    ``perm = np.random.RandomState(0).permutation(n_files)`` (identical to ``np.random.seed(0);
    np.random.permutation``); test = the last ``n_test`` entries of ``perm``, train = the others, both
    in permutation order, with ``n_test = 2599`` for the full 202,599 images and
    ``max(1, round(n_files * 2599 / 202599))`` otherwise.
    """
    perm = np.random.RandomState(0).permutation(n_files)
    n_test = max(1, round(n_files * CELEBA_PROTO_TEST / CELEBA_TOTAL))
    return perm[:n_files - n_test], perm[n_files - n_test:]


_PARTITION_FIX = ("download Eval/list_eval_partition.txt again from the CelebA page (202,599 lines "
                  "'000001.jpg 0' ... for the full set)")


def _read_partition(path: Path) -> list[tuple[str, int]]:
    """``[(file name, partition)]`` from ``list_eval_partition.txt`` (lines ``000001.jpg 0``).
    ``ValueError`` naming the file for non-text bytes, no entry, a malformed line or a name listed
    twice."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not a text file ({err}); {_PARTITION_FIX}") from None
    entries, seen = [], {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise ValueError(f"{path}, line {number}: expected '<file name> <0|1|2>', got {line!r} "
                             f"(a damaged or truncated file? {_PARTITION_FIX})")
        if parts[0] in seen:
            raise ValueError(f"{path}, line {number}: {parts[0]} is listed twice (first on line "
                             f"{seen[parts[0]]}); {_PARTITION_FIX}")
        seen[parts[0]] = number
        entries.append((parts[0], int(parts[1])))
    if not entries:
        raise ValueError(f"{path} holds no entries (expected one line '<file name> <0|1|2>' per "
                         f"image); {_PARTITION_FIX}")
    return entries


class CelebA(_FileDataset):
    """Aligned CelebA faces (``img_align_celeba``), 160x160 face crop resized to ``image_size``.

    Parameters
    ----------
    root : path
        Folder holding ``img_align_celeba/`` (and ``list_eval_partition.txt`` for ``official``).
    split : {"train", "test"} (``"val"`` too for ``protocol="official"``)
    image_size : int
        Output side ``S``; samples are ``float32 (3, S, S)`` in [-1, 1].
    protocol : {"proto", "official"}
        Split protocol, see the module docstring.
    n : int or None
        Keep the first ``n`` images of the split (``None`` = all).
    """

    name = "celeba"

    def __init__(self, root: str | os.PathLike, split: str, image_size: int = 128,
                 protocol: str = "proto", n: int | None = None):
        root = _as_root(root, "CelebA")
        _check_choice("protocol", protocol, ("proto", "official"))
        _check_choice("split", split, ("train", "test") if protocol == "proto"
                      else tuple(CELEBA_PARTITIONS))
        _require_dir(root, "CelebA root folder", _celeba_help(root))
        _require_dir(root / "img_align_celeba", "CelebA image folder", _celeba_help(root))
        files = self._list_files(root / "img_align_celeba")
        if not files:
            raise DatasetNotFoundError(f"{root / 'img_align_celeba'} contains no .jpg files (nor "
                                       "other images).\n" + _celeba_help(root))
        if protocol == "proto":
            if len(files) != CELEBA_TOTAL:
                warnings.warn(f"{root / 'img_align_celeba'} holds {len(files):,} image files, not "
                              f"{CELEBA_TOTAL:,}: the prototype split is then not the paper's "
                              "200,000 / 2,599 split (incomplete download or a subset?)",
                              stacklevel=2)
            train, test = celeba_proto_split(len(files))
            files = [files[k] for k in (train if split == "train" else test)]
        else:
            files = self._official_files(root, files, CELEBA_PARTITIONS[split])
        super().__init__(_cap(files, n), image_size)
        self.split, self.protocol = split, protocol
        self.description = (f"CelebA aligned, {protocol} {split} split ({len(self.files):,} images), "
                            f"160px face crop -> {image_size}px")

    @staticmethod
    def _list_files(folder: Path) -> list[str]:
        """Every image file of ``folder`` (any extension of :data:`IMAGE_EXTENSIONS`, any case),
        sorted by name; a warning for names not ending in ``.jpg``, an error for two files of one
        stem."""
        files = list_images(folder)
        stems: dict[str, str] = {}
        for f in files:
            stem = Path(f).stem
            if stem in stems:
                raise ValueError(f"{os.path.basename(stems[stem])} and {os.path.basename(f)} are "
                                 f"the same image ({stem}) in {folder}: keep one of them")
            stems[stem] = f
        other = [os.path.basename(f) for f in files if not f.endswith(".jpg")]
        if other:
            warnings.warn(f"{len(other)} of the {len(files):,} images in {folder} are not '.jpg' "
                          f"(e.g. {', '.join(other[:3])}); they are read like the others, but the "
                          "distributed CelebA is all .jpg (renamed files are fine; re-encoded ones "
                          "are not the paper's pixels)", stacklevel=3)
        return files

    @staticmethod
    def _official_files(root: Path, files: list[str], partition: int) -> list[str]:
        path = root / "list_eval_partition.txt"
        if not path.is_file():
            raise DatasetNotFoundError(f"CelebA partition file not found: {path} (needed for "
                                       "protocol='official').\n" + _celeba_help(root))
        by_name = {os.path.basename(f): f for f in files}
        by_stem = {Path(f).stem: f for f in files}
        entries = _read_partition(path)

        def find(name: str) -> str | None:
            return by_name.get(name) or by_stem.get(Path(name).stem)

        missing = [name for name, _ in entries if find(name) is None]
        if missing:
            raise DatasetNotFoundError(
                f"{len(missing)} images listed in {path} are missing from "
                f"{root / 'img_align_celeba'} (first: {', '.join(missing[:3])}); the folder is "
                "incomplete.\n" + _celeba_help(root))
        if len(entries) < len(files):
            listed = {find(name) for name, _ in entries}
            unlisted = [os.path.basename(f) for f in files if f not in listed]
            raise ValueError(
                f"{path} lists {len(entries):,} images but {root / 'img_align_celeba'} holds "
                f"{len(files):,}: the partition file is partial (not listed: "
                f"{', '.join(unlisted[:3])}{' ...' if len(unlisted) > 3 else ''}); expected one "
                f"line per image; {_PARTITION_FIX}")
        chosen = [find(name) for name, part in entries if part == partition]
        if not chosen:
            split = next(k for k, v in CELEBA_PARTITIONS.items() if v == partition)
            raise ValueError(f"{path} lists no image in partition {partition} ({split}); "
                             f"{_PARTITION_FIX}")
        return chosen

    def check_image(self, image: np.ndarray, path: str) -> None:
        """``ValueError`` for an image of another shape than 178x218 (or a scaled copy) or whose
        face crop is smaller than ``image_size``."""
        self._crop_geometry(image, path)

    def _crop_geometry(self, image: np.ndarray, path: str) -> tuple[float, int]:
        """``(scale, crop side)`` for this image's size relative to 178x218."""
        h, w = image.shape[:2]
        ref_h, ref_w = CELEBA_SHAPE
        if abs((h / w) / (ref_h / ref_w) - 1) > 0.02:
            raise ValueError(f"{path}: {w}x{h} image, but aligned CelebA images are "
                             f"{ref_w}x{ref_h} (or scaled copies of that shape); the face crop is "
                             "undefined for it")
        scale = w / ref_w
        side = min(h, w, round(CELEBA_CROP * scale))
        _too_small(path, image, side, self.image_size, "160 px face crop scaled to its size")
        return scale, side

    def _face_crop(self, image: np.ndarray, i: int, top: int, left: int) -> np.ndarray:
        scale, side = self._crop_geometry(image, self.files[i])
        h, w = image.shape[:2]
        top, left = min(round(top * scale), h - side), min(round(left * scale), w - side)
        return resize(crop(image, top, left, side, side), self.image_size, self.image_size)

    def _test_view(self, image: np.ndarray, i: int) -> np.ndarray:
        return self._face_crop(image, i, *CELEBA_TEST_OFFSET)

    def _train_view(self, image: np.ndarray, i: int, rng: np.random.Generator) -> np.ndarray:
        top = int(rng.integers(0, CELEBA_MAX_OFFSET[0] + 1))
        left = int(rng.integers(0, CELEBA_MAX_OFFSET[1] + 1))
        return _random_flip(self._face_crop(image, i, top, left), rng)


class ParisStreetView(_FileDataset):
    """Paris StreetView with the Context Encoder preprocessing (module docstring).

    Parameters
    ----------
    root : path
        Folder holding ``paris_train_original/`` (train) and ``paris_eval_gt/`` (test).
    split : {"train", "test"}
    image_size : int
        Output side ``S``; samples are ``float32 (3, S, S)`` in [-1, 1].
    n : int or None
        Keep the first ``n`` images (sorted by name) of the split (``None`` = all).
    """

    name = "paris"
    SUBFOLDERS = {"train": "paris_train_original", "test": "paris_eval_gt"}

    def __init__(self, root: str | os.PathLike, split: str, image_size: int = 128,
                 n: int | None = None):
        root = _as_root(root, "Paris StreetView")
        _check_choice("split", split, tuple(self.SUBFOLDERS))
        folder = root / self.SUBFOLDERS[split]
        _require_dir(root, "Paris StreetView root folder", _paris_help(root))
        _require_dir(folder, f"Paris StreetView {split} folder", _paris_help(root))
        files = list_images(folder)
        if not files:
            raise DatasetNotFoundError(f"{folder} contains no images.\n" + _paris_help(root))
        super().__init__(_cap(files, n), image_size)
        self.split = split
        self.train_load = round(PARIS_TRAIN_LOAD * image_size / 128)
        self.test_load = max(image_size, round(PARIS_TEST_LOAD * image_size / 128))
        self.description = (f"Paris StreetView {split} ({len(self.files):,} images), Context Encoder "
                            f"preprocessing at {image_size}px")

    def _test_view(self, image: np.ndarray, i: int) -> np.ndarray:
        size = self.image_size
        return centre_crop(resize_short_side(image, self.test_load), size, size)

    def _train_view(self, image: np.ndarray, i: int, rng: np.random.Generator) -> np.ndarray:
        image = resize_short_side(image, self.train_load)
        h, w = image.shape[:2]
        size = self.image_size
        top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        return _random_flip(crop(image, top, left, size, size), rng)


class ImageFolder(_FileDataset):
    """Any folder of images (recursive), square crops resized to ``image_size``.

    Parameters
    ----------
    root : path
        Folder searched recursively for images.
    split : {"train", "test"}
    image_size : int
        Output side ``S``; samples are ``float32 (3, S, S)`` in [-1, 1].
    test_fraction : float
        Share of the images in the test split, in (0, 1).
    n : int or None
        Keep the first ``n`` images (path order) of the split (``None`` = all).
    seed : int
        Seed of the split permutation.
    skip_corrupt : bool
        Decode every file at construction and drop the corrupt ones (printing how many) before
        splitting.
    """

    name = "folder"
    MIN_CROP = 0.8

    def __init__(self, root: str | os.PathLike, split: str, image_size: int,
                 test_fraction: float = 0.1, n: int | None = None, seed: int = 0,
                 skip_corrupt: bool = False):
        root = _as_root(root, "image folder")
        _check_choice("split", split, ("train", "test"))
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction={test_fraction}: must be in (0, 1)")
        _require_dir(root, "image folder", "Point DataConfig.root (or `root`) at a folder of "
                     f"images ({', '.join(IMAGE_EXTENSIONS)}); sub-folders are searched too.")
        files = list_images(root, recursive=True)
        if skip_corrupt:
            files = self._drop_corrupt(files, image_size)
        if len(files) < 2:
            raise DatasetNotFoundError(
                f"{root} holds {len(files)} readable image file(s); an image folder needs at least 2 "
                f"(one for each split). Extensions searched: {', '.join(IMAGE_EXTENSIONS)}.")
        n_test = min(len(files) - 1, max(1, round(len(files) * test_fraction)))
        perm = np.random.RandomState(seed).permutation(len(files))
        chosen = np.sort(perm[len(files) - n_test:] if split == "test" else perm[:len(files) - n_test])
        super().__init__(_cap([files[k] for k in chosen], n), image_size)
        self.split, self.root = split, root
        self.description = (f"image folder {root.name} {split} ({len(self.files):,} images) at "
                            f"{image_size}px")

    @staticmethod
    def _drop_corrupt(files: list[str], image_size: int) -> list[str]:
        def check(image: np.ndarray, path: str) -> None:
            _too_small(path, image, min(image.shape[:2]), image_size, "shorter side")

        report = verify_files(files, check)
        if report.corrupt:
            print(f"ImageFolder: skipping {len(report.corrupt)} corrupt of {report.total} files "
                  f"(first: {report.corrupt[0]})")
        if report.unusable:
            print(f"ImageFolder: skipping {len(report.unusable)} of {report.total} files smaller "
                  f"than image_size={image_size} (first: {report.unusable[0]})")
        bad = set(report.corrupt) | set(report.unusable)
        return [f for f in files if f not in bad]

    def _test_view(self, image: np.ndarray, i: int) -> np.ndarray:
        side = min(image.shape[:2])
        return resize(centre_crop(image, side, side), self.image_size, self.image_size)

    def _train_view(self, image: np.ndarray, i: int, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape[:2]
        short = min(h, w)
        side = int(rng.integers(math.ceil(self.MIN_CROP * short), short + 1))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        square = resize(crop(image, top, left, side, side), self.image_size, self.image_size)
        return _random_flip(square, rng)
