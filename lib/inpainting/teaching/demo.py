"""The interactive demo of notebook 07: pick an image, make a hole (rectangle and/or free-hand
strokes), and see every trained model's completion beside the ground truth with live hole metrics.

Two layers, so that the logic is tested without a browser:

* :class:`Demo`: the state (dataset role, image index, rectangle, strokes) and what follows from
  it: the mask, each model's completion, the hole PSNR/SSIM (:mod:`inpainting.evaluation.metrics`, the
  canonical protocol), a figure. No widgets.
* :class:`~inpainting.teaching.demo_ui.DemoUI`: the widgets, wired to a :class:`Demo`.

Which models: every finished training run of the profile found under
``results/<profile>/runs/<role>/`` (:func:`find_models`, through
:func:`inpainting.experiments.find_runs`). The rows of the profile's experiment plan
(:class:`inpainting.experiments.Plan`) get their table names; the demo's own quick tiny
run, the shared warm starts and any other finished run get a label made from their identity. When
none exists, the committed reference models of the same image size are shown, labelled as such
(:func:`inpainting.references.reference_models`: the study's trained lite generators); when there
are none either, :func:`missing_message` says which notebook to run, and :func:`train_tiny` trains the
full model with a tiny budget (:data:`TINY_STEPS`): enough to see the pipeline work, not to judge
the method. The photos role has no training set in the kit: its images are completed with the faces
models, labelled as such.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..data import build_dataset
from ..data.masks import _thick_segment
from ..evaluation.metrics import psnr, ssim, to_uint8
from ..experiments import FoundModel
from ..profiles import ROLES, Profile
from ..training.runs import RunSpec, runs_folder

# The role whose models complete a role's images: the photos have no training split in the kit.
MODEL_ROLE = {"faces": "faces", "facades": "facades", "photos": "faces"}
# The demo's quick training: the full model with at most these many steps per stage.
TINY_STEPS = {"train.steps_g": 60, "train.steps_d": 10, "train.steps_joint": 30}
TINY_NAME = "full model, quick tiny training"
# Where a learner gets the models of a role (the first entry is the quickest complete set).
TRAINING_NOTEBOOKS = {
    "faces": ("04_loss_ablation.ipynb", "the four loss variants (03_training trains the full model "
              "alone; 05 and 06 add the perceptual levels and the baselines)"),
    "facades": ("06_evaluation.ipynb", "the full model, GLCIC and the Context Encoder on facades"),
}
BIHARMONIC = "biharmonic (skimage, no training)"
HOLE_RGB = np.array([255, 255, 255], np.uint8)   # the hole as the generator sees it: unknown


# ------------------------------------------------------------------------------------ models
def tiny_overrides(profile: Profile) -> dict:
    """The overrides of the demo's quick training: the full model with at most :data:`TINY_STEPS`
    steps per stage (a profile already smaller than that keeps its own steps)."""
    return {key: min(value, getattr(profile.train, key.split(".")[1]))
            for key, value in TINY_STEPS.items()}


def tiny_spec(profile: Profile, role: str) -> RunSpec:
    """The run of the demo's quick training on ``role``: the full model with
    :func:`tiny_overrides`."""
    from ..experiments import ABLATION_VARIANTS, FULL_MODEL, variant_spec
    return variant_spec(profile, {**ABLATION_VARIANTS[FULL_MODEL], **tiny_overrides(profile)}, role)


def find_models(profile: Profile, role: str = "faces") -> list[FoundModel]:
    """Every finished training run of ``profile`` on ``MODEL_ROLE[role]``, each once
    (:func:`inpainting.experiments.find_runs`, with the demo's tiny run named after the notebooks'
    variants); when there is none, the committed reference models that fit the profile, of its
    first training seed (:func:`inpainting.references.reference_models`, labelled "[reference:
    ...]"). Nothing is trained or loaded."""
    from ..experiments import Plan, find_runs
    from ..references import reference_models
    trained_on = MODEL_ROLE[role]
    models = find_runs(profile, trained_on, extra=[(TINY_NAME, tiny_spec(profile, trained_on))]) or \
        reference_models(profile, trained_on, seeds=Plan(profile).seeds[:1])   # one seed per row
    for m in models:
        if trained_on != role:
            m.name = f"{m.name} [trained on {trained_on}]"
    return models


def missing_message(profile: Profile, role: str) -> str:
    """What to do when :func:`find_models` finds nothing for ``role``."""
    trained_on = MODEL_ROLE[role]
    notebook, what = TRAINING_NOTEBOOKS[trained_on]
    steps = "/".join(str(v) for v in tiny_overrides(profile).values())
    return (f"No trained {trained_on} model in {runs_folder(profile, trained_on)} yet. "
            f"Run notebooks/{notebook} with profile '{profile.name}' ({what}), then re-run this "
            f"notebook; or press 'Quick tiny training' to train the full model with "
            f"{steps} steps (stages G/D/joint) now: enough to see the pipeline, not to judge it.")


def train_tiny(profile: Profile, role: str = "faces", progress: bool | str = "auto"):
    """Train (or reuse) the demo's quick run: the full model with :func:`tiny_overrides`."""
    from ..experiments import train_spec
    return train_spec(tiny_spec(profile, MODEL_ROLE[role]), progress=progress)


# ------------------------------------------------------------------------------------- state
@dataclass
class Column:
    """One completion shown by the demo. ``image``: uint8 (H, W, 3), or None with ``note``."""

    name: str
    image: np.ndarray | None
    psnr_hole: float = math.nan
    ssim_hole: float = math.nan
    note: str = ""

    def caption(self) -> str:
        if self.image is None:
            return self.note
        if math.isnan(self.psnr_hole):
            return self.note or "no hole"
        return f"hole PSNR {self.psnr_hole:.2f} dB, SSIM {self.ssim_hole:.3f}"


class Demo:
    """The demo's state and results, without widgets.

    Coordinates are image pixels: ``(row, col)`` for the rectangle, ``(x, y) = (col, row)`` for
    stroke points (the canvas convention). The hole is the union of the rectangle (empty when its
    height or width is 0) and the strokes.
    """

    def __init__(self, profile: Profile, roles: Sequence[str] = ROLES, models: dict | None = None):
        self.profile = profile
        self.datasets = {role: build_dataset(getattr(profile, role), "test") for role in roles}
        self.role = roles[0]
        self.index = 0
        self._resize_hole(None)
        self._models: dict[str, list[FoundModel]] = dict(models or {})

    @property
    def size(self) -> int:
        """The image side of the current role (roles may differ: faces at 64 px, facades at 128)."""
        return self.datasets[self.role].image_size

    def _resize_hole(self, old: int | None) -> None:
        """The hole at the current role's size: the centre square at the start; after a switch to
        a role of another size the rectangle is scaled with the image and the strokes redrawn at
        the new size (nearest pixel), so every column is computed at one size."""
        s = self.size
        if old is None:
            q = s // 4
            self.rect = (q, q, 2 * q, 2 * q)      # top, left, height, width: the centre square
            self.strokes = np.zeros((s, s), bool)
        else:
            self.rect = tuple(int(round(v * s / old)) for v in self.rect)
            self.set_rect(*self.rect)
            pick = (np.arange(s) * old) // s
            self.strokes = self.strokes[np.ix_(pick, pick)].copy()
        self.brush = max(2, s // 10)

    # ---- what is shown
    def test_size(self, role: str | None = None) -> int:
        """How many test images ``role`` (default: the current one) has: the index slider's span."""
        return len(self.datasets[role or self.role])

    def image(self) -> torch.Tensor:
        """The current image, ``(3, S, S)`` in [-1, 1]."""
        return self.datasets[self.role][self.index]

    def models(self, role: str | None = None) -> list[FoundModel]:
        role = role or self.role
        if role not in self._models:
            self._models[role] = find_models(self.profile, role)
        return self._models[role]

    def refresh_models(self) -> None:
        """Look for trained runs again (after a training)."""
        self._models.clear()

    def copy(self) -> "Demo":
        """A second demo state on the same datasets and loaded models (e.g. for an exercise, so
        the widgets' state is left alone)."""
        other = Demo.__new__(Demo)
        other.__dict__.update(self.__dict__)
        other.strokes = self.strokes.copy()
        return other

    def eye_centres(self, index: int | None = None) -> tuple[tuple[float, float], tuple[float, float], float]:
        """``(x, y)`` of the left and the right eye of faces image ``index`` (default: the
        current one) and the eye radius, in pixels. Procedural faces: from their generating
        attributes. Real faces (CelebA's 160-px test crop): the average CelebA landmark positions,
        37.5 % and 61 % of the width at 51 % of the height, radius 5 % of the side [INFERRED]."""
        index = self.index if index is None else index
        attrs = self.datasets["faces"].attributes(index) if "faces" in self.datasets else {}
        if attrs.get("eye_left_center") is not None:
            (r1, c1), (r2, c2) = attrs["eye_left_center"], attrs["eye_right_center"]
            return (c1, r1), (c2, r2), float(attrs["eye_radius"])
        s = self.size
        return (0.375 * s, 0.51 * s), (0.61 * s, 0.51 * s), 0.05 * s

    # ---- callbacks' effects
    def select(self, role: str | None = None, index: int | None = None) -> None:
        """Show image ``index`` of ``role`` (either defaults to the current one)."""
        role = self.role if role is None else role
        index = self.index if index is None else int(index)
        if role not in self.datasets:
            raise ValueError(f"role={role!r}; the demo has {', '.join(self.datasets)}")
        if not 0 <= index < self.test_size(role):
            raise ValueError(f"index={index}: the {role} test set has {self.test_size(role)} images "
                             f"(0..{self.test_size(role) - 1})")
        old = self.size
        self.role, self.index = role, index
        if self.size != old:
            self._resize_hole(old)

    def set_rect(self, top: int, left: int, height: int, width: int) -> None:
        """The rectangle, clipped to the image (height or width 0: no rectangle)."""
        s = self.size
        top, left = (min(max(int(v), 0), s) for v in (top, left))
        self.rect = (top, left, min(max(int(height), 0), s - top), min(max(int(width), 0), s - left))

    def add_stroke(self, points: Sequence[tuple[float, float]], width: float | None = None) -> None:
        """Add a free-hand stroke through ``points`` ``(x, y)`` in image pixels, ``width`` pixels
        wide (default: :attr:`brush`), with round ends."""
        width = float(self.brush if width is None else width)
        pts = [np.array([y, x], float) for x, y in points]
        if len(pts) == 1:
            pts = pts * 2
        for p0, p1 in zip(pts, pts[1:]):
            _thick_segment(self.strokes, p0, p1, width)

    def clear_strokes(self) -> None:
        self.strokes[:] = False

    def mask(self) -> np.ndarray:
        """The hole, float32 ``(S, S)``, 1 = hole."""
        m = self.strokes.copy()
        top, left, height, width = self.rect
        m[top:top + height, left:left + width] = True
        return m.astype(np.float32)

    def hole_fraction(self) -> float:
        return float(self.mask().mean())

    def masked_input(self) -> np.ndarray:
        """What the generator sees: known pixels, the hole painted white. uint8 (S, S, 3)."""
        shown = to_uint8(self.image()[None])[0].copy()
        shown[self.mask() > 0] = HOLE_RGB
        return shown

    def ground_truth(self) -> np.ndarray:
        return to_uint8(self.image()[None])[0]

    def columns(self) -> list[Column]:
        """Biharmonic inpainting and every found model on the current image and hole, each with
        the hole PSNR/SSIM against the ground truth (canonical protocol, :mod:`inpainting.evaluation.metrics`)."""
        from ..evaluation.runner import biharmonic_method
        from ..inference import complete
        image, mask = self.image(), self.mask()
        truth = self.ground_truth()
        if not mask.any():
            return [Column(BIHARMONIC, truth, note="the hole is empty: give the rectangle a size "
                           "or draw on the image")] + \
                   [Column(m.name, truth, note="the hole is empty") for m in self.models()]
        hole = torch.from_numpy(mask)[None]

        def scored(name, completed):
            out = to_uint8(completed[None] if completed.dim() == 3 else completed)[0]
            return Column(name, out, psnr(truth, out, mask), ssim(truth, out, mask))

        cols = [scored(BIHARMONIC, biharmonic_method(image[None], hole[None])[0])]
        for found in self.models():
            try:
                cols.append(scored(found.name, complete(found.model(), image, hole)))
            except ValueError as exc:   # e.g. the Context Encoder outside the centre square
                cols.append(Column(found.name, None, note=f"cannot complete this hole: {exc}"))
            except Exception as exc:   # a damaged model file must not take the demo down
                cols.append(Column(found.name, None, note=f"{type(exc).__name__}: {exc}"))
        return cols

    def metrics_table(self, columns: list[Column] | None = None) -> pd.DataFrame:
        """One row per completion: method, hole PSNR (dB), hole SSIM, note."""
        columns = self.columns() if columns is None else columns
        return pd.DataFrame([{"method": c.name, "psnr_hole": c.psnr_hole, "ssim_hole": c.ssim_hole,
                              "note": c.note} for c in columns])

    def title(self) -> str:
        return (f"{self.role} #{self.index} of {self.test_size()}, hole {self.hole_fraction():.0%} "
                f"of the image; {self.profile.describe()}")

    def figure(self, columns: list[Column] | None = None, cell: float = 1.9):
        """Input | each completion (with its hole metrics) | ground truth, as a matplotlib figure."""
        import matplotlib.pyplot as plt   # (in a notebook this also registers the inline display)
        columns = self.columns() if columns is None else columns
        panels = [("input (hole white)", self.masked_input(), "")] + \
                 [(c.name, c.image, c.caption()) for c in columns] + \
                 [("ground truth", self.ground_truth(), "")]
        n = len(panels)
        per_row = min(n, 6)
        rows = math.ceil(n / per_row)
        fig, axes = plt.subplots(rows, per_row, figsize=(cell * per_row, (cell + 0.55) * rows + 0.4),
                                 squeeze=False)
        plt.close(fig)   # shown once, where the notebook displays it, not again at the cell's end
        for ax in axes.flat:
            ax.axis("off")
        for ax, (name, picture, caption) in zip(axes.flat, panels):
            if picture is not None:
                ax.imshow(picture, interpolation="nearest")
            ax.set_title("\n".join(_wrap(name, 26)), fontsize=7)
            ax.text(0.5, -0.04, "\n".join(_wrap(caption, 30)), transform=ax.transAxes, ha="center",
                    va="top", fontsize=6.5)
        fig.suptitle(self.title(), fontsize=8)
        fig.tight_layout()
        return fig

    def runs(self) -> dict:
        """The TrainResults of the shown models (for ``Report(..., runs=...)``)."""
        return {m.name: m.result for m in self.models() if m.result is not None}


def _wrap(text: str, width: int) -> list[str]:
    import textwrap
    return textwrap.wrap(text, width) or [""]
