"""What a training run leaves beside its checkpoints, and the result read back from it.

Files in a run folder (``results/<profile>/runs/<role>/<generator>-<key>/``):

* ``identity.json``: the run's identity (:func:`inpainting.training.runs.run_identity`);
* ``train_config.json``: the run record: status (``running`` / ``finished``), schedule, effective
  loss weights and provenance (precision, device, threads, perceptual weights, seconds), all from
  one :class:`RunFacts` (which also gives the checkpoint's facts and the generator's ``meta``);
* ``log.csv``: one row per step (:data:`HISTORY_COLUMNS`; the ``gnorm_*`` term-balance columns
  every ``train.log_every`` steps), rewritten at every checkpoint;
* ``samples/step_XXXXXX.png``: input | completion | ground truth on fixed test images (one row
  each);
* ``curve/step_XXXXXXXX.pt``: the generator at the joint-stage points of ``train.curve_points``
  (same format as ``generator.pt``; the learning curves read them);
* ``generator.pt``: the trained generator (:mod:`inpainting.models.loading`).

Each run's provenance is also merged into ``results/<profile>/run.json`` under ``"runs"``, so the
summary can show which precision, device and thread count every table row was trained with.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .balance import BALANCE_COLUMNS
from .schedule import Schedule
from .runs import IDENTITY_FILE, RECORD_FILE, read_json
from ..data.images import to_uint8
from ..models.generator import masked
from ..profiles import Profile
from ..runtime import NOTEBOOK_ENV
from ..disk import (atomic_write, atomic_write_text, read_run_json, results_dir, save_table,
                    update_run_json)

# gnorm_*: each weighted term's gradient norm, on steps of the train.log_every grid (balance.is_measured)
HISTORY_COLUMNS = ("step", "stage", "rec", "adv_g", "per", "g_total", "d_loss", *BALANCE_COLUMNS,
                   "lr_g", "lr_d", "seconds")
LOG_FILE = "log.csv"
SAMPLES = "samples"
CURVE = "curve"   # <run>/curve/step_XXXXXXXX.pt: generators kept for the learning curves


def curve_file(out_dir: Path, step: int) -> Path:
    """The generator kept at ``step`` steps done (a ``generator.pt``, ``train.curve_points``)."""
    return Path(out_dir) / CURVE / f"step_{step:08d}.pt"


def curve_files(out_dir: Path) -> dict[int, Path]:
    """``{steps done: file}`` of the generators a run kept for the learning curves."""
    folder = Path(out_dir) / CURVE
    found = sorted(folder.glob("step_*.pt")) if folder.is_dir() else []
    return {int(p.stem.removeprefix("step_")): p for p in found if p.stem[5:].isdigit()}


@dataclass
class TrainResult:
    """A finished run, as :meth:`Trainer.fit` returns it (read back from the run folder).

    ``history``: one row per step (:data:`HISTORY_COLUMNS`); ``seconds``: time spent in training
    steps over all sessions of the run; ``provenance``: :meth:`RunFacts.provenance`."""

    out_dir: Path
    generator_path: Path
    history: pd.DataFrame
    sample_paths: list[Path]
    perceptual_weights_source: str | None
    effective_loss_weights: dict[str, Any]
    seconds: float
    key: str
    provenance: dict[str, Any]


@dataclass(frozen=True)
class RunFacts:
    """What one run is and how it was made, at one moment (``steps`` done, ``seconds`` spent):
    the one source of the facts its checkpoint, ``train_config.json``, its generator's ``meta``
    and its provenance (``run.json``, the caveats of every table made from it) record."""

    key: str
    identity: dict[str, Any]
    role: str
    profile: Profile
    run: str                     # the run folder, relative to the profile's results folder
    dataset: str
    dataset_description: str
    data: dict[str, Any] | None  # the training split's fingerprint (real data; None: procedural)
    precision: str
    device: str
    device_name: str
    torch_threads: int
    world_size: int
    balance_wrt: str
    effective_loss_weights: dict[str, Any]
    perceptual_weights_source: str | None
    steps: int
    seconds: float

    def provenance(self) -> dict[str, Any]:
        """Where and how the run was made: the facts every table built from it must carry."""
        return dict(key=self.key, run=self.run, role=self.role, dataset=self.dataset,
                    dataset_description=self.dataset_description,
                    generator=self.profile.model.generator, seed=self.profile.train.seed,
                    precision=self.precision, device=self.device, device_name=self.device_name,
                    torch_threads=self.torch_threads, world_size=self.world_size,
                    perceptual_weights_source=self.perceptual_weights_source, steps=self.steps,
                    seconds=round(float(self.seconds), 2))

    def record(self, status: str) -> dict[str, Any]:
        """``train_config.json``: status (``running`` / ``finished``), schedule, loss weights,
        provenance."""
        t, s = self.profile.train, Schedule.from_profile(self.profile)
        return {"status": status, "key": self.key, "role": self.role,
                "profile": asdict(self.profile),
                "effective_loss_weights": self.effective_loss_weights,
                "schedule": {"steps_g": s.steps_g, "steps_d": s.steps_d,
                             "steps_joint": s.steps_joint, "total": s.total,
                             "lr_decay": s.lr_decay, "lr_g": t.lr_g, "lr_d": t.lr_d,
                             "betas": list(t.betas)},
                "seed": t.seed, "device": self.device, "amp": self.precision != "float32",
                "precision": self.precision, "steps_done": self.steps, "seconds": self.seconds,
                "balance_wrt": self.balance_wrt, "provenance": self.provenance()}

    def generator_meta(self, curve_point: bool = False) -> dict[str, Any]:
        """The ``meta`` of the run's ``generator.pt`` (and of a generator kept for the learning
        curves, ``curve_point``); :func:`record_from_generator` reads it back."""
        meta = {"key": self.key, "role": self.role, "profile": asdict(self.profile),
                "steps": self.steps, "precision": self.precision,
                "perceptual_weights_source": self.perceptual_weights_source,
                "effective_loss_weights": self.effective_loss_weights, "data": self.data}
        return {**meta, "curve_point": True} if curve_point else meta

    def checkpoint(self) -> dict[str, Any]:
        """The facts a checkpoint holds beside the training state (the identity is checked on
        resume, the data fingerprint too)."""
        return {"step": self.steps, "role": self.role, "identity": self.identity,
                "key": self.key, "profile": asdict(self.profile), "seconds": self.seconds,
                "world_size": self.world_size, "data": self.data,
                "perceptual_weights_source": self.perceptual_weights_source}


def record_from_generator(blob: dict, key: str, total: int) -> dict | None:
    """The finished run's ``train_config.json`` rebuilt from an intact ``generator.pt`` of this run
    (its stored key is ``key`` and it trained all ``total`` steps: :meth:`RunFacts.generator_meta`),
    or ``None`` when the file cannot vouch for that."""
    meta = blob.get("meta") if isinstance(blob.get("meta"), dict) else {}
    if meta.get("key") != key or meta.get("steps") != total or meta.get("from_checkpoint"):
        return None
    return {"status": "finished", "key": key, "role": meta.get("role"),
            "profile": meta.get("profile"), "steps_done": total,
            "precision": meta.get("precision"),
            "effective_loss_weights": meta.get("effective_loss_weights", {}),
            "rebuilt_from": "generator.pt (train_config.json was damaged or missing)"}


def write_identity(out_dir: Path, identity: dict) -> None:
    atomic_write_text(out_dir / IDENTITY_FILE, json.dumps(identity, indent=2, sort_keys=True))


def write_record(out_dir: Path, record: dict) -> None:
    atomic_write_text(out_dir / RECORD_FILE, json.dumps(record, indent=2, default=str))


def write_log(out_dir: Path, history: list[dict]) -> None:
    save_table(pd.DataFrame(history, columns=list(HISTORY_COLUMNS)), out_dir / LOG_FILE)


def register_run(profile_name: str, prov: dict[str, Any], trained: bool) -> None:
    """Merge one run's provenance into ``results/<profile>/run.json`` (``"runs"``), with the
    notebooks that used it (``used_by``) and the one that trained it (``trained_by``; names from
    ``$INPAINTING_NOTEBOOK``, set by :mod:`inpainting.teaching.notebook_runner`, else ``"python"``)."""
    notebook = os.environ.get(NOTEBOOK_ENV, "python")
    known = read_run_json(profile_name).get("runs", {}).get(prov["run"], {})

    def names(field: str) -> set[str]:
        value = known.get(field, [])
        return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()

    entry = {**prov, "used_by": sorted(names("used_by") | {notebook}),
             "trained_by": sorted(names("trained_by") | ({notebook} if trained else set()))}
    update_run_json(profile_name, runs={prov["run"]: entry})


LOG_FIELDS = ("step", "stage")   # what every log.csv holds (older ones lack later columns)
LOG_FIX = ("a run's log is rewritten only while it trains: restore it from a backup, or move the "
           "run folder aside and train the run again")


def read_log(path: str | os.PathLike) -> pd.DataFrame:
    """A run's ``log.csv``, checked: a complete CSV table (not cut mid-line) with
    :data:`LOG_FIELDS`, its steps whole numbers rising one by one from the first;
    :class:`~inpainting.disk.DamagedFileError` naming the file and the fix otherwise."""
    from ..stored import damaged, read_csv_table
    history = read_csv_table(path, LOG_FIX, LOG_FIELDS)
    steps = pd.to_numeric(history["step"], errors="coerce")
    if steps.isna().any() or (steps % 1 != 0).any():
        raise damaged(path, "its step column holds a value that is not a whole number", LOG_FIX)
    if len(steps) and not (steps.diff().iloc[1:] == 1).all():
        raise damaged(path, "its steps do not rise one by one (rows lost, repeated or "
                            "overwritten)", LOG_FIX)
    return history


def read_result(out_dir: Path, generator_path: Path) -> TrainResult:
    """The :class:`TrainResult` of the finished run in ``out_dir`` (nothing is rebuilt); a damaged
    ``log.csv`` is a :class:`~inpainting.disk.DamagedFileError` (:func:`read_log`)."""
    record = read_json(out_dir / RECORD_FILE) or {}
    log = out_dir / LOG_FILE
    history = read_log(log) if log.exists() else pd.DataFrame(columns=list(HISTORY_COLUMNS))
    prov = record.get("provenance", {})
    return TrainResult(
        out_dir=out_dir, generator_path=generator_path, history=history,
        sample_paths=sorted((out_dir / SAMPLES).glob("step_*.png")),
        perceptual_weights_source=prov.get("perceptual_weights_source"),
        effective_loss_weights=record.get("effective_loss_weights", {}),
        seconds=float(record.get("seconds", 0.0)), key=record.get("key", ""), provenance=prov)


N_SAMPLES = 8   # test images in a run's sample grids


def sample_batch(data_cfg, mask_cfg, mask_seed: int, device: torch.device):
    """The fixed images and masks of a run's sample grids: the first :data:`N_SAMPLES` test images
    of ``data_cfg``, masks drawn from ``default_rng([mask_seed, 7])``."""
    from ..data import build_dataset
    from ..data.masks import sample_masks
    test = build_dataset(data_cfg, "test")
    n = min(N_SAMPLES, len(test))
    images = torch.stack([test[i] for i in range(n)])
    masks = sample_masks(mask_cfg, n, data_cfg.image_size, np.random.default_rng([mask_seed, 7]))
    return images.to(device), masks.to(device)


def save_samples(out_dir: Path, step: int, G: torch.nn.Module, samples) -> Path:
    """The grid of ``G``'s completions of ``samples`` (:func:`sample_batch`) at ``step``, as a PNG
    (:func:`save_sample_grid`) and in TensorBoard; G's train / eval mode is left as it was."""
    from . import tensorboard
    images, masks = samples
    was_training = G.training
    G.eval()
    with torch.no_grad():
        done = G.complete(images, masks)
    G.train(was_training)
    grid = sample_grid(images, done, masks)
    tensorboard.log_samples(out_dir, step, grid)   # no-op without the package
    return save_sample_grid(out_dir, step, grid)


def run_name(out_dir: Path, profile_name: str) -> str:
    """The run's folder relative to the profile's results folder (as ``run.json`` names it), or
    the folder itself when it lies elsewhere."""
    try:
        return str(out_dir.resolve().relative_to(results_dir(profile_name).resolve()))
    except ValueError:
        return str(out_dir)


def sample_grid(images: torch.Tensor, done: torch.Tensor, masks: torch.Tensor,
                scale: int = 2, gap: int = 2) -> np.ndarray:
    """One row per image, columns input (hole grey) | completion | ground truth, as uint8
    ``(H, W, 3)``: tensors ``(N, 3, S, S)`` in [-1, 1], each pixel shown as ``scale x scale`` on a
    white background. Built from arrays (no plotting library), since a run draws it every
    ``train.sample_every`` steps."""
    columns = [masked(images, masks), done, images]
    n, _, size, _ = images.shape
    cell = size * scale
    grid = np.full((n * (cell + gap) + gap, 3 * (cell + gap) + gap, 3), 255, np.uint8)
    for c, column in enumerate(columns):
        pixels = to_uint8(column.detach().float().cpu().clamp(-1, 1))
        pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
        for r in range(n):
            top, left = gap + r * (cell + gap), gap + c * (cell + gap)
            grid[top:top + cell, left:left + cell] = pixels[r]
    return grid


def save_sample_grid(out_dir: Path, step: int, grid: np.ndarray) -> Path:
    """``samples/step_XXXXXX.png`` (columns: input | completion | ground truth), atomically."""
    from PIL import Image
    return atomic_write(out_dir / SAMPLES / f"step_{step:06d}.png",
                        lambda tmp: Image.fromarray(grid).save(tmp, format="PNG"))


# ------------------------------------------------------------------ registered kind (inpainting.stored)
def _example_log(folder: Path, variant: int) -> tuple[Path, dict]:
    rows = [{"step": i, "stage": "G", "rec": 0.5 / (i + 1 + variant), "g_total": 0.5,
             "seconds": 0.1} for i in range(4)]
    write_log(Path(folder), rows)
    return Path(folder) / LOG_FILE, {}


def _register() -> None:
    from ..stored import Kind, register
    register(Kind("log.csv", "csv", read_log, _example_log, fields=LOG_FIELDS, undetectable={
        "other_run": "log.csv records no run key (identity.json and train_config.json beside it "
                     "do, and are checked); another run's log of the same steps reads as sound",
        "foreign_network": "a log holds no network"}))


_register()
