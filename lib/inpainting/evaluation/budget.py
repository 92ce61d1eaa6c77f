"""How a verdict depends on the training budget: the rows of claims C1 and C2 trained three times
longer (joint stage 540 steps instead of 180), seed-resolved, and each primary test's paired
difference at points of that joint stage, with its interval.

Exploratory by construction: not in the pre-registered family, no verdict; it answers "does the
gap close, hold or flip with budget?". The runs are notebook 04's rows on faces with
:data:`OVERRIDES` over the study profile (their warm starts are the study's own: same keys); the
generators each run keeps on the way (``train.curve_points``) are evaluated like any finished run
(:func:`inpainting.evaluation.records.record_run`) into one records folder per joint step,
``references/<profile>/budget/joint-<step>/records/``, and every difference is the claims' own test
(:func:`inpainting.evaluation.decisions.seed_image_test` on :func:`records.seed_pairs`).

``python -m inpainting.evaluation.budget train|export|table [--profile study]``
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import pandas as pd

from ..disk import REPO_ROOT
from . import records as R
from .decisions import seed_image_test
from .preregistration import STUDY_PLAN

NOTEBOOK, ROLE = "04_loss_ablation", "faces"
OVERRIDES = {"train.steps_joint": 540, "train.curve_points": 3, "experiments.seeds": 4}
CLAIMS = ("C1", "C2")
STEP_FOLDER = "joint-{:04d}"


def hypotheses() -> list:
    """The primary tests of :data:`CLAIMS`, from the pre-registered plan (one source)."""
    return [(c.id, h) for c in STUDY_PLAN.claims if c.id in CLAIMS for h in c.tests]


def budget_profile(base):
    from ..profiles import with_overrides
    return with_overrides(base, OVERRIDES)


def plan(base):
    """The experiment plan of the longer runs: notebook 04's rows on faces, 4 seeds."""
    from ..experiments import Plan
    return Plan(budget_profile(base), (NOTEBOOK,))


def train_command(base) -> str:
    profile = budget_profile(base)
    return shlex.join(["python", "-m", "inpainting.train", "--profile", profile.name, "--overrides",
                       json.dumps(dict(profile.overrides)), "--all", "--notebook", NOTEBOOK,
                       "--role", ROLE])


def step_folder(root: str | Path, step: int) -> Path:
    return Path(root) / "budget" / STEP_FOLDER.format(step)


def export(base, root: str | Path, progress: bool = False, log=print) -> int:
    """Records of every kept generator (joint step > 0) of every finished run of :func:`plan`
    that its step's folder lacks; returns how many were written."""
    from ..training.records import curve_files
    from ..training.runs import is_finished, run_folder
    profile, written = budget_profile(base), 0
    for row in plan(base).table(NOTEBOOK, ROLE):
        for seed, spec in zip(row.seeds, row.runs):
            if not is_finished(run_folder(spec)):
                continue
            files = curve_files(run_folder(spec))
            start = min(files, default=0)
            for step, path in sorted(files.items()):
                folder = step_folder(root, step - start)
                if step == start or ((R.read_index(folder)["key"].astype(str) == spec.key)
                                     & (R.read_index(folder)["method"] == row.name)).any():
                    continue   # step 0 is the warm start, the same generator for every row
                R.record_run(profile, folder, ROLE, row.name, seed, spec, path, progress)
                written += 1
                log(f"records of {row.name} (seed {seed}) at joint step {step - start}: {folder}")
    return written


def differences(root: str | Path) -> pd.DataFrame:
    """One row per (claim test, joint step): the paired difference (A better positive) with its
    95 % interval over seeds and images, from the step folders' records."""
    rows = []
    for folder in sorted((Path(root) / "budget").glob(STEP_FOLDER.replace("{:04d}", "*"))):
        step = int(folder.name.split("-")[1])
        records = R.load(folder)
        for claim, h in hypotheses():
            pairs = R.seed_pairs(records, h.metric, h.a, h.b, h.role, h.kind)
            if pairs is None:
                continue
            out = seed_image_test(pairs.d, pairs.v_image, pairs.n_images,
                                  image_df=pairs.image_df)
            rows.append({"claim": claim, "metric": h.metric, "a": h.a, "b": h.b, "joint_step": step,
                         "seeds": len(pairs.seeds), "images": pairs.n_images,
                         "a_value": pairs.a_value, "b_value": pairs.b_value,
                         "difference": out.estimate, "low": out.lo, "high": out.hi})
    return pd.DataFrame(rows)


def figure(table: pd.DataFrame):
    """The paired difference of each test against joint steps, one panel per metric."""
    import matplotlib.pyplot as plt
    metrics = list(dict.fromkeys(table["metric"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for (claim, a, b), part in table[table["metric"] == metric].groupby(["claim", "a", "b"]):
            part = part.sort_values("joint_step")
            ax.errorbar(part["joint_step"], part["difference"],
                        yerr=[part["difference"] - part["low"], part["high"] - part["difference"]],
                        marker="o", capsize=3, label=f"{claim}: {a} vs {b}")
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set(xlabel="joint step", ylabel=f"{metric}: A better (+)", title=metric)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    from ..profiles import get_profile
    parser = argparse.ArgumentParser(prog="python -m inpainting.evaluation.budget",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["train", "export", "table"],
                        help="train: print the training command; export: record the kept "
                             "generators; table: the differences by joint step (CSV and figure)")
    parser.add_argument("--profile", default="study")
    parser.add_argument("--from", dest="folder", default=None,
                        help="the references folder (default references/<profile>)")
    args = parser.parse_args(argv)
    base = get_profile(args.profile)
    root = Path(args.folder) if args.folder else REPO_ROOT / "references" / base.name
    if args.command == "train":
        print(train_command(base))
    elif args.command == "export":
        print(f"{export(base, root)} generator(s) recorded under {root / 'budget'}")
    else:
        table = differences(root)
        if table.empty:
            print(f"no budget records under {root / 'budget'}: train ({train_command(base)}) "
                  "and export them first", file=sys.stderr)
            return 1
        from ..disk import OutputError, write_output
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
        fig = figure(table)
        try:   # the one writer: replaces what it wrote before, never a file someone else made
            for name, write in (("differences.csv", lambda t: table.to_csv(t, index=False)),
                                ("differences.png", lambda t: fig.savefig(t, dpi=110, format="png"))):
                print(write_output(root / "budget" / name, write))
        except OutputError as exc:
            parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
