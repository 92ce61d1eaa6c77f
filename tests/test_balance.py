"""Term balance (training/balance.py): the gradient norms are right on a known loss, measuring
leaves the update bit-identical (w.r.t. the output and w.r.t. the parameters), the loop logs them
on the train.log_every grid (every point of a stage's first 40 steps, then one in five), and the
shares read back from a history."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from inpainting import training
from inpainting.reporting import viz
from inpainting.models.perceptual_weights import OFFLINE_ENV
from inpainting.profiles import get_profile
from inpainting.training.balance import BALANCE_COLUMNS, shares, term_gradient_norms

STEPS = {"train.steps_g": 2, "train.steps_d": 1, "train.steps_joint": 3, "train.log_every": 2}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv(OFFLINE_ENV, "1")


def test_norms_of_a_known_loss():
    x = torch.tensor([1.0, 2.0, 2.0], requires_grad=True)
    weighted = {"rec": 0.5 * (x ** 2).sum(), "adv": 3.0 * x.sum()}   # grads x and (3, 3, 3)
    norms = term_gradient_norms(weighted, [x])
    assert norms["gnorm_rec"] == pytest.approx(3.0)
    assert norms["gnorm_adv"] == pytest.approx(math.sqrt(27))
    assert norms["gnorm_g"] == pytest.approx(math.sqrt(4 ** 2 + 5 ** 2 + 5 ** 2))
    assert math.isnan(norms["gnorm_per"])
    assert x.grad is None                       # nothing accumulated
    weighted["rec"].backward()                   # the graph was kept
    # a scale (a float16 loss scaler's) changes nothing but the rounding
    scaled = term_gradient_norms({"rec": 0.5 * (x ** 2).sum()}, [x], scale=1024.0)
    assert scaled["gnorm_rec"] == pytest.approx(3.0)
    with pytest.raises(ValueError, match="unknown loss terms.*'tv'"):
        term_gradient_norms({"tv": x.sum()}, [x])


def test_shares_of_a_history():
    history = pd.DataFrame({"step": [0, 1, 2], "stage": ["G", "joint", "joint"],
                            "gnorm_rec": [float("nan"), 2.0, 1.0], "gnorm_adv": [float("nan"), 1.0, 3.0],
                            "gnorm_per": [float("nan"), float("nan"), 0.0],
                            "gnorm_g": [float("nan"), 2.5, 3.2]})
    s = shares(history)
    assert list(s.step) == [1, 2]
    assert s.share_rec.tolist() == pytest.approx([0.8, 1 / 3.2])
    assert s.share_adv.tolist() == pytest.approx([0.4, 3 / 3.2])
    assert math.isnan(s.share_per[0]) and s.share_per[1] == 0
    assert shares(history.drop(columns=list(BALANCE_COLUMNS))).empty   # an old run's log


def _trainer(tmp_path, name, every, wrt=None):
    profile = get_profile("smoke", STEPS)
    t = training.Trainer(training.RunSpec(profile, "faces"), tmp_path / name, progress=False)
    t.balance_every = every
    t.build()
    if wrt is not None:
        t.module.balance_wrt = wrt
    return t


@pytest.mark.parametrize("wrt", ["output", "parameters"])
def test_measuring_leaves_the_update_bit_identical(tmp_path, wrt):
    plain, measured = _trainer(tmp_path, "plain", 0), _trainer(tmp_path, "measured", 1, wrt)
    for _ in range(6):   # stages G, D and joint
        a, b = plain.train_step(), measured.train_step()
        assert all(math.isnan(a[c]) for c in BALANCE_COLUMNS)
        if b["stage"] != "D":
            assert b["gnorm_g"] > 0 and b["gnorm_rec"] > 0
            assert (b["gnorm_adv"] > 0) == (b["stage"] == "joint")
        for k in ("rec", "adv_g", "per", "g_total", "d_loss"):
            assert (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k], k
    # exact: the same operations in the same order on the same machine; measuring only reads
    for m in ("G", "D"):
        for p, q in zip(getattr(plain.module, m).parameters(), getattr(measured.module, m).parameters()):
            assert torch.equal(p, q)
    for p, q in zip(plain.module.opt_g.state.values(), measured.module.opt_g.state.values()):
        assert torch.equal(p["exp_avg_sq"], q["exp_avg_sq"])


def test_the_loop_logs_the_norms_every_log_every_steps(tmp_path):
    result = _trainer(tmp_path, "fit", 2).fit()
    h = result.history
    measured = h[h.gnorm_g.notna()]
    # the steps done 2, 4, 6 are logged (log_every 2): steps 1 (G), 3 and 5 (joint)
    assert list(measured.step) == [1, 3, 5]
    assert list(measured.stage) == ["G", "joint", "joint"]
    assert measured.gnorm_adv.isna().tolist() == [True, False, False]
    assert h[h.stage == "D"].gnorm_g.isna().all()     # the D stage makes no generator step
    s = shares(h)
    assert (s.share_rec > 0).all() and (s.share_per > 0).all()
    # one process: w.r.t. the parameters, and the record says so
    record = json.loads((result.out_dir / "train_config.json").read_text())
    assert record["balance_wrt"] == "parameters"
    fig = viz.term_balance(h)
    assert [line.get_label() for line in fig.axes[0].get_lines()][:3] == ["rec", "adv", "per"]


def test_a_term_alone_is_not_measured(tmp_path, monkeypatch):
    monkeypatch.setenv(OFFLINE_ENV, "1")
    profile = get_profile("smoke", {**STEPS, "loss.w_adv": 0.0, "loss.w_per": 0.0})
    t = training.Trainer(training.RunSpec(profile, "faces"), tmp_path / "alone", progress=False)
    t.balance_every = 1
    t.build()
    assert all(math.isnan(t.train_step()[c]) for c in BALANCE_COLUMNS)


def test_parameters_need_one_process(tmp_path):
    t = _trainer(tmp_path, "bad", 1, "weights")
    with pytest.raises(ValueError, match="balance_wrt='weights'; valid: output, parameters"):
        t.train_step()


def test_row_balance_applies_the_weight_rule_to_each_trained_row():
    from inpainting.training.balance import ACTS, row_balance

    def history(adv):   # 10 G steps, then joint steps measured every 20
        rows = [{"step": s, "stage": "G", "gnorm_g": math.nan} for s in range(10)]
        for s in range(10, 130, 20):
            rows.append({"step": s, "stage": "joint", "gnorm_rec": 1.0, "gnorm_adv": adv,
                         "gnorm_per": 0.5, "gnorm_g": 1.0})
        return pd.DataFrame(rows).reindex(columns=["step", "stage", *BALANCE_COLUMNS])
    lone = pd.DataFrame({"step": [0, 1], "stage": ["G", "G"], "gnorm_rec": [math.nan] * 2,
                         "gnorm_adv": [math.nan] * 2, "gnorm_per": [math.nan] * 2,
                         "gnorm_g": [math.nan] * 2})
    table = row_balance({"acts": history(0.2), "too weak": history(ACTS / 2), "L_rec": lone}).set_index("row")
    assert table.loc["acts", "acts"] == True and table.loc["too weak", "acts"] == False  # noqa: E712
    assert table.loc["acts", "measured_at_start"] == 2 and table.loc["acts", "measured_steps"] == 6
    assert table.loc["too weak", "share_adv_start"] == pytest.approx(ACTS / 2)
    assert math.isnan(table.loc["L_rec", "acts"]) and table.loc["L_rec", "measured_steps"] == 0


def _grid(schedule, every):   # the steps measured before issue 29: every point of the grid
    return [s for s in range(schedule.total) if (s + 1) % every == 0]


def test_the_balance_is_measured_sparsely_after_the_weight_rules_window():
    """Issue 29: every 20th step cost about 5 % of a joint stage. The study's schedule (G 400, D 20,
    joint 180, log_every 20) keeps the rule's window, one point in five after it and the last."""
    from inpainting.training import Schedule
    from inpainting.training.balance import START_STEPS, is_measured
    study = Schedule.from_profile(get_profile("study"))
    joint = study.steps_of("joint")
    old = [s for s in _grid(study, 20) if s in joint]
    new = [s for s in joint if is_measured(s, study, 20)]
    assert old == [439, 459, 479, 499, 519, 539, 559, 579, 599]
    assert new == [439, 459, 499, 599]
    assert set(new) <= set(old)                                 # the same steps, fewer of them
    window = [s for s in old if s < old[0] + START_STEPS]       # what row_balance's rule reads
    assert [s for s in new if s < new[0] + START_STEPS] == window
    assert [s for s in range(study.total) if is_measured(s, study, 20, sparse=1)] == _grid(study, 20)
    assert not any(is_measured(s, study, 0) for s in range(study.total))
    # a long run (the paper's joint stage, log_every 100): one point in five after the window
    paper = Schedule.from_profile(get_profile("paper"))
    measured = sum(is_measured(s, paper, 100) for s in paper.steps_of("joint"))
    assert measured == pytest.approx(len(paper.steps_of("joint")) / 500, abs=2)


def test_the_weight_rule_reads_the_same_start_from_the_sparser_log():
    """row_balance's start medians (the rule, `acts`) are those of the full grid."""
    from inpainting.training import Schedule
    from inpainting.training.balance import is_measured, row_balance
    study = Schedule.from_profile(get_profile("study"))
    rows = [{"step": s, "stage": study.stage(s), "gnorm_rec": 1.0, "gnorm_adv": 0.01 * (1 + s % 7),
             "gnorm_per": 0.5, "gnorm_g": 1.0} for s in _grid(study, 20)
            if study.stage(s) == "joint"]
    full = pd.DataFrame(rows).reindex(columns=["step", "stage", *BALANCE_COLUMNS])
    sparse = full[[is_measured(s, study, 20) for s in full.step]]
    a, b = row_balance({"r": full}).iloc[0], row_balance({"r": sparse}).iloc[0]
    for column in ("share_rec_start", "share_adv_start", "share_per_start", "acts",
                   "measured_at_start"):
        assert a[column] == b[column], column
    assert b["measured_steps"] < a["measured_steps"]
