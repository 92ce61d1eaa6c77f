"""Calibration of the semantic scores: the registry of hand-made completions of the semantic test
holes with the outcome each must get (``FACE_FILLS`` / ``FACADE_FILLS``, built from
:mod:`.fills`), the degradation sweeps behind the calibration curves (``CURVES``), their tables
(:func:`calibration`, :func:`calibration_curves`), the figure (:func:`plot_curves`) and the command
that writes the table of docs/method.md::

    python -m inpainting.evaluation.semantic.calibration --n 48 --sizes 64,128 --markdown

Near-correct fills (must hit): the truth, the visible eye mirrored / the visible grid continued /
the expected grid, and the truth degraded as a camera or codec would (shifted 1-2 px at 64 px,
JPEG quality 50-95, blurred with sigma <= 0.6 px at 64 px, a few % brighter, darker or tinted,
mild noise). Adversarial fills (must miss): flat colours, noise, a blurred truth (2.5 px), blobs
of the right colour, and rendered eyes / grids with one thing wrong (no pupil, no sclera, wrong iris
colour, another face's eye, the wrong size or place; stripes, the wrong phase, period or window
size, frame-coloured windows). Hit rates carry exact (Clopper-Pearson) 95 % intervals
(:func:`inpainting.evaluation.stats.proportion_interval`). The measured table is in docs/method.md
(section 8.3, "Semantic consistency").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...data.masks import FixedTestSet
from ...data.semantic_holes import SEMANTIC_DATASETS, make_semantic_test_set
from ..metrics import to_uint8
from ..stats import DEFAULT_CONFIDENCE, proportion_interval
from .fills import (BLUR_SIGMA_64, DEGRADATIONS, NOISE_SEED, FillFunction, degrade, degraded,  # noqa: F401
                    fill_blur, fill_continued_grid, fill_expected_grid, fill_eye_blob,
                    fill_eye_scaled, fill_eye_without_pupil, fill_flat, fill_frame_coloured_windows,
                    fill_grey, fill_grid_large_windows, fill_grid_period, fill_grid_small_windows,
                    fill_grid_wrong_phase, fill_grid_wrong_phase_x, fill_grid_wrong_phase_y,
                    fill_horizontal_stripes, fill_iris_colour, fill_iris_disc, fill_mean_colour,
                    fill_mirrored_eye, fill_noise, fill_other_face_eye, fill_shifted_eye,
                    fill_truth, fill_vertical_stripes, fill_window_blobs, fill_window_colour,
                    fill_wrong_iris_colour)
from .scores import HIT_COLUMN, PRIMARY_SCORE, semantic_scores

#: the near-correct degradations of the truth, shared by both datasets: name -> (kind, strength,
#: direction of a shift)
NEAR_CORRECT_DEGRADATIONS = {
    "truth shifted 1 px right": ("shift", 1.0, (0, 1)),
    "truth shifted 1 px down": ("shift", 1.0, (1, 0)),
    "truth shifted 1 px diagonally": ("shift", 1.0, (1, 1)),
    "truth shifted 2 px right": ("shift", 2.0, (0, 1)),
    "truth shifted 2 px up": ("shift", 2.0, (-1, 0)),
    "truth as JPEG q95": ("jpeg", 95, None),
    "truth as JPEG q75": ("jpeg", 75, None),
    "truth as JPEG q50": ("jpeg", 50, None),
    "truth blurred, sigma 0.5 px": ("blur", 0.5, None),
    "truth blurred, sigma 0.6 px": ("blur", 0.6, None),
    "truth 4 % brighter": ("brightness", 0.04, None),
    "truth 4 % darker": ("brightness", -0.04, None),
    "truth tinted 4 %": ("tint", 0.04, None),
    "truth + noise sd 5": ("noise", 5.0, None),
}
_NEAR = {name: (degraded(kind, strength, direction or (0, 1)), True)
         for name, (kind, strength, direction) in NEAR_CORRECT_DEGRADATIONS.items()}

#: name -> (fill, must hit). Each fill maps ``(truth uint8 (S, S, 3), attributes, mask float32
#: (S, S))`` to a uint8 completion equal to the truth outside the hole.
FACE_FILLS: dict[str, tuple[FillFunction, bool]] = {
    "truth": (fill_truth, True),
    "mirrored eye": (fill_mirrored_eye, True),
    **_NEAR,
    "flat iris colour": (fill_iris_colour, False),
    "flat mean colour": (fill_mean_colour, False),
    "flat grey": (fill_grey, False),
    "noise of the hole's colours": (fill_noise, False),
    "blurred truth": (fill_blur, False),
    "blob of the eye's colour": (fill_eye_blob, False),
    "eye without pupil": (fill_eye_without_pupil, False),
    "iris disc, no sclera": (fill_iris_disc, False),
    "wrong iris colour": (fill_wrong_iris_colour, False),
    "another face's eye": (fill_other_face_eye, False),
    "eye x 0.6": (fill_eye_scaled(0.6), False),
    "eye x 1.5": (fill_eye_scaled(1.5), False),
    "eye shifted": (fill_shifted_eye, False),
}
FACADE_FILLS: dict[str, tuple[FillFunction, bool]] = {
    "truth": (fill_truth, True),
    "continued grid": (fill_continued_grid, True),
    "expected grid": (fill_expected_grid, True),
    **_NEAR,
    "flat window colour": (fill_window_colour, False),
    "flat mean colour": (fill_mean_colour, False),
    "flat grey": (fill_grey, False),
    "noise of the hole's colours": (fill_noise, False),
    "blurred truth": (fill_blur, False),
    "window-coloured blobs": (fill_window_blobs, False),
    "vertical stripes": (fill_vertical_stripes, False),
    "horizontal stripes": (fill_horizontal_stripes, False),
    "grid, x phase + 1/2": (fill_grid_wrong_phase_x, False),
    "grid, y phase + 1/2": (fill_grid_wrong_phase_y, False),
    "grid, both phases + 1/2": (fill_grid_wrong_phase, False),
    "grid, windows x 0.5": (fill_grid_small_windows, False),
    "grid, windows x 1.5": (fill_grid_large_windows, False),
    "grid, periods x 0.75": (fill_grid_period(0.75), False),
    "grid, periods x 1.33": (fill_grid_period(4 / 3), False),
    "grid, frame-coloured windows": (fill_frame_coloured_windows, False),
}


@dataclass(frozen=True)
class Curve:
    """One calibration curve: the truth degraded by ``kind`` at ``strengths`` (weakest first:
    the curve must get worse along it), ``label`` for the axis, ``near_correct`` the strongest
    strength a near-correct fill uses."""

    kind: str
    label: str
    strengths: tuple[float, ...]
    near_correct: float


CURVES: dict[str, Curve] = {
    "shift": Curve("shift", "shift right (px at 64 px)", (0, 0.5, 1, 1.5, 2, 2.5, 3, 4), 2.0),
    "blur": Curve("blur", "blur sigma (px at 64 px)", (0, 0.3, 0.5, 0.6, 0.7, 1, 1.5, 2, 3), 0.6),
    "jpeg": Curve("jpeg", "JPEG quality (PIL, 4:2:0)", (95, 90, 75, 50, 30, 15, 5), 50),
    "noise": Curve("noise", "noise sd (0-255)", (0, 2, 5, 10, 20, 40, 80), 5),
    "brightness": Curve("brightness", "brightness gain - 1", (0, 0.02, 0.04, 0.1, 0.2, 0.4, 0.8), 0.04),
    "tint": Curve("tint", "tint (red x 1 + t, blue x 1 - t)", (0, 0.02, 0.04, 0.1, 0.2, 0.4), 0.04),
}


def fills(dataset_name: str) -> dict[str, tuple[FillFunction, bool]]:
    """The calibration fills of ``dataset_name``: ``FACE_FILLS`` or ``FACADE_FILLS``."""
    if dataset_name not in SEMANTIC_DATASETS:
        raise ValueError(f"dataset_name={dataset_name!r}; semantic scores exist for faces, facades")
    return FACE_FILLS if dataset_name == "faces" else FACADE_FILLS


def apply_fill(fill: FillFunction, test_set: FixedTestSet) -> np.ndarray:
    """``fill`` applied to every image of a semantic test set: uint8 ``(N, S, S, 3)``."""
    images, masks = to_uint8(test_set.images), test_set.masks[:, 0].numpy()
    return np.stack([fill(img, a, m) for img, a, m in zip(images, test_set.attributes, masks)])


def _hit_cells(hits: pd.Series, confidence: float) -> dict:
    ci = proportion_interval(int(hits.sum()), len(hits), confidence)
    return {"hit_rate": ci.estimate, "hit_lo": ci.lo, "hit_hi": ci.hi}


def calibration(dataset_name: str, test_set: FixedTestSet,
                fill_set: dict[str, tuple[FillFunction, bool | None]] | None = None,
                confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """Error and hit rate of every calibration fill over a semantic test set.

    Parameters
    ----------
    dataset_name : {"faces", "facades"}
    test_set : FixedTestSet
        A semantic test set (:func:`make_semantic_test_set`) of that dataset.
    fill_set : dict, optional
        name -> ``(fill, must_hit)`` (``must_hit`` True, False or None = no expectation);
        default :func:`fills` of the dataset.
    confidence : float
        Level of the hit rates' Clopper-Pearson intervals.

    Returns
    -------
    pandas.DataFrame
        One row per fill: ``fill``, ``expected`` ("hit" / "miss" / "either"), ``n``,
        ``error_mean``, ``error_sd``, ``error_min``, ``error_max`` (of
        ``PRIMARY_SCORE[dataset_name]``), ``hit_rate``, ``hit_lo``, ``hit_hi`` (exact interval),
        ``as_expected`` (fraction of images with the expected outcome), then the mean of every
        other numeric score column.
    """
    fill_set = fills(dataset_name) if fill_set is None else fill_set
    primary, hit = PRIMARY_SCORE[dataset_name], HIT_COLUMN[dataset_name]
    masks = test_set.masks[:, 0].numpy()
    rows = []
    for name, (fill, must_hit) in fill_set.items():
        scores = semantic_scores(dataset_name, apply_fill(fill, test_set), test_set.attributes, masks)
        err, hits = scores[primary], scores[hit].astype(bool)
        expected = {True: "hit", False: "miss", None: "either"}[must_hit]
        row = {"fill": name, "expected": expected, "n": len(scores),
               "error_mean": err.mean(), "error_sd": err.std(ddof=1) if len(err) > 1 else np.nan,
               "error_min": err.min(), "error_max": err.max(), **_hit_cells(hits, confidence),
               "as_expected": (hits == must_hit).mean() if must_hit is not None else np.nan}
        for c in scores.columns:
            if c not in ("sample", primary, hit) and pd.api.types.is_numeric_dtype(scores[c]) \
                    and not pd.api.types.is_bool_dtype(scores[c]):
                row[c] = scores[c].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def calibration_curves(dataset_name: str, test_set: FixedTestSet,
                       curves: dict[str, Curve] | None = None,
                       confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """The calibration curves: mean error and hit rate (exact interval) of the truth degraded at
    every strength of every curve (default ``CURVES``).

    Returns
    -------
    pandas.DataFrame
        One row per (curve, strength): ``curve``, ``label``, ``strength``, ``step`` (position along
        the curve, 0 = weakest), ``near_correct`` (strength within the near-correct range), ``n``,
        ``error_mean``, ``error_median``, ``hit_rate``, ``hit_lo``, ``hit_hi``.
    """
    primary, hit = PRIMARY_SCORE[dataset_name], HIT_COLUMN[dataset_name]
    masks = test_set.masks[:, 0].numpy()
    rows = []
    for name, curve in (CURVES if curves is None else curves).items():
        for step, strength in enumerate(curve.strengths):
            completed = apply_fill(degraded(curve.kind, strength), test_set)
            scores = semantic_scores(dataset_name, completed, test_set.attributes, masks)
            position = curve.strengths.index(curve.near_correct)
            rows.append({"curve": name, "label": curve.label, "strength": strength, "step": step,
                         "near_correct": step <= position, "n": len(scores),
                         "error_mean": scores[primary].mean(), "error_median": scores[primary].median(),
                         **_hit_cells(scores[hit].astype(bool), confidence)})
    return pd.DataFrame(rows)


def plot_curves(curves: dict[str, pd.DataFrame], title: str = ""):
    """Figure of the calibration curves: one panel per degradation, hit rate with its exact interval
    against strength, one line per dataset (``curves``: dataset name -> :func:`calibration_curves`);
    near-correct strengths shaded."""
    import matplotlib.pyplot as plt
    names = list(dict.fromkeys(n for table in curves.values() for n in table["curve"]))
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0), squeeze=False)
    for ax, name in zip(axes[0], names):
        for dataset, table in curves.items():
            t = table[table["curve"] == name]
            x = np.arange(len(t))
            ax.errorbar(x, t["hit_rate"], yerr=[t["hit_rate"] - t["hit_lo"], t["hit_hi"] - t["hit_rate"]],
                        marker="o", capsize=3, label=dataset)
            ax.set_xticks(x, [f"{v:g}" for v in t["strength"]])
            near = int(t["near_correct"].sum())
            ax.axvspan(-0.5, near - 0.5, color="tab:green", alpha=0.08)
            ax.set_xlabel(t["label"].iloc[0])
        ax.set_ylim(-0.03, 1.03)
        ax.axhline(0.9, color="grey", lw=0.6, ls=":")
        ax.set_title(name)
    axes[0][0].set_ylabel("hit rate (95 % exact interval)")
    axes[0][0].legend(loc="lower left", fontsize=8)
    fig.suptitle(title or "semantic scores: hit rate of the degraded truth (shaded: near-correct)")
    fig.tight_layout()
    return fig


def calibration_markdown(tables: dict[int, pd.DataFrame], dataset_name: str) -> str:
    """A markdown table of :func:`calibration` results at several sizes (``tables``: size -> table):
    one row per fill, label, and per size the mean error and the hit rate with its interval."""
    sizes = list(tables)
    head = ("| fill | must | " + " | ".join(f"{PRIMARY_SCORE[dataset_name]} mean, {s} px | hit rate "
                                            f"[95 % CP], {s} px" for s in sizes) + " |")
    lines = [head, "|" + "---|" * (2 + 2 * len(sizes))]
    first = tables[sizes[0]]
    for i, row in first.iterrows():
        cells = [row["fill"], row["expected"]]
        for s in sizes:
            r = tables[s].iloc[i]
            cells += [f"{r['error_mean']:.2f}", f"{r['hit_rate']:.0%} [{r['hit_lo']:.3f}, {r['hit_hi']:.3f}]"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python -m inpainting.evaluation.semantic.calibration [--n 48] [--sizes 64,128] [--seed 0]
    [--datasets faces,facades] [--curves] [--markdown]``: print the calibration tables (procedural
    test split, semantic test set seed 1234) and, with ``--curves``, the calibration curves."""
    import argparse
    from ...data.procedural import FacadeDataset, FaceDataset
    parser = argparse.ArgumentParser(prog="python -m inpainting.evaluation.semantic.calibration",
                                     description=main.__doc__)
    parser.add_argument("--n", type=int, default=48, help="images per dataset and size")
    parser.add_argument("--sizes", default="64,128")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed")
    parser.add_argument("--datasets", default="faces,facades")
    parser.add_argument("--curves", action="store_true", help="also the degradation curves")
    parser.add_argument("--markdown", action="store_true", help="markdown tables (docs/method.md)")
    args = parser.parse_args(argv)
    sizes = [int(v) for v in args.sizes.split(",")]
    for name in args.datasets.split(","):
        if name not in SEMANTIC_DATASETS:
            parser.error(f"--datasets: {name!r} is not one of {', '.join(SEMANTIC_DATASETS)}")
        cls = {"faces": FaceDataset, "facades": FacadeDataset}[name]
        tables, curves = {}, {}
        for size in sizes:
            test_set = make_semantic_test_set(cls(args.n, size, args.seed, "test"), args.n, 1234)
            tables[size] = calibration(name, test_set)
            if args.curves:
                curves[size] = calibration_curves(name, test_set)
        print(f"\n== {name}, n = {args.n} per size (dataset seed {args.seed}, test split, "
              f"semantic test set seed 1234)")
        if args.markdown:
            print(calibration_markdown(tables, name))
        else:
            with pd.option_context("display.width", 250, "display.max_columns", 40):
                for size, table in tables.items():
                    print(f"-- {size} px")
                    print(table.round(3).to_string(index=False))
        for size, table in curves.items():
            print(f"-- {name} calibration curves, {size} px")
            print(table.drop(columns="label").round(3).to_string(index=False))


if __name__ == "__main__":
    main()
