"""Learning curves: each row of an experiment evaluated at points of its joint stage, from the
generators its runs kept (``train.curve_points``, ``<run>/curve/step_XXXXXXXX.pt``), on the fixed
test set: where the rows separate, if they do (docs/method.md §5.5).

Every point is one method of one :func:`inpainting.evaluation.comparison.compare` call (the seeds
of a row at that step together, as a table row with several seeds), so a point's hole PSNR (the
PSNR of the mean MSE), KID x 1000 and primary semantic score, with their intervals, are computed
exactly as every other table of the kit: the last point of a run is its finished generator's own
evaluation (tests). The x axis is the step of the joint stage (0: its start, the generator the
losses of the row start from).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Mapping, Sequence

import pandas as pd

from ..profiles import Profile
from ..training.records import curve_files
from .comparison import GREY_FILL, Comparison, compare, interval_columns, primary_score
from .metrics import PSNR_COLUMNS
from .realism import KID_COLUMN

HOLE_PSNR = "psnr_hole"
assert HOLE_PSNR in PSNR_COLUMNS
MIN_POINTS = 2
SEP = " @ step "


def _runs(name: str, value) -> list:
    runs = list(value) if isinstance(value, (list, tuple)) else [value]
    if not runs:
        raise ValueError(f"row {name!r} has no runs")
    return runs


def curve_points(name: str, runs: Sequence) -> dict[int, list[SimpleNamespace]]:
    """``{joint step: [one kept generator per seed]}`` of one row (its ``TrainResult`` list): the
    steps every seed kept. A ``ValueError`` naming the row and the fix when fewer than
    :data:`MIN_POINTS` are there (runs trained without ``train.curve_points``)."""
    # The seeds of one row share one schedule, so their absolute steps align; the row's first
    # kept step (the joint stage's start) is taken over all its seeds: a seed that lost a kept
    # generator drops that point, it never shifts its others onto another step.
    absolute = [curve_files(run.out_dir) for run in runs]
    start = min((min(files) for files in absolute if files), default=0)
    per_run = [{step - start: path for step, path in files.items()} for files in absolute]
    common = sorted(set.intersection(*(set(f) for f in per_run)))
    if len(common) < MIN_POINTS:
        raise ValueError(
            f"row {name!r}: its runs kept {len(common)} generator(s) for learning curves in "
            f"{runs[0].out_dir / 'curve'}; train them with train.curve_points >= {MIN_POINTS} "
            "(a neutral field: the run keys stay, e.g. the study profile keeps 8) and run again")
    return {step: [SimpleNamespace(generator_path=files[step], provenance=run.provenance)
                   for files, run in zip(per_run, runs)] for step in common}


def curve_columns(dataset_name: str, semantic: str | None) -> list[str]:
    """The columns of a curve table: ``row``, ``joint_step``, ``kind``, then hole PSNR, KID x 1000
    and the primary semantic score (``semantic_<score>``), each with ``_lo`` / ``_hi``, and
    ``n_images``, ``n_seeds``."""
    metrics = [HOLE_PSNR, KID_COLUMN] + ([f"semantic_{semantic}"] if semantic else [])
    return ["row", "joint_step", "kind", *[c for m in metrics for c in interval_columns(m)],
            "n_images", "n_seeds"]


@dataclass(frozen=True)
class LearningCurves:
    """The curves of several rows on one role: ``table`` (one row per (row, joint step, mask
    kind), columns :func:`curve_columns`, rows in the order given) and the ``comparison`` it was
    read from (its ``runs`` give every output's caveats). Its figure and files:
    :func:`inpainting.reporting.viz.learning_curves_figure`,
    :func:`inpainting.reporting.report.save_learning_curves`."""

    role: str
    table: pd.DataFrame
    comparison: Comparison

    @property
    def metrics(self) -> list[str]:
        return [c for c in self.table.columns if f"{c}_lo" in self.table.columns]


def learning_curves(rows: Mapping[str, object], profile: Profile, role: str = "faces",
                    progress: bool = False) -> LearningCurves:
    """Evaluate every row (name -> a ``TrainResult`` or a list of them, one per seed, as
    :meth:`inpainting.experiments.Plan.train` returns them) at each step its runs kept
    (:func:`curve_points`), on the fixed test set of ``role``, in one
    :func:`~inpainting.evaluation.comparison.compare` call."""
    if not rows:
        raise ValueError("rows is empty; pass e.g. {'full': Plan(profile).train(...)['full']}")
    methods, where = {}, {}
    for order, (name, value) in enumerate(rows.items()):
        if SEP in name:
            raise ValueError(f"row name {name!r} holds {SEP!r}; the curve table uses it")
        for step, members in curve_points(name, _runs(name, value)).items():
            methods[f"{name}{SEP}{step}"] = members
            where[f"{name}{SEP}{step}"] = (order, name, step)
    comparison = compare(methods, profile, role, progress=progress)
    table = comparison.table()
    semantic = primary_score(comparison.dataset_name, comparison.semantic_columns)
    table = table[table["method"] != GREY_FILL].copy()
    table["order"] = [where[m][0] for m in table["method"]]
    table["row"] = [where[m][1] for m in table["method"]]
    table["joint_step"] = [where[m][2] for m in table["method"]]
    table = table.sort_values(["order", "kind", "joint_step"], kind="stable")
    out = table.reindex(columns=curve_columns(comparison.dataset_name, semantic))
    out = out.reset_index(drop=True)
    out.attrs.clear()
    return LearningCurves(role=role, table=out, comparison=comparison)
