"""``python -m inpainting.tools.complete``: complete your own images with a trained generator.

    python -m inpainting.tools.complete --model results/demo/runs/faces/lite-<key> \\
        --images photos/ --masks masks/ --out completed/ [--hole-black] [--pad reflect|zero]
        [--batch-size 16] [--device auto] [--allow-size-mismatch]

* ``--model``: a run folder of the kit (``results/<profile>/runs/<role>/<generator>-<key>``) or its
  ``generator.pt``.
* ``--images`` / ``--masks``: one PNG/JPEG file each, or two folders matched by file name without
  suffix (``a.jpg`` goes with ``a.png``); an image without a mask or a mask without an image is
  an error naming it.
* Masks are images of the same size as their image: **white (>= 128) = hole**, black = known
  (``--hole-black`` for the other convention). They must be black and white: a few anti-aliased
  edge pixels are thresholded at 128; a grey-level mask (more than 5 % of its pixels between 32 and
  223), colour, transparency, no hole or no known pixel is an error naming the file.
* Any size: an image is padded on the right and bottom to a multiple of 4 (what the generators
  need), by reflection (default) or with mid-grey known pixels (``--pad zero``), completed, and
  cropped back. The known pixels of every output are copied from the input file, bit for bit.
* An image more than 2x larger or smaller (either side) than the size the model was trained on is
  an error naming both sizes unless ``--allow-size-mismatch``: a generator trained on 64 px faces
  has never seen a 512 px hole.
* Outputs: ``<out>/<stem>.png`` (PNG, lossless), through the kit's one writer
  (:func:`inpainting.disk.write_output`): atomically, never over an input, and never over a
  file the kit did not write (an earlier completion of the kit is replaced).
* An image that is not 8-bit RGB or grey (16-bit, alpha, CMYK, ...) cannot keep its known pixels
  bit for bit in an 8-bit PNG: an error, unless ``--allow-conversion`` (a note names the
  conversion).

Every problem with the arguments or the files is found before any image is completed (exit
status 2). Images of one size are completed in batches of ``--batch-size``, with a progress bar.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from ..disk import OutputError, check_output
from .common import (UsageError, fail, image_files, match_stems, model_file, read_mask,
                     read_model, save_png)

PAD_MULTIPLE = 4        # inpainting.models.inpainter.check_inputs: H and W divisible by 4
MAX_SIZE_RATIO = 2.0    # farther from the training size than this: an error unless allowed
MIN_SIDE = 8
PAD_MODES = ("reflect", "zero")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inpainting.tools.complete", description=__doc__.split("\n")[0].strip("`: "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Masks: white (>= 128) = hole, black = known (--hole-black: the other way round). "
               "See `python -m pydoc inpainting.tools.complete`.")
    parser.add_argument("--model", required=True, help="a run folder or its generator.pt")
    parser.add_argument("--images", required=True, help="a PNG/JPEG file or a folder of them")
    parser.add_argument("--masks", required=True,
                        help="a mask file or a folder of masks named like the images")
    parser.add_argument("--out", required=True, help="folder for the completed PNGs")
    parser.add_argument("--hole-black", action="store_true",
                        help="black (< 128) marks the hole instead of white")
    parser.add_argument("--pad", choices=PAD_MODES, default="reflect",
                        help="how an image is padded to a multiple of 4 (default reflect)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per forward pass")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda")
    parser.add_argument("--allow-size-mismatch", action="store_true",
                        help="complete images far from the model's training size")
    parser.add_argument("--allow-conversion", action="store_true",
                        help="complete images that are not 8-bit (16-bit, alpha, CMYK, ...): "
                             "their known pixels are then the 8-bit conversion, not the file's")
    return parser


def kept_exactly(conversion: str | None) -> bool:
    """Whether an image read with ``conversion`` (:func:`inpainting.data.images.decode_rgb`) keeps
    its known pixels bit for bit in an 8-bit RGB PNG: plain 8-bit RGB, or 8-bit grey repeated."""
    return conversion is None or conversion.startswith("grayscale")


def pad_to(image: np.ndarray, mask: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """``image (H, W, 3) uint8`` and ``mask (H, W)`` padded on the bottom / right to multiples of
    :data:`PAD_MULTIPLE`: mirrored (``reflect``: the pad holds mirrored pixels and mirrored
    holes) or mid-grey known pixels (``zero``: 0 in model space, 128 here)."""
    h, w = mask.shape
    pads = ((0, -h % PAD_MULTIPLE), (0, -w % PAD_MULTIPLE))
    if mode == "reflect":
        return np.pad(image, (*pads, (0, 0)), mode="reflect"), np.pad(mask, pads, mode="reflect")
    return (np.pad(image, (*pads, (0, 0)), constant_values=128),
            np.pad(mask, pads, constant_values=0))


def size_problem(height: int, width: int, trained: int) -> str | None:
    """Why ``height x width`` is too far from the ``trained`` size, or ``None``."""
    ratio = max(max(height, width) / trained, trained / min(height, width))
    if ratio <= MAX_SIZE_RATIO:
        return None
    return (f"is {width}x{height} px but the model was trained on {trained}x{trained} px images "
            f"({ratio:.1f}x off; at most {MAX_SIZE_RATIO:g}x without --allow-size-mismatch): "
            f"resize or crop it to about {trained}x{trained}, or pass --allow-size-mismatch")


def prepare(args: argparse.Namespace) -> tuple[Path, dict, list[tuple[str, np.ndarray, np.ndarray]]]:
    """Check every argument and file (:class:`UsageError`) and read the inputs:
    ``(model file, generator dict, [(stem, image uint8 (H, W, 3), mask float32 (H, W))])``."""
    from ..data.images import ImageReadError, decode_rgb
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    path = model_file(args.model)
    blob = read_model(path)
    trained = int(blob["image_size"])
    pairs = match_stems(image_files(args.images, "images"), image_files(args.masks, "masks"))
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder")
    sources = tuple(p for _, image, mask in pairs for p in (image, mask))
    for stem, _, _ in pairs:   # the one writer's checks, before any work (disk.check_output)
        try:
            check_output(out / f"{stem}.png", inputs=sources)
        except OutputError as exc:
            raise UsageError(f"--out: {exc}") from None
    inputs = []
    for stem, image_path, mask_path in pairs:
        try:
            image, conversion = decode_rgb(image_path)
        except (ImageReadError, FileNotFoundError) as exc:
            raise UsageError(f"image {exc}") from None
        if not kept_exactly(conversion):
            if not args.allow_conversion:
                raise UsageError(f"image {image_path} is read with a conversion ({conversion}): "
                                 "its known pixels cannot be copied bit for bit into the 8-bit "
                                 "RGB output; convert it to 8-bit RGB yourself, or pass "
                                 "--allow-conversion to accept the converted pixels")
            print(f"note: {image_path}: {conversion}; its known pixels are the converted ones",
                  flush=True)
        mask = read_mask(mask_path, args.hole_black)
        if mask.shape != image.shape[:2]:
            raise UsageError(f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} px but its image "
                             f"{image_path} is {image.shape[1]}x{image.shape[0]}; a mask must have "
                             "its image's size")
        if min(mask.shape) < MIN_SIDE:
            raise UsageError(f"image {image_path} is {image.shape[1]}x{image.shape[0]} px; the "
                             f"smallest side must be at least {MIN_SIDE} px")
        problem = size_problem(*mask.shape, trained)
        if problem and not args.allow_size_mismatch:
            raise UsageError(f"image {image_path} {problem}")
        if blob["model"]["generator"] == "context_encoder" and mask.shape != (trained, trained):
            raise UsageError(f"image {image_path} is {image.shape[1]}x{image.shape[0]} px; the "
                             f"Context Encoder only completes {trained}x{trained} images with a "
                             "centre hole")
        inputs.append((stem, image, mask))
    return path, blob, inputs


def complete_all(model, inputs, out: Path, pad: str, batch_size: int, device,
                 progress: bool = True) -> list[Path]:
    """Complete ``inputs`` (from :func:`prepare`) with ``model`` into ``out/<stem>.png``, images
    of one padded size batched together; known pixels copied from the input."""
    from tqdm.auto import tqdm

    from ..inference import complete
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    padded = [pad_to(image, mask, pad) for _, image, mask in inputs]
    for i, (image, _) in enumerate(padded):
        groups[image.shape[:2]].append(i)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tqdm(total=len(inputs), desc="complete", unit="image", disable=not progress) as bar:
        for members in groups.values():
            for start in range(0, len(members), batch_size):
                chunk = members[start:start + batch_size]
                done = complete(model, np.stack([padded[i][0] for i in chunk]),
                                np.stack([padded[i][1] for i in chunk]), device=device,
                                batch_size=len(chunk))
                for i, result in zip(chunk, done):
                    stem, image, mask = inputs[i]
                    h, w = mask.shape
                    result = np.where(mask[..., None] > 0.5, result[:h, :w], image)
                    written.append(save_png(out / f"{stem}.png", np.ascontiguousarray(result)))   # the one writer
                bar.update(len(chunk))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        path, blob, inputs = prepare(args)
        from ..inference import _resolve_device
        device = _resolve_device(args.device, None)
    except (UsageError, ValueError, RuntimeError) as exc:
        fail(parser, exc)
    from ..models import load_inpainter
    model = load_inpainter(path, device)
    written = complete_all(model, inputs, Path(args.out), args.pad, args.batch_size, device)
    print(f"completed {len(written)} image(s) with {path} ({blob['model']['generator']}, trained "
          f"on {blob['image_size']} px) into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
