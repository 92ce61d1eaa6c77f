"""``python -m inpainting.bench.wait_policy``: OpenMP's wait policy for multi-threaded training,
chosen from paired runs on an idle and on a busy machine.

``python -m inpainting.bench.wait_policy [--profile demo] [--size 64] [--steps 20] [--threads 2]
[--pairs 4] [--busy N] [--policies default PASSIVE]``

Between parallel regions an OpenMP thread either spins (``ACTIVE``; libgomp's default spins for a
while, then sleeps) or sleeps at once (``PASSIVE``). Spinning saves a wake-up on an idle machine
and steals the core from other work on a busy one; with two threads on a 2-core machine doing
other work, the default doubled a run's wall time against ``PASSIVE`` in one paired measurement
(issue 29), while on an idle machine the difference has not been measured.

The runtime reads ``OMP_WAIT_POLICY`` once, when it starts, so every measurement is a fresh
process (:func:`child_command`): it builds ``--profile``'s full-model trainer at ``--size`` px
(random perceptual weights, a plain step: :func:`inpainting.bench.roofs.full_step_trainer`) and
times ``--steps`` joint steps on one batch at ``--threads`` threads. Per run the parent records
the whole process's wall time (start-up and build included, as a user waits for it) and the
child's median step. The policies alternate within each pair and the order flips from pair to pair
(A B, B A, ...), so slow drift of the machine hits both alike; the verdict is the median over pairs
of the per-pair ratio against the first policy.

Two conditions: ``idle`` (nothing started beside the runs; the 1-minute load average before and
after each run shows whether the machine really was idle) and ``busy`` (``--busy N`` processes that
spin a core each run for the whole condition, like a second training on the machine; default one
per core). Writes ``results/bench/wait_policy.csv`` (one row per run) and prints the per-condition
summary headed by the machine. The figures are this machine's; the script asserts nothing.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

POLICIES = ("default", "PASSIVE", "ACTIVE")
CONDITIONS = ("idle", "busy")
SPIN = "while True:\n    pass\n"   # one core's worth of other work


def policy_env(policy: str, threads: int) -> dict[str, str]:
    """The child's environment: ``OMP_WAIT_POLICY`` set (or removed for ``default``) and the
    thread count fixed for OpenMP and torch alike."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def child_command(profile: str, size: int, steps: int, threads: int) -> list[str]:
    return [sys.executable, "-m", "inpainting.bench.wait_policy", "--child", "--profile", profile,
            "--size", str(size), "--steps", str(steps), "--threads", str(threads)]


def pair_order(policies: list[str], pairs: int) -> list[tuple[int, str]]:
    """``(pair, policy)`` in run order: the policies in turn, reversed in every second pair."""
    return [(k, p) for k in range(pairs) for p in (policies if k % 2 == 0 else policies[::-1])]


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return float("nan")


def one_run(command: list[str], env: dict[str, str]) -> dict:
    """Wall seconds of the child process and what it printed (its median step)."""
    load_start = _load()
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"the measured run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall_s": wall, **child, "load_start": load_start, "load_end": _load()}


@contextlib.contextmanager
def busy(n: int):
    """``n`` processes spinning one core each for the duration of the block (stopped after, by
    their own handles)."""
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(n)]
    try:
        time.sleep(1.0 if n else 0.0)   # let them take their cores before the first run
        yield
    finally:
        for proc in spinners:
            proc.kill()
        for proc in spinners:
            proc.wait()


def measure(args: argparse.Namespace, log=print) -> pd.DataFrame:
    """One row per run: condition, pair, policy, wall_s, step_ms, threads, loads."""
    rows = []
    command = child_command(args.profile, args.size, args.steps, args.threads)
    for condition in args.conditions:
        spinners = args.busy if condition == "busy" else 0
        with busy(spinners):
            for pair, policy in pair_order(args.policies, args.pairs):
                row = one_run(command, policy_env(policy, args.threads))
                rows.append({"condition": condition, "busy_processes": spinners, "pair": pair,
                             "policy": policy, **row})
                log(f"{condition} pair {pair} {policy}: {row['wall_s']:.1f} s wall, "
                    f"{row['step_ms']:.0f} ms/step; load {row['load_start']:.2f} -> "
                    f"{row['load_end']:.2f}")
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per condition and policy: medians of wall time and step, and the median over pairs of the
    per-pair ratio against the first policy measured (1 for that policy itself)."""
    rows = []
    for condition, sub in df.groupby("condition", sort=False):
        first = sub.policy.iloc[0]
        base = sub[sub.policy == first].set_index("pair")
        for policy, runs in sub.groupby("policy", sort=False):
            runs = runs.set_index("pair")
            rows.append({"condition": condition, "policy": policy, "runs": len(runs),
                         "wall_s_median": runs.wall_s.median(),
                         "step_ms_median": runs.step_ms.median(),
                         f"wall_vs_{first}": statistics.median(runs.wall_s / base.wall_s),
                         f"step_vs_{first}": statistics.median(runs.step_ms / base.step_ms),
                         "load_max": runs[["load_start", "load_end"]].max().max()})
    return pd.DataFrame(rows)


def run_child(args: argparse.Namespace) -> None:
    """In the measured process: time ``--steps`` plain joint steps and print one JSON line."""
    import torch
    from .roofs import best_seconds, full_step_trainer
    from ..profiles import get_profile
    torch.set_num_threads(args.threads)
    profile = get_profile(args.profile, {"train.device": "cpu", "train.threads": args.threads})
    with tempfile.TemporaryDirectory() as tmp:
        t = full_step_trainer(profile, args.size, "float32", Path(tmp))
        step0, batch = t.step, t.batch(t.step)

        def one_step():
            t.step = step0
            t.train_step(batch)

        _, median = best_seconds(one_step, t.device, args.steps, 1)
    print(json.dumps({"step_ms": 1000 * median, "threads": torch.get_num_threads(),
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default")}))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m inpainting.bench.wait_policy",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed joint steps per run")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2,
                        help="spinning processes in the busy condition (default one per core)")
    parser.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=list(CONDITIONS))
    parser.add_argument("--policies", nargs="+", choices=POLICIES, default=["default", "PASSIVE"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("size", "steps", "threads", "pairs"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be positive")
    if len(set(args.policies)) < 2 and not args.child:
        parser.error("a paired measurement needs two policies or more")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        run_child(args)
        return 0
    import torch
    from .parts import machine_line
    from ..disk import results_dir, save_table
    print(f"measured on: {machine_line(torch.device('cpu'))}", flush=True)
    df = measure(args, log=lambda m: print(m, flush=True))
    with pd.option_context("display.width", 200, "display.float_format", "{:.3g}".format):
        print(summary(df).to_string(index=False))
    print(f"wrote {save_table(df, results_dir('bench') / 'wait_policy.csv')}")
    print(f"measured on: {machine_line(torch.device('cpu'))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
