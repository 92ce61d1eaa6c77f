"""inpainting.data.images: every documented odd-file behaviour, tensors, crop and resize helpers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from fixtures import make_odd_images, noise_image
from inpainting.data.images import (ImageReadError, centre_crop, crop, decode_rgb, hflip, load_rgb,
                                    resize, resize_short_side, to_model_tensor)


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    return make_odd_images(tmp_path_factory.mktemp("odd"))


@pytest.fixture(scope="module")
def reference(odd):
    """The RGB pixels every fixture was derived from (lossless copy via the palette-free PNG)."""
    return np.asarray(Image.open(odd["rgba"]).convert("RGB"))


def test_rgb_jpeg_loads_unchanged(odd):
    image, conversion = decode_rgb(odd["rgb"])
    assert image.shape == (40, 48, 3) and image.dtype == np.uint8 and conversion is None


def test_grayscale_replicated_to_rgb(odd, reference):
    image, conversion = decode_rgb(odd["gray"])
    assert "grayscale" in conversion
    for c in range(3):
        np.testing.assert_array_equal(image[:, :, c], reference[:, :, 0])


def test_rgba_composited_on_white(odd, reference):
    image, conversion = decode_rgb(odd["rgba"])
    assert "white" in conversion
    assert (image[:, :24] == 255).all()                          # alpha 0 -> white
    np.testing.assert_array_equal(image[:, 24:], reference[:, 24:])  # alpha 255 -> unchanged


def test_half_transparent_pixel_blends_with_white(tmp_path):
    path = tmp_path / "half.png"
    Image.fromarray(np.array([[[0, 100, 200, 128]]], np.uint8)).save(path)
    expected = np.round(np.array([0, 100, 200]) * 128 / 255 + 255 * (1 - 128 / 255))
    np.testing.assert_allclose(load_rgb(path)[0, 0], expected, atol=1)


def test_la_transparent_is_white(odd):
    assert (load_rgb(odd["la"]) == 255).all()


def test_sixteen_bit_scaled_not_clipped(odd):
    image, conversion = decode_rgb(odd["gray16"])
    ramp = np.linspace(0, 65535, 40 * 48).round().reshape(40, 48)
    np.testing.assert_array_equal(image[:, :, 0], np.round(ramp * 255 / 65535).astype(np.uint8))
    assert image.min() == 0 and image.max() == 255 and "I;16" in conversion
    assert len(np.unique(image)) > 200            # the whole range, not saturated at 255
    assert (image[:, :, 0] == image[:, :, 2]).all()


def test_palette_expanded(odd):
    expected = np.asarray(Image.open(odd["palette"]).convert("RGB"))
    image, conversion = decode_rgb(odd["palette"])
    np.testing.assert_array_equal(image, expected)
    assert conversion == "P -> RGB"


def test_palette_transparency_is_white(odd):
    palette = Image.open(odd["palette_alpha"])
    transparent = np.asarray(palette) == 0
    image, conversion = decode_rgb(odd["palette_alpha"])
    assert transparent.any() and (image[transparent] == 255).all() and "white" in conversion


def test_cmyk_converted(odd, reference):
    image, conversion = decode_rgb(odd["cmyk"])
    assert conversion == "CMYK -> RGB"
    np.testing.assert_array_equal(image, reference)
    jpeg = load_rgb(odd["cmyk_jpeg"])
    assert np.abs(jpeg.astype(int) - image.astype(int)).mean() < 4


@pytest.mark.parametrize("kind", ["empty", "truncated", "not_image"])
def test_unreadable_files_raise_image_read_error(odd, kind):
    with pytest.raises(ImageReadError) as info:
        load_rgb(odd[kind])
    message = str(info.value)
    assert str(odd[kind]) in message and info.value.path == str(odd[kind])
    assert "corrupt or unreadable" in message and "remove it or download it again" in message
    assert isinstance(info.value, ValueError)


def test_empty_file_message(odd):
    with pytest.raises(ImageReadError, match="empty file"):
        load_rgb(odd["empty"])


def test_truncated_raises_even_if_pillow_told_to_accept_it(odd, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ImageReadError, match="truncated"):
        load_rgb(odd["truncated"])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True        # the caller's setting is restored


def test_error_rebuilt_from_message_only():
    """A DataLoader worker re-creates the exception as ``type(message)``."""
    assert str(ImageReadError("x.jpg: corrupt")) == "x.jpg: corrupt"


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_rgb(tmp_path / "nope.jpg")


def test_exif_orientation_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6                                    # "rotate 90 CW to display"
    Image.fromarray(noise_image(np.random.default_rng(0), 20, 30)).save(path, exif=exif)
    assert load_rgb(path).shape == (30, 20, 3)


def test_unsupported_mode_raises(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.ones((4, 4), np.float32)).save(path)
    with pytest.raises(ImageReadError, match="unsupported pixel mode 'F'"):
        load_rgb(path)


def test_to_model_tensor_range_and_layout():
    image = np.zeros((4, 6, 3), np.uint8)
    image[0, 0] = (0, 128, 255)
    tensor = to_model_tensor(image)
    assert tensor.shape == (3, 4, 6) and tensor.dtype == torch.float32
    assert tensor[:, 0, 0].tolist() == pytest.approx([-1.0, 128 / 127.5 - 1, 1.0], abs=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        to_model_tensor(image.astype(np.float32))


def test_resize_is_antialiased():
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::2] = 255                               # 1-px stripes alias badly without a filter
    small = resize(stripes, 16, 16).astype(float)
    assert small.shape == (16, 16, 3) and np.abs(small - 127.5).max() < 10


def test_resize_short_side_and_crops():
    image = noise_image(np.random.default_rng(1), 200, 300)
    assert resize_short_side(image, 350).shape == (350, 525, 3)
    assert resize_short_side(image, 129).shape == (129, 194, 3)
    np.testing.assert_array_equal(centre_crop(image, 100, 100), image[50:150, 100:200])
    np.testing.assert_array_equal(crop(image, 1, 2, 3, 4), image[1:4, 2:6])
    np.testing.assert_array_equal(hflip(image)[:, 0], image[:, -1])
    with pytest.raises(ValueError, match="outside"):
        crop(image, 150, 0, 100, 100)


def test_path_recovered_from_a_worker_traceback_and_pickle():
    """A DataLoader worker re-raises ``ImageReadError(formatted traceback)``: ``path`` survives."""
    import pickle
    text = ("Caught ImageReadError in DataLoader worker process 0.\nOriginal Traceback (most recent "
            "call last):\n  File \"x.py\", line 1, in f\ninpainting.data.images.ImageReadError: "
            "/data/a: b/x.jpg: the file is corrupt or unreadable; remove it (OSError: y)\n")
    assert ImageReadError(text).path == "/data/a: b/x.jpg"
    assert ImageReadError("/d/e.jpg: empty file (0 bytes); remove it").path == "/d/e.jpg"
    assert ImageReadError("no path in this message").path is None
    err = pickle.loads(pickle.dumps(ImageReadError("msg", "/p.jpg")))
    assert (str(err), err.path) == ("msg", "/p.jpg")
