"""The machinery every real-data loader shares: listing image files, checking them
(:func:`verify_files`, :class:`VerifyReport`), the split-independent name hash, and
:class:`FileDataset`, a dataset over a list of files with its test and training views,
``skip_corrupt`` and :meth:`FileDataset.fingerprint`. The loaders and their protocols are in
:mod:`inpainting.data.real`."""
from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..disk import file_sha256, sha256
from .images import ImageReadError, decode_rgb, load_rgb, to_model_tensor

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm", ".pbm")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset folder is missing or holds no images; the message says how to obtain the data."""




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


def _listed(entry: os.DirEntry) -> bool:
    """A file, or a link that is not a folder (a dangling link or a loop is listed, and then
    reported unreadable, as os.walk lists it)."""
    try:
        return entry.is_file() or (entry.is_symlink() and not entry.is_dir())
    except OSError:   # a loop of links
        return True


def list_images(folder: str | os.PathLike, recursive: bool = False) -> list[str]:
    """Sorted paths of the image files in ``folder`` (extensions :data:`IMAGE_EXTENSIONS`, any case;
    hidden files and, when ``recursive``, hidden folders skipped; links to folders never followed,
    dangling links and link loops listed, then unreadable). Sorted by path relative to
    ``folder``."""
    folder = Path(folder)
    if not recursive:
        return sorted(e.path for e in os.scandir(folder) if _is_image(e.name) and _listed(e))
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


class FileDataset(Dataset):
    """Shared machinery: a list of files, a test view and a training view of ``uint8 (H, W, 3)``."""

    name: str = ""
    description: str = ""

    def __init__(self, files: list[str], image_size: int):
        if image_size < 8:
            raise ValueError(f"image_size={image_size}: must be >= 8")
        self.files = files
        self.image_size = image_size
        self.skipped = 0   # files dropped by skip_corrupt

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

    def _skip_unreadable(self, skip: bool) -> None:
        """With ``skip``: decode this split's files and drop the corrupt and unusable ones (after
        the split, so no other file moves), printing how many of each; an empty result is an
        error."""
        if not skip:
            return
        report = self.verify()
        for what, bad in (("corrupt or unreadable", report.corrupt),
                          (f"unusable at image_size={self.image_size} (too small or wrong shape)",
                           report.unusable)):
            if bad:
                print(f"{type(self).__name__} {getattr(self, 'split', '')}: skipping {len(bad)} "
                      f"{what} of {report.total} files (first: {report.errors[bad[0]]})")
        dropped = set(report.corrupt) | set(report.unusable)
        self.files = [f for f in self.files if f not in dropped]
        self.skipped = len(dropped)
        if not self.files:
            raise ValueError(f"every one of the {report.total} files of this split is corrupt or "
                             f"unusable:\n{report}")

    def fingerprint(self, content: bool = False, n: int | None = None) -> dict:
        """What this split's images are, to tell a changed data folder: ``{"files": N, "sha256":
        ...}`` over every file's path (relative to the root), size and, with ``content``, the
        sha256 of its bytes. Without ``content`` only ``stat`` runs (200,000 files in about a
        second); renaming, adding, removing, truncating or re-encoding a file changes it, copying
        the folder elsewhere (new modification times) does not. ``n``: the first ``n`` files only."""
        files = self.files if n is None else self.files[:n]
        root = Path(getattr(self, "root", "") or os.path.commonpath(self.files))
        digest = hashlib.sha256()
        for f in files:
            try:
                size = os.path.getsize(f)
            except OSError:
                size = -1
            rel = os.path.relpath(f, root).replace(os.sep, "/")
            extra = file_sha256(f) if content and size >= 0 else ""
            digest.update(f"{rel}\0{size}\0{extra}\n".encode())
        return {"files": len(files), "sha256": digest.hexdigest()[:16],
                "by": "path, size, content" if content else "path, size"}

    def _read(self, i: int) -> np.ndarray:
        image = load_rgb(self.files[i])
        self.check_image(image, self.files[i])
        return image

    def _test_view(self, image: np.ndarray, i: int) -> np.ndarray:
        raise NotImplementedError

    def _train_view(self, image: np.ndarray, i: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


def _name_score(text: str) -> float:
    """A stable number in [0, 1) from ``text`` (sha256): a file's place, whatever else is there."""
    return int(sha256(text)[:13], 16) / 16 ** 13
