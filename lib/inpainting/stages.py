"""Which training steps a profile runs in each stage and which of them update the generator: the
one rule both profile validation (:func:`inpainting.profile_checks.check_trains_generator`) and the
training loop (:mod:`inpainting.training.schedule`, the generator's update) follow. Functions take
a :class:`inpainting.profiles.Profile` (not imported here: the profiles' validation imports this)."""
from __future__ import annotations

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
    if not profile.train.lr_g > 0:   # a number: validation checks the field before this rule
        return dict.fromkeys(STAGES, 0)
    return {stage: n if any(w > 0 for w in generator_loss_weights(profile, stage).values()) else 0
            for stage, n in stage_steps(profile).items()}
