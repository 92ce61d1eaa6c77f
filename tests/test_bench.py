"""The speed benchmarks: the parts of a step add up to the step and compute what it computes; the
roofs table's FLOPs and rates are consistent; the command line refuses what it cannot do."""
from __future__ import annotations

import pytest
import torch

from inpainting.bench import cli
from inpainting.bench import throughput as bench
from inpainting.bench.parts import (SUM_ROW, STEP_ROW, WARM_START, decomposed_step, kind_trainer,
                                    measure, resolve_variants, run_parts, select_kinds,
                                    stage_steps, step_kinds, summary)
from inpainting.bench.roofs import ConvRecorder, run_roofs
from inpainting.experiments import CONTEXT_ENCODER, FULL_MODEL
from inpainting.profiles import get_profile


@pytest.fixture(scope="module")
def smoke():
    return get_profile("smoke", {"train.device": "cpu"})


@pytest.fixture(scope="module")
def kinds(smoke):
    return step_kinds(smoke, ["faces"])


def test_step_kinds_list_each_kind_once_warm_start_first(kinds):
    labels = [k.label for k in kinds]
    assert len(labels) == len(set(labels))
    assert kinds[0].variants[0] == WARM_START and kinds[0].stage == "G"
    # L_rec alone has no discriminator: its joint steps are the warm start's G steps
    assert "L_rec" in kinds[0].variants
    # one D-only step serves every lite variant with L_adv
    d_kinds = [k for k in kinds if k.stage == "D" and FULL_MODEL in k.variants]
    assert len(d_kinds) == 1 and "L_rec + L_adv" in d_kinds[0].variants
    assert any(CONTEXT_ENCODER in k.variants for k in kinds)
    assert {k.role for k in kinds} == {"faces"}


def test_select_and_resolve_variants(kinds):
    assert resolve_variants(["full", "CE", "warm"]) == [FULL_MODEL, CONTEXT_ENCODER, WARM_START]
    with pytest.raises(ValueError, match="unknown variant.*valid"):
        resolve_variants(["no such model"])
    chosen = select_kinds(kinds, [FULL_MODEL], ["joint"])
    assert chosen and all(k.stage == "joint" and FULL_MODEL in k.variants for k in chosen)


def _params(trainer):
    return [p.detach().clone() for m in (trainer.module.G, trainer.module.D) if m is not None
            for p in m.parameters()]


@pytest.mark.parametrize("stage", ["D", "joint"])
def test_decomposed_step_is_the_trainers_own_step(kinds, stage, tmp_path):
    kind = next(k for k in kinds if k.stage == stage and FULL_MODEL in k.variants)
    whole = kind_trainer(kind, tmp_path / "whole")
    parts = kind_trainer(kind, tmp_path / "parts")
    before = _params(whole)
    assert all(torch.equal(a, b) for a, b in zip(before, _params(parts)))
    step = stage_steps(whole, stage)[0]
    whole.step = step
    whole.train_step(whole.batch(step))
    clock = decomposed_step(parts, step)
    changed = 0
    for a, b, c in zip(before, _params(whole), _params(parts)):
        # Exact: the timed step is Trainer.train_step itself (hooks only read the clock), run on
        # the same batch from the same weights in the same process, so every operation and its
        # summation order are the same on any CPU kind and thread count.
        assert torch.equal(c, b)
        changed += not torch.equal(a, b)
    assert changed > 0
    expected = {"data", "Adam D", "D global forward (D step)", "D local backward (D step)",
                "D global backward (D step)", "D head + loss (D step)"}
    if stage == "joint":
        expected |= {"G forward", "G backward", "Adam G", "perceptual forward (composite)",
                     "perceptual forward (real, no_grad)", "perceptual backward (to the composite)",
                     "D head + loss (G step)", "D local backward (G step)", "D global forward (G step)"}
    else:
        expected |= {"G forward (no_grad)"}
    assert expected <= set(clock.parts), expected - set(clock.parts)
    assert all(v >= 0 for v in clock.parts.values())
    assert sum(clock.parts.values()) == pytest.approx(clock.total, rel=1e-9)
    # the hooks are gone afterwards: a later step is unhooked
    assert not parts.module.G._forward_hooks and not parts.module.G._forward_pre_hooks


def test_parts_table_and_its_check(smoke, kinds):
    chosen = select_kinds(kinds, [FULL_MODEL], ["joint"])
    df = run_parts(smoke, chosen, reps=2, log=lambda m: None)
    assert {SUM_ROW, STEP_ROW} <= set(df.part)
    parts = df[~df.part.isin([SUM_ROW, STEP_ROW])]
    assert parts.pct_of_step.sum() == pytest.approx(100.0)
    assert (parts.ms_min <= parts.ms_median).all() and (parts.ms_median <= parts.ms_max).all()
    table = summary(df)
    assert len(table) == 1
    shares = [c for c in table.columns if c.startswith("% ")]
    assert table[shares].sum(axis=1).iloc[0] == pytest.approx(100.0)
    assert table["check"].iloc[0] in ("ok", "off by more than 5 %")
    # the check flags a sum far from the step
    fake = df.copy()
    fake.loc[fake.part == STEP_ROW, "ms_median"] *= 3
    assert summary(fake)["check"].iloc[0].startswith("off by")


def test_measure_alternates_on_successive_steps(kinds):
    kind = next(k for k in kinds if k.stage == "G")
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        times = measure(kind_trainer(kind, tmp), "G", reps=3, warmup=0)
    assert len(times.sums) == len(times.whole) == 3
    assert all(len(v) == 3 for v in times.parts.values())
    assert times.ratio > 0


def test_conv_recorder_sees_forward_and_backward_convolutions():
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    with ConvRecorder() as rec:
        conv(x).sum().backward()
    ops = {str(spec[0]) for spec in rec.calls}
    assert any("convolution_backward" in op for op in ops)
    assert any(op.endswith("convolution.default") for op in ops)


def test_roofs_table_is_consistent(smoke):
    df, convs = run_roofs(smoke, [32], ["float32"], reps=1, conv_reps=1, log=lambda m: None)
    row = df.iloc[0]
    assert row.precision == "float32" and row["size"] == 32
    assert 0 < row.conv_gflop <= row.step_gflop
    assert row.gflop_per_s == pytest.approx(row.step_gflop / (row.step_ms_best / 1000))
    assert row.pct_matmul_fp32 == pytest.approx(100 * row.gflop_per_s / row.matmul_fp32_gflops)
    assert row.pct_conv_roof == pytest.approx(100 * row.gflop_per_s / row.conv_roof_gflops)
    assert len(convs) > 0 and (convs.calls >= 1).all()


@pytest.mark.parametrize("argv", [["--variants", "full"], ["--parts", "--precisions", "float32"],
                                  ["--data-only", "--precisions", "float32"],
                                  ["--precisions", "float8"],
                                  ["--profile", "demo"], ["--parts", "--sizes", "64", "128"],
                                  ["--parts", "--variants", "nonsense"], ["--parts", "--roofs"],
                                  ["--batch", "0"], ["--overrides", '{"train.channels_last": true}'],
                                  ["--roofs", "--overrides", '{"train.nope": 1}'],
                                  ["--parts", "--overrides", "[1]"]])
def test_command_line_usage_errors(argv):
    with pytest.raises(SystemExit) as exc:
        cli.parse_args(argv)
    assert exc.value.code == 2


def test_perceptual_scale_measures_both_states_per_level():
    """python -m inpainting.bench.perceptual_scale (docs/method.md §5.4), at smoke size."""
    import math
    from inpainting.bench.perceptual_scale import measure
    table = measure("smoke", steps=2, batches=1, weights=("random",),
                    distances=("relative", "mse"), layers=("relu1_1", "relu2_1"))
    assert list(table.columns) == ["state", "weights", "distance", "layer", "L_rec", "L_per",
                                   "loss_ratio", "grad_ratio"]
    assert list(table["state"].unique()) == ["init", "after 2 L_rec steps"] and len(table) == 8
    assert all(math.isfinite(v) and v > 0 for v in table[["L_rec", "L_per", "loss_ratio",
                                                          "grad_ratio"]].to_numpy().ravel())
    row = table.iloc[0]
    assert math.isclose(row["loss_ratio"], row["L_per"] / row["L_rec"], rel_tol=1e-9)   # w_per 1


# ---------------------------------------------------------- a timed step is the step it names
class Work:
    """Counts, inside the ``with`` block, the autograd engine's runs (``Tensor.backward``,
    ``torch.autograd.backward`` and ``torch.autograd.grad`` all go through
    ``torch.autograd._engine_run_backward``) and the optimiser steps (torch's global step hook)."""

    def __init__(self, monkeypatch):
        self.backward = self.optimiser = 0
        engine = torch.autograd._engine_run_backward

        def counted(*args, **kwargs):
            self.backward += 1
            return engine(*args, **kwargs)

        monkeypatch.setattr(torch.autograd, "_engine_run_backward", counted)

    def _stepped(self, *args):
        self.optimiser += 1

    def __enter__(self):
        from torch.optim.optimizer import register_optimizer_step_post_hook
        self.handle = register_optimizer_step_post_hook(self._stepped)
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def work_per_call(step, calls: int, monkeypatch) -> set[tuple[int, int]]:
    """The distinct (backward passes, optimiser steps) of ``calls`` successive calls of ``step``."""
    seen = set()
    for _ in range(calls):
        with Work(monkeypatch) as work:
            step()
        seen.add((work.backward, work.optimiser))
    return seen


# a joint step: D's backward and Adam, then G's; a G step: G's alone
EXPECTED = {"joint": {(2, 2)}, "G": {(1, 1)}}


@pytest.mark.parametrize("stage", ["joint", "G"])
def test_a_timed_training_row_does_only_its_step(stage, tmp_path, monkeypatch):
    """The comparison's rows time bench.timed_step; the smoke profile measures the term balance
    every 2nd step (train.log_every 2), which adds a backward pass per term: a timed step must
    not."""
    trainer = bench.make_trainer("lite", 32, 2, stage, "cpu", tmp_path, amp=False)
    assert trainer.profile.train.log_every == 2
    assert work_per_call(bench.timed_step(trainer), 4, monkeypatch) == EXPECTED[stage]
    if stage == "joint":   # (the G row has L_rec alone: nothing to balance)
        trainer.balance_every = 1   # the counter sees the measurement's passes: the test can fail
        assert work_per_call(bench.timed_step(trainer), 2, monkeypatch) == {(2 + 3, 2)}


def test_the_roofs_and_parts_steps_do_only_their_step(smoke, kinds, tmp_path, monkeypatch):
    from inpainting.bench.parts import whole_step
    from inpainting.bench.roofs import full_step_trainer
    t = full_step_trainer(smoke, 32, "float32", tmp_path / "roofs")
    step = t.step = next(s for s in stage_steps(t, "joint") if (s + 1) % 2 == 0)   # a grid step

    def roofs_step():
        t.step = step
        t.train_step(t.batch(step))

    assert work_per_call(roofs_step, 2, monkeypatch) == EXPECTED["joint"]
    kind = next(k for k in kinds if k.stage == "joint" and FULL_MODEL in k.variants)
    p = kind_trainer(kind, tmp_path / "parts")
    grid = next(s for s in stage_steps(p, "joint") if (s + 1) % p.profile.train.log_every == 0)
    assert work_per_call(lambda: whole_step(p, grid), 2, monkeypatch) == EXPECTED["joint"]


def test_the_roof_is_measured_at_the_steps_thread_count(smoke):
    one = get_profile("smoke", {"train.device": "cpu", "train.threads": 1})
    df, _ = run_roofs(one, [32], ["float32"], reps=1, conv_reps=1, log=lambda m: None)
    row = df.iloc[0]
    assert row.threads == row.matmul_threads == 1
    assert {"isa", "device_name", "load_start", "load_end"} <= set(df.columns)
    roof = bench.Roof(torch.device("cpu"), reps=1)
    roof(1)
    assert list(roof.by_threads) == [1]


def test_emulated_precisions_only_when_asked(monkeypatch):
    from inpainting.bench import roofs
    cpu = torch.device("cpu")
    monkeypatch.setattr(roofs, "cpu_bf16_fast", lambda: False)
    assert roofs.native_precisions(cpu) == ("float32",)
    assert roofs.kernels(cpu, "bfloat16") == roofs.EMULATED
    assert bench.amp_flags(["float32", "bfloat16"], cpu) == [False, True]   # asked: measured
    with pytest.raises(ValueError, match="float32 or bfloat16 on cpu, not float16"):
        bench.amp_flags(["float16"], cpu)
    monkeypatch.setattr(roofs, "cpu_bf16_fast", lambda: True)
    assert roofs.native_precisions(cpu) == ("float32", "bfloat16")


def test_wait_policy_pairs_alternate_and_compare_within_pairs(tmp_path, monkeypatch):
    """python -m inpainting.bench.wait_policy (issue 29): each policy in a fresh process with
    OMP_WAIT_POLICY set (or unset for the default), order flipped every second pair, ratios taken
    within pairs. One tiny idle pair really runs (no busy load is started here)."""
    import pandas as pd
    from inpainting.bench import wait_policy as wp
    assert wp.pair_order(["default", "PASSIVE"], 3) == [
        (0, "default"), (0, "PASSIVE"), (1, "PASSIVE"), (1, "default"), (2, "default"), (2, "PASSIVE")]
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert "OMP_WAIT_POLICY" not in wp.policy_env("default", 2)
    assert wp.policy_env("PASSIVE", 2)["OMP_WAIT_POLICY"] == "PASSIVE"
    assert wp.policy_env("PASSIVE", 2)["OMP_NUM_THREADS"] == "2"
    fake = pd.DataFrame({"condition": "busy", "pair": [0, 0, 1, 1], "policy":
                         ["default", "PASSIVE", "PASSIVE", "default"], "wall_s": [20, 10, 12, 24],
                         "step_ms": [100, 50, 60, 120], "load_start": 2.0, "load_end": 3.0})
    table = wp.summary(fake).set_index("policy")
    assert table.loc["PASSIVE", "wall_vs_default"] == pytest.approx(0.5)
    assert table.loc["default", "wall_vs_default"] == 1.0 and table.loc["PASSIVE", "runs"] == 2
    with pytest.raises(SystemExit):
        wp.parse_args(["--policies", "PASSIVE"])
    monkeypatch.delenv("OMP_WAIT_POLICY")
    args = wp.parse_args(["--profile", "smoke", "--size", "32", "--steps", "1", "--threads", "1",
                          "--pairs", "1", "--conditions", "idle"])
    df = wp.measure(args, log=lambda m: None)
    assert list(df.policy) == ["default", "PASSIVE"] and (df.wall_s > 0).all()
    assert list(df.omp_wait_policy) == ["default", "PASSIVE"] and (df.threads == 1).all()


def test_agreement_times_the_plain_steps_of_a_real_fit(tmp_path):
    """python -m inpainting.bench.agreement: the trainer side is a real ``fit`` whose recorded step
    times leave out the warm-up and the term-balance steps (plumbing; the ratio is a figure)."""
    from inpainting.bench import agreement
    ms, n = agreement.trainer_step_ms("lite", 32, 2, 8, "cpu", tmp_path / "fit")
    assert ms > 0 and 1 <= n <= 8 - agreement.WARMUP
    with pytest.raises(ValueError, match="no plain joint step"):
        agreement.trainer_step_ms("lite", 32, 2, agreement.WARMUP, "cpu", tmp_path / "short")
