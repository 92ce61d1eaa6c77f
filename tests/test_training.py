"""Staged trainer: learning, stage skipping, checkpoint contents, exact resume after SIGKILL,
configuration mismatch, finished runs, loading generator files on CPU. Tiny 32-px smoke runs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from inpainting import losses, training
from inpainting.training.checkpoint import load_latest
from inpainting.data import build_dataset
from inpainting.data.masks import sample_masks
from inpainting.models import load_inpainter
from inpainting.models.perceptual_weights import OFFLINE_ENV
from inpainting.profiles import get_profile
from inpainting.disk import RESULTS_ENV

FULL = {"train.steps_g": 3, "train.steps_d": 2, "train.steps_joint": 3, "train.checkpoint_every": 1,
        "train.sample_every": 4, "train.log_every": 1}


def tiny(**overrides):
    return get_profile("smoke", {**FULL, **{k.replace("__", "."): v for k, v in overrides.items()}})


@pytest.fixture(autouse=True)
def _results_in_tmp(tmp_path, monkeypatch):
    """Nothing goes to the repo's results/; no VGG download attempt (smoke: HED's VGG16 from PyPI)."""
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "results"))
    monkeypatch.setenv(OFFLINE_ENV, "1")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One full three-stage smoke run (shared by the read-only tests)."""
    base = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(RESULTS_ENV, str(base / "results"))
        mp.setenv(OFFLINE_ENV, "1")
        result = training.Trainer(training.RunSpec(tiny(), "faces"), base / "out", progress=False).fit()
    return result


def test_reconstruction_loss_goes_down_on_held_out_images():
    profile = tiny(train__steps_g=30, train__steps_d=0, train__steps_joint=0, loss__w_adv=0.0,
                   loss__w_per=0.0, train__lr_g=1e-3)
    trainer = training.Trainer(training.RunSpec(profile, "faces"), os.environ[RESULTS_ENV] + "/g", progress=False)
    trainer.build()
    test = build_dataset(profile.faces, "test")   # never seen in training (another split)
    images = torch.stack([test[i] for i in range(len(test))])
    masks = sample_masks(profile.masks, len(test), profile.faces.image_size,
                         np.random.default_rng(99))

    def held_out_loss() -> float:
        trainer.module.G.eval()
        with torch.no_grad():
            return losses.reconstruction_loss(trainer.module.G(images, masks), images, masks).item()

    before = held_out_loss()
    for _ in range(30):
        record = trainer.train_step()
        assert record["stage"] == "G" and np.isfinite(record["rec"])
    assert held_out_loss() < 0.8 * before   # measured 0.73 (float32, 30 steps)


def test_no_adversarial_weight_skips_stage_d():
    profile = tiny(loss__w_adv=0.0, loss__w_per=0.0)
    trainer = training.Trainer(training.RunSpec(profile, "faces"), os.environ[RESULTS_ENV] + "/noadv", progress=False)
    result = trainer.fit()
    assert trainer.module.D is None
    assert list(result.history["stage"]) == ["G"] * 3 + ["joint"] * 3
    assert result.history[["d_loss", "adv_g", "per"]].isna().all().all()
    assert result.effective_loss_weights["w_adv"] == 0.0


def test_schedule_and_lr_decay():
    s = training.Schedule(steps_g=2, steps_d=1, steps_joint=4, lr_decay=True)
    assert [s.stage(i) for i in range(7)] == ["G", "G", "D", "joint", "joint", "joint", "joint"]
    assert [s.lr_factor(i) for i in range(7)] == [1, 1, 1, 1, 1, 1.0, 0.5]
    assert [d for d in range(8) if s.is_stage_end(d)] == [2, 3, 7]


def test_checkpoint_and_output_contents(finished):
    out = finished.out_dir
    state = load_latest(out / "checkpoints")
    assert state["step"] == 8 and len(state["history"]) == 8
    for key in ("G", "D", "opt_g", "opt_d", "sched_g", "sched_d", "scaler_g", "scaler_d", "rng",
                "profile", "identity", "key", "perceptual_weights_source"):
        assert state[key] is not None, key
    assert set(state["rng"]) == {"python", "numpy", "torch", "cuda"}
    assert list(finished.history["stage"]) == ["G"] * 3 + ["D"] * 2 + ["joint"] * 3
    assert finished.history.loc[3:4, "rec"].isna().all()        # stage D trains D only
    assert finished.history.loc[5:, ["adv_g", "d_loss", "per"]].notna().all().all()
    log = pd.read_csv(out / "log.csv")
    assert len(log) == 8 and list(log.columns) == list(training.HISTORY_COLUMNS)
    assert [p.name for p in finished.sample_paths] == ["step_000004.png", "step_000008.png"]
    blob = torch.load(finished.generator_path, weights_only=False)
    assert blob["meta"]["steps"] == 8 and blob["model"]["generator"] == "lite"
    assert blob["image_size"] == 32 and blob["meta"]["key"] == finished.key
    assert all(t.device.type == "cpu" for t in blob["state_dict"].values())
    config = json.loads((out / "train_config.json").read_text())
    assert config["status"] == "finished" and config["seed"] == 0
    assert config["precision"] == "float32" and config["provenance"]["precision"] == "float32"
    prov = finished.provenance
    assert prov["key"] == finished.key and prov["steps"] == 8 and prov["torch_threads"] >= 1
    assert prov["dataset"] == "faces" and prov["device_name"]
    assert config["effective_loss_weights"]["w_per"] == get_profile("smoke").loss.w_per
    assert config["effective_loss_weights"]["perceptual_weights_source"] == \
        finished.perceptual_weights_source
    run = json.loads((out.parent / "results" / "smoke" / "run.json").read_text())
    assert run["runs"][prov["run"]]["precision"] == "float32"
    assert run["runs"][prov["run"]]["trained_by"] == ["python"]   # no notebook runner here
    assert prov["perceptual_weights_source"].startswith("vgg16-hed vgg16 (HED's VGG16")
    assert "warnings" not in run   # pretrained weights: nothing to warn about


def test_finished_run_returns_stored_result(finished, capsys):
    again = training.Trainer(training.RunSpec(tiny(train__log_every=5), "faces"), finished.out_dir, progress=False).fit()
    assert "step" not in capsys.readouterr().out   # no training step ran
    pd.testing.assert_frame_equal(again.history, finished.history)
    assert again.seconds == finished.seconds


def test_changed_configuration_is_refused(finished):
    trainer = training.Trainer(training.RunSpec(tiny(train__lr_g=1e-3, loss__w_adv=4e-4), "faces"), finished.out_dir)
    with pytest.raises(ValueError, match="train.lr_g") as err:
        trainer.fit()
    assert "loss.w_adv" in str(err.value) and "new out_dir" in str(err.value)


def test_longer_joint_stage_is_a_new_run_not_an_extension(finished):
    """The learning rate decays over the second half of the joint stage, so extending a finished
    run would not equal a straight run of the new length: it is refused in the same folder."""
    longer = training.Trainer(training.RunSpec(tiny(train__steps_joint=6), "faces"), finished.out_dir, progress=False)
    with pytest.raises(ValueError, match="train.steps_joint"):
        longer.fit()
    assert longer.key != finished.key


def test_load_inpainter_maps_to_cpu(finished, monkeypatch):
    seen = []
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("map_location"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    model = load_inpainter(finished.generator_path, device="cpu")
    assert seen == ["cpu"] and not model.training
    assert next(model.parameters()).device.type == "cpu"
    state = load_latest(finished.out_dir / "checkpoints")
    for key, value in model.state_dict().items():
        assert torch.equal(value, state["G"][key]), key


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_trained_file_loads_on_cpu(finished, tmp_path):
    blob = torch.load(finished.generator_path, weights_only=False)
    blob["state_dict"] = {k: v.cuda() for k, v in blob["state_dict"].items()}
    torch.save(blob, tmp_path / "gpu.pt")
    model = load_inpainter(tmp_path / "gpu.pt", device="cpu")
    assert next(model.parameters()).device.type == "cpu"


CHILD = """
import sys, time
from inpainting import losses, training
from inpainting.profiles import get_profile
out, slow, overrides = sys.argv[1], sys.argv[2] == "slow", eval(sys.argv[3])
if slow:  # give the parent time to kill us between checkpoints
    from inpainting.training import loop
    save = loop.save_checkpoint
    def slow_save(*args, **kwargs):
        time.sleep(0.4)
        return save(*args, **kwargs)
    loop.save_checkpoint = slow_save
training.Trainer(training.RunSpec(get_profile("smoke", overrides), "faces"), out, progress=False).fit()
"""


def _child(out, slow: bool, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(out), "slow" if slow else "fast",
                             repr(FULL)], env=env, stdout=subprocess.DEVNULL)


def _latest_step(ckpt_dir) -> int:
    pointer = ckpt_dir / "latest"
    return int(pointer.read_text()[5:13]) if pointer.exists() else 0


def test_resume_after_sigkill_is_bit_identical(tmp_path):
    env = {**os.environ, "INPAINTING_DEVICE": "cpu"}
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    reference = _child(straight, slow=False, env=env)
    victim = _child(killed, slow=True, env=env)
    deadline = time.monotonic() + 120
    while _latest_step(killed / "checkpoints") < 4:
        assert victim.poll() is None and time.monotonic() < deadline, "child ended early"
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    stopped_at = _latest_step(killed / "checkpoints")
    assert 4 <= stopped_at < 8 and not (killed / "generator.pt").exists()
    assert len(pd.read_csv(killed / "log.csv")) <= stopped_at   # never ahead of the checkpoint
    assert _child(killed, slow=False, env=env).wait() == 0
    assert reference.wait() == 0
    a, b = load_latest(straight / "checkpoints"), load_latest(killed / "checkpoints")
    # Exact: both runs are the same code on the same machine with the same thread count, and the
    # resumed one restores every RNG, optimiser and scheduler state, so each step repeats the
    # uninterrupted run's operations in the same order.
    for net in ("G", "D"):
        assert a[net].keys() == b[net].keys()
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), f"{net}.{key}"
    drop = ["seconds"]
    pd.testing.assert_frame_equal(pd.DataFrame(a["history"]).drop(columns=drop),
                                  pd.DataFrame(b["history"]).drop(columns=drop))


def test_a_lite_generator_as_init_generator_of_a_wide_run_names_the_field(tmp_path):
    """Issue 18, family 6: torch's state_dict error did not say which setting was wrong."""
    from inpainting.models import build_inpainter, save_generator
    from inpainting.profiles import ModelConfig, get_profile
    from inpainting.training import RunSpec, Trainer
    lite = save_generator(tmp_path / "lite.pt", build_inpainter(ModelConfig("lite"), 32), 32,
                          ModelConfig("lite"), {})
    profile = get_profile("smoke", {"model.generator": "wide", "train.init_generator": str(lite),
                                    "faces.n_train": 8})
    trainer = Trainer(RunSpec(profile), out_dir=tmp_path / "run", progress=False)
    trainer.build()
    with pytest.raises(ValueError, match=r"train.init_generator='.*lite.pt' holds a 'lite' "
                                         r"generator trained at 32 px, but this run trains a "
                                         r"'wide' generator at 32 px"):
        trainer._start_generator()
