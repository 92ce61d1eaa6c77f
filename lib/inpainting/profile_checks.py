"""Profile validation: every field checked by type and range, one function per configuration class
(:func:`validate`), each message naming the field, the value and what is accepted (:class:`Checker`),
and the refusal of a schedule in which no step updates the generator
(:func:`check_trains_generator`, the rule of :mod:`inpainting.stages`)."""
from __future__ import annotations

import math
import re
from typing import Any

from .profiles import (BASELINE_GENERATORS, DATASETS, GENERATORS, MASK_KINDS, PER_WEIGHTS,
                       PER_WEIGHTS_FIX, PER_WEIGHTS_NETWORK, PERCEPTUAL_LEVELS, ROLES, VGG_LAYERS,
                       DataConfig, Profile)
from .stages import generator_update_steps, stage_steps


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class Checker:
    """Collects the checks of :func:`validate`; every message names the field, the value and what is
    accepted."""

    def __init__(self, profile):   # an inpainting.profiles.Profile
        self.profile = profile

    def value(self, key: str) -> Any:
        obj = self.profile
        for part in key.split("."):
            obj = getattr(obj, part)
        return obj

    def fail(self, key: str, requirement: str) -> None:
        raise ValueError(f"{key}={self.value(key)!r}: {requirement}")

    def int_at_least(self, key: str, low: int, none: str | None = None) -> None:
        value = self.value(key)
        if value is None and none is not None:
            return
        if not is_int(value) or value < low:
            self.fail(key, (f"must be None ({none}) or an integer >= {low}" if none
                            else f"must be an integer >= {low}"))

    def number(self, key: str, low: float, strict: bool, high: float | None = None) -> None:
        value = self.value(key)
        ok = is_number(value) and (value > low if strict else value >= low) \
            and (high is None or value < high)
        if not ok:
            if high is not None:
                self.fail(key, f"must be a number in ({low:g}, {high:g})")
            self.fail(key, f"must be a number {'>' if strict else '>='} {low:g}")

    def choice(self, key: str, valid: tuple[str, ...]) -> None:
        value = self.value(key)
        if value not in valid:
            raise ValueError(f"{key}={value!r}; valid: {', '.join(valid)}")

    def boolean(self, key: str) -> None:
        if not isinstance(self.value(key), bool):
            self.fail(key, "must be a bool (True or False)")

    def names(self, key: str, valid: tuple[str, ...], what: str) -> tuple:
        value = self.value(key)
        if not isinstance(value, tuple) or not value:
            self.fail(key, f"must hold at least one {what}; valid {what}s: {', '.join(valid)}")
        for item in value:
            if item not in valid:
                raise ValueError(f"{key} has {what} {item!r}; valid {what}s: {', '.join(valid)}")
        twice = sorted({item for item in value if value.count(item) > 1})
        if twice:
            self.fail(key, f"lists {', '.join(map(repr, twice))} more than once (the same images "
                      f"would count twice); give each {what} once")
        return value


def check_trains_generator(p) -> None:
    """A run must change its generator: ``ValueError`` naming the fields for a schedule in which
    no step updates it (:func:`generator_update_steps`)."""
    if any(generator_update_steps(p).values()):
        return
    t, loss = p.train, p.loss
    steps = stage_steps(p)
    reasons = []
    if steps["G"] + steps["joint"] == 0:
        d = (f"train.steps_d={t.steps_d} trains only the discriminator and holds G fixed"
             if steps["D"] else
             f"train.steps_d={t.steps_d} is skipped too, since loss.w_adv={loss.w_adv:g} means "
             "no discriminator" if t.steps_d else "train.steps_d=0")
        reasons.append(f"train.steps_g={t.steps_g} and train.steps_joint={t.steps_joint}: no step "
                       f"updates the generator ({d})")
    else:
        stages = [f"train.{k}={getattr(t, k)}" for k, st in (("steps_g", "G"),
                                                               ("steps_joint", "joint"))
                  if steps[st]]
        per = (f"loss.w_per={loss.w_per:g}" if loss.w_per <= 0 or loss.per_layer_weights is None
               else f"loss.per_layer_weights={loss.per_layer_weights} (all 0)")
        adv = (f", loss.w_adv={loss.w_adv:g}" if steps["joint"] else
               " (loss.w_adv only acts in joint steps, train.steps_joint=0)")
        reasons.append(f"the generator's loss is 0 in every step it trains ({', '.join(stages)}): "
                       f"loss.w_rec={loss.w_rec:g}, {per}{adv}")
    raise ValueError(f"this profile trains nothing: {reasons[0]}, so a 'finished' run would keep "
                     "its initial generator. Give train.steps_g or train.steps_joint > 0 steps and "
                     "a generator loss weight > 0 (loss.w_rec, loss.w_per, or loss.w_adv in joint "
                     "steps).")


DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
PER_NETWORKS = ("vgg19", "vgg16")


def _validate_data(c: Checker, role: str) -> None:
    """:class:`DataConfig` of ``role``."""
    data: DataConfig = getattr(c.profile, role)
    if data.name not in DATASETS:
        raise ValueError(f"{role}.name={data.name!r}; valid datasets: {', '.join(DATASETS)}")
    if data.root is not None and not isinstance(data.root, str):
        c.fail(f"{role}.root", "must be a folder path (a string) or None (built-in sets; "
               "celeba/paris: $INPAINTING_DATA/<name>)")
    if isinstance(data.root, str) and not data.root.strip():
        c.fail(f"{role}.root", "is empty: give the folder of the images, or None for the default "
               "(built-in sets need none; celeba/paris: $INPAINTING_DATA/<name>)")
    if data.name == "folder" and not data.root:
        raise ValueError(f"{role}.name='folder' needs {role}.root: the path of a folder of "
                         f"images (override e.g. {{'{role}.root': '/path/to/images'}})")
    size = data.image_size
    if not is_int(size) or size % 4 or not 32 <= size <= 256:
        c.fail(f"{role}.image_size", "must be a multiple of 4 between 32 and 256")
    for split in ("n_train", "n_test"):
        key = f"{role}.{split}"
        if data.name in ("faces", "facades") and data.__dict__[split] is None:
            c.fail(key, f"'{data.name}' images are generated: set {key} to a number of "
                   "images >= 1")
        c.int_at_least(key, 1, none="all images")
    c.int_at_least(f"{role}.seed", 0)
    c.choice(f"{role}.celeba_split", ("proto", "official"))


def _validate_masks(c: Checker) -> None:
    """:class:`MaskConfig`."""
    masks = c.profile.masks
    c.names("masks.train_kinds", MASK_KINDS, "kind")
    c.names("masks.test_kinds", MASK_KINDS, "kind")
    probs = masks.train_probs
    if not isinstance(probs, tuple) or len(probs) != len(masks.train_kinds):
        c.fail("masks.train_probs", "needs one probability per masks.train_kinds entry "
               f"({len(masks.train_kinds)}: {', '.join(masks.train_kinds)})")
    if not all(is_number(q) and 0 <= q <= 1 for q in probs):
        c.fail("masks.train_probs", "probabilities must be numbers, each in [0, 1], that sum to 1")
    if abs(sum(probs) - 1) > 1e-6:
        c.fail("masks.train_probs", f"the probabilities must sum to 1 (sum {sum(probs):g})")
    c.int_at_least("masks.seed", 0)


def _validate_model(c: Checker) -> None:
    """:class:`ModelConfig`."""
    profile = c.profile
    c.choice("model.generator", GENERATORS)
    c.choice("model.adversarial", ("bce", "wgan-gp"))
    if not isinstance(profile.model.d_width, float) or not 0 < profile.model.d_width <= 4:
        c.fail("model.d_width", "must be a float in (0, 4]: the discriminator's channel-width "
               "multiplier (1.0 = full width)")


def per_weights_problem(network: Any, weights: Any) -> str | None:
    """What is wrong with ``loss.per_weights=weights`` beside ``loss.per_network=network`` (the
    message names the fix), or ``None``; whether a path exists is checked where it is read."""
    if not isinstance(weights, str) or not weights:
        return (f"loss.per_weights={weights!r}: must be one of {', '.join(PER_WEIGHTS)} or the "
                "path of a state-dict file")
    wanted = PER_WEIGHTS_NETWORK.get(weights)
    if wanted is not None and network != wanted:
        return (f"loss.per_weights={weights!r} holds {wanted} weights but loss.per_network="
                f"{network!r}: set both, {PER_WEIGHTS_FIX}")
    return None


def _validate_loss(c: Checker) -> None:
    """:class:`LossConfig`."""
    loss = c.profile.loss
    for f in ("w_rec", "w_adv", "w_per", "gp_weight"):
        c.number(f"loss.{f}", 0, strict=False)
    c.choice("loss.rec_distance", ("mse", "l1"))
    c.choice("loss.per_network", PER_NETWORKS)
    layers = c.names("loss.per_layers", VGG_LAYERS, "layer")
    weights = loss.per_layer_weights
    if weights is not None and (not isinstance(weights, tuple) or len(weights) != len(layers)
                                or not all(is_number(w) and w >= 0 for w in weights)):
        c.fail("loss.per_layer_weights", f"must be None (the mean over layers) or one weight >= 0 "
               f"per loss.per_layers entry ({len(layers)}: {', '.join(layers)})")
    c.choice("loss.per_distance", ("mse", "l1", "cosine", "relative"))
    problem = per_weights_problem(loss.per_network, loss.per_weights)
    if problem:
        raise ValueError(problem)


def _validate_train(c: Checker) -> None:
    """:class:`TrainConfig`."""
    t = c.profile.train
    c.int_at_least("train.batch_size", 1)
    for role in ROLES:
        n_train = getattr(c.profile, role).n_train
        if is_int(n_train) and n_train < t.batch_size:
            c.fail("train.batch_size", f"is larger than {role}.n_train={n_train}: a batch would hold "
                   f"images twice; lower train.batch_size or raise {role}.n_train")
    for f in ("steps_g", "steps_d", "steps_joint"):
        c.int_at_least(f"train.{f}", 0)
    if t.total_steps < 1:
        raise ValueError("train.steps_g + train.steps_d + train.steps_joint is 0: at least one "
                         "training step is needed")
    for f in ("lr_g", "lr_d"):
        c.number(f"train.{f}", 0, strict=True)
    if not (isinstance(t.betas, tuple) and len(t.betas) == 2
            and all(is_number(b) and 0 <= b < 1 for b in t.betas)):
        c.fail("train.betas", "must be two numbers in [0, 1) (Adam's beta1, beta2), e.g. "
               "(0.5, 0.999)")
    c.boolean("train.lr_decay")
    for f in ("log_every", "sample_every", "checkpoint_every"):
        c.int_at_least(f"train.{f}", 1)
    c.int_at_least("train.curve_points", 0)
    c.int_at_least("train.seed", 0)
    if not isinstance(t.device, str) or not DEVICE_PATTERN.match(t.device):
        hint = " (use 'cuda' for a GPU)" if str(t.device).lower() in ("gpu", "cuda0", "nvidia") \
            else ""
        c.fail("train.device", f"valid devices: auto, cpu, cuda, cuda:N{hint}")
    c.boolean("train.amp")
    if t.init_generator is not None and (not isinstance(t.init_generator, str)
                                         or not t.init_generator):
        c.fail("train.init_generator", "must be None or the path of a generator.pt (a string)")
    c.int_at_least("train.num_workers", 0)
    c.int_at_least("train.threads", 1, none="torch's default")


def _validate_experiments(c: Checker) -> None:
    """:class:`ExperimentConfig`."""
    profile = c.profile
    c.int_at_least("experiments.seeds", 1)
    c.int_at_least("experiments.bootstrap", 100)
    c.number("experiments.confidence", 0, strict=True, high=1)
    levels = profile.experiments.perceptual_levels
    if not isinstance(levels, tuple) or not levels or not set(levels) <= set(PERCEPTUAL_LEVELS):
        c.fail("experiments.perceptual_levels", f"must be a non-empty tuple of rows from "
               f"{', '.join(PERCEPTUAL_LEVELS)}")
    for role in ("faces", "facades"):
        baselines = getattr(profile.experiments, f"{role}_baselines")
        if not isinstance(baselines, tuple) or not set(baselines) <= set(BASELINE_GENERATORS):
            c.fail(f"experiments.{role}_baselines", "must be a tuple of baseline generators from "
                   f"{', '.join(BASELINE_GENERATORS)} (possibly empty)")


def validate(profile: Profile) -> None:
    """Check every field of ``profile`` by type and range, in one place.

    Raises ``ValueError`` naming the field, its value and what is accepted (the valid names, the
    range, or the fix). One function per configuration class, in the order of the fields."""
    c = Checker(profile)
    if not isinstance(profile.name, str) or not profile.name:
        raise ValueError(f"profile name {profile.name!r} must be a non-empty string")
    for role in ROLES:
        _validate_data(c, role)
    for check in (_validate_masks, _validate_model, _validate_loss, _validate_train,
                  _validate_experiments):
        check(c)
    check_trains_generator(profile)
    if not (isinstance(profile.overrides, tuple)
            and all(isinstance(o, tuple) and len(o) == 2 and isinstance(o[0], str)
                    for o in profile.overrides)):
        c.fail("overrides", "must be a tuple of (dotted name, value) pairs, as with_overrides "
               "records them")
