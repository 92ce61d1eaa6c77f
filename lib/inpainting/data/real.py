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
  reason). Run it once after downloading. ``skip_corrupt=True`` (every loader) verifies the split's
  files at construction, drops the corrupt ones and prints how many were dropped.
* Odd but readable files (grayscale, alpha, 16-bit, palette, CMYK) are converted as documented in
  :mod:`inpainting.data.images`. Resizing is antialiased bilinear throughout.
* **No upscaling.** An image whose source region is smaller than ``image_size`` (CelebA: the face
  crop side; Paris StreetView and image folders: the shorter side) would have to be upscaled, which
  no protocol does: reading it raises ``ValueError`` naming the file, its size and the largest
  ``image_size`` it supports, and ``verify()`` counts it as ``unusable`` (never ``ok``).
  ``skip_corrupt=True`` drops such files with the corrupt ones. Paris StreetView needs the shorter
  side to reach the size its protocol resizes to (training ``round(350 * S / 128)``, test
  ``max(S, round(129 * S / 128))``); a smaller image is ``unusable``, never upscaled.
* ``root`` must be a path (``str`` or ``os.PathLike``); anything else is a ``TypeError``.

Protocols (docs/method.md §7)
-----------------------------------------------------
* **CelebA** ``protocol="proto"`` [PROTO]: the 202,599 names ``000001.jpg ... 202599.jpg``
  permuted by ``np.random.RandomState(0).permutation``; train = the first 200,000 of the
  permutation, test = the last 2,599, in permutation order. **A file's split depends on its name
  only** (:func:`celeba_proto_assign`): a folder of another size (a subset, a test fixture, a set
  with a corrupt file removed) keeps every file's split of the full set, with a ``UserWarning``
  that the split is not the paper's; a split left empty is a ``ValueError``. Names that are not
  CelebA's go to test by a hash of the name (the same share, 2,599 / 202,599), with a warning.
  ``protocol="official"``:
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
  case; hidden files and folders skipped), sorted by relative path. Split: a file is test iff
  ``sha256(f"{seed}:{relative path}")`` as a number in [0, 1) is below ``test_fraction``, so adding,
  removing or skipping a file never moves another; a split left empty is a ``ValueError``; each
  split is kept in path order. Test view: central square crop (the short
  side), resized. Training view: random square crop with side uniform in [ceil(0.8 * short), short]
  at a random position (draws: side, top, left), resized, horizontal flip with p = 0.5.

**Splits never depend on which files are readable.** Every protocol assigns each *listed* file (by
its name, its folder or the partition file) before anything is decoded; ``skip_corrupt=True``
(every loader) then decodes the split's files and drops the corrupt and the unusable ones from
their own split, printing how many (``ds.skipped``); without it, reading one is an error naming the
file. ``ds.fingerprint()`` identifies a split's files (paths and sizes; with ``content=True`` their
bytes): the fixed test set is keyed by it and a run records it, so a changed folder is never
silently resumed (:mod:`inpainting.training.loop`).

``n`` caps every loader to the first ``n`` images of its split (``None`` = all).
"""
from __future__ import annotations

import functools
import math
import os
import warnings
from pathlib import Path

import numpy as np

from .files import (IMAGE_EXTENSIONS, DatasetNotFoundError, FileDataset, VerifyReport,  # noqa: F401
                    _as_root, _cap, _check_choice, _name_score, _require_dir, _too_small,
                    list_images, verify_files)
from .images import centre_crop, crop, hflip, resize, resize_short_side

DATA_ENV = "INPAINTING_DATA"


def _random_flip(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return hflip(image) if rng.random() < 0.5 else image


CELEBA_TOTAL, CELEBA_PROTO_TEST = 202_599, 2_599
CELEBA_SHAPE = (218, 178)                 # (height, width) of img_align_celeba
CELEBA_CROP, CELEBA_TEST_OFFSET = 160, (29, 9)
CELEBA_MAX_OFFSET = (57, 17)              # largest random (top, left) of the training crop
CELEBA_PARTITIONS = {"train": 0, "val": 1, "test": 2}
PARIS_TRAIN_LOAD, PARIS_TEST_LOAD = 350, 129   # smaller side at 128 px, Context Encoder


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


def celeba_proto_split(n_files: int) -> tuple[np.ndarray, np.ndarray]:
    """[PROTO] CelebA split of ``n_files`` sorted files: ``(train_indices, test_indices)``.

    ``perm = np.random.RandomState(0).permutation(n_files)`` (identical to ``np.random.seed(0);
    np.random.permutation``); test = the last ``n_test`` entries of ``perm``, train = the others, both
    in permutation order, with ``n_test = 2599`` for the full 202,599 images and
    ``max(1, round(n_files * 2599 / 202599))`` otherwise. The loader applies it to the full
    202,599 names, never to the files a folder happens to hold (:func:`celeba_proto_assign`).
    """
    perm = np.random.RandomState(0).permutation(n_files)
    n_test = max(1, round(n_files * CELEBA_PROTO_TEST / CELEBA_TOTAL))
    return perm[:n_files - n_test], perm[n_files - n_test:]


@functools.lru_cache(maxsize=1)
def _celeba_positions() -> np.ndarray:
    """``pos[k - 1]``: where image ``k`` (``%06d.jpg``) stands in the full-set permutation."""
    perm = np.random.RandomState(0).permutation(CELEBA_TOTAL)
    pos = np.empty(CELEBA_TOTAL, dtype=np.int64)
    pos[perm] = np.arange(CELEBA_TOTAL)
    return pos


def celeba_proto_assign(files: list[str]) -> tuple[list[int], list[int], list[str]]:
    """[PROTO] ``(train, test, unnamed)``: the indices into ``files`` of each split, each in the
    order of the full-set permutation, and the names that are not CelebA's.

    A file's split depends on its name only, never on which other files are present (or readable):
    ``%06d`` stem ``k`` in 1..202,599 is in test iff it is among the last 2,599 entries of
    :func:`celeba_proto_split` ``(202599)`` (so the full set gets exactly the paper's split, in its
    order). Any other name goes to test iff ``sha256(stem)`` as a number in [0, 1) is at least
    ``1 - 2599/202599`` (the same share), placed after the CelebA names in hash order."""
    pos = _celeba_positions()
    order, test, unnamed = [], [], []
    for f in files:
        stem = Path(f).stem
        k = int(stem) if len(stem) == 6 and stem.isdigit() else 0
        if 1 <= k <= CELEBA_TOTAL:
            place = float(pos[k - 1])
        else:
            unnamed.append(os.path.basename(f))
            place = CELEBA_TOTAL + _name_score(stem)
        order.append(place)
        test.append(place >= CELEBA_TOTAL - CELEBA_PROTO_TEST if place < CELEBA_TOTAL
                    else place - CELEBA_TOTAL >= 1 - CELEBA_PROTO_TEST / CELEBA_TOTAL)
    ranked = sorted(range(len(files)), key=order.__getitem__)
    return ([i for i in ranked if not test[i]], [i for i in ranked if test[i]], unnamed)


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


class CelebA(FileDataset):
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
    skip_corrupt : bool
        Decode the files of the split at construction and drop the unreadable and unusable ones,
        printing how many (module docstring); ``False``: reading one is an error naming it.
    """

    name = "celeba"

    def __init__(self, root: str | os.PathLike, split: str, image_size: int = 128,
                 protocol: str = "proto", n: int | None = None, skip_corrupt: bool = False):
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
            folder = root / "img_align_celeba"
            if len(files) != CELEBA_TOTAL:
                warnings.warn(f"{folder} holds {len(files):,} image files, not "
                              f"{CELEBA_TOTAL:,}: the prototype split is then not the paper's "
                              "200,000 / 2,599 split (incomplete download or a subset?); each "
                              "file keeps its split of the full set", stacklevel=2)
            train, test, unnamed = celeba_proto_assign(files)
            if unnamed:
                warnings.warn(f"{len(unnamed)} files in {folder} are not named like CelebA's "
                              f"000001.jpg ... 202599.jpg (e.g. {', '.join(unnamed[:3])}); each "
                              "goes to test by a hash of its name (share 2,599 / 202,599)",
                              stacklevel=2)
            chosen = train if split == "train" else test
            if not chosen:
                raise ValueError(
                    f"{folder}: none of its {len(files):,} images is in the prototype {split} "
                    f"split. Every file keeps its split of the full 202,599 images, whatever else "
                    f"the folder holds (the first test images are 000360.jpg, 000470.jpg, "
                    "000512.jpg); add images of that split, or use protocol='official' with "
                    "list_eval_partition.txt")
            files = [files[k] for k in chosen]
        else:
            files = self._official_files(root, files, CELEBA_PARTITIONS[split])
        super().__init__(_cap(files, n), image_size)
        self.split, self.protocol, self.root = split, protocol, root
        self._skip_unreadable(skip_corrupt)
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


class ParisStreetView(FileDataset):
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
    skip_corrupt : bool
        As for :class:`CelebA`.
    """

    name = "paris"
    SUBFOLDERS = {"train": "paris_train_original", "test": "paris_eval_gt"}

    def __init__(self, root: str | os.PathLike, split: str, image_size: int = 128,
                 n: int | None = None, skip_corrupt: bool = False):
        root = _as_root(root, "Paris StreetView")
        _check_choice("split", split, tuple(self.SUBFOLDERS))
        folder = root / self.SUBFOLDERS[split]
        _require_dir(root, "Paris StreetView root folder", _paris_help(root))
        _require_dir(folder, f"Paris StreetView {split} folder", _paris_help(root))
        files = list_images(folder)
        if not files:
            raise DatasetNotFoundError(f"{folder} contains no images.\n" + _paris_help(root))
        super().__init__(_cap(files, n), image_size)
        self.split, self.root = split, root
        self.train_load = round(PARIS_TRAIN_LOAD * image_size / 128)
        self.test_load = max(image_size, round(PARIS_TEST_LOAD * image_size / 128))
        self._skip_unreadable(skip_corrupt)
        self.description = (f"Paris StreetView {split} ({len(self.files):,} images), Context Encoder "
                            f"preprocessing at {image_size}px")

    def check_image(self, image: np.ndarray, path: str) -> None:
        """``ValueError`` naming ``path`` when its shorter side is below the size the protocol
        resizes it to (train: ``round(350 * S / 128)``, test: ``max(S, round(129 * S / 128))``):
        it would be upscaled."""
        load = self.train_load if self.split == "train" else self.test_load
        base = PARIS_TRAIN_LOAD if self.split == "train" else PARIS_TEST_LOAD
        side = min(image.shape[:2])
        if side < load:
            largest = max((s for s in range(4, side + 1, 4) if round(base * s / 128) <= side),
                          default=0)
            h, w = image.shape[:2]
            raise ValueError(f"{path}: {w}x{h} image, its shorter side is {side} px, smaller than "
                             f"the {load} px the Context Encoder protocol resizes the {self.split} "
                             f"images to at image_size={self.image_size}: it would be upscaled "
                             f"(blurred), which the protocol never does. Use image_size <= "
                             f"{largest}, the full-size images, or skip_corrupt=True to skip "
                             "such files (verify() lists every one)")

    def _test_view(self, image: np.ndarray, i: int) -> np.ndarray:
        size = self.image_size
        return centre_crop(resize_short_side(image, self.test_load), size, size)

    def _train_view(self, image: np.ndarray, i: int, rng: np.random.Generator) -> np.ndarray:
        image = resize_short_side(image, self.train_load)
        h, w = image.shape[:2]
        size = self.image_size
        top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        return _random_flip(crop(image, top, left, size, size), rng)


class ImageFolder(FileDataset):
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
        As for :class:`CelebA` (after the split: skipping never moves a file between splits).
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
        if len(files) < 2:
            raise DatasetNotFoundError(
                f"{root} holds {len(files)} image file(s); an image folder needs at least 2 "
                f"(one for each split). Extensions searched: {', '.join(IMAGE_EXTENSIONS)}.")
        rel = [Path(f).relative_to(root).as_posix() for f in files]
        in_test = [_name_score(f"{seed}:{r}") < test_fraction for r in rel]
        chosen = [f for f, t in zip(files, in_test) if t == (split == "test")]
        if not chosen:
            raise ValueError(
                f"{root}: none of its {len(files)} images falls in the {split} split "
                f"(test_fraction={test_fraction}, seed={seed}): each file's split is a hash of its "
                "path, so that adding, removing or skipping a file never moves another; add "
                "images, or change test_fraction or seed")
        super().__init__(_cap(chosen, n), image_size)
        self.split, self.root = split, root
        self._skip_unreadable(skip_corrupt)
        self.description = (f"image folder {root.name} {split} ({len(self.files):,} images) at "
                            f"{image_size}px")

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
