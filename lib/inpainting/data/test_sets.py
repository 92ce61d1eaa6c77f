"""The test sets every model is scored on, built once per profile: the fixed (image, mask) test set
of a dataset role, cached under ``results/<profile>/test_sets/`` so every model sees identical
inputs, and the semantic test set of a procedural role."""
from __future__ import annotations

import dataclasses
import hashlib
import json

from ..profiles import Profile
from ..runtime import results_dir
from . import build_dataset
from .masks import FixedTestSet, make_test_set
from .semantic_holes import SEMANTIC_DATASETS, make_semantic_test_set


def fixed_test_set(profile: Profile, role: str = "faces"):
    """The fixed (image, mask) test set of a dataset role, built once from the profile's seeds and
    cached under ``results/<profile>/test_sets/`` so every model sees identical inputs."""
    cfg = getattr(profile, role)
    key = hashlib.sha256(json.dumps([dataclasses.asdict(cfg), dataclasses.asdict(profile.masks)],
                                    sort_keys=True, default=str).encode()).hexdigest()[:10]
    path = results_dir(profile.name, "test_sets") / f"{role}-{key}.pt"
    if path.exists():
        return FixedTestSet.load(path)
    dataset = build_dataset(cfg, "test")
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
