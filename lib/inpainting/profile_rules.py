"""What a profile's recipe means beyond its fields' types: overrides as they arrive (a dict or the
JSON string ``papermill -p overrides '{...}'`` delivers), the field checker behind every validation
message (:class:`Checker`), and which training steps update the generator, the one rule both :func:`inpainting.profiles.validate` and the training loop
(:mod:`inpainting.training.schedule`, :meth:`inpainting.training.module.InpaintingModule.generator_loss`) follow.
Functions take a :class:`inpainting.profiles.Profile` (not imported here: profiles imports this)."""
from __future__ import annotations

import json
import math
from typing import Any, Mapping


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class Checker:
    """Collects the checks of :func:`inpainting.profiles.validate`; every message names the field, the value and what
    is accepted."""

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


STAGES = ("G", "D", "joint")


def stage_steps(profile) -> dict[str, int]:
    """Steps the training loop runs in each stage (:mod:`inpainting.training.schedule`): the D stage
    is skipped without a discriminator (``loss.w_adv == 0``)."""
    t = profile.train
    return {"G": t.steps_g, "D": t.steps_d if profile.loss.w_adv > 0 else 0, "joint": t.steps_joint}


def generator_loss_weights(profile, stage: str) -> dict[str, float]:
    """The weight of every term of the generator's loss in ``stage``, as the training loop forms it
    (:meth:`inpainting.training.module.InpaintingModule.generator_loss` multiplies by these): ``rec`` and ``per`` in
    stages G and joint (``per`` is 0 when every ``loss.per_layer_weights`` entry is 0), ``adv`` in
    the joint stage when there is a discriminator (``loss.w_adv > 0``); the D stage holds G fixed
    (no terms)."""
    if stage == "D":
        return {}
    loss = profile.loss
    layers = loss.per_layer_weights
    per = loss.w_per if loss.w_per > 0 and (layers is None or any(w > 0 for w in layers)) else 0.0
    weights = {"rec": loss.w_rec, "per": per}
    if stage == "joint" and loss.w_adv > 0:
        weights["adv"] = loss.w_adv
    return weights


def generator_update_steps(profile) -> dict[str, int]:
    """Steps per stage in which the generator's parameters change: a stage with steps, a loss with a
    non-zero weight and a learning rate ``train.lr_g`` above 0 (the decay factor is above 0 before
    the last step)."""
    if not (is_number(profile.train.lr_g) and profile.train.lr_g > 0):
        return dict.fromkeys(STAGES, 0)
    return {stage: n if any(w > 0 for w in generator_loss_weights(profile, stage).values()) else 0
            for stage, n in stage_steps(profile).items()}


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
