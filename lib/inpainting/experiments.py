"""The paper's experiments as named variants, and the training runs behind them.

A *variant* is a dict of profile overrides (``inpainting.profiles``). The notebooks train variants
through :func:`train_variants` (every training seed) or :func:`train_variant` (one seed). Each run
has one identity (:mod:`inpainting.training.runs`) and one folder under ``results/<profile>/runs/<role>/``,
so a run shared by two notebooks (the full model is both the last ablation row and the relu3_1 row of
the perceptual-level sweep) is trained once, an interrupted run resumes where it stopped, and a
changed experiment (other steps, another warm start) is a new run, never an old one returned.

Protocol [INFERRED, this kit's choice]: the kit's generators start from one shared
*reconstruction warm start* (``steps_g`` steps of L_rec only, as GLCIC's first stage), then every
variant trains ``steps_d`` discriminator-only and ``steps_joint`` joint steps with its own losses.
All variants thus see the same data, masks, seed and number of updates, and differ only in the
losses of the final stage. The baselines (GLCIC, Context Encoder) have their own architectures, so
they run the same three-stage schedule from scratch with the same step counts.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .profile_rules import generator_update_steps
from .profiles import VGG_LAYERS, Profile, with_overrides
from .training.runs import (GENERATOR_FILE, IDENTITY_FILE, RunSpec, is_finished, read_json, run_folder,
                            run_key, runs_folder)

ABLATION_VARIANTS: dict[str, dict] = {  # docs/method.md §5.4 rows (a)-(d)
    "L_rec": {"loss.w_adv": 0.0, "loss.w_per": 0.0},
    "L_rec + L_adv": {"loss.w_per": 0.0},
    "L_rec + L_per": {"loss.w_adv": 0.0},
    "L_rec + L_adv + L_per (full)": {},
}

RANDOM_FEATURES = "random features"
PERCEPTUAL_LEVEL_VARIANTS: dict[str, dict] = {  # docs/method.md §5.4 row (e), T4: all with L_adv
    **{layer: {"loss.per_layers": (layer,)} for layer in VGG_LAYERS},
    "relu1_1..relu5_1 (equal weights)": {"loss.per_layers": VGG_LAYERS},
    # the full model with a seeded random VGG of the same network: what pretraining adds
    RANDOM_FEATURES: {"loss.per_weights": "random"},
}

GLCIC = "GLCIC"
# The Context Encoder's own training fills the centre minus a 4-px band and weights that band 10x in
# its loss; under the kit's protocol every method sees the same hole, so the kit's CE fills the whole
# hole without the band [INFERRED], and its row says so.
CONTEXT_ENCODER = "Context Encoder (no 4-px overlap band)"
BASELINE_VARIANTS: dict[str, dict] = {  # docs/method.md §8.4, re-trained under the kit's protocol
    GLCIC: {"model.generator": "glcic", "loss.w_per": 0.0, "loss.w_adv": 4e-4},
    CONTEXT_ENCODER: {"model.generator": "context_encoder", "loss.w_per": 0.0,
                      "loss.w_rec": 0.999, "loss.w_adv": 0.001,
                      "masks.train_kinds": ("centre",), "masks.train_probs": (1.0,)},
}

FULL_MODEL = "L_rec + L_adv + L_per (full)"
WARM_STARTED = ("lite", "wide")

# The rows of notebook 06: every faces model of 04 and 05 (relu3_1 is the full model) and the baselines.
PER_LEVEL_PREFIX = "per@"
FACES_ALL_VARIANTS: dict[str, dict] = {
    **ABLATION_VARIANTS,
    **{PER_LEVEL_PREFIX + k: v for k, v in PERCEPTUAL_LEVEL_VARIANTS.items() if k != "relu3_1"},
    **BASELINE_VARIANTS,
}
FACADES_VARIANTS: dict[str, dict] = {FULL_MODEL: ABLATION_VARIANTS[FULL_MODEL], **BASELINE_VARIANTS}

# Which variants each notebook trains, per dataset role (one source for the notebooks and for
# ``python -m inpainting.train --list``).
NOTEBOOK_VARIANTS: dict[str, list[tuple[str, dict[str, dict]]]] = {
    "03_training": [("faces", {FULL_MODEL: ABLATION_VARIANTS[FULL_MODEL]})],
    "04_loss_ablation": [("faces", ABLATION_VARIANTS)],
    "05_perceptual_levels": [("faces", PERCEPTUAL_LEVEL_VARIANTS)],
    "06_evaluation": [("faces", FACES_ALL_VARIANTS), ("facades", FACADES_VARIANTS)],
    "07_interactive_demo": [],   # shows the runs it finds; trains only a quick tiny run on request
}


def level_row(profile: Profile, layer: str) -> str:
    """The row of notebook 06 (:data:`FACES_ALL_VARIANTS`) that trains the perceptual level
    ``layer``: the full model when ``layer`` is the profile's own layer, else ``per@<layer>``."""
    return FULL_MODEL if tuple(profile.loss.per_layers) == (layer,) else PER_LEVEL_PREFIX + layer


def warm_start_profile(profile: Profile) -> Profile:
    """Stage G only, reconstruction loss only: the run every variant of one generator starts from."""
    return with_overrides(profile, {"loss.w_adv": 0.0, "loss.w_per": 0.0, "train.steps_d": 0,
                                    "train.steps_joint": 0})


def seeds(profile: Profile) -> list[int]:
    """The training seeds of every table row: ``train.seed + k`` for ``k < experiments.seeds``."""
    return [profile.train.seed + k for k in range(profile.experiments.seeds)]


def variant_spec(profile: Profile, overrides: Mapping, role: str = "faces",
                 seed: int | None = None) -> RunSpec:
    """The run of one variant: ``profile`` + ``overrides`` (+ ``train.seed = seed``); for the
    kit's own generators it starts from the shared reconstruction warm start of the same seed (its
    ``init``) and has no stage-G steps of its own."""
    effective = with_overrides(profile, {**overrides, **({} if seed is None else {"train.seed": seed})})
    if effective.model.generator in WARM_STARTED and effective.train.steps_g > 0:
        warm = RunSpec(warm_start_profile(effective), role)
        after = dataclasses.replace(effective, train=dataclasses.replace(effective.train, steps_g=0))
        if not any(generator_update_steps(after).values()):
            return warm   # nothing after the warm start changes G: the variant is the warm start
        return RunSpec(with_overrides(effective, {"train.steps_g": 0}), role, init=warm)
    return RunSpec(effective, role)


def train_spec(spec: RunSpec, progress: bool | str = "auto"):
    """Train (or reuse / resume) the run ``spec`` and, first, the warm start it starts from (not
    for a finished run, which reuses without it: a committed reference run copied into the cache
    trains nothing, :func:`inpainting.teaching.book.seed_run_cache`). The
    perceptual weights are made available first (downloaded or converted,
    :func:`inpainting.models.perceptual_weights.fetch_weights`; missing ones stop here with the
    fix)."""
    from .models.perceptual_weights import fetch_weights
    from .training import Trainer
    if spec.profile.loss.w_per > 0:
        fetch_weights(spec.profile.loss.per_network, spec.profile.loss.per_weights)
    if spec.init is not None and not is_finished(run_folder(spec)):
        train_spec(spec.init, progress)
    return Trainer(spec, progress=progress).fit()


def train_warm_start(profile: Profile, role: str = "faces", seed: int | None = None):
    """Train (or reuse) the shared reconstruction warm start of ``profile``'s generator."""
    spec = variant_spec(profile, {}, role, seed)
    return train_spec(spec.init if spec.init is not None else spec)


def train_variant(profile: Profile, overrides: Mapping, role: str = "faces", seed: int | None = None):
    """Train (or reuse / resume) one variant with one seed (default ``train.seed``); returns its
    :class:`~inpainting.training.TrainResult`."""
    return train_spec(variant_spec(profile, overrides, role, seed))


def variants_for(profile: Profile, variants: Mapping[str, Mapping], role: str) -> dict:
    """The ``variants`` a profile trains on ``role``: of the baselines only those in
    ``experiments.<role>_baselines`` (faces, facades; all on other roles), of the perceptual-level
    rows only those in ``experiments.perceptual_levels`` (a VGG level, ``"all"`` for several,
    ``"random"`` for the random-features row)."""
    baselines = getattr(profile.experiments, f"{role}_baselines", None)
    levels = profile.experiments.perceptual_levels

    def kept(name: str, overrides: Mapping) -> bool:
        if name in BASELINE_VARIANTS and baselines is not None:
            return BASELINE_VARIANTS[name]["model.generator"] in baselines
        if overrides.get("loss.per_weights") == "random":
            return "random" in levels
        layers = tuple(overrides.get("loss.per_layers", ()))
        if not layers:
            return True
        return (layers[0] if len(layers) == 1 else "all") in levels
    return {name: overrides for name, overrides in variants.items() if kept(name, overrides)}


def train_variants(profile: Profile, variants: Mapping[str, Mapping], role: str = "faces") -> dict:
    """Every variant the profile trains on ``role`` (:func:`variants_for`) with every training seed
    (:func:`seeds`): ``{name: [TrainResult, ...]}``."""
    return {name: [train_variant(profile, overrides, role, seed) for seed in seeds(profile)]
            for name, overrides in variants_for(profile, variants, role).items()}


def needed_runs(profile: Profile, notebooks: Sequence[str] | None = None) -> list[RunSpec]:
    """Every run the notebooks (default: all) train for ``profile``, each once, warm starts first."""
    specs: dict[str, RunSpec] = {}
    for notebook in notebooks or NOTEBOOK_VARIANTS:
        for role, variants in NOTEBOOK_VARIANTS[notebook]:
            for overrides in variants_for(profile, variants, role).values():
                for seed in seeds(profile):
                    spec = variant_spec(profile, overrides, role, seed)
                    specs.setdefault(run_key(spec), spec)
    warm = {run_key(s.init): s.init for s in specs.values() if s.init is not None}
    return list(warm.values()) + [s for k, s in specs.items() if k not in warm]


# ------------------------------------------------------------------------------ finished runs
@dataclass
class FoundModel:
    """One finished training run: its label, the role it was trained on, its folder."""

    name: str
    role: str                      # the role it was trained on
    run_dir: Path
    result: Any = None             # its TrainResult (inpainting.training), read from the run folder
    _model: Any = field(default=None, repr=False)

    @property
    def generator_path(self) -> Path:
        return self.run_dir / GENERATOR_FILE

    def model(self):
        """The :class:`~inpainting.models.Inpainter`, loaded on first use."""
        if self._model is None:
            from .models import load_inpainter
            self._model = load_inpainter(self.generator_path)
        return self._model


def known_runs(profile: Profile, role: str,
               extra: Sequence[tuple[str, RunSpec]] = ()) -> list[tuple[str, RunSpec]]:
    """(name, RunSpec) of the runs the notebooks train for ``role`` (first seed, their table
    names), then ``extra``, then the warm starts they start from."""
    named: list[tuple[str, RunSpec]] = []
    for entries in NOTEBOOK_VARIANTS.values():
        for variant_role, variants in entries:
            if variant_role == role:
                named += [(name, variant_spec(profile, overrides, role))
                          for name, overrides in variants.items()]
    named += list(extra)
    warm = [(f"warm start of {spec.profile.model.generator} (L_rec only, stage G)", spec.init)
            for _, spec in named if spec.init is not None]
    return named + warm


def describe_run(identity: dict, folder: Path) -> str:
    """A label for a finished run the notebooks do not name, from its stored identity."""
    prof = identity.get("profile", {})
    model, loss, train = prof.get("model", {}), prof.get("loss", {}), prof.get("train", {})
    terms = ["L_rec"]
    if loss.get("w_adv", 0):
        terms.append("L_adv")
    if loss.get("w_per", 0):
        terms.append(f"L_per@{'+'.join(loss.get('per_layers') or [])}")
    steps = "/".join(str(train.get(k, 0)) for k in ("steps_g", "steps_d", "steps_joint"))
    return f"{model.get('generator', '?')}: {' + '.join(terms)}, steps {steps} ({folder.name})"


def find_runs(profile: Profile, role: str,
              extra: Sequence[tuple[str, RunSpec]] = ()) -> list[FoundModel]:
    """Every finished training run of ``profile`` on ``role``, each once: the notebooks' variants
    first (their table names), then ``extra`` (name, RunSpec), the warm starts and any other
    finished run in ``results/<profile>/runs/<role>/`` (labelled by :func:`describe_run`). Nothing
    is trained or loaded."""
    from .training.records import read_result
    runs_root = runs_folder(profile, role)
    found: dict[Path, FoundModel] = {}
    for name, spec in known_runs(profile, role, extra):
        folder = run_folder(spec)
        if folder not in found and is_finished(folder):
            found[folder] = FoundModel(name, role, folder)
    for folder in sorted(p for p in runs_root.iterdir() if p.is_dir()):
        if folder not in found and is_finished(folder):
            identity = read_json(folder / IDENTITY_FILE) or {}
            found[folder] = FoundModel(describe_run(identity, folder), role, folder)
    models = list(found.values())
    for m in models:
        m.result = read_result(m.run_dir, m.generator_path)
    return models


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
