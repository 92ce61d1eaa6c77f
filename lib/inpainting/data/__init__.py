"""Data: the datasets, the masks and the test sets every model is scored on (fixed and semantic holes).

:func:`build_dataset` turns a :class:`~inpainting.profiles.DataConfig` into a dataset that follows
the contract of ``docs/CONVENTIONS.md``.

The built-in sets (``procedural``, ``photos``) are imported lazily, so the real-data loaders and the
masks work on their own; ``from inpainting.data import FaceDataset`` (or ``FacadeDataset``,
``PhotoDataset``) works through the module ``__getattr__`` (they are not in ``__all__``).
"""
from __future__ import annotations

from torch.utils.data import Dataset

from ..profiles import DATASETS, DataConfig
from .images import ImageReadError, decode_rgb, load_rgb, to_model_tensor
from .masks import FixedTestSet, hole_bbox, make_mask, make_test_set, sample_masks, validate_mask
from .real import (CelebA, DatasetNotFoundError, ImageFolder, ParisStreetView, VerifyReport,
                   default_root)

__all__ = ["build_dataset", "CelebA", "ParisStreetView", "ImageFolder", "DatasetNotFoundError",
           "VerifyReport", "ImageReadError", "load_rgb", "decode_rgb", "to_model_tensor",
           "make_mask", "sample_masks", "hole_bbox", "validate_mask", "FixedTestSet",
           "make_test_set"]

REAL_DATASETS = ("celeba", "paris", "folder")   # read from disk: they have a fingerprint()

_LAZY = {"FaceDataset": "procedural", "FacadeDataset": "procedural", "PhotoDataset": "photos"}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_dataset(cfg: DataConfig, split: str) -> Dataset:
    """The dataset ``cfg`` describes, for ``split`` ``"train"`` or ``"test"``.

    ``faces`` / ``facades``: procedural, ``n = cfg.n_train`` or ``cfg.n_test`` images generated from
    ``cfg.seed``. ``photos``: the fixed ``skimage.data`` set (``n_*`` not used). ``celeba`` /
    ``paris``: read from ``cfg.root`` (``None``: ``$INPAINTING_DATA/celeba`` or ``.../paris``,
    ``INPAINTING_DATA`` defaulting to ``./data``), ``n_*`` caps the split (``None`` = all);
    ``celeba`` uses ``cfg.celeba_split`` as protocol. ``folder``: any image folder at ``cfg.root``
    (required), split with ``cfg.seed``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split={split!r}; valid splits: train, test")
    n = cfg.n_train if split == "train" else cfg.n_test
    if cfg.name in ("faces", "facades"):
        if n is None:
            raise ValueError(f"dataset {cfg.name!r} is generated: set n_{split} to a number of images")
        from .procedural import FacadeDataset, FaceDataset
        cls = FaceDataset if cfg.name == "faces" else FacadeDataset
        return cls(n, cfg.image_size, cfg.seed, split)
    if cfg.name == "photos":
        from .photos import PhotoDataset
        return PhotoDataset(cfg.image_size, split)
    if cfg.name == "celeba":
        return CelebA(cfg.root or default_root("celeba"), split, cfg.image_size,
                      protocol=cfg.celeba_split, n=n)
    if cfg.name == "paris":
        return ParisStreetView(cfg.root or default_root("paris"), split, cfg.image_size, n=n)
    if cfg.name == "folder":
        if cfg.root is None:
            raise ValueError("dataset 'folder' needs DataConfig.root: the path of a folder of images "
                             "(override e.g. {'faces.root': '/path/to/images'})")
        return ImageFolder(cfg.root, split, cfg.image_size, n=n, seed=cfg.seed)
    raise ValueError(f"unknown dataset {cfg.name!r}; valid datasets: {', '.join(DATASETS)}")
