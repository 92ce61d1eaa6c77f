"""How a verdict depends on the budget (issue 26, item 7): the longer runs' plan and command, and
the paired differences by joint step from step folders of records."""
import shlex

import numpy as np
import pandas as pd
import pytest

from inpainting.disk import sha256
from inpainting.evaluation import budget
from inpainting.evaluation import records as R
from inpainting.experiments import FULL_MODEL, Plan
from inpainting.profiles import get_profile


def test_the_longer_runs_are_notebook_04s_rows_from_the_studys_own_warm_starts():
    study = get_profile("study")
    plan = budget.plan(study)
    rows = plan.table(budget.NOTEBOOK, budget.ROLE)
    assert {r.name for r in rows} >= {FULL_MODEL, "L_rec + L_per", "L_rec + L_adv", "L_rec"}
    assert plan.seeds == (0, 1, 2, 3)
    assert all(spec.profile.train.steps_joint == 540 for r in rows for spec in r.runs)
    warm = {spec.init.key for r in rows for spec in r.runs if spec.init is not None}
    assert warm == {Plan(study).warm_start("faces", s).key for s in plan.seeds}
    study_keys = {spec.key for r in Plan(study).rows for spec in r.runs}
    assert not study_keys & {spec.key for r in rows for spec in r.runs}   # new runs, new keys


def test_the_printed_command_lists_exactly_the_longer_runs(capsys):
    from inpainting.train import main
    args = shlex.split(budget.train_command(get_profile("study")))[3:]
    args[args.index("--all")] = "--list"
    assert main(args) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 4 * 4 + 4   # 4 rows x 4 seeds, and their 4 warm starts


def _write(folder, method, seed, shift, rng, n=24, resamples=40):
    real = rng.normal(size=(n, 8))
    fake = real + rng.normal(scale=shift, size=real.shape)
    frame = pd.concat([R.kid_rows(fake, real, "centre", resamples, 7),
                       R.image_rows(pd.DataFrame({"kind": "centre", "sample": np.arange(n),
                                                  "psnr_hole": 20 + rng.normal(size=n)}))])
    facts = {"role": "faces", "method": method, "seed": seed, "key": sha256(f"{method} {seed}")[:12],
             "generator": "lite"}
    R.write_run(folder, facts, frame)


def test_differences_by_step_follow_the_records(tmp_path):
    rng = np.random.default_rng(0)
    noise = {FULL_MODEL: 0.3, "L_rec + L_per": 1.5, "L_rec + L_adv": 1.5, "L_rec": 3.0}
    for step in (180, 540):
        for seed in range(3):
            for method, shift in noise.items():
                _write(budget.step_folder(tmp_path, step), method, seed, shift, rng)
    table = budget.differences(tmp_path)
    assert sorted(set(table["joint_step"])) == [180, 540]
    assert set(table["claim"]) == {"C1", "C2"} and len(table) == 2 * 3
    # lower KID is better: the method with less noise is better, the difference positive
    assert (table["difference"] > 0).all() and (table["low"] < table["difference"]).all()
    assert (table["seeds"] == 3).all() and (table["images"] == 24).all()
    fig = budget.figure(table)
    assert len(fig.axes) == 1


def test_no_records_is_an_empty_table_and_the_command_says_what_to_do(tmp_path, capsys):
    assert budget.differences(tmp_path).empty
    assert budget.main(["table", "--from", str(tmp_path)]) == 1
    assert "train" in capsys.readouterr().err


def test_the_table_is_written_by_the_one_writer_and_never_over_a_users_file(tmp_path, capsys):
    rng = np.random.default_rng(1)
    for seed in range(2):
        for method in (FULL_MODEL, "L_rec + L_per", "L_rec + L_adv", "L_rec"):
            _write(budget.step_folder(tmp_path, 180), method, seed, 1.0, rng)
    assert budget.main(["table", "--from", str(tmp_path)]) == 0
    assert budget.main(["table", "--from", str(tmp_path)]) == 0   # its own file: replaced
    out = tmp_path / "budget" / "differences.csv"
    out.write_text("mine\n")
    with pytest.raises(SystemExit):
        budget.main(["table", "--from", str(tmp_path)])
    assert out.read_text() == "mine\n"
