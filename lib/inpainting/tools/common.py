"""What the researcher's commands share: usage errors (exit status 2), the model argument, image
folders matched by file stem, binary mask files, PNG writing and the profile arguments."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..training.runs import GENERATOR_FILE

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
HOLE_THRESHOLD = 128        # a mask pixel >= 128 is white (after --hole-black: < 128 is the hole)
MID_GREY = (32, 224)        # values in [32, 224) are neither black nor white
MAX_MID_FRACTION = 0.05     # more mid-grey pixels than this: a grey-level mask, not a binary one
COLOUR_TOLERANCE = 16       # an RGB mask is grey when its channels differ by at most this (JPEG)


class UsageError(ValueError):
    """A bad command-line argument or input file, found before any work (exit status 2)."""


def fail(parser: argparse.ArgumentParser, error: Exception) -> None:
    """Exit with status 2 and ``error`` as argparse's usage message."""
    parser.error(str(error))


def model_file(path: str | os.PathLike) -> Path:
    """The ``generator.pt`` of a run folder, or the file itself; :class:`UsageError` otherwise."""
    path = Path(path)
    if path.is_dir():
        found = path / GENERATOR_FILE
        if not found.is_file():
            raise UsageError(f"run folder {path} has no {GENERATOR_FILE}: the run has not finished "
                             "(train it with python -m inpainting.train) or this is not a run folder "
                             "(results/<profile>/runs/<role>/<generator>-<key>)")
        return found
    if not path.is_file():
        raise UsageError(f"model {path} does not exist; give a run folder or its {GENERATOR_FILE}")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise UsageError(f"model {path} is an image; give a run folder or its {GENERATOR_FILE}")
    return path


def read_model(path: Path) -> dict:
    """The ``generator.pt`` dict (:func:`inpainting.models.read_generator`), as a usage error when
    the file is damaged or not a generator file."""
    from ..models import ModelFileError, read_generator
    try:
        return read_generator(path)
    except ModelFileError as exc:
        raise UsageError(str(exc)) from None


def image_files(path: str | os.PathLike, what: str) -> dict[str, Path]:
    """Stem -> file of one image file or of every PNG/JPEG in a folder (hidden files and other
    suffixes are skipped); :class:`UsageError` for a missing path, an empty folder or two files
    with one stem."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise UsageError(f"{what} {path} is not a PNG or JPEG file ({', '.join(IMAGE_SUFFIXES)})")
        return {path.stem: path}
    if not path.is_dir():
        raise UsageError(f"{what} {path} does not exist (a PNG/JPEG file or a folder of them)")
    files: dict[str, Path] = {}
    for file in sorted(path.iterdir()):
        if file.name.startswith(".") or file.suffix.lower() not in IMAGE_SUFFIXES or not file.is_file():
            continue
        if file.stem in files:
            raise UsageError(f"{what} folder {path} has two files named {file.stem!r} "
                             f"({files[file.stem].name}, {file.name}); keep one")
        files[file.stem] = file
    if not files:
        raise UsageError(f"{what} folder {path} holds no PNG or JPEG file")
    return files


def match_stems(images: dict[str, Path], masks: dict[str, Path]) -> list[tuple[str, Path, Path]]:
    """``(stem, image, mask)`` pairs; a lone image and mask file pair directly, folders by stem.
    An image without a mask or a mask without an image is a :class:`UsageError` naming it."""
    if len(images) == 1 and len(masks) == 1:
        (stem, image), = images.items()
        return [(stem, image, next(iter(masks.values())))]
    missing = [images[s].name for s in images if s not in masks]
    extra = [masks[s].name for s in masks if s not in images]
    if missing:
        raise UsageError(f"no mask for image(s) {_few(missing)}: every image needs a mask file with "
                         "the same name (stem), e.g. photo.jpg -> photo.png")
    if extra:
        raise UsageError(f"mask(s) {_few(extra)} match no image (by file name without suffix); "
                         "remove them or add the images")
    return [(stem, images[stem], masks[stem]) for stem in images]


def _few(names: Sequence[str], n: int = 5) -> str:
    shown = ", ".join(names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


def read_mask(path: Path, hole_black: bool = False) -> np.ndarray:
    """A mask image as ``float32 (H, W)`` with 1 = hole.

    Convention: **white (>= 128) is the hole** and black is known; ``hole_black`` swaps them. The
    file must be black and white: grey (or RGB with equal channels) without transparency; a few
    anti-aliased or JPEG-noisy edge pixels are thresholded at 128, but more than
    ``MAX_MID_FRACTION`` of values in [32, 224) (a soft or grey-level mask, or a photo) is a
    :class:`UsageError`, as are colour pixels, transparency and a mask with no hole or no known
    pixel."""
    from ..data.images import (SIXTEEN_BIT_MODES, ImageReadError, open_decoded,
                               sixteen_bit_to_uint8)
    try:
        img = open_decoded(path)
    except (ImageReadError, FileNotFoundError) as exc:
        raise UsageError(f"mask {exc}") from None
    if "A" in img.mode or "transparency" in img.info:
        raise UsageError(f"mask {path} has transparency ({img.mode}); save it as a black-and-white "
                         "greyscale PNG without alpha (white = hole)")
    if img.mode in ("L", "1"):
        grey = np.asarray(img.convert("L"), dtype=np.float64)
    elif img.mode in SIXTEEN_BIT_MODES:
        grey = sixteen_bit_to_uint8(img).astype(np.float64)
    else:   # RGB, palette, CMYK, ...: grey only when its channels agree
        rgb = np.asarray(img.convert("RGB"), dtype=np.float64)
        if np.abs(rgb - rgb.mean(axis=2, keepdims=True)).max() > COLOUR_TOLERANCE:
            raise UsageError(f"mask {path} has colour pixels; masks are black and white "
                             "(white = hole)")
        grey = rgb.mean(axis=2)
    mid = float(((grey >= MID_GREY[0]) & (grey < MID_GREY[1])).mean())
    if mid > MAX_MID_FRACTION:
        raise UsageError(f"mask {path} is not black and white: {mid:.0%} of its pixels are grey "
                         f"(values {MID_GREY[0]}..{MID_GREY[1] - 1}; at most "
                         f"{MAX_MID_FRACTION:.0%} allowed); give a binary mask (white = hole, "
                         f"black = known; values are thresholded at {HOLE_THRESHOLD})")
    hole = (grey < HOLE_THRESHOLD) if hole_black else (grey >= HOLE_THRESHOLD)
    flag = "--hole-black" if not hole_black else "no --hole-black"
    colour = "black" if hole_black else "white"
    if not hole.any():
        raise UsageError(f"mask {path} has no hole: no {colour} pixel (the hole is {colour}; for "
                         f"the other convention use {flag})")
    if hole.all():
        raise UsageError(f"mask {path} is all hole: every pixel is {colour}, nothing is known (the "
                         f"hole is {colour}; for the other convention use {flag})")
    return hole.astype(np.float32)


def save_png(path: Path, pixels: np.ndarray, inputs: tuple = ()) -> Path:
    """``uint8 (H, W, 3)`` or ``(H, W)`` as a PNG (lossless: pixels come back exact), through the
    one writer (:func:`inpainting.disk.write_output`: atomic, never over ``inputs`` or a file
    the kit did not write)."""
    from PIL import Image

    from ..disk import write_output
    return write_output(path, lambda tmp: Image.fromarray(pixels).save(tmp, format="PNG"),
                        inputs=inputs)


def add_profile_arguments(parser: argparse.ArgumentParser) -> None:
    """``--profile``, ``--role`` and ``--overrides`` as ``python -m inpainting.train`` has them."""
    from ..profiles import PROFILES
    from ..profiles import ROLES
    parser.add_argument("--profile", required=True, help=f"one of: {', '.join(PROFILES)}")
    parser.add_argument("--role", default="faces", help=f"dataset role: {', '.join(ROLES)} "
                        "(default faces)")
    parser.add_argument("--overrides", default="{}",
                        help="profile overrides as a JSON object (as given to the notebooks), e.g. "
                             "'{\"faces.n_test\": 16}'")


def profile_from_args(args: argparse.Namespace):
    """``(profile, overrides)`` of the parsed profile arguments; :class:`UsageError` when invalid."""
    from ..profiles import get_profile
    from ..profiles import ROLES
    try:
        overrides = json.loads(args.overrides)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--overrides is not valid JSON ({exc}): {args.overrides!r}") from None
    if not isinstance(overrides, dict):
        raise UsageError(f"--overrides must be a JSON object of dotted names, got {args.overrides!r}")
    if args.role not in ROLES:
        raise UsageError(f"unknown role {args.role!r}; valid roles: {', '.join(ROLES)}")
    try:
        return get_profile(args.profile, overrides), overrides
    except ValueError as exc:
        raise UsageError(str(exc)) from None
