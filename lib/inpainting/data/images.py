"""Reading one image file, converting it to 8-bit RGB, the crop / resize helpers of the loaders, and
model-space tensors to metric-space uint8 (:func:`to_uint8`).

Every real-data loader reads pixels through :func:`load_rgb`, so every odd file is handled the same
way. Behaviour by kind of file (``PIL`` mode in brackets):

=========================================  ===========================================================
file                                       result
=========================================  ===========================================================
8-bit RGB (``RGB``)                        returned unchanged
grayscale (``L``), bilevel (``1``)         the grey channel replicated to R, G and B
16-bit grayscale (``I;16``, ``I;16B``,     scaled to 8 bits by ``round(v * 255 / M)``, ``M`` the
``I``)                                     data's depth: ``2**sBIT - 1`` from the PNG's ``sBIT``
                                           chunk, else the smallest of 10/12/14/16 bits holding the
                                           largest value (12-bit data is not near-black); ``I``
                                           (32-bit) values are clipped to [0, 65535] first
16-bit RGB PNG                             Pillow itself reduces it to 8-bit ``RGB`` (high byte);
                                           the conversion says so
with alpha (``RGBA``, ``LA``, ``PA``,      **alpha-composited on white** (255, 255, 255): a
``RGBa``, ``La``, palette with a           transparent pixel becomes white, as image viewers show it
``transparency`` entry)                    on a page, and never mid-grey, which is the value of a
                                           hole in model space
palette (``P``)                            expanded to RGB through the palette
``CMYK``, ``YCbCr``, ``LAB``, ``HSV``      Pillow's conversion to ``RGB`` (no ICC colour management)
EXIF orientation tag                       applied (the array is the image as a viewer shows it)
multi-frame (GIF, TIFF)                    the first frame
float (``F``) and other modes              ``ImageReadError`` (unsupported pixel mode)
0-byte file                                ``ImageReadError`` saying "empty file"
truncated / corrupt / not an image         ``ImageReadError`` naming the file, saying it is corrupt or
                                           unreadable and to re-download or remove it
header claiming huge dimensions            ``ImageReadError`` (Pillow's ``DecompressionBombError`` and
(more than ``Image.MAX_IMAGE_PIXELS``)     ``DecompressionBombWarning`` are both treated as corrupt)
dangling symbolic link, link loop          ``ImageReadError`` (listed, then unreadable)
missing path                               ``FileNotFoundError``
=========================================  ===========================================================

Truncated files always raise: decoding runs with ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` forced to
``False`` (whatever another library set it to) and with ``.load()`` inside the ``try``, so a JPEG cut
short never comes back partially grey.

Resizing uses Pillow's **bilinear** filter, which is antialiased when downscaling (its kernel widens
with the scale factor). Bilinear is what the authors' prototype used at test time
(``scipy.misc.imresize``, itself Pillow bilinear) and what the CelebA followers report.
All helpers take and return ``uint8 (H, W, 3)`` arrays; :func:`to_model_tensor` converts the final
crop to model space.
"""
from __future__ import annotations

import os
import re
import warnings
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

RESAMPLE = Image.Resampling.BILINEAR
RANGE_TOLERANCE = 1e-6   # model-space values this far outside [-1, 1] are clipped by to_uint8
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_COLOUR_MODES = ("CMYK", "YCbCr", "LAB", "HSV")
_FIX_HINT = ("the file is corrupt or unreadable; remove it or download it again (removing it moves "
             "no other file between splits; a loader with skip_corrupt=True skips it)")


class ImageReadError(ValueError):
    """An image file that cannot be decoded (empty, truncated, corrupt, unsupported).

    The message names the file: it always reads ``"<path>: <reason>"``. ``path`` is the offending
    file. A ``DataLoader`` worker re-creates the exception from its formatted traceback only
    (``ImageReadError(text)``); ``path`` is then recovered from the text, so it survives there too
    (``None`` only for a message that does not follow the form). Pickling keeps both.
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        super().__init__(message)
        self.path = _path_from_message(message) if path is None else os.fspath(path)

    def __reduce__(self):
        return type(self), (str(self), self.path)


_REASONS = ("empty file", "the file is corrupt", "unsupported pixel mode")


def _path_from_message(message: str) -> str | None:
    """The path of an ``"<path>: <reason>"`` message, also inside a worker's formatted traceback
    (whose last ``ImageReadError: `` line holds the original message)."""
    text = str(message)
    marker = "ImageReadError: "
    if marker in text:
        text = text[text.rindex(marker) + len(marker):]
    line = text.splitlines()[0] if text else ""
    found = re.match(r"(.+?): (?:" + "|".join(map(re.escape, _REASONS)) + ")", line)
    return found.group(1) if found else None


@contextmanager
def _strict_truncation() -> Iterator[None]:
    """Make Pillow raise on truncated files for the duration of one decode."""
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def open_decoded(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode ``path``; every decoding failure becomes :class:`ImageReadError`."""
    if os.path.islink(path) and not os.path.exists(path):   # dangling link or a link loop
        raise ImageReadError(f"{os.fspath(path)}: the file is corrupt or unreadable: a symbolic "
                             f"link that leads nowhere (dangling, or a loop of links); point it at "
                             "the image or remove the link", path)
    if os.path.getsize(path) == 0:  # FileNotFoundError for a missing path, on purpose
        raise ImageReadError(f"{os.fspath(path)}: empty file (0 bytes); {_FIX_HINT}", path)
    try:
        with warnings.catch_warnings():
            # a header claiming more than Pillow's MAX_IMAGE_PIXELS: a damaged (or hostile) file
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _strict_truncation(), Image.open(path) as img:
                img.load()
                return ImageOps.exif_transpose(img)  # a copy, so closing the file is safe
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageReadError(f"{os.fspath(path)}: {_FIX_HINT} (its header claims more pixels "
                             f"than any photo of a dataset: {err})", path) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        raise ImageReadError(f"{os.fspath(path)}: {_FIX_HINT} ({type(err).__name__}: {err})",
                             path) from err


def png_depth(path: str | os.PathLike) -> tuple[int | None, int | None]:
    """``(bits per sample, significant bits)`` from a PNG's ``IHDR`` and ``sBIT`` chunks
    (``(None, None)`` for another format; significant bits ``None`` without ``sBIT``). Pillow
    reads neither: it silently reduces 16-bit RGB to its high bytes."""
    import struct
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != b"\x89PNG\r\n\x1a\n":
                return None, None
            depth = significant = None
            while True:
                head = fh.read(8)
                if len(head) < 8:
                    return depth, significant
                length, kind = struct.unpack(">I4s", head)
                data = fh.read(length)
                fh.read(4)   # CRC
                if kind == b"IHDR" and len(data) >= 9:
                    depth = data[8]
                elif kind == b"sBIT" and data:
                    significant = max(data[:3]) if len(data) >= 3 else data[0]
                elif kind in (b"IDAT", b"IEND"):
                    return depth, significant
    except OSError:
        return None, None


def sixteen_bit_scale(values: np.ndarray, significant: int | None = None) -> int:
    """The largest value of the data's true depth: ``2**significant - 1`` from the PNG's ``sBIT``
    chunk; without one, the smallest of 10, 12, 14 or 16 bits that holds the largest value (12-bit
    camera or medical data in a 16-bit file is not scaled to near-black; the conversion says which
    depth it assumed)."""
    if significant:
        return 2 ** int(significant) - 1
    top = int(values.max()) if values.size else 0
    bits = next((b for b in (10, 12, 14) if top < 2 ** b), 16)
    return 2 ** bits - 1


def sixteen_bit_to_uint8(img: Image.Image, significant: int | None = None) -> np.ndarray:
    """``(H, W)`` uint8 from 16-bit (or 32-bit ``I``) grey, scaled over the data's depth
    (:func:`sixteen_bit_scale`)."""
    values = np.clip(np.asarray(img, dtype=np.float64), 0, 65535)
    scale = sixteen_bit_scale(values, significant)
    return np.round(np.clip(values, 0, scale) * (255.0 / scale)).astype(np.uint8)


def _composite_on_white(img: Image.Image) -> Image.Image:
    """``RGB`` image of ``img`` (any alpha mode) alpha-composited on white."""
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _to_rgb(img: Image.Image, path: str | os.PathLike) -> tuple[np.ndarray, str | None]:
    """``(uint8 (H, W, 3), conversion)``; ``conversion`` is ``None`` for plain 8-bit RGB."""
    mode = img.mode
    depth, significant = png_depth(path) if str(path).lower().endswith(".png") else (None, None)
    if mode == "RGB":
        rgb = np.asarray(img, dtype=np.uint8).copy()
        return rgb, ("16-bit RGB -> 8-bit RGB (Pillow keeps the high byte of each value)"
                     if depth == 16 else None)
    if mode in ("L", "1"):
        grey = np.asarray(img.convert("L"), dtype=np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2), f"grayscale {mode} -> RGB"
    if mode in SIXTEEN_BIT_MODES:
        values = np.asarray(img)
        scale = sixteen_bit_scale(np.clip(values, 0, 65535), significant)
        grey = sixteen_bit_to_uint8(img, significant)
        bits = scale.bit_length()
        return np.repeat(grey[:, :, None], 3, axis=2), \
            f"{mode} grayscale ({bits}-bit data{'' if significant else ', by its largest value'}) -> 8-bit RGB"
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in img.info):
        return np.asarray(_composite_on_white(img), dtype=np.uint8).copy(), \
            f"{mode} with alpha -> RGB on white"
    if mode == "P" or mode in _COLOUR_MODES:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy(), f"{mode} -> RGB"
    raise ImageReadError(f"{os.fspath(path)}: unsupported pixel mode {mode!r}; convert the file to "
                         "8-bit RGB or grayscale, or remove it", path)


def decode_rgb(path: str | os.PathLike) -> tuple[np.ndarray, str | None]:
    """Decode ``path`` to 8-bit RGB and say which conversion was applied.

    Returns
    -------
    image : np.ndarray
        ``uint8 (H, W, 3)``, values 0..255.
    conversion : str or None
        A short description such as ``"grayscale L -> RGB"``, or ``None`` if the file was already
        8-bit RGB. See the module docstring for every case.

    Raises
    ------
    ImageReadError
        Empty, truncated, corrupt or non-image file, or an unsupported pixel mode.
    FileNotFoundError
        ``path`` does not exist.
    """
    img = open_decoded(path)
    return _to_rgb(img, path)


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """The image at ``path`` as ``uint8 (H, W, 3)`` RGB, 0..255 (conversions: module docstring)."""
    return decode_rgb(path)[0]


def to_model_tensor(image: np.ndarray) -> torch.Tensor:
    """``uint8 (H, W, 3)`` 0..255 -> ``float32 (3, H, W)`` in [-1, 1] (``x / 127.5 - 1``)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) array, got {image.dtype} {image.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    return tensor.float().div_(127.5).sub_(1.0)


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Antialiased bilinear resize of ``uint8 (H, W, 3)`` to ``uint8 (height, width, 3)``."""
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), RESAMPLE), dtype=np.uint8)


def resize_short_side(image: np.ndarray, short: int) -> np.ndarray:
    """Resize so the smaller side is ``short`` pixels, keeping the aspect ratio (rounded)."""
    h, w = image.shape[:2]
    scale = short / min(h, w)
    return resize(image, max(short, round(h * scale)), max(short, round(w * scale)))


def crop(image: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """``image[top:top+height, left:left+width]``; ``ValueError`` if the box leaves the image."""
    h, w = image.shape[:2]
    if top < 0 or left < 0 or top + height > h or left + width > w:
        raise ValueError(f"crop box top={top} left={left} {height}x{width} is outside the "
                         f"{h}x{w} image")
    return image[top:top + height, left:left + width]


def centre_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Central ``height x width`` crop; odd margins put the extra pixel at the bottom / right."""
    h, w = image.shape[:2]
    return crop(image, (h - height) // 2, (w - width) // 2, height, width)


def hflip(image: np.ndarray) -> np.ndarray:
    """Mirror ``(H, W, C)`` left-right."""
    return image[:, ::-1]


def to_uint8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """Convert model-space images to metric-space uint8.

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        A float tensor ``(B, 3, H, W)`` or ``(3, H, W)`` with values in [-1, 1]. Values up to
        ``RANGE_TOLERANCE`` outside the range are clipped. A NumPy ``uint8`` array ``(B, H, W, 3)``
        or ``(H, W, 3)`` is already in metric space and is returned unchanged.

    Returns
    -------
    numpy.ndarray
        ``uint8`` of shape ``(B, H, W, 3)`` or ``(H, W, 3)``: ``rint((x + 1) * 127.5)``, computed in
        float64. Halves round to even.

    Raises
    ------
    ValueError
        If the values are NaN/inf or outside [-1, 1], with the likely cause (e.g. [0, 255] data).
        The shape is not channel-first RGB.
    TypeError
        If the input is neither a torch tensor nor a NumPy uint8 array.

    Notes
    -----
    Data in [0, 1] lies inside [-1, 1] and cannot be detected here. It comes out too bright. Convert
    with ``x * 2 - 1`` first.
    """
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            raise TypeError(f"NumPy input must be uint8 (H, W, 3) or (B, H, W, 3) metric-space images, "
                            f"got dtype {images.dtype}; pass float data as a torch tensor (B, 3, H, W) "
                            "in [-1, 1] instead")
        if images.ndim not in (3, 4) or images.shape[-1] != 3:
            raise ValueError(f"uint8 images must have shape (H, W, 3) or (B, H, W, 3), got {images.shape}")
        return images
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"expected a torch tensor (B, 3, H, W) in [-1, 1] or a NumPy uint8 array, "
                        f"got {type(images).__name__}")
    if not images.is_floating_point():
        raise TypeError(f"tensor images must be floating point in [-1, 1], got dtype {images.dtype}; "
                        "uint8 [0, 255] data: use x.float() / 127.5 - 1")
    if images.ndim not in (3, 4) or images.shape[-3] != 3:
        raise ValueError(f"tensor images must have shape (3, H, W) or (B, 3, H, W), got {tuple(images.shape)}"
                         + ("; it looks channel-last, use x.permute(0, 3, 1, 2)" if images.shape[-1] == 3
                            else ""))
    x = images.detach().to("cpu", torch.float64).numpy()
    if not np.isfinite(x).all():
        raise ValueError(f"images contain {int((~np.isfinite(x)).sum())} NaN/inf values; expected finite "
                         "values in [-1, 1] (a diverged model or a division by zero upstream?)")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1 - RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        if lo >= 0 and hi > 1.5:
            cause = "looks like [0, 255] data; convert with x / 127.5 - 1"
        elif lo >= 0:
            cause = "looks like un-normalised non-negative data; map it to [-1, 1] first"
        else:
            cause = "a model output without a final tanh, or a missing clamp(-1, 1)?"
        raise ValueError(f"images must be in [-1, 1] (model space, docs/CONVENTIONS.md), got values in "
                         f"[{lo:.4g}, {hi:.4g}]: {cause}")
    x = np.rint((np.clip(x, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    return np.moveaxis(x, -3, -1)
