"""The test sets every model is scored on, built once per profile: the fixed (image, mask) test set
of a dataset role, cached under ``results/<profile>/test_sets/`` so every model sees identical
inputs, and the semantic test set of a procedural role."""
from __future__ import annotations

import dataclasses
import json

from ..profiles import Profile
from ..disk import results_dir, sha256
from . import REAL_DATASETS, build_dataset
from .masks import FixedTestSet, make_test_set
from .semantic_holes import SEMANTIC_DATASETS, make_semantic_test_set


def fixed_test_set(profile: Profile, role: str = "faces"):
    """The fixed (image, mask) test set of a dataset role, built once from the profile's seeds and
    cached under ``results/<profile>/test_sets/`` so every model sees identical inputs.

    The cache is keyed by the configuration and, for data read from disk, by the files the test
    set is drawn from (their paths, sizes and the sha256 of their bytes:
    :meth:`~inpainting.data.files.FileDataset.fingerprint`; only the at most ``n_test`` files it
    holds are hashed): a test file added, removed, replaced or re-encoded gives a new test set,
    never the stale one."""
    cfg = getattr(profile, role)
    parts: list = [dataclasses.asdict(cfg), dataclasses.asdict(profile.masks)]
    dataset = None
    if cfg.name in REAL_DATASETS:
        dataset = build_dataset(cfg, "test")
        n = min(cfg.n_test or len(dataset), len(dataset))
        parts.append(dataset.fingerprint(content=True, n=n))
    key = sha256(json.dumps(parts, sort_keys=True, default=str))[:10]
    path = results_dir(profile.name, "test_sets") / f"{role}-{key}.pt"
    if path.exists():
        return FixedTestSet.load(path)
    dataset = dataset if dataset is not None else build_dataset(cfg, "test")
    n = min(cfg.n_test or len(dataset), len(dataset))
    test_set = make_test_set(dataset, profile.masks, n, profile.masks.seed)
    test_set.save(path)
    return test_set


def semantic_test_set(profile: Profile, role: str = "faces", n: int | None = None):
    """The semantic test set (one eye hidden on faces, a block of windows on facades) of a
    procedural dataset role, or ``None`` for datasets without generating attributes."""
    cfg = getattr(profile, role)
    if cfg.name not in SEMANTIC_DATASETS:
        return None
    dataset = build_dataset(cfg, "test")
    return make_semantic_test_set(dataset, min(n or cfg.n_test or len(dataset), len(dataset)),
                                  profile.masks.seed)
