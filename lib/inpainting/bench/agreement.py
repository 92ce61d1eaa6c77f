"""``python -m inpainting.bench.agreement``: does the bench's full-step row time the step a training
run takes?

``python -m inpainting.bench.agreement [--generators lite glcic] [--sizes 64] [--batch 16]
[--steps 24] [--pairs 2]``

For each generator and size, two measurements of the same configuration
(:func:`inpainting.bench.throughput.step_profile`, float32), alternating ``--pairs`` times:

* ``bench``: the row ``python -m inpainting.bench`` prints (:func:`~.throughput.bench_training`:
  plain steps on one fixed batch, median of 10);
* ``trainer``: a real ``Trainer.fit`` of ``--steps`` joint steps, timed by the training loop itself
  (the ``seconds`` its history records around each ``train_step``: data loading outside, as in the
  bench row); the median over the steps after the first two, leaving out the steps on which the
  loop measures the term balance (:func:`inpainting.training.balance.is_measured`: those do one
  extra backward pass per loss term and are not the step either row names).

Prints each pair's ratio bench / trainer (the target: within 10 %) headed by the machine line and
writes ``results/bench/agreement.csv``. The figures are this machine's; the script asserts nothing.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import pandas as pd

from .common import load_average, machine_line
from .throughput import Roof, bench_training, step_profile
from ..disk import results_dir, save_table
from ..runtime import select_device
from ..training import RunSpec, Trainer
from ..training.balance import is_measured

WARMUP = 2   # the first steps of a fit allocate their buffers


def trainer_step_ms(generator: str, size: int, batch: int, steps: int, device: str,
                    out_dir: Path) -> tuple[float, int]:
    """Median milliseconds of the plain joint steps of a real ``fit`` (module doc) and how many
    steps that median is over."""
    trainer = Trainer(RunSpec(step_profile(generator, size, batch, "joint", device, False, steps),
                              "faces"), out_dir, progress=False)
    trainer.fit()
    plain = [r["seconds"] for r in trainer.history[WARMUP:]
             if r["stage"] == "joint" and not is_measured(r["step"], trainer.schedule,
                                                          trainer.balance_every,
                                                          trainer.balance_sparse)]
    if not plain:
        raise ValueError(f"--steps {steps} leaves no plain joint step after the {WARMUP} warm-up "
                         "steps: give more steps")
    return 1000 * statistics.median(plain), len(plain)


def run(generators: list[str], sizes: list[int], batch: int, steps: int, pairs: int,
        device: str) -> pd.DataFrame:
    dev = select_device(device)
    roof, rows = Roof(dev), []
    with tempfile.TemporaryDirectory() as tmp:
        for generator in generators:
            for size in sizes:
                for pair in range(pairs):
                    load = load_average()
                    hand_ms, n = trainer_step_ms(generator, size, batch, steps, device,
                                                 Path(tmp) / f"{generator}-{size}-{pair}")
                    bench = bench_training(generator, size, batch, "joint", dev, 10, roof,
                                           Path(tmp), False)
                    rows.append({"generator": generator, "size": size, "batch": batch,
                                 "pair": pair, "bench_ms": bench["ms"], "trainer_ms": hand_ms,
                                 "trainer_steps": n, "ratio": bench["ms"] / hand_ms,
                                 "threads": bench["threads"], "device_name": bench["device_name"],
                                 "isa": bench["isa"], "precision": bench["precision"],
                                 "load_start": load, "load_end": load_average()})
                    r = rows[-1]
                    print(f"{generator} {size}px batch {batch}, pair {pair}: bench {r['bench_ms']:.1f} "
                          f"ms, trainer {r['trainer_ms']:.1f} ms (median of {n}), ratio "
                          f"{r['ratio']:.3f}", flush=True)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpainting.bench.agreement",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--generators", nargs="+", choices=("lite", "glcic"), default=["lite", "glcic"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[64])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=24, help="joint steps of each real fit")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    device = select_device(args.device)
    print(f"measured on: {machine_line(device, 'float32')}", flush=True)
    df = run(args.generators, args.sizes, args.batch, args.steps, args.pairs, args.device)
    summary = df.groupby(["generator", "size"])["ratio"].median().rename("median ratio bench/trainer")
    print(summary.to_string())
    print(f"measured on: {machine_line(device, 'float32')}", flush=True)
    print(f"wrote {save_table(df, results_dir('bench') / 'agreement.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
