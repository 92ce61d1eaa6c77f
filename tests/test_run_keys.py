"""The run key of every run the notebooks train is pinned: a refactoring must not change one.

``tests/run_keys.json`` was recorded before the package was regrouped (issue 16) by running this file
as a script (``python tests/test_run_keys.py``), and recorded again, deliberately, when the smoke and
demo profiles moved to pretrained perceptual weights (issue 17: their runs with L_per have new
keys; every paper key stayed, the paper profile gained the "random features" row), and extended
when issue 20 added the study profile (its keys added, every other key unchanged), and its study
keys recorded again when the study was re-sized to train within 2 h on the 2-core AVX2 CPU and took
loss.w_adv 3e-3 by the weight rule (every smoke, demo and paper key unchanged). It lists, for the
smoke, demo, study and paper profiles,
every run of the experiment plan (:meth:`inpainting.experiments.Plan.runs`, warm starts first), each with its key,
the key of its warm start, and the profile fields in which it differs from the profile.

The keys are computed offline and without any local VGG file (``$INPAINTING_OFFLINE=1``,
``$TORCH_HOME`` an empty folder): a key names the weights by what they are (``vgg16-hed`` for smoke
and demo, ``imagenet`` for paper, ``random`` for the random-features row), never by which files a
machine has, so no file is needed. ``$INPAINTING_DATA``
is unset (the paper profile's data roots are part of its runs' identity) and the device is the CPU
(an unset ``train.amp`` computes in float32 on every device).
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path

FIXTURE = Path(__file__).with_name("run_keys.json")
PROFILE_NAMES = ("smoke", "demo", "study", "paper")
ENVIRONMENT = {"INPAINTING_OFFLINE": "1", "INPAINTING_DEVICE": "cpu"}
UNSET = ("INPAINTING_DATA", "INPAINTING_PROFILE")


def _flat(obj, prefix=""):
    if dataclasses.is_dataclass(obj):
        out = {}
        for f in dataclasses.fields(obj):
            out.update(_flat(getattr(obj, f.name), f"{prefix}{f.name}."))
        return out
    return {prefix.rstrip("."): obj}


def _differences(profile, base) -> dict:
    """Dotted fields in which ``profile`` differs from ``base`` (``overrides``, the recipe a profile
    carries since issue 16, is left out: it lists these same differences)."""
    a, b = _flat(profile), _flat(base)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in a.items()
            if k != "overrides" and v != b[k]}


def current_keys() -> dict:
    """``{profile: [{role, generator, key, init, differs}, ...]}`` in the plan's order
    (call with the environment of the module docstring)."""
    from inpainting.experiments import Plan
    from inpainting.profiles import get_profile
    out = {}
    for name in PROFILE_NAMES:
        profile = get_profile(name)
        out[name] = [{"role": spec.role, "generator": spec.profile.model.generator,
                      "key": spec.key, "init": spec.init.key if spec.init is not None else None,
                      "differs": _differences(spec.profile, profile)}
                     for spec in Plan(profile).runs()]
    return out


def test_run_keys_unchanged(monkeypatch, tmp_path):
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))   # no cached VGG weights
    recorded = json.loads(FIXTURE.read_text())["runs"]
    current = current_keys()
    assert set(current) == set(recorded)
    for name in PROFILE_NAMES:
        assert len(current[name]) == len(recorded[name]), name
        for now, then in zip(current[name], recorded[name]):
            assert now == then, (name, now, then)


if __name__ == "__main__":   # record the fixture (before a refactoring, never to make a test pass)
    with tempfile.TemporaryDirectory() as home:
        os.environ.update(ENVIRONMENT, TORCH_HOME=home)
        for name in UNSET:
            os.environ.pop(name, None)
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
        runs = current_keys()
    note = ("Recorded by `python tests/test_run_keys.py`, offline ($INPAINTING_OFFLINE=1, empty "
            "$TORCH_HOME), after issue 17 moved smoke and demo to the pretrained weights "
            "'vgg16-hed' (network vgg16; the paper keys are those recorded before issue 16, "
            "'imagenet' VGG-19); study added by issue 20 and re-recorded when it was re-sized "
            "(400 + 20 + 180 steps, loss.w_adv 3e-3; every other key unchanged), then extended to "
            "the pre-registered plan's seeds 0-7 (its 26 earlier keys unchanged); "
            "$INPAINTING_DATA unset; device cpu.")
    FIXTURE.write_text(json.dumps({"note": note, "runs": runs}, indent=1) + "\n")
    print(f"{FIXTURE}: " + ", ".join(f"{k}: {len(v)} runs" for k, v in runs.items()))
