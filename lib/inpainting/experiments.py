"""The paper's experiments as named variants, and the training runs behind them.

A *variant* is a dict of profile overrides (``inpainting.profiles``). The notebooks train variants
through :func:`train_variant`, which keeps one run folder per distinct configuration under
``results/<profile>/runs/<role>/``, so a run shared by two notebooks (the full model is both the last
ablation row and the relu3_1 row of the perceptual-level sweep) is trained once, and an interrupted
run resumes where it stopped.

Protocol [INFERRED, this kit's choice]: the kit's generators start from one shared
*reconstruction warm start* (``steps_g`` steps of L_rec only, as GLCIC's first stage), then every
variant trains ``steps_d`` discriminator-only and ``steps_joint`` joint steps with its own losses.
All variants thus see the same data, masks, seed and number of updates, and differ only in the
losses of the final stage. The baselines (GLCIC, Context Encoder) have their own architectures, so
they run the same three-stage schedule from scratch with the same step counts.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Mapping

from .profiles import VGG_LAYERS, Profile, with_overrides
from .runtime import results_dir

ABLATION_VARIANTS: dict[str, dict] = {  # docs/method.md §5.4 rows (a)-(d)
    "L_rec": {"loss.w_adv": 0.0, "loss.w_per": 0.0},
    "L_rec + L_adv": {"loss.w_per": 0.0},
    "L_rec + L_per": {"loss.w_adv": 0.0},
    "L_rec + L_adv + L_per (full)": {},
}

PERCEPTUAL_LEVEL_VARIANTS: dict[str, dict] = {  # docs/method.md §5.4 row (e), T4: all with L_adv
    **{layer: {"loss.per_layers": (layer,)} for layer in VGG_LAYERS},
    "relu1_1..relu5_1 (equal weights)": {"loss.per_layers": VGG_LAYERS},
}

BASELINE_VARIANTS: dict[str, dict] = {  # docs/method.md §8.4, re-trained under the kit's protocol
    "GLCIC": {"model.generator": "glcic", "loss.w_per": 0.0, "loss.w_adv": 4e-4},
    "Context Encoder": {"model.generator": "context_encoder", "loss.w_per": 0.0,
                        "loss.w_rec": 0.999, "loss.w_adv": 0.001,
                        "masks.train_kinds": ("centre",), "masks.train_probs": (1.0,)},
}

FULL_MODEL = "L_rec + L_adv + L_per (full)"
WARM_STARTED = ("lite", "wide")


def run_key(profile: Profile) -> str:
    """A short hash of everything in ``profile`` that changes what training computes (all but the
    trainer's ``NEUTRAL_FIELDS``, which may also differ when a run is resumed)."""
    from .training import NEUTRAL_FIELDS
    config = dataclasses.asdict(profile)
    for field in NEUTRAL_FIELDS:
        *parents, leaf = field.split(".")
        section = config
        for parent in parents:
            section = section[parent]
        section.pop(leaf)
    blob = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def variant_profile(profile: Profile, overrides: Mapping, role: str = "faces") -> Profile:
    """The effective profile of a variant: ``profile`` + ``overrides``; for the kit's own generators,
    also the shared warm start (trained on demand) as initialisation and no stage-G steps."""
    effective = with_overrides(profile, overrides)
    if effective.model.generator in WARM_STARTED and effective.train.steps_g > 0:
        warm = train_warm_start(effective, role)
        effective = with_overrides(effective, {"train.steps_g": 0,
                                               "train.init_generator": str(warm.generator_path)})
    return effective


def warm_start_profile(profile: Profile) -> Profile:
    """Stage G only, reconstruction loss only: the run every variant of one generator starts from."""
    return with_overrides(profile, {"loss.w_adv": 0.0, "loss.w_per": 0.0, "train.steps_d": 0,
                                    "train.steps_joint": 0, "model.adversarial": "bce",
                                    "loss.per_layers": ("relu3_1",), "loss.per_layer_weights": None})


def run_dir(profile: Profile, role: str) -> Path:
    return results_dir(profile.name, "runs", role, f"{profile.model.generator}-{run_key(profile)}")


def train_warm_start(profile: Profile, role: str = "faces"):
    """Train (or reuse) the shared reconstruction warm start of ``profile``'s generator."""
    from .training import Trainer
    warm = warm_start_profile(profile)
    return Trainer(warm, role, run_dir(warm, role)).fit()


def train_variant(profile: Profile, overrides: Mapping, role: str = "faces"):
    """Train (or reuse / resume) one variant; returns the trainer's ``TrainResult``."""
    from .training import Trainer
    effective = variant_profile(profile, overrides, role)
    return Trainer(effective, role, run_dir(effective, role)).fit()


def fixed_test_set(profile: Profile, role: str = "faces"):
    """The fixed (image, mask) test set of a dataset role, built once from the profile's seeds and
    cached under ``results/<profile>/test_sets/`` so every model sees identical inputs."""
    from .data import build_dataset
    from .data.masks import FixedTestSet, make_test_set
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
    from .data import build_dataset
    from .semantic import make_semantic_test_set
    cfg = getattr(profile, role)
    if cfg.name not in ("faces", "facades"):
        return None
    dataset = build_dataset(cfg, "test")
    return make_semantic_test_set(dataset, min(n or cfg.n_test or len(dataset), len(dataset)),
                                  profile.masks.seed)


LITERATURE_CE_PARIS = {  # docs/method.md §8.2 [BASELINE-SRC]; convention not verified
    "method": "Context Encoder — Pathak et al. 2016, Table 1 (literature, not this kit's run)",
    "kind": "centre", "l1_hole_pct": 9.37, "l2_hole_pct": 1.96,
    "literature PSNR (dB, region convention unverified)": 18.58,
}


def literature_rows(profile: Profile):
    """The one literature figure known to the kit, only when the facades role is the real
    Paris StreetView (it must never appear beside other data)."""
    import pandas as pd
    if profile.facades.name != "paris":
        return pd.DataFrame()
    return pd.DataFrame([LITERATURE_CE_PARIS])


def perceptual_caveat(runs) -> str:
    """A short label of the perceptual weights behind a set of ``TrainResult`` s, for figure titles
    and table notes: an offline fallback is always named, never hidden."""
    runs = list(runs)
    if any(r.is_perceptual_fallback for r in runs):
        return "perceptual VGG: RANDOM weights (offline fallback, see run.json)"
    sources = sorted({r.perceptual_weights_source.split(" ")[0] for r in runs
                      if r.perceptual_weights_source})
    return f"perceptual VGG: {', '.join(sources)} weights" if sources else "no perceptual loss"
