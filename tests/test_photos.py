"""inpainting.data.photos: offline loading, the split by source photo, shapes, determinism."""
from __future__ import annotations

import socket

import numpy as np
import pytest
import torch

from inpainting.data import photos
from inpainting.data.photos import TEST_PHOTOS, TRAIN_PHOTOS, PhotoDataset, load_photo


def test_every_photo_loads_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network access attempted")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    load_photo.cache_clear()
    for name in TRAIN_PHOTOS + TEST_PHOTOS:
        img = load_photo(name)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert min(img.shape[:2]) >= 256 and img.std() > 10


def test_split_is_by_source_photo():
    assert set(TRAIN_PHOTOS).isdisjoint(TEST_PHOTOS) and len(TEST_PHOTOS) == 2
    train, test = PhotoDataset(32, "train"), PhotoDataset(32, "test")
    assert {c[0] for c in train.crops} == set(TRAIN_PHOTOS)
    assert {c[0] for c in test.crops} == set(TEST_PHOTOS)
    assert len(test) == 70 and len(train) == 292
    assert len(PhotoDataset(128, "test")) == len(test)  # same crops at every size
    assert "test split" in test.description and test.name == "photos"


@pytest.mark.parametrize("size", [32, 64])
def test_views_shape_range_and_determinism(size):
    ds = PhotoDataset(size, "test")
    for i in (0, len(ds) // 2, len(ds) - 1):
        x = ds[i]
        assert x.shape == (3, size, size) and x.dtype == torch.float32
        assert -1 <= x.min() and x.max() <= 1 and x.std() > 0.01
        assert torch.equal(x, PhotoDataset(size, "test")[i])
    assert ds.attributes(0) == {}


def test_train_sample_is_random_but_reproducible():
    ds = PhotoDataset(32, "train")
    a = ds.train_sample(5, np.random.default_rng(7))
    b = ds.train_sample(5, np.random.default_rng(7))
    c = ds.train_sample(5, np.random.default_rng(8))
    assert a.shape == (3, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    assert -1 <= a.min() and a.max() <= 1


def test_unknown_photo_and_split():
    with pytest.raises(ValueError, match="valid"):
        load_photo("lena")
    with pytest.raises(ValueError, match="split"):
        PhotoDataset(32, "val")
    assert photos.CROP_SCALES[0] == 1.0
