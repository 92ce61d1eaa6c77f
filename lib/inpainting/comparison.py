"""Side-by-side comparison of completion methods on one dataset role, for notebooks 04-06.

:func:`compare` evaluates methods (trained runs, ``Inpainter`` objects or plain callables) on the
profile's fixed test set with the canonical metrics (:mod:`inpainting.evaluation`) and, on the
procedural datasets, on the semantic test set (:mod:`inpainting.semantic`: one eye hidden on faces,
a block of windows hidden on facades). Every comparison also holds the reference row
``masked input (grey hole)``: the input itself, hole left at mid-grey, the floor any method must beat.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from . import viz
from .evaluation import completions, evaluate, supported_kinds
from .metrics import to_uint8
from .profiles import Profile

GREY_FILL = "masked input (grey hole)"
TABLE_COLUMNS = ["method", "kind", "psnr", "ssim", "psnr_hole", "ssim_hole", "l1_hole_pct",
                 "l2_hole_pct", "n_images", "ms_per_image", "params"]


def grey_fill(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The generator's input as a 'completion': known pixels, hole at 0 (mid-grey)."""
    return images * (1 - masks)


def as_method(candidate, device=None):
    """A ``TrainResult`` (anything with ``generator_path``) becomes its loaded ``Inpainter``;
    ``Inpainter`` objects and callables are returned unchanged."""
    if hasattr(candidate, "generator_path"):
        from .training import load_inpainter
        return load_inpainter(candidate.generator_path, device or "auto")
    return candidate


@dataclass
class Comparison:
    """Metrics, semantic scores and image grids of several methods on one dataset role."""

    role: str
    dataset_name: str
    test_set: object
    methods: dict
    per_image: pd.DataFrame
    summary: pd.DataFrame
    semantic_set: object | None
    semantic: pd.DataFrame | None

    def table(self) -> pd.DataFrame:
        """One row per (method, mask kind): the canonical metrics, inference time, parameters and,
        when available, the mean semantic-consistency scores of the method (same on every row of
        the method; computed on the semantic test set, not on this kind)."""
        table = self.summary[TABLE_COLUMNS].copy()
        if self.semantic is not None and len(self.semantic):
            scores = self.semantic.groupby("method", sort=False).mean(numeric_only=True)
            scores = scores.drop(columns=[c for c in ("sample",) if c in scores])
            scores.columns = [f"semantic {c}" for c in scores.columns]
            table = table.merge(scores, left_on="method", right_index=True, how="left")
        return table.round(4)

    def _columns(self, test_set, methods: Sequence[str] | None, n: int) -> dict:
        names = [m for m in (methods or self.methods) if m in self.methods]
        images, masks = test_set.images[:n], test_set.masks[:n]
        columns = {"input": viz.masked_input(images, masks)}
        for name in names:
            allowed = supported_kinds(self.methods[name])
            if allowed is None or set(test_set.kinds[:n]) <= set(allowed):
                columns[name] = completions(self.methods[name], test_set.head(n))
        columns["ground truth"] = images
        return columns

    def grid(self, kind: str, methods: Sequence[str] | None = None, title: str = "", n: int = 5):
        """Image grid on the first ``n`` test images of mask ``kind``: input | methods | truth.
        Methods that cannot complete this kind (the Context Encoder off-centre) are left out."""
        return viz.image_grid(self._columns(self.test_set.subset(kind), methods, n), title=title,
                              max_rows=n)

    def semantic_grid(self, methods: Sequence[str] | None = None, title: str = "", n: int = 5):
        """The same grid on the semantic test set (one eye / a block of windows hidden)."""
        if self.semantic_set is None:
            raise ValueError(f"no semantic test set for dataset {self.dataset_name!r}")
        return viz.image_grid(self._columns(self.semantic_set, methods, n), title=title, max_rows=n)

    def size_table(self, kind: str) -> pd.DataFrame:
        """Parameters against hole PSNR/SSIM on mask ``kind`` for the methods that have a size."""
        rows = self.summary[(self.summary["kind"] == kind) & self.summary["params"].notna()]
        table = rows[["method", "params", "psnr_hole", "ssim_hole", "ms_per_image"]].copy()
        table["params (M)"] = (table["params"].astype(float) / 1e6).round(3)
        return table.sort_values("params").reset_index(drop=True)

    def findings(self) -> str:
        """Plain-language statements of what the numbers show (rankings, not claims)."""
        lines = []
        for kind, rows in self.summary.dropna(subset=["psnr_hole"]).groupby("kind", sort=False):
            ranked = rows.sort_values("psnr_hole", ascending=False)
            order = ", ".join(f"{r.method} ({r.psnr_hole:.2f} dB)" for r in ranked.itertuples())
            lines.append(f"[{kind}] hole PSNR, best first: {order}")
            ranked = rows.sort_values("ssim_hole", ascending=False)
            lines.append(f"[{kind}] hole SSIM best: {ranked.iloc[0].method} "
                         f"({ranked.iloc[0].ssim_hole:.3f}); worst: {ranked.iloc[-1].method} "
                         f"({ranked.iloc[-1].ssim_hole:.3f})")
        if self.semantic is not None and len(self.semantic):
            scores = self.semantic.groupby("method", sort=False).mean(numeric_only=True)
            key = _primary_score(scores)
            if key:
                ranked = scores[key].sort_values()
                lines.append(f"semantic consistency ({key}, lower is better): "
                             + ", ".join(f"{m} ({v:.3g})" for m, v in ranked.items()))
        return "\n".join(lines)


def _primary_score(scores: pd.DataFrame) -> str | None:
    for key in ("iris_error", "period_error_x", "period_rel_error", "period_error"):
        if key in scores:
            return key
    numeric = [c for c in scores.columns if c not in ("sample", "index")]
    return numeric[0] if numeric else None


def compare(methods: Mapping[str, object], profile: Profile, role: str = "faces",
            semantic_n: int | None = None) -> Comparison:
    """Evaluate ``methods`` (name -> TrainResult | Inpainter | callable) on the fixed test set of
    ``role`` and, for procedural data, on its semantic test set."""
    from .experiments import fixed_test_set, semantic_test_set
    loaded = {GREY_FILL: grey_fill, **{name: as_method(m) for name, m in methods.items()}}
    test_set = fixed_test_set(profile, role)
    per_image, summary = evaluate(loaded, test_set)
    dataset_name = getattr(profile, role).name
    semantic_set = semantic_test_set(profile, role, semantic_n)
    semantic = None
    if semantic_set is not None:
        from .semantic import semantic_scores
        frames = []
        for name, method in loaded.items():
            allowed = supported_kinds(method)
            if allowed is not None and not set(semantic_set.kinds) <= set(allowed):
                continue
            done = to_uint8(completions(method, semantic_set))
            scores = semantic_scores(dataset_name, done, semantic_set.attributes,
                                     semantic_set.masks[:, 0].numpy())
            frames.append(scores.assign(method=name))
        semantic = pd.concat(frames, ignore_index=True)
        semantic = semantic[["method", *[c for c in semantic.columns if c != "method"]]]
    return Comparison(role, dataset_name, test_set, loaded, per_image, summary, semantic_set, semantic)
