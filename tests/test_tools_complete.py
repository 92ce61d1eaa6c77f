"""python -m inpainting.tools.complete (issue 19, item 1): own images and masks of any size, matched by
file name, known pixels bit-identical, and every bad input a usage error (exit 2) naming it."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from inpainting.experiments import ABLATION_VARIANTS, train_variant
from inpainting.profiles import get_profile
from inpainting.tools import complete as tool


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One trained smoke run (L_rec: no discriminator, no VGG) shared by this module's tests."""
    mp = pytest.MonkeyPatch()
    mp.setenv("INPAINTING_RESULTS", str(tmp_path_factory.mktemp("results")))
    mp.setenv("INPAINTING_OFFLINE", "1")
    result = train_variant(get_profile("smoke"), ABLATION_VARIANTS["L_rec"])
    yield result
    mp.undo()


def _image(path, h, w, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def _mask(path, h, w, box=None, value=255, background=0):
    top, left, bottom, right = box or (h // 4, w // 4, 3 * h // 4, 3 * w // 4)
    grey = np.full((h, w), background, np.uint8)
    grey[top:bottom, left:right] = value
    Image.fromarray(grey).save(path)
    return grey


def _folders(tmp_path, sizes):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    truth = {}
    for k, (h, w) in enumerate(sizes):
        truth[f"im{k}"] = (_image(images / f"im{k}.{'jpg' if k == 0 else 'png'}", h, w, k),
                           _mask(masks / f"im{k}.png", h, w))
    return images, masks, truth


def _usage_error(capsys, argv):
    with pytest.raises(SystemExit) as info:
        tool.main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


def test_folders_of_any_size_known_pixels_bit_identical(run, tmp_path):
    sizes = [(32, 32), (30, 37), (45, 33), (32, 32)]   # not multiples of 4: padded, cropped back
    images, masks, truth = _folders(tmp_path, sizes)
    out = tmp_path / "out"
    for pad in ("reflect", "zero"):
        target = out / pad
        assert tool.main(["--model", str(run.out_dir), "--images", str(images), "--masks",
                          str(masks), "--out", str(target), "--pad", pad, "--batch-size", "2"]) == 0
        for stem, (_, hole) in truth.items():
            done = np.asarray(Image.open(target / f"{stem}.png"))
            source = images / (f"{stem}.jpg" if stem == "im0" else f"{stem}.png")
            original = np.asarray(Image.open(source).convert("RGB"))
            assert done.shape == original.shape and done.dtype == np.uint8
            known = hole == 0
            assert np.array_equal(done[known], original[known]), "known pixels bit-identical"
            assert not np.array_equal(done[~known], original[~known]), "the hole was filled"


def test_single_files_and_hole_black(run, tmp_path):
    pixels = _image(tmp_path / "a.png", 32, 32)
    _mask(tmp_path / "m.png", 32, 32, value=0, background=255)   # black hole
    out = tmp_path / "out"
    assert tool.main(["--model", str(run.generator_path), "--images", str(tmp_path / "a.png"),
                      "--masks", str(tmp_path / "m.png"), "--out", str(out), "--hole-black"]) == 0
    done = np.asarray(Image.open(out / "a.png"))
    assert np.array_equal(done[:8], pixels[:8]) and not np.array_equal(done[8:24, 8:24],
                                                                       pixels[8:24, 8:24])


def test_command_line_help_and_forwarder():
    proc = subprocess.run([sys.executable, "-m", "inpainting.tools.complete", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--hole-black" in proc.stdout and "white" in proc.stdout


def test_missing_and_extra_masks_are_named(run, tmp_path, capsys):
    images, masks, _ = _folders(tmp_path, [(32, 32), (32, 32), (32, 32)])
    base = ["--model", str(run.out_dir), "--images", str(images), "--masks", str(masks),
            "--out", str(tmp_path / "out")]
    (masks / "im1.png").unlink()
    assert "no mask for image(s) im1.png" in _usage_error(capsys, base)
    _mask(masks / "im1.png", 32, 32)
    _mask(masks / "stray.png", 32, 32)
    assert "stray.png match no image" in _usage_error(capsys, base)
    assert not (tmp_path / "out").exists(), "nothing was written"


@pytest.mark.parametrize("kind, message", [
    ("grey", "is not black and white"),
    ("colour", "colour pixels"),
    ("alpha", "transparency"),
    ("empty", "has no hole"),
    ("full", "all hole"),
    ("size", "must have its image's size"),
])
def test_bad_masks_are_usage_errors(run, tmp_path, capsys, kind, message):
    _image(tmp_path / "a.png", 32, 32)
    path = tmp_path / "m.png"
    if kind == "grey":   # a soft mask: a ramp of grey levels
        Image.fromarray(np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1))).save(path)
    elif kind == "colour":
        rgb = np.zeros((32, 32, 3), np.uint8)
        rgb[8:24, 8:24, 0] = 255
        Image.fromarray(rgb).save(path)
    elif kind == "alpha":
        Image.fromarray(np.zeros((32, 32, 4), np.uint8)).save(path)
    elif kind == "empty":
        _mask(path, 32, 32, value=0)
    elif kind == "full":
        _mask(path, 32, 32, background=255)
    else:
        _mask(path, 32, 40)
    err = _usage_error(capsys, ["--model", str(run.out_dir), "--images", str(tmp_path / "a.png"),
                                "--masks", str(path), "--out", str(tmp_path / "out")])
    assert message in err and "m.png" in err
    if kind == "empty":
        assert "--hole-black" in err, "the other convention is pointed to"


def test_a_few_antialiased_edge_pixels_are_thresholded(run, tmp_path):
    _image(tmp_path / "a.png", 32, 32)
    grey = _mask(tmp_path / "m.png", 32, 32)
    grey[8, 8:24] = 100     # 16 of 1024 pixels (1.6 %) grey: below the 5 % limit, thresholded
    grey[23, 8:24] = 200
    Image.fromarray(grey).save(tmp_path / "m.png")
    assert tool.main(["--model", str(run.out_dir), "--images", str(tmp_path / "a.png"), "--masks",
                      str(tmp_path / "m.png"), "--out", str(tmp_path / "out")]) == 0


def test_size_far_from_training_needs_the_flag(run, tmp_path, capsys):
    _image(tmp_path / "a.png", 96, 80)
    _mask(tmp_path / "m.png", 96, 80)
    base = ["--model", str(run.out_dir), "--images", str(tmp_path / "a.png"), "--masks",
            str(tmp_path / "m.png"), "--out", str(tmp_path / "out")]
    err = _usage_error(capsys, base)
    assert "80x96" in err and "32x32" in err and "--allow-size-mismatch" in err
    assert tool.main(base + ["--allow-size-mismatch"]) == 0
    assert np.asarray(Image.open(tmp_path / "out" / "a.png")).shape == (96, 80, 3)


def test_bad_model_output_and_batch_size(run, tmp_path, capsys):
    _image(tmp_path / "a.png", 32, 32)
    _mask(tmp_path / "m.png", 32, 32)
    rest = ["--images", str(tmp_path / "a.png"), "--masks", str(tmp_path / "m.png")]
    assert "does not exist" in _usage_error(capsys, ["--model", str(tmp_path / "nope.pt"), *rest,
                                                     "--out", str(tmp_path / "o")])
    (tmp_path / "run").mkdir()
    assert "has no generator.pt" in _usage_error(capsys, ["--model", str(tmp_path / "run"), *rest,
                                                          "--out", str(tmp_path / "o")])
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    assert "bad.pt" in _usage_error(capsys, ["--model", str(tmp_path / "bad.pt"), *rest,
                                             "--out", str(tmp_path / "o")])
    assert "--batch-size" in _usage_error(capsys, ["--model", str(run.out_dir), *rest, "--out",
                                                   str(tmp_path / "o"), "--batch-size", "0"])
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "a.png").write_bytes(b"x")
    assert "a.png exists and was not written by the kit" in _usage_error(capsys, ["--model", str(run.out_dir), *rest,
                                                          "--out", str(tmp_path / "o")])
    assert (tmp_path / "o" / "a.png").read_bytes() == b"x", "nothing overwritten"
