"""The training command ``python -m inpainting.train`` in one process: usage errors before any
work, the run list for job arrays (every line trains the run it names), training into the run cache
the notebooks read, and a run held by another job. The 2-process runs are in test_distributed.py."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest
import torch

from inpainting import experiments
from inpainting.models.loading import read_generator
from inpainting.models.perceptual_weights import OFFLINE_ENV
from inpainting.profiles import get_profile
from inpainting.training.runs import RunLock, is_finished, run_dir, run_key
from inpainting.runtime import DEVICE_ENV
from inpainting.disk import RESULTS_ENV
from inpainting.train import WARM_START, listing, main, parse, resolve
from inpainting.training import Trainer

SHORT = {"train.steps_g": 2, "train.steps_d": 1, "train.steps_joint": 2}


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv(OFFLINE_ENV, "1")
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "results"))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("argv, message", [
    (["--profile", "nope", "--variant", "L_rec"], "unknown profile 'nope'"),
    (["--profile", "smoke", "--variant", "L_nothing"], "unknown variant 'L_nothing'; valid"),
    (["--profile", "smoke", "--variant", "L_rec", "--role", "cats"], "unknown role 'cats'"),
    (["--profile", "smoke", "--variant", "L_rec", "--overrides", "{train.steps_g: 1}"],
     "--overrides is not valid JSON"),
    (["--profile", "smoke", "--variant", "L_rec", "--overrides", "[1, 2]"], "must be a JSON object"),
    (["--profile", "smoke", "--variant", "L_rec", "--overrides", '{"train.stepz": 1}'],
     "unknown parameter 'train.stepz'"),
    (["--profile", "smoke", "--variant", "L_rec", "--overrides", '{"train.steps_g": "many"}'],
     "train.steps_g must be an int"),
    (["--profile", "smoke", "--variant", "L_rec", "--seed", "-1"], "--seed=-1: must be in [0, 2**63 - 1]"),
    (["--profile", "smoke", "--variant", WARM_START, "--overrides", '{"model.generator": "glcic"}'],
     "has no warm start"),
    (["--profile", "smoke", "--variant", "L_rec", "--overrides", '{"train.device": "tpu"}'],
     "train.device"),
    (["--profile", "smoke"], "one of the arguments --variant --list --variants --all is required"),
    (["--profile", "smoke", "--variant", "L_rec", "--list"], "not allowed with argument"),
    (["--profile", "smoke", "--variant", "L_rec", "--notebook", "04_loss_ablation"],
     "--notebook only applies to --list"),
    (["--profile", "smoke", "--variant", "L_rec", "--jobs", "2"], "--jobs only applies to --all"),
    (["--profile", "smoke", "--all", "--jobs", "0"], "--jobs must be >= 1"),
    (["--profile", "smoke", "--all", "--overrides", '{"train.threads": 0}'], "train.threads"),
])
def test_bad_arguments_are_usage_errors_before_any_work(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "results" / "smoke" / "runs").exists()


def test_a_process_count_that_does_not_divide_the_batch_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "3")   # as torchrun --nproc_per_node 3 would set it
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(SystemExit) as stop:
        main(["--profile", "smoke", "--variant", "L_rec"])   # smoke: batch 4
    assert stop.value.code == 2
    assert "train.batch_size=4 is not divisible by the 3 processes" in capsys.readouterr().err


def test_module_entry_point_exits_2_on_a_bad_variant():
    done = subprocess.run([sys.executable, "-m", "inpainting.train", "--profile", "smoke",
                           "--variant", "nope"], capture_output=True, text=True, timeout=300,
                          env={**os.environ})
    assert done.returncode == 2 and "unknown variant 'nope'" in done.stderr


def test_every_variant_name_resolves(capsys):
    assert main(["--profile", "smoke", "--variants"]) == 0
    names = capsys.readouterr().out.splitlines()
    assert names[0] == WARM_START and set(names[1:]) == set(experiments.VARIANTS)
    profile = get_profile("smoke")
    for name in names:
        assert resolve(profile, name).profile.name == "smoke"
    warm = resolve(profile, WARM_START)
    assert warm == resolve(profile, "L_rec").init   # the variant's own warm start


def _listed(capsys, *extra):
    assert main(["--profile", "smoke", "--overrides", '{"experiments.seeds": 2}', "--list", *extra]) == 0
    return capsys.readouterr().out.splitlines()


def test_list_prints_every_needed_run_once_as_arguments_that_train_it(capsys):
    lines = _listed(capsys)
    profile = get_profile("smoke", {"experiments.seeds": 2})
    needed = experiments.Plan(profile).runs()
    assert len(lines) == len(needed) == len({line.split("# key ")[1].split()[0] for line in lines})
    kinds = [WARM_START in line for line in lines]
    assert kinds == sorted(kinds, reverse=True) and sum(kinds) == 4   # 2 roles x 2 seeds, first
    for line, spec in zip(lines, needed):
        args, comment = line.split("  # ")
        parsed, _ = parse(shlex.split(args))   # what a job-array task would run
        assert run_key(parsed.spec) == run_key(spec) == comment.split()[1]
        assert comment.endswith("(to train)") and f"runs/{spec.role}/" in comment


def test_list_waves_and_notebooks(capsys):
    everything = _listed(capsys)
    warm, rest = _listed(capsys, "warm-starts"), _listed(capsys, "variants")
    assert warm + rest == everything and all(WARM_START in line for line in warm)
    only_04 = _listed(capsys, "--notebook", "04_loss_ablation")
    # the warm starts of 2 seeds + 4 ablation rows x 2 seeds
    assert len(only_04) == 2 + 4 * 2 and all("--role faces" in line for line in only_04)


def test_trains_into_the_run_cache_the_notebooks_read(monkeypatch, capsys):
    overrides = '{"train.steps_g": 2, "train.steps_d": 1, "train.steps_joint": 2}'
    assert main(["--profile", "smoke", "--variant", "L_rec + L_adv", "--overrides", overrides]) == 0
    out = capsys.readouterr().out
    profile = get_profile("smoke", SHORT)
    spec = resolve(profile, "L_rec + L_adv")
    assert is_finished(run_dir(spec.init)) and is_finished(run_dir(spec))
    assert f"finished: {run_dir(spec)}" in out and "with 1 process(es)" in out

    def no_training(self):
        raise AssertionError(f"{self.out_dir} was trained again")

    monkeypatch.setattr(Trainer, "_fit", no_training)   # the notebooks' call reuses it ...
    result = experiments.train_variant(profile, experiments.ABLATION_VARIANTS["L_rec + L_adv"])
    assert result.out_dir == run_dir(spec)
    assert main(["--profile", "smoke", "--variant", "L_rec + L_adv", "--overrides", overrides]) == 0
    assert f"finished: {run_dir(spec)}" in capsys.readouterr().out   # ... and so does the command


def test_a_run_held_by_another_job_exits_3(capsys):
    spec = resolve(get_profile("smoke", SHORT), "L_rec")
    with RunLock(run_dir(spec.init)):
        code = main(["--profile", "smoke", "--variant", "L_rec", "--overrides",
                     '{"train.steps_g": 2, "train.steps_d": 1, "train.steps_joint": 2}'])
    assert code == 3
    assert f"in use by process {os.getpid()}" in capsys.readouterr().err
    assert not is_finished(run_dir(spec.init))


def test_listing_names_resolve_for_each_role_and_seed():
    profile = get_profile("smoke", {"experiments.seeds": 2})
    for args, spec in listing(profile, ["06_evaluation"]):
        role, name, seed = args[1], args[3], int(args[5])
        assert run_key(resolve(profile, name, role, seed)) == run_key(spec)


def test_all_trains_every_needed_run_side_by_side_as_a_notebook_would(capsys, tmp_path,
                                                                     monkeypatch):
    """``--all --jobs 2`` trains the runs of a notebook in two child processes, the warm start
    first; with ``train.threads`` fixed (here 1) each run is bit-identical to the same run trained
    in this process (as a notebook trains it); a second call trains nothing."""
    one = {**SHORT, "train.threads": 1}
    profile = get_profile("smoke", one)
    argv = ["--profile", "smoke", "--overrides", json.dumps(one), "--all", "--jobs", "2",
            "--notebook", "04_loss_ablation"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    specs = [spec for _, spec in listing(profile, ["04_loss_ablation"])]
    assert len(specs) == 5 and all(is_finished(run_dir(s)) for s in specs)
    assert "5 to train, 2 at a time with 1 torch thread(s) each" in out
    assert out.index("started faces: warm-start") < min(
        out.index(f"started faces: {name}") for name in experiments.ABLATION_VARIANTS)
    logs = sorted((tmp_path / "results" / "smoke" / "logs").glob("*.log"))
    assert len(logs) == 5   # one per run, and each process trained its own run only (the variants
    assert all(log.read_text().count("finished: ") == 1 for log in logs)   # waited for the warm start)
    run_json = json.loads((tmp_path / "results" / "smoke" / "run.json").read_text())
    assert {e["trained_by"][0] for e in run_json["runs"].values()} == {"inpainting.train --all"}
    assert len(run_json["runs"]) == 5   # five processes updated run.json without losing one

    assert main(argv) == 0
    assert "0 to train" in capsys.readouterr().out

    # the same run trained in this process, in another results folder
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "inline"))
    inline = experiments.train_variant(profile, experiments.ABLATION_VARIANTS[experiments.FULL_MODEL])
    child = run_dir(resolve(profile, experiments.FULL_MODEL))
    sa = read_generator(inline.generator_path)["state_dict"]
    sb = read_generator(child / inline.generator_path.name)["state_dict"]
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
