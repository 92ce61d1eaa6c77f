"""``python -m inpainting.bench.term_balance``: each loss term's share of the generator's gradient
in a row's first joint steps (docs/method.md §5.5, the rule for choosing loss weights).

For one variant (ablation row) of a profile: its warm start (trained or reused like any run of the
experiments, in ``results/<profile>/runs/``), then, in a temporary folder, its D-only stage and
``--steps`` joint steps, every generator step measured (:mod:`inpainting.training.balance`) with
respect to the generator's output (what training logs) and to its parameters (what the update
follows), so the two can be compared. Single thread, float32 unless the profile says otherwise.

Output: one row per (wrt, term) with the median and the range of the term's share
(``||grad w*L_term|| / ||grad of the sum||``) over the measured joint steps, and whether it acts
(median share >= :data:`inpainting.training.balance.ACTS`, the rule of docs/method.md §5.5).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import pandas as pd
import torch

from ..experiments import FULL_MODEL, train_spec, variant_spec
from ..profiles import get_profile, parse_overrides
from ..training import Trainer
from ..training.balance import ACTS, TERMS, WRT, gradient_targets, term_gradient_norms


def measure(profile, overrides: dict | None = None, role: str = "faces", steps: int = 40,
            wrt=WRT, log=print) -> pd.DataFrame:
    """One row per measured joint step and ``wrt``: step, wrt, ``gnorm_*`` and ``share_*``."""
    profile = get_profile(profile.name, {**dict(profile.overrides), "train.threads": 1})
    spec = variant_spec(profile, overrides or {}, role)
    if spec.init is not None:
        start = time.perf_counter()
        train_spec(spec.init, progress=False)
        log(f"warm start ready ({time.perf_counter() - start:.0f} s): {spec.init.key}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(spec, out_dir=tmp, progress=False)
        trainer.balance_every = trainer.balance_sparse = 1   # every generator step calls measured()

        def measured(weighted, output):
            if trainer.schedule.stage(trainer.step) == "joint":
                for kind in wrt:
                    norms = term_gradient_norms(weighted, gradient_targets(kind, output, trainer.module.G))
                    rows.append({"step": trainer.step, "wrt": kind, **norms})
            return {}

        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            trainer.build()
            trainer.module.measure_balance = measured
            trainer._start_generator()
            s = trainer.schedule
            start = time.perf_counter()
            for _ in range(min(s.total, s.steps_g + s.steps_d + steps)):
                trainer.train_step()   # a joint step's generator update calls measured()
            log(f"{s.steps_g + s.steps_d} G/D-stage and {steps} joint steps: "
                f"{time.perf_counter() - start:.0f} s")
        finally:
            torch.set_num_threads(previous)
    frame = pd.DataFrame(rows)
    for t in TERMS:
        frame[f"share_{t}"] = frame[f"gnorm_{t}"] / frame["gnorm_g"]
    return frame


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Median, min and max share of every measured term per ``wrt``, and whether it acts."""
    rows = []
    for kind, part in frame.groupby("wrt", sort=False):
        for t in TERMS:
            share = part[f"share_{t}"].dropna()
            if len(share):
                rows.append({"wrt": kind, "term": t, "median": share.median(), "min": share.min(),
                             "max": share.max(), "steps": len(share),
                             "acts": bool(share.median() >= ACTS)})
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m inpainting.bench.term_balance",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--overrides", default=None, help="profile overrides as a JSON object")
    parser.add_argument("--variant", default="{}", help="the row's overrides as a JSON object "
                        f"(default {{}}: {FULL_MODEL})")
    parser.add_argument("--role", default="faces")
    parser.add_argument("--steps", type=int, default=40, help="joint steps measured")
    args = parser.parse_args(argv)
    profile = get_profile(args.profile, args.overrides)
    frame = measure(profile, parse_overrides(args.variant, "--variant"), args.role, args.steps)
    print(summary(frame).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(json.dumps({"cpu_threads": 1, "precision": "float32" if not profile.train.amp
                      else "amp"}))


if __name__ == "__main__":
    main()
