"""Figure helpers shared by the notebooks: image grids (of a comparison too), loss curves, term
balance, learning curves.

Every helper returns a matplotlib ``Figure``: the notebook shows it inline and saves it through
``inpainting.reporting.report.Report.figure``, which draws the caveats of the runs behind it (perceptual
weights, precision, data, seeds) as a footnote, so titles need no hand-written caveat. Plots of a
metric show its bootstrap interval as error bars whenever the table has ``<metric>_lo`` /
``<metric>_hi`` columns (:meth:`inpainting.evaluation.comparison.Comparison.table`).
"""
from __future__ import annotations

import textwrap
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..data.images import to_uint8
from ..evaluation.runner import completions, supported_kinds

HOLE_SHADE = np.array([255, 255, 255], dtype=np.uint8)


def _finish(fig, title: str):
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def to_display(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """(B,3,H,W) or (3,H,W) tensor in [-1,1], a list of (3,H,W) tensors, or uint8 (B,H,W,3)/(H,W,3)
    -> uint8 (B,H,W,3)."""
    if isinstance(images, (list, tuple)):
        images = torch.stack(list(images)) if isinstance(images[0], torch.Tensor) else np.stack(images)
    if isinstance(images, torch.Tensor):
        images = to_uint8(images.detach().float().cpu().clamp(-1, 1))
    arr = np.asarray(images)
    return arr[None] if arr.ndim == 3 else arr


def masked_input(images: torch.Tensor, masks: torch.Tensor) -> np.ndarray:
    """The generator's view for display: known pixels, hole painted white. uint8 (B,H,W,3)."""
    shown = to_display(images).copy()
    hole = masks.detach().cpu().numpy()[:, 0] > 0.5
    shown[hole] = HOLE_SHADE
    return shown


def image_grid(columns: dict[str, np.ndarray | torch.Tensor], title: str = "",
               max_rows: int = 6, cell: float = 1.6,
               transpose: bool = False):
    """A grid with one column per entry of ``columns`` (name -> images) and one row per image
    (``transpose=True``: one row per entry, labelled on the left).

    Images: tensors (B,3,H,W) in [-1,1], lists of (3,H,W) tensors, or uint8 (B,H,W,3); all entries
    show their first ``min(B, max_rows)`` images.
    """
    arrays = {name: to_display(images)[:max_rows] for name, images in columns.items()}
    n_images = min(len(a) for a in arrays.values())
    n_cols, n_rows = (n_images, len(arrays)) if transpose else (len(arrays), n_images)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell * n_cols, cell * n_rows + 0.4),
                             squeeze=False)
    for e, (name, arr) in enumerate(arrays.items()):
        for i in range(n_images):
            ax = axes[e, i] if transpose else axes[i, e]
            ax.imshow(arr[i], interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if transpose and i == 0:
                ax.set_ylabel(name, fontsize=8)
            elif not transpose and i == 0:
                ax.set_title(name, fontsize=8)
    return _finish(fig, title)


def _comparison_columns(comparison, test_set, methods: Sequence[str] | None, n: int) -> dict:
    """input | each method's completions | ground truth on the first ``n`` images of ``test_set``."""
    names = list(methods or comparison.methods)
    unknown = [m for m in names if m not in comparison.methods]
    if unknown:
        raise ValueError(f"no method named {unknown} in this comparison; its methods: "
                         f"{list(comparison.methods)}")
    images, masks = test_set.images[:n], test_set.masks[:n]
    columns = {"input": masked_input(images, masks)}
    for name in names:
        allowed = supported_kinds(comparison.methods[name])
        if allowed is None or set(test_set.kinds[:n]) <= set(allowed):
            columns[name] = completions(comparison.methods[name], test_set.head(n))
    columns["ground truth"] = images
    return columns


def comparison_grid(comparison, kind: str, methods: Sequence[str] | None = None, title: str = "",
                    n: int = 5):
    """Image grid of a :class:`~inpainting.evaluation.comparison.Comparison` on the first ``n``
    test images of mask ``kind``: input | methods | truth. Methods that cannot complete this kind
    (the Context Encoder off-centre) are left out; a multi-seed method shows its first seed's
    model."""
    columns = _comparison_columns(comparison, comparison.test_set.subset(kind), methods, n)
    return image_grid(columns, title=title, max_rows=n)


def semantic_grid(comparison, methods: Sequence[str] | None = None, title: str = "", n: int = 5):
    """The same grid on the comparison's semantic test set (one eye / a block of windows hidden)."""
    if comparison.semantic_set is None:
        raise ValueError(f"no semantic test set for dataset {comparison.dataset_name!r}")
    columns = _comparison_columns(comparison, comparison.semantic_set, methods, n)
    return image_grid(columns, title=title, max_rows=n)


def loss_curves(history: pd.DataFrame, title: str = "",
                terms: Sequence[str] = ("rec", "adv_g", "per", "d_loss")):
    """One panel per loss term of a training log (columns ``step``, ``stage`` and the terms);
    stage boundaries are drawn as vertical lines. Terms that are all missing are skipped."""
    present = [t for t in terms if t in history and history[t].notna().any()]
    fig, axes = plt.subplots(1, max(len(present), 1), figsize=(3.2 * max(len(present), 1), 2.8),
                             squeeze=False)
    boundaries = history.loc[history["stage"].ne(history["stage"].shift()), "step"].iloc[1:]
    for ax, term in zip(axes[0], present):
        data = history[["step", term]].dropna()
        ax.plot(data["step"], data[term], lw=0.8, alpha=0.4)
        if len(data) >= 10:
            ax.plot(data["step"], data[term].rolling(10, min_periods=1).mean(), lw=1.5)
        for b in boundaries:
            ax.axvline(b, color="grey", ls=":", lw=1)
        ax.set_title(term, fontsize=9)
        ax.set_xlabel("step")
    return _finish(fig, title)


def bar_plot(summary: pd.DataFrame, metric: str | Sequence[str], by: str = "method",
             hue: str | None = "kind", title: str = ""):
    """Bar plot of ``summary[metric]`` per ``by`` (grouped by ``hue`` when given), one panel per
    metric when ``metric`` is a list, with the interval ``[metric_lo, metric_hi]`` as error bars
    when the table has those columns (the caption then says so). Rows with a NaN mean (a method
    that cannot run on a kind) draw no bar. A realism column (``summary.attrs["realism_columns"]``,
    set by ``Comparison.table``: FID, KID) gets ``attrs["realism_caption"]`` under its title (n,
    resizing, FID's bias)."""
    metrics = [metric] if isinstance(metric, str) else list(metric)
    missing = [m for m in metrics if m not in summary]
    if missing or not metrics:
        raise ValueError(f"no column {', '.join(map(repr, missing)) or '(none given)'} in the table; "
                         f"columns: {', '.join(map(str, summary.columns))}")
    groups = list(dict.fromkeys(summary[by]))
    panel = max(4, 0.9 * len(groups) + 2)   # inches per panel
    fontsize = 8 if len(metrics) > 1 else 9
    fig, axes = plt.subplots(1, len(metrics), figsize=(panel * len(metrics), 3.4), squeeze=False)
    for ax, name in zip(axes[0], metrics):
        _bars(ax, summary, name, by, hue, groups)
        caption = title if title and len(metrics) == 1 else (f"{title}: {name}" if title else name)
        if name in (summary.attrs.get("realism_columns") or ()):
            caption += f"\n({summary.attrs.get('realism_caption', 'lower is better')})"
        if f"{name}_lo" in summary and f"{name}_hi" in summary:
            level = summary.attrs.get("confidence")
            level = f"{level:.0%} " if level else ""
            caption += f"\n(error bars: {level}bootstrap interval over test images)"
        width = int(panel * 72 / (fontsize * 0.6))   # characters that fit over one panel
        ax.set_title("\n".join(textwrap.fill(line, width) for line in caption.split("\n")),
                     fontsize=fontsize)
    fig.tight_layout()
    return fig


def _bars(ax, summary: pd.DataFrame, metric: str, by: str, hue: str | None, groups: list) -> None:
    lo, hi = f"{metric}_lo", f"{metric}_hi"
    has_interval = lo in summary and hi in summary
    series = list(dict.fromkeys(summary[hue])) if hue else [None]
    width = 0.8 / len(series)
    x = np.arange(len(groups))
    for j, label in enumerate(series):
        rows = summary[summary[hue] == label] if hue else summary
        rows = rows.drop_duplicates(subset=[by]).set_index(by).reindex(groups)
        means = rows[metric].to_numpy(dtype=float)
        offsets = x - 0.4 + width * (j + 0.5)
        err = None
        if has_interval:
            # Bounds missing (n = 1) draw no bar end; they never shrink to the mean silently.
            err = np.vstack([means - rows[lo].to_numpy(dtype=float),
                             rows[hi].to_numpy(dtype=float) - means])
        ax.bar(offsets, means, width, label=None if label is None else str(label),
               yerr=err, capsize=3 if has_interval else 0, error_kw={"lw": 1})
    ax.set_xticks(x)
    ax.set_xticklabels([str(g) for g in groups], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(metric)
    if hue:
        ax.legend(title=hue, fontsize=7, title_fontsize=7)


def interval_curves(table: pd.DataFrame, metrics: Sequence[str], x: str,
                    line: Sequence[str], title: str = ""):
    """One panel per metric of ``table``, one line per distinct value of the ``line`` columns
    against ``x``, the interval ``[metric_lo, metric_hi]`` shaded when the table has it (the
    learning curves of :mod:`inpainting.evaluation.curves`)."""
    metrics = [m for m in metrics if m in table and table[m].notna().any()]
    fig, axes = plt.subplots(1, max(len(metrics), 1), figsize=(3.6 * max(len(metrics), 1), 3.0),
                             squeeze=False)
    groups = list(table.groupby(list(line), sort=False))
    for ax, metric in zip(axes[0], metrics):
        for key, rows in groups:
            rows = rows.sort_values(x)
            label = " / ".join(map(str, key if isinstance(key, tuple) else (key,)))
            (drawn,) = ax.plot(rows[x], rows[metric], marker="o", ms=3, lw=1.2, label=label)
            if f"{metric}_lo" in rows and f"{metric}_hi" in rows:
                ax.fill_between(rows[x], rows[f"{metric}_lo"], rows[f"{metric}_hi"],
                                color=drawn.get_color(), alpha=0.15, lw=0)
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel(x.replace("_", " "))
    if metrics:
        axes[0][-1].legend(fontsize=6, loc="best")
    return _finish(fig, title)


def learning_curves_figure(curves, title: str = ""):
    """One panel per metric of :class:`~inpainting.evaluation.curves.LearningCurves` (hole PSNR,
    KID x 1000, the semantic score), one line per row and mask kind against the joint step, the
    interval shaded."""
    return interval_curves(curves.table, curves.metrics, x="joint_step", line=("row", "kind"),
                           title=title or f"learning curves, {curves.role} "
                           f"({curves.comparison.dataset_name})")


def term_balance(history: pd.DataFrame, title: str = ""):
    """Each loss term's share of the generator's gradient (``gnorm_<term> / gnorm_g``, the
    ``gnorm_*`` columns of a training log, :mod:`inpainting.training.balance`) against the step,
    on a log scale, stage boundaries as vertical lines, the kit's "acts" threshold
    (:data:`inpainting.training.balance.ACTS`) dashed."""
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    _term_balance_axes(ax, history)
    return _finish(fig, title or "term balance: ||grad of w*L_term|| / ||grad of the sum||")


def term_balance_rows(histories: dict, title: str = ""):
    """:func:`term_balance` for several runs side by side (``name -> history``), one panel each,
    on one share axis."""
    n = max(len(histories), 1)
    cols = min(n, 3)
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(3.6 * cols, 2.6 * ((n + cols - 1) // cols)),
                             sharey=True, squeeze=False)
    for ax, (name, history) in zip(axes.flat, histories.items()):
        _term_balance_axes(ax, history)
        ax.set_title(name, fontsize=8)
    for ax in list(axes.flat)[len(histories):]:
        ax.axis("off")
    return _finish(fig, title or "term balance per run: ||grad of w*L_term|| / ||grad of the sum||")


def _term_balance_axes(ax, history: pd.DataFrame) -> None:
    from ..training.balance import ACTS, TERMS, shares
    data = shares(history)
    for term in TERMS:
        column = data[["step", f"share_{term}"]].dropna()
        column = column[column[f"share_{term}"] > 0]
        if len(column):
            ax.plot(column["step"], column[f"share_{term}"], marker=".", lw=1, label=term)
    if "stage" in history and len(history):
        for b in history.loc[history["stage"].ne(history["stage"].shift()), "step"].iloc[1:]:
            ax.axvline(b, color="grey", ls=":", lw=1)
    ax.set_yscale("log")
    ax.axhline(ACTS, color="red", ls="--", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("share of the gradient norm")
    if data.empty:
        ax.text(0.5, 0.5, "not measured (a run made before the gnorm_* columns)",
                transform=ax.transAxes, ha="center", fontsize=8)
    else:
        ax.legend(fontsize=7)
