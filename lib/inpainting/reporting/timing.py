"""Where the minutes of a run of the kit went: per notebook, per training run, per stage.

``python -m inpainting.reporting.timing [--profile demo]`` reads what a finished ``./run_all.sh <profile>``
left under ``results/<profile>/`` and prints three tables (also written as CSV under ``tables/``):

* ``timing_notebooks``: wall seconds of every notebook (``run.json``), split into training steps
  of the runs that notebook trained, and everything else (imports, building models and data,
  checkpoints and sample figures, evaluation, figures): the per-cell times papermill recorded in the
  executed notebook give its slowest cells;
* ``timing_runs``: every training run: which notebook trained it, which notebooks reused it,
  its precision and threads, steps and seconds per stage (G, D-only, joint) from its ``log.csv``,
  and milliseconds per step;
* ``timing_stages``: seconds per stage summed over all runs.

The split of one training step into its parts (generator, global and local discriminator,
perceptual network, data, optimiser) is measured by ``python -m inpainting.bench --parts``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from ..disk import read_run_json, results_dir, save_table
from ..training.records import read_log

STAGES = ("G", "D", "joint")


def _read_run_json(profile_name: str) -> dict:
    path = results_dir(profile_name) / "run.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run ./run_all.sh <profile> first")
    return read_run_json(profile_name)   # a damaged one is set aside with a warning: {}


def run_table(root: Path, run: dict) -> pd.DataFrame:
    """One row per training run listed in ``run.json`` (see module docstring)."""
    rows = []
    for name, prov in sorted((run.get("runs") or {}).items()):
        row = {"run": name, "role": prov.get("role"), "generator": prov.get("generator"),
               "seed": prov.get("seed"), "precision": prov.get("precision"),
               "torch_threads": prov.get("torch_threads"),
               "trained_by": ", ".join(prov.get("trained_by", [])) or "(earlier session)",
               "used_by": ", ".join(prov.get("used_by", [])),
               "steps": prov.get("steps"), "seconds": prov.get("seconds")}
        log = root / name / "log.csv"
        if log.is_file():
            history = read_log(log)
            for stage in STAGES:
                part = history[history["stage"] == stage]["seconds"]
                row[f"{stage}_steps"] = len(part)
                row[f"{stage}_s"] = round(float(part.sum()), 1)
                row[f"{stage}_ms_per_step"] = round(1000 * float(part.median()), 1) if len(part) else None
        rows.append(row)
    return pd.DataFrame(rows)


def cell_times(notebook: Path, top: int = 3) -> tuple[float, str]:
    """Summed per-cell seconds of an executed notebook and its ``top`` slowest cells (text)."""
    if not notebook.is_file():
        return float("nan"), ""
    cells = json.loads(notebook.read_text()).get("cells", [])
    timed = []
    for i, cell in enumerate(cells):
        duration = cell.get("metadata", {}).get("papermill", {}).get("duration")
        if duration is not None:
            first = "".join(cell.get("source", "")).strip().splitlines()[:1]
            timed.append((float(duration), i, first[0][:50] if first else ""))
    slowest = "; ".join(f"cell {i} {d:.0f}s `{text}`" for d, i, text in sorted(timed, reverse=True)[:top])
    return sum(d for d, _, _ in timed), slowest


def notebook_table(root: Path, run: dict, runs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for name, seconds in (run.get("notebooks") or {}).items():
        stem = Path(name).stem
        trained = runs[runs["trained_by"].str.split(", ").apply(lambda names: stem in names)] \
            if len(runs) else runs
        training = float(trained["seconds"].sum()) if len(trained) else 0.0
        cells, slowest = cell_times(root / "notebooks" / name)
        rows.append({"notebook": stem, "seconds": seconds, "minutes": round(seconds / 60, 2),
                     "runs_trained": len(trained), "training_steps_s": round(training, 1),
                     "other_s": round(seconds - training, 1), "slowest_cells": slowest})
    table = pd.DataFrame(rows)
    if len(table):
        total = {"notebook": "total", "seconds": table["seconds"].sum(),
                 "minutes": round(table["seconds"].sum() / 60, 2),
                 "runs_trained": table["runs_trained"].sum(),
                 "training_steps_s": round(table["training_steps_s"].sum(), 1),
                 "other_s": round(table["other_s"].sum(), 1), "slowest_cells": ""}
        table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    return table


def stage_table(runs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for stage in STAGES:
        if f"{stage}_s" in runs:
            rows.append({"stage": stage, "steps": int(runs[f"{stage}_steps"].sum()),
                         "seconds": round(float(runs[f"{stage}_s"].sum()), 1)})
    return pd.DataFrame(rows)


def timing(profile_name: str) -> dict[str, pd.DataFrame]:
    """The three tables of the module docstring for ``results/<profile>/`` (also saved as CSV)."""
    root = results_dir(profile_name)
    run = _read_run_json(profile_name)
    runs = run_table(root, run)
    tables = {"timing_notebooks": notebook_table(root, run, runs), "timing_runs": runs,
              "timing_stages": stage_table(runs)}
    for name, table in tables.items():
        save_table(table, results_dir(profile_name, "tables") / f"{name}.csv")
    return tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="demo")
    args = parser.parse_args(argv)
    try:
        tables = timing(args.profile)
    except FileNotFoundError as exc:
        parser.exit(2, f"timing: {exc}\n")
    run = _read_run_json(args.profile)
    print(f"profile {args.profile}: {run.get('device_name')} ({run.get('torch_threads')} threads), "
          f"started {run.get('started')}, status {run.get('status')}")
    with pd.option_context("display.width", 250, "display.max_columns", 30,
                           "display.max_colwidth", 120):
        for name, table in tables.items():
            print(f"\n{name}\n{table.to_string(index=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
