"""``train.channels_last`` (opt-in NHWC training, issue 29): its own run key (and none of the
existing ones moved: tests/test_run_keys.py), networks and batches in channels_last, and the same
training up to convolution rounding."""
from __future__ import annotations

import math

import pytest
import torch

from inpainting import training
from inpainting.models.perceptual_weights import OFFLINE_ENV
from inpainting.profiles import get_profile
from inpainting.training.runs import run_identity, run_key

STEPS = {"train.steps_g": 2, "train.steps_d": 1, "train.steps_joint": 2}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv(OFFLINE_ENV, "1")


def spec(channels_last: bool) -> training.RunSpec:
    return training.RunSpec(get_profile("smoke", {**STEPS, "train.channels_last": channels_last}), "faces")


def test_channels_last_is_a_run_of_its_own():
    off, on = spec(False), spec(True)
    assert "memory_format" not in run_identity(off)
    assert run_identity(on)["memory_format"] == "channels_last"
    assert run_key(off) != run_key(on)
    assert run_key(off) == run_key(training.RunSpec(get_profile("smoke", STEPS), "faces"))


def test_networks_and_batches_are_nhwc_and_train_alike(tmp_path):
    runs = {}
    for layout in (False, True):
        t = training.Trainer(spec(layout), tmp_path / str(layout), progress=False)
        t.build()
        weights = [p for p in t.module.G.parameters() if p.dim() == 4]
        assert all(w.is_contiguous(memory_format=torch.channels_last) == layout for w in weights)
        records = [t.train_step() for _ in range(5)]   # stages G, D and joint
        runs[layout] = records
    # the first step (same weights, same batch) agrees to rounding; Adam's early steps then carry
    # the rounding differences forward, so later steps drift apart by about 1 % in 5 steps
    for step, (a, b) in enumerate(zip(runs[False], runs[True])):
        for k in ("rec", "adv_g", "per", "d_loss"):
            if math.isnan(a[k]):
                assert math.isnan(b[k])
            else:
                assert b[k] == pytest.approx(a[k], rel=1e-5 if step == 0 else 3e-2), (step, k)
