import dataclasses
import os
from pathlib import Path

import pytest

from inpainting.experiments import (ABLATION_VARIANTS, FULL_MODEL, PERCEPTUAL_LEVEL_VARIANTS,
                                    variant_spec)
from inpainting.training.runs import RunSpec, run_key
from inpainting.profiles import (PROFILES, Profile, get_profile, neutral_fields, override_names,
                                 with_overrides)


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
    assert (paper.loss.per_network, paper.loss.per_weights) == ("vgg19", "imagenet")


def test_unknown_profile_lists_valid_ones():
    with pytest.raises(ValueError, match="smoke, demo, study, paper"):
        get_profile("fast")


def test_the_study_profile_trains_every_row_with_the_planned_seeds_and_curve_points():
    """Every T3/T4 row and both baselines on both datasets, the seeds and test images of the
    pre-registered plan (inpainting.evaluation.preregistration), >= 6 points of each joint stage, a
    longer joint stage than the demo's (its warm start, so the demo's are reused), the demo's
    models and losses except loss.w_adv, raised by the weight rule (docs/method.md §5.5)."""
    from inpainting.evaluation.preregistration import STUDY_PLAN
    from inpainting.experiments import Plan
    from inpainting.training import Schedule
    study, demo = get_profile("study"), get_profile("demo")
    assert Plan(study).seeds == STUDY_PLAN.seeds
    assert study.faces.n_test == study.facades.n_test == STUDY_PLAN.n_test
    assert study.masks.test_kinds == STUDY_PLAN.kinds
    assert study.experiments.faces_baselines == study.experiments.facades_baselines == \
        ("glcic", "context_encoder")
    assert set(study.experiments.perceptual_levels) >= {"relu1_1", "relu3_1", "relu5_1"}
    assert study.train.steps_g >= demo.train.steps_g and study.train.steps_joint > demo.train.steps_joint
    assert len(Schedule.from_profile(study).curve_points(study.train.curve_points)) >= 7
    assert (study.model, study.masks) == (demo.model, demo.masks)
    assert dataclasses.replace(study.loss, w_adv=demo.loss.w_adv) == demo.loss
    assert study.loss.w_adv == 3 * demo.loss.w_adv   # 3.5 % -> about 10 % of the gradient
    runs = Plan(study).runs()
    generators = {(s.role, s.profile.model.generator) for s in runs}
    assert {("faces", "glcic"), ("facades", "glcic"), ("faces", "context_encoder"),
            ("facades", "context_encoder")} <= generators
    assert len(runs) == len(STUDY_PLAN.seeds) * (2 + 8 + 3)   # seeds x (warm starts + faces rows + facades rows)


def test_unknown_parameter_lists_valid_names():
    with pytest.raises(ValueError, match="unknown parameter 'train.lr'.*train.lr_g"):
        get_profile("smoke", {"train.lr": 1e-3})


def test_overrides_mapping_and_keywords():
    p = get_profile("smoke", {"train.batch_size": 2}, loss__w_per=0)
    assert p.train.batch_size == 2 and p.loss.w_per == 0.0 and isinstance(p.loss.w_per, float)
    assert get_profile("smoke", {"loss.per_layers": ["relu1_1"]}).loss.per_layers == ("relu1_1",)


@pytest.mark.parametrize("key,value,match", [
    ("train.batch_size", "8", "train.batch_size must be an int"),
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
    assert run_key(RunSpec(p)) == run_key(RunSpec(with_overrides(
        p, {"train.log_every": 7, "train.device": "cpu"})))
    assert run_key(RunSpec(p)) != run_key(RunSpec(with_overrides(p, {"loss.w_per": 0.0})))
    # the full model is both an ablation row and the relu3_1 level row: one run, not two
    assert run_key(variant_spec(p, ABLATION_VARIANTS[FULL_MODEL])) == \
        run_key(variant_spec(p, PERCEPTUAL_LEVEL_VARIANTS["relu3_1"]))
    # all loss variants share one warm start
    keys = {run_key(variant_spec(p, v).init) for v in ABLATION_VARIANTS.values()}
    assert len(keys) == 1


# --- every field validated by type and range (issue 10) ----------------------------------------
@pytest.mark.parametrize("key, value, match", [
    ("train.lr_g", -1.0, r"train.lr_g=-1.0: must be a number > 0"),
    ("train.lr_d", 0, r"train.lr_d=0.0: must be a number > 0"),
    ("train.lr_g", float("nan"), r"train.lr_g=nan: must be a number > 0"),
    ("train.log_every", 0, r"train.log_every=0: must be an integer >= 1"),
    ("train.checkpoint_every", 0, r"train.checkpoint_every=0: must be an integer >= 1"),
    ("train.sample_every", -5, r"train.sample_every=-5: must be an integer >= 1"),
    ("train.betas", (0.5,), r"train.betas=\(0.5,\): must be two numbers in \[0, 1\)"),
    ("train.betas", (0.5, 1.5), r"train.betas=\(0.5, 1.5\): must be two numbers in \[0, 1\)"),
    ("train.betas", (0.5, "a"), r"train.betas"),
    ("loss.gp_weight", -1.0, r"loss.gp_weight=-1.0: must be a number >= 0"),
    ("faces.root", 123, r"faces.root=123: must be a folder path \(a string\) or None"),
    ("train.device", "gpu", r"train.device='gpu'.*auto, cpu, cuda, cuda:N.*use 'cuda'"),
    ("train.device", "cuda:x", r"train.device='cuda:x'"),
    ("train.batch_size", None, r"train.batch_size=None: must be an integer >= 1"),
    ("train.batch_size", 0, r"train.batch_size=0: must be an integer >= 1"),
    ("train.steps_g", -1, r"train.steps_g=-1: must be an integer >= 0"),
    ("train.num_workers", -1, r"train.num_workers=-1: must be an integer >= 0"),
    ("train.amp", 1, r"train.amp must be a bool"),
    ("faces.n_train", 0, r"faces.n_train=0: must be None \(all images\) or an integer >= 1"),
    ("faces.n_train", None, r"faces.n_train=None: .*'faces' images are generated"),
    ("facades.n_test", -3, r"facades.n_test=-3"),
    ("faces.seed", -1, r"faces.seed=-1: must be an integer >= 0"),
    ("faces.name", "imagenet", r"faces.name='imagenet'; valid datasets: faces"),
    ("faces.name", "folder", r"faces.name='folder' needs faces.root"),
    ("masks.train_probs", (0.9, 0.9), r"masks.train_probs=\(0.9, 0.9\): .*sum to 1 \(sum 1.8\)"),
    ("masks.train_probs", (1.5, -0.5), r"masks.train_probs=.*each in \[0, 1\]"),
    ("masks.train_probs", (1.0,), r"one probability per masks.train_kinds"),
    ("masks.train_kinds", (), r"masks.train_kinds=\(\): .*at least one"),
    ("loss.per_layers", (), r"loss.per_layers=\(\): .*at least one"),
    ("loss.per_layer_weights", (1.0, 2.0), r"loss.per_layer_weights.*one weight >= 0 per loss.per_layers"),
    ("loss.per_network", "resnet", r"loss.per_network='resnet'; valid: vgg19, vgg16"),
    ("loss.w_per", float("inf"), r"loss.w_per=inf: must be a number >= 0"),
    ("experiments.seeds", 0, r"experiments.seeds=0: must be an integer >= 1"),
    ("experiments.bootstrap", 50, r"experiments.bootstrap=50: must be an integer >= 100"),
    ("experiments.confidence", 1.5, r"experiments.confidence=1.5: must be a number in \(0, 1\)"),
    ("experiments.confidence", 0, r"experiments.confidence=0.0"),
])
def test_every_field_is_checked_by_type_and_range(key, value, match):
    with pytest.raises(ValueError, match=match):
        get_profile("smoke", {key: value})


def test_a_profile_built_by_hand_is_validated_too():
    from inpainting.profile_checks import validate
    from inpainting.profiles import TrainConfig
    profile = dataclasses.replace(get_profile("smoke"), train=TrainConfig(batch_size=None))
    with pytest.raises(ValueError, match="train.batch_size=None"):
        validate(profile)


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1"])
def test_valid_devices(device):
    assert get_profile("smoke", {"train.device": device}).train.device == device


def test_dataset_name_and_root_can_be_overridden(tmp_path):
    p = get_profile("smoke", {"faces.name": "celeba", "faces.root": str(tmp_path)})
    assert (p.faces.name, p.faces.root, p.faces.image_size) == ("celeba", str(tmp_path), 32)
    p = get_profile("demo", {"facades.name": "folder", "facades.root": str(tmp_path)})
    assert (p.facades.name, p.facades.root) == ("folder", str(tmp_path))
    names = override_names(p)
    assert {"faces.name", "facades.name", "photos.name", "faces.root"} <= set(names)
    assert "name" not in names     # the profile's own name is not a parameter
    with pytest.raises(ValueError, match="unknown parameter 'name'"):
        get_profile("smoke", {"name": "demo"})


def test_tests_never_see_the_users_environment(isolated_results):
    """tests/conftest.py: results in a temporary folder, no profile/device from the shell."""
    from inpainting.disk import REPO_ROOT, results_dir
    assert "INPAINTING_PROFILE" not in os.environ and "INPAINTING_DEVICE" not in os.environ
    assert get_profile().name == "demo"
    assert results_dir("smoke") == Path(isolated_results) / "smoke"   # one folder per profile
    assert REPO_ROOT not in Path(isolated_results).parents


def test_retrained_baselines_are_checked():
    demo = get_profile("demo").experiments
    assert demo.faces_baselines == demo.facades_baselines == ("context_encoder",)
    assert get_profile("paper").experiments.faces_baselines == ("glcic", "context_encoder")
    for role in ("faces", "facades"):
        with pytest.raises(ValueError, match=f"experiments.{role}_baselines"):
            get_profile("demo", {f"experiments.{role}_baselines": ("glcic", "pix2pix")})
        assert getattr(get_profile("demo", {f"experiments.{role}_baselines": []}).experiments,
                       f"{role}_baselines") == ()


def test_threads_are_checked():
    assert get_profile("demo").train.threads is None
    assert get_profile("demo", {"train.threads": 1}).train.threads == 1
    for bad in (0, -1, 1.5, "two"):
        with pytest.raises(ValueError, match="train.threads"):
            get_profile("demo", {"train.threads": bad})
    assert get_profile("demo", {"train.threads": None}).train.threads is None


def test_a_profile_carries_its_recipe():
    p = get_profile("demo", {"train.batch_size": 4, "masks.train_kinds": ["centre"],
                             "masks.train_probs": [1.0]})
    q = with_overrides(p, {"train.batch_size": 2, "loss.w_per": 0.5})
    assert get_profile("demo").overrides == () and q.name == "demo"
    assert dict(q.overrides) == {"train.batch_size": 2, "masks.train_kinds": ("centre",),
                                 "masks.train_probs": (1.0,), "loss.w_per": 0.5}
    again = Profile.from_recipe(q.name, q.overrides)
    assert dataclasses.asdict(again) == dataclasses.asdict(q)
    assert again == q == with_overrides(get_profile("demo"), {"train.batch_size": 2, "loss.w_per": 0.5,
                                                              "masks.train_kinds": ("centre",),
                                                              "masks.train_probs": (1.0,)})


def test_neutral_fields_are_declared_with_a_reason_and_are_not_parameters_of_identity():
    declared = neutral_fields()
    assert {"name", "overrides", "train.log_every", "train.threads", "faces.n_test", "masks.seed",
            "experiments.seeds", "loss.per_weights"} <= set(declared)
    assert "loss.w_per" not in declared and "faces.image_size" not in declared
    assert all(isinstance(r, str) and r.strip() for r in declared.values())
    from inpainting.training.runs import NEUTRAL_FIELDS, run_identity
    assert {k: v for k, v in NEUTRAL_FIELDS.items() if "<" not in k} == declared
    identity = run_identity(RunSpec(get_profile("smoke"), "faces"))["profile"]
    assert "experiments" not in identity and "n_test" not in identity["faces"]
    assert "log_every" not in identity["train"] and "batch_size" in identity["train"]


# --- issue 18, family 4: a run that trains nothing is refused -----------------------------------
@pytest.mark.parametrize("overrides, match", [
    ({"train.steps_g": 0, "train.steps_d": 2, "train.steps_joint": 0},
     r"trains nothing: train.steps_g=0 and train.steps_joint=0.*train.steps_d=2 trains only the "
     r"discriminator"),
    ({"loss.w_rec": 0.0, "loss.w_adv": 0.0, "loss.w_per": 0.0},
     r"trains nothing: the generator's loss is 0 in every step.*loss.w_rec=0, loss.w_per=0, "
     r"loss.w_adv=0"),
    ({"loss.w_adv": 0.0, "train.steps_g": 0, "train.steps_d": 3, "train.steps_joint": 0},
     r"trains nothing: train.steps_g=0 and train.steps_joint=0.*train.steps_d=3 is skipped too, "
     r"since loss.w_adv=0"),
    # not in the issue: adversarial only, but no joint step for it to act in
    ({"loss.w_rec": 0.0, "loss.w_per": 0.0, "train.steps_joint": 0},
     r"loss.w_adv only acts in joint steps, train.steps_joint=0"),
    # perceptual only, with every layer weight 0
    ({"loss.w_rec": 0.0, "loss.w_adv": 0.0, "loss.per_layer_weights": (0.0,)},
     r"loss.per_layer_weights=\(0.0,\) \(all 0\)"),
    # joint steps only, every generator-facing weight 0 (D still trains)
    ({"loss.w_rec": 0.0, "loss.w_per": 0.0, "loss.w_adv": 0.0, "train.steps_g": 0},
     r"train.steps_joint=4.*loss.w_rec=0"),
])
def test_a_profile_that_trains_nothing_is_refused_naming_the_fields(overrides, match):
    with pytest.raises(ValueError, match=match):
        get_profile("smoke", overrides)


def test_profiles_that_train_something_are_accepted():
    for overrides in ({"loss.w_rec": 0.0, "loss.w_per": 0.0},            # adversarial only, joint
                      {"train.steps_g": 0, "train.steps_d": 0},          # joint steps only
                      {"train.steps_joint": 0, "train.steps_d": 0},      # G stage only
                      {"loss.w_rec": 0.0, "loss.w_adv": 0.0}):           # perceptual only
        get_profile("smoke", overrides)


def test_a_variant_with_nothing_after_its_warm_start_is_the_warm_start():
    p = get_profile("smoke", {"train.steps_joint": 0})
    spec = variant_spec(p, ABLATION_VARIANTS["L_rec"])   # D-only after the warm start: nothing
    assert spec.init is None and spec.profile.train.steps_joint == 0
    warm_start = with_overrides(p, {"loss.w_adv": 0.0, "loss.w_per": 0.0, "train.steps_d": 0,
                                    "train.steps_joint": 0})
    assert run_key(spec) == run_key(RunSpec(warm_start))
    # the full model too: its D-only steps after the warm start leave G as the warm start made it
    assert run_key(variant_spec(p, ABLATION_VARIANTS[FULL_MODEL])) == run_key(spec)


@pytest.mark.parametrize("overrides", [
    {},                                                                       # trains
    {"train.steps_g": 0, "train.steps_d": 2, "train.steps_joint": 0},         # D only
    {"loss.w_rec": 0.0, "loss.w_adv": 0.0, "loss.w_per": 0.0},                # every weight 0
    {"loss.w_rec": 0.0, "loss.w_per": 0.0, "train.steps_g": 0},               # adversarial only
    {"loss.w_rec": 0.0, "loss.w_per": 0.0, "train.steps_joint": 0},           # adv, no joint step
    {"loss.w_rec": 0.0, "loss.w_adv": 0.0, "loss.per_layers": ("relu1_1",),
     "loss.per_layer_weights": (0.0,)},                                       # per, layer weight 0
])
def test_the_refusal_rule_is_what_the_training_loop_does(overrides, tmp_path):
    """The rule cannot drift from the loop: train each schedule for real (validation bypassed)
    and compare whether G's parameters moved with ``generator_update_steps``."""
    import torch
    from inpainting.stages import generator_update_steps
    from inpainting.training import Trainer
    base = get_profile("smoke", {"train.steps_g": 2, "train.steps_d": 1, "train.steps_joint": 2,
                                 "loss.per_weights": "random", "faces.n_train": 8,
                                 "train.batch_size": 2, "train.device": "cpu"})
    profile = base
    for key, value in overrides.items():   # dataclasses.replace: no validation
        group, name = key.split(".")
        profile = dataclasses.replace(profile, **{group: dataclasses.replace(
            getattr(profile, group), **{name: value})})
    trainer = Trainer(RunSpec(profile), out_dir=tmp_path, progress=False)
    trainer.build()
    before = [q.detach().clone() for q in trainer.module.G.parameters()]
    for _ in range(trainer.schedule.total):
        trainer.train_step()
    moved = any(not torch.equal(a, b) for a, b in zip(before, trainer.module.G.parameters()))
    assert moved == any(generator_update_steps(profile).values())


# --- issue 18, family 6: overrides as delivered, paths, wrong types -------------------------------
def test_overrides_given_as_a_json_string_are_parsed_or_refused_clearly():
    """papermill -p overrides '{...}' hands the notebook a string."""
    text = '{"train.steps_g": 3, "loss.per_layers": ["relu1_1"]}'
    p = get_profile("smoke", text)
    assert p.train.steps_g == 3 and p.loss.per_layers == ("relu1_1",)
    assert with_overrides(get_profile("smoke"), text) == p
    assert Profile.from_recipe("smoke", text) == p
    assert get_profile("smoke", "") == get_profile("smoke", "  ") == get_profile("smoke")
    with pytest.raises(ValueError, match=r"overrides is a string that is not valid JSON"):
        get_profile("smoke", "{'train.steps_g': 3}")          # Python quotes, not JSON
    with pytest.raises(ValueError, match=r"overrides is a JSON list, not an object"):
        get_profile("smoke", '["train.steps_g", 3]')
    with pytest.raises(TypeError, match=r"overrides must be a dict of dotted names"):
        get_profile("smoke", [("train.steps_g", 3)])
    with pytest.raises(TypeError, match=r"keys must be dotted names"):
        get_profile("smoke", {1: 3})


def test_a_misspelt_parameter_gets_a_did_you_mean():
    with pytest.raises(ValueError, match=r"'train.step_g'.*did you mean 'train.steps_g'"):
        get_profile("smoke", {"train.step_g": 1})
    with pytest.raises(ValueError, match=r"did you mean 'loss.w_per'"):
        get_profile("smoke", {"loss.wper": 1.0})


@pytest.mark.parametrize("key, value, match", [
    ("train.steps_g", "10", r"train.steps_g must be an int \(like 4\), got '10' \(str\)"),
    ("train.lr_g", "1e-3", r"train.lr_g must be a float"),
    ("train.lr_decay", "yes", r"train.lr_decay must be a bool"),
    ("train.betas", 0.5, r"train.betas must be a tuple \(or list\)"),
    ("masks.train_kinds", "centre", r"masks.train_kinds must be a tuple \(or list\)"),
    ("faces.image_size", -32, r"faces.image_size=-32: must be a multiple of 4 between 32 and 256"),
    ("faces.n_test", -1, r"faces.n_test=-1"),
    ("train.batch_size", 100, r"train.batch_size=100: is larger than faces.n_train=64"),
    ("faces.root", "", r"faces.root='': is empty"),
    ("facades.root", "   ", r"facades.root='   ': is empty"),
])
def test_wrong_types_and_sizes_of_every_family_are_named(key, value, match):
    with pytest.raises(ValueError, match=match):
        get_profile("smoke", {key: value})


def test_a_pathlib_path_is_accepted_where_a_path_is():
    p = get_profile("smoke", {"faces.name": "folder", "faces.root": Path("/data/faces"),
                              "train.init_generator": Path("/runs/generator.pt")})
    assert p.faces.root == "/data/faces" and p.train.init_generator == "/runs/generator.pt"
    assert isinstance(p.faces.root, str)


@pytest.mark.parametrize("key", ["masks.test_kinds", "masks.train_kinds", "loss.per_layers"])
def test_a_list_of_kinds_with_duplicates_is_refused(key):
    """Issue 18: masks.test_kinds ["centre", "centre"] counted the same images twice."""
    value = {"masks.test_kinds": ["centre", "centre"], "masks.train_kinds": ["centre", "centre"],
             "loss.per_layers": ["relu1_1", "relu1_1"]}[key]
    extra = {"masks.train_probs": [0.5, 0.5]} if key == "masks.train_kinds" else {}
    with pytest.raises(ValueError, match=rf"{key}=.*lists '(centre|relu1_1)' more than once"):
        get_profile("smoke", {key: value, **extra})
