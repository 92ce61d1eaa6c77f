import dataclasses

import pytest

from inpainting.experiments import (ABLATION_VARIANTS, FULL_MODEL, PERCEPTUAL_LEVEL_VARIANTS,
                                    run_key, warm_start_profile)
from inpainting.profiles import PROFILES, get_profile, override_names, with_overrides


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_profile_is_valid_and_typed(name):
    profile = get_profile(name)
    assert profile.name == name
    assert all(dataclasses.is_dataclass(getattr(profile, f)) for f in ("faces", "loss", "train"))
    assert profile.train.total_steps == (profile.train.steps_g + profile.train.steps_d
                                         + profile.train.steps_joint)


def test_profile_sizes_follow_kit_design():
    assert get_profile("smoke").faces.image_size <= 64
    assert get_profile("demo").faces.image_size == 64
    paper = get_profile("paper")
    assert (paper.faces.name, paper.facades.name, paper.faces.image_size) == ("celeba", "paris", 128)
    assert not paper.allow_random_perceptual


def test_unknown_profile_lists_valid_ones():
    with pytest.raises(ValueError, match="smoke, demo, paper"):
        get_profile("fast")


def test_unknown_parameter_lists_valid_names():
    with pytest.raises(ValueError, match="unknown parameter 'train.lr'.*train.lr_g"):
        get_profile("smoke", {"train.lr": 1e-3})


def test_overrides_mapping_and_keywords():
    p = get_profile("smoke", {"train.batch_size": 2}, loss__w_per=0)
    assert p.train.batch_size == 2 and p.loss.w_per == 0.0 and isinstance(p.loss.w_per, float)
    assert get_profile("smoke", {"loss.per_layers": ["relu1_1"]}).loss.per_layers == ("relu1_1",)


@pytest.mark.parametrize("key,value,match", [
    ("train.batch_size", "8", "must be a int"),
    ("faces.image_size", 30, "multiple of 4"),
    ("loss.per_layers", ("relu9_9",), "valid layers"),
    ("model.generator", "unet", "valid: lite"),
    ("masks.test_kinds", ("circles",), "valid kinds"),
    ("loss.w_adv", -1.0, ">= 0"),
])
def test_bad_values_are_explained(key, value, match):
    with pytest.raises(ValueError, match=match):
        get_profile("smoke", {key: value})


def test_profile_environment_variable(monkeypatch):
    monkeypatch.setenv("INPAINTING_PROFILE", "smoke")
    assert get_profile().name == "smoke"


def test_every_override_name_round_trips():
    profile = get_profile("demo")
    for name in override_names(profile):
        obj = profile
        for part in name.split("."):
            obj = getattr(obj, part)
        assert with_overrides(profile, {name: obj}) == profile


def test_run_key_ignores_logging_and_device_but_not_losses():
    p = get_profile("smoke")
    assert run_key(p) == run_key(with_overrides(p, {"train.log_every": 7, "train.device": "cpu"}))
    assert run_key(p) != run_key(with_overrides(p, {"loss.w_per": 0.0}))
    # the full model is both an ablation row and the relu3_1 level row: one run, not two
    full = with_overrides(p, ABLATION_VARIANTS[FULL_MODEL])
    assert run_key(full) == run_key(with_overrides(p, PERCEPTUAL_LEVEL_VARIANTS["relu3_1"]))
    # all loss variants share one warm start
    keys = {run_key(warm_start_profile(with_overrides(p, v))) for v in ABLATION_VARIANTS.values()}
    assert len(keys) == 1
