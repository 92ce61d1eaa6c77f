"""Builders of small on-disk fixtures laid out exactly like the real datasets.

Every builder writes into a folder the test gives it (``tmp_path``) and returns the paths the tests
need. Images are smooth random noise so JPEG compression keeps them recognisable.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CELEBA_W, CELEBA_H = 178, 218


def noise_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth random colours: ``uint8 (height, width, 3)``."""
    coarse = rng.integers(0, 256, size=(max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BILINEAR))


CELEBA_PROTO_TEST_NAMES = ("000360.jpg", "000470.jpg", "000512.jpg", "000604.jpg", "000613.jpg",
                           "000740.jpg")   # the first test images of the prototype split


def celeba_names(n: int) -> list[str]:
    """The sorted file names of :func:`make_celeba` ``(n)``."""
    n_test = min(len(CELEBA_PROTO_TEST_NAMES), max(1, round(n / 12)))
    return sorted([f"{k:06d}.jpg" for k in range(1, n - n_test + 1)]
                  + list(CELEBA_PROTO_TEST_NAMES[:n_test]))


def make_celeba(root: Path, n: int = 12, size: tuple[int, int] = (CELEBA_W, CELEBA_H),
                partition: tuple[int, ...] | None = None, seed: int = 0) -> Path:
    """``root/img_align_celeba/*.jpg`` (``n`` JPEGs of ``size`` = (width, height)) and
    ``root/list_eval_partition.txt`` (default partition: 0 for the first half, then 1, then 2).

    Names (:func:`celeba_names`): ``000001.jpg ..`` and, since a CelebA file's prototype split
    depends on its name only, ``max(1, round(n / 12))`` of the prototype test images' names
    (``000360.jpg``, ``000470.jpg``, ...), so the proto test split is never empty."""
    rng = np.random.default_rng(seed)
    folder = root / "img_align_celeba"
    folder.mkdir(parents=True)
    names = celeba_names(n)
    for name in names:
        Image.fromarray(noise_image(rng, size[1], size[0])).save(folder / name, quality=95)
    if partition is None:
        partition = tuple(0 if k < n // 2 else 1 if k < 3 * n // 4 else 2 for k in range(n))
    lines = [f"{name} {part}" for name, part in zip(names, partition)]
    (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return root


def make_paris(root: Path, n_train: int = 4, n_test: int = 3, train_size: tuple[int, int] = (420, 352),
               seed: int = 0) -> Path:
    """``root/paris_train_original/*.JPG`` (``train_size`` = (width, height)) and
    ``root/paris_eval_gt/001_im.png ..`` (227x227 PNGs)."""
    rng = np.random.default_rng(seed)
    train, test = root / "paris_train_original", root / "paris_eval_gt"
    train.mkdir(parents=True)
    test.mkdir()
    for k in range(n_train):
        image = noise_image(rng, train_size[1], train_size[0])
        Image.fromarray(image).save(train / f"paris_{k:04d}.JPG", format="JPEG", quality=95)
    for k in range(1, n_test + 1):
        Image.fromarray(noise_image(rng, 227, 227)).save(test / f"{k:03d}_im.png")
    return root


def make_odd_images(folder: Path, seed: int = 0) -> dict[str, Path]:
    """One file of every odd kind ``load_rgb`` documents; returns ``{kind: path}``.

    Kinds: rgb (JPEG), gray (L PNG), rgba (PNG, left half transparent), la (LA PNG, fully
    transparent), gray16 (16-bit PNG holding a 0..65535 ramp), palette (P PNG), palette_alpha
    (P PNG with a transparent index 0), cmyk (TIFF), cmyk_jpeg, empty (0 bytes), truncated (a JPEG cut
    in half), not_image (text named .png).
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rgb = noise_image(rng, 40, 48)
    paths = {kind: folder / name for kind, name in [
        ("rgb", "rgb.jpg"), ("gray", "gray.png"), ("rgba", "rgba.png"), ("la", "la.png"),
        ("gray16", "gray16.png"), ("palette", "palette.png"), ("palette_alpha", "palette_alpha.png"),
        ("cmyk", "cmyk.tif"), ("cmyk_jpeg", "cmyk.jpg"), ("empty", "empty.jpg"),
        ("truncated", "truncated.jpg"), ("not_image", "not_image.png")]}
    Image.fromarray(rgb).save(paths["rgb"], quality=95)
    Image.fromarray(rgb[:, :, 0]).save(paths["gray"])
    alpha = np.full((40, 48), 255, np.uint8)
    alpha[:, :24] = 0
    Image.fromarray(np.dstack([rgb, alpha])).save(paths["rgba"])
    Image.merge("LA", [Image.fromarray(rgb[:, :, 0]), Image.fromarray(np.zeros_like(alpha))]
                ).save(paths["la"])
    ramp = np.linspace(0, 65535, 40 * 48).round().astype(np.uint16).reshape(40, 48)
    Image.fromarray(ramp).save(paths["gray16"])
    Image.fromarray(rgb).quantize(colors=16).save(paths["palette"])
    palette = Image.fromarray(rgb).quantize(colors=16)
    palette.save(paths["palette_alpha"], transparency=0)
    Image.fromarray(rgb).convert("CMYK").save(paths["cmyk"])
    Image.fromarray(rgb).convert("CMYK").save(paths["cmyk_jpeg"], quality=95)
    paths["empty"].write_bytes(b"")
    data = paths["rgb"].read_bytes()
    paths["truncated"].write_bytes(data[:len(data) // 2])
    paths["not_image"].write_text("this is not an image\n")
    return paths


# ------------------------------------------------------------------------- float tolerances
TOLERANCE_LOG_ENV = "INPAINTING_TOLERANCE_LOG"


def within(name: str, measured: float, tolerance: float) -> None:
    """Assert ``measured < tolerance`` for a comparison of floats from two code paths, and, when
    ``$INPAINTING_TOLERANCE_LOG`` names a file, append ``{"name", "measured", "tolerance"}`` to it
    as one JSON line (how the closing notes' tables of largest differences per CPU setting are made:
    run the float-comparison tests under each setting with the variable set)."""
    import json
    import os
    log = os.environ.get(TOLERANCE_LOG_ENV)
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"name": name, "measured": float(measured),
                                "tolerance": tolerance}) + "\n")
    assert measured < tolerance, f"{name}: {measured:.3e} (tolerance {tolerance:.1e})"


def make_oracle(profile, role="faces"):
    """Completes exactly (looks the masked input up in the test sets; never sees the hole)."""
    import torch
    from inpainting.data.test_sets import fixed_test_set, semantic_test_set
    truth = {}
    for ts in (fixed_test_set(profile, role), semantic_test_set(profile, role)):
        for image, mask in zip(ts.images, ts.masks):
            truth[(image * (1 - mask)).numpy().tobytes() + mask.numpy().tobytes()] = image

    def oracle(images, masks):
        return torch.stack([truth[(i * (1 - m)).numpy().tobytes() + m.numpy().tobytes()]
                            for i, m in zip(images, masks)])
    return oracle
