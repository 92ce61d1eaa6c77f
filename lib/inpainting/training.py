"""Staged trainer with atomic checkpoints and exact resume (docs/method.md §5.4 and 6.4, [INFERRED]).

Schedule (global step ``s`` counts every update, starting at 0):

* stage ``"G"``, ``train.steps_g`` steps: G with ``w_rec*L_rec`` (+ ``w_per*L_per`` on the composite);
* stage ``"D"``, ``train.steps_d`` steps (skipped when ``loss.w_adv == 0``): D only, real = ground
  truth, fake = the detached composite ``I*(1-M) + G(x)*M``;
* stage ``"joint"``, ``train.steps_joint`` steps: one D step, then one G step with
  ``w_rec*L_rec + w_adv*L_adv^G + w_per*L_per`` (no D step and no ``L_adv`` when ``w_adv == 0``).

Adam(``train.betas``) with ``lr_g`` / ``lr_d``; with ``train.lr_decay`` both decay linearly to 0
over the second half of the joint stage (``LambdaLR`` stepped once per global step).

Reproducibility: the batch of step ``s`` is a pure function of ``(train.seed, s)`` (see
:meth:`Trainer.batch`), the models are initialised after ``torch.manual_seed(train.seed)``, and every
checkpoint holds models, optimisers, schedulers, AMP scalers and the Python / NumPy / torch RNG states.
Resuming from any checkpoint therefore gives bit-identical weights to an uninterrupted run on the same
machine (same torch build and thread count; on CUDA, cuDNN is put in deterministic mode and
``CUBLAS_WORKSPACE_CONFIG`` is set if unset). The per-step ``seconds`` column is wall time and is the
only logged value that differs between runs.

Files in ``out_dir``: ``checkpoints/`` (see :mod:`inpainting.checkpoint`), ``log.csv`` (rewritten at
every checkpoint), ``samples/step_XXXXXX.png`` (input | completion | ground truth),
``train_config.json`` and, at the end, ``generator.pt`` (read with :func:`load_inpainter`).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import losses
from .checkpoint import load_latest, prune_checkpoints, save_checkpoint
from .data import build_dataset
from .data.masks import sample_masks
from .models import PerceptualNetwork, build_discriminator, build_inpainter
from .models.generator import composite
from .profiles import ModelConfig, Profile
from .runtime import (atomic_write, atomic_write_text, results_dir, save_figure, save_table,
                      select_device, update_run_json, warn_loudly)

HISTORY_COLUMNS = ("step", "stage", "rec", "adv_g", "per", "g_total", "d_loss", "lr_g", "lr_d",
                   "seconds")
# Profile fields that do not change what a run computes: they may differ on resume.
NEUTRAL_FIELDS = ("name", "train.log_every", "train.sample_every", "train.checkpoint_every",
                  "train.device", "train.init_generator", "masks.test_kinds", "masks.seed")
N_SAMPLES = 8


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns. ``history``: one row per step (:data:`HISTORY_COLUMNS`);
    ``seconds``: time spent in training steps, summed over all sessions of the run."""

    out_dir: Path
    generator_path: Path
    history: pd.DataFrame
    sample_paths: list[Path]
    perceptual_weights_source: str | None
    is_perceptual_fallback: bool
    effective_loss_weights: dict[str, Any]
    seconds: float


@dataclass(frozen=True)
class Schedule:
    """Stage boundaries and learning-rate factor of the staged schedule (docs/method.md §6.4)."""

    steps_g: int
    steps_d: int
    steps_joint: int
    lr_decay: bool

    @classmethod
    def from_profile(cls, profile: Profile) -> "Schedule":
        t = profile.train
        steps_d = t.steps_d if profile.loss.w_adv > 0 else 0
        return cls(t.steps_g, steps_d, t.steps_joint, t.lr_decay)

    @property
    def total(self) -> int:
        return self.steps_g + self.steps_d + self.steps_joint

    def stage(self, step: int) -> str:
        """``"G"``, ``"D"`` or ``"joint"`` for 0-based global ``step``."""
        if step < self.steps_g:
            return "G"
        return "D" if step < self.steps_g + self.steps_d else "joint"

    def is_stage_end(self, done: int) -> bool:
        """True when ``done`` completed steps end a (non-empty) stage."""
        return done in (self.steps_g, self.steps_g + self.steps_d, self.total) and done > 0

    def lr_factor(self, step: int) -> float:
        """1, then linear decay to 0 over the second half of the joint stage (if ``lr_decay``)."""
        decay_start = self.steps_g + self.steps_d + self.steps_joint // 2
        if not self.lr_decay or self.steps_joint == 0 or step < decay_start:
            return 1.0
        return max(0.0, (self.total - step) / (self.total - decay_start))


def _cpu_bf16_supported() -> bool:
    """True when oneDNN has fast bfloat16 kernels on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return bool(shell) and hasattr(shell, "kernel")


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in d.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = list(value) if isinstance(value, tuple) else value
    return flat


def profile_differences(stored: dict, current: dict, role: str) -> list[str]:
    """Dotted names of the fields (``asdict`` form) in which ``current`` changes what a run of
    ``role`` computes compared with ``stored``. Other roles' data, :data:`NEUTRAL_FIELDS` and the
    test-split size are ignored; ``train.steps_joint`` may grow (extending a run)."""
    a, b = _flatten(stored), _flatten(current)
    roles = {"faces", "facades", "photos"} - {role}
    ignored = set(NEUTRAL_FIELDS) | {f"{role}.n_test"}
    diffs = []
    for key in sorted(set(a) | set(b)):
        if key in ignored or key.split(".")[0] in roles or a.get(key) == b.get(key):
            continue
        if key == "train.steps_joint" and b[key] >= a[key]:
            continue
        diffs.append(f"{key}: checkpoint {a.get(key)!r} vs now {b.get(key)!r}")
    return diffs


def _rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _weights_kind(source: str | None) -> str | None:
    """``imagenet`` / ``random`` / a file path: the part of a weights source that matters."""
    return source.split(" ")[0] if source else None


def _requires_grad(module: nn.Module | None, flag: bool) -> None:
    if module is not None:
        module.requires_grad_(flag)


class Trainer:
    """Train ``profile.model`` on ``getattr(profile, role)`` with the staged schedule.

    Parameters
    ----------
    profile : the run's :class:`~inpainting.profiles.Profile`.
    role : ``"faces"`` | ``"facades"`` | ``"photos"``: which dataset of the profile.
    out_dir : run folder (default ``results/<profile>/runs/<role>/<generator>``).
    progress : ``True`` (tqdm bar), ``False`` (a plain line every ``train.log_every`` steps) or
        ``"auto"`` (bar in a notebook, plain lines in a headless run).
    """

    def __init__(self, profile: Profile, role: str = "faces", out_dir: str | os.PathLike | None = None,
                 progress: bool | str = "auto"):
        if role not in ("faces", "facades", "photos"):
            raise ValueError(f"role={role!r}; valid roles: faces, facades, photos")
        self.profile = profile
        self.role = role
        self.data_cfg = getattr(profile, role)
        self.image_size = self.data_cfg.image_size
        self.out_dir = Path(out_dir) if out_dir is not None else \
            results_dir(profile.name, "runs", role, profile.model.generator)
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.progress = _in_notebook() if progress == "auto" else bool(progress)
        self.schedule = Schedule.from_profile(profile)
        self.device = select_device(profile.train.device)
        self.use_amp = profile.train.amp and (self.device.type == "cuda" or _cpu_bf16_supported())
        # CUDA: float16 with gradient scaling; CPU: bfloat16 (same exponent range as float32, so
        # no scaling), which oneDNN runs about twice as fast as float32 on AVX512-BF16 / AMX CPUs.
        self.amp_dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        self._permutations: dict[int, np.ndarray] = {}

    # ----------------------------------------------------------------------------------- data
    def _epoch_permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._permutations:
            if len(self._permutations) > 2:
                self._permutations.clear()
            rng = np.random.default_rng([self.profile.train.seed, 10**6 + epoch])
            self._permutations[epoch] = rng.permutation(len(self.dataset))
        return self._permutations[epoch]

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch of global ``step``: images ``(B, 3, S, S)`` in [-1, 1] and masks ``(B, 1, S, S)``,
        a pure function of ``(train.seed, step)``. Image ``j`` is entry ``(step*B + j) mod N`` of
        the permutation of its epoch; views and masks are drawn from
        ``np.random.default_rng([seed, step])``."""
        t = self.profile.train
        n = len(self.dataset)
        rng = np.random.default_rng([t.seed, step])
        indices = []
        for k in range(step * t.batch_size, (step + 1) * t.batch_size):
            indices.append(int(self._epoch_permutation(k // n)[k % n]))
        images = torch.stack([self.dataset.train_sample(i, rng) for i in indices])
        masks = sample_masks(self.mask_cfg, t.batch_size, self.image_size, rng)
        return images.to(self.device), masks.to(self.device)

    # --------------------------------------------------------------------------------- set-up
    def build(self) -> None:
        """Data, models, optimisers, schedulers and scalers at step 0 (:meth:`fit` calls it)."""
        p, t = self.profile, self.profile.train
        if self.device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        torch.manual_seed(t.seed)
        self.dataset = build_dataset(self.data_cfg, "train")
        self.G = build_inpainter(p.model, self.image_size).to(self.device)
        self.mask_cfg = p.masks
        if self.G.supported_mask_kinds == ("centre",):
            self.mask_cfg = dataclasses.replace(p.masks, train_kinds=("centre",), train_probs=(1.0,))
        self.D = build_discriminator(p.model, self.image_size).to(self.device) \
            if p.loss.w_adv > 0 else None
        self.P = None
        if p.loss.w_per > 0:
            self.P = PerceptualNetwork(p.loss.per_network, p.loss.per_layers, p.loss.per_weights,
                                       allow_random=p.allow_random_perceptual).to(self.device).eval()
            _requires_grad(self.P, False)
        layer_weights = p.loss.per_layer_weights or (1.0 / len(p.loss.per_layers),) * len(p.loss.per_layers)
        self.per_layer_weights = dict(zip(p.loss.per_layers, layer_weights))
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=t.lr_g, betas=t.betas, fused=True)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, self.schedule.lr_factor)
        self.opt_d = self.sched_d = None
        if self.D is not None:
            self.opt_d = torch.optim.Adam(self.D.parameters(), lr=t.lr_d, betas=t.betas, fused=True)
            self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, self.schedule.lr_factor)
        scale = self.use_amp and self.amp_dtype == torch.float16
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=scale)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=scale)
        self.step = 0
        self.history: list[dict] = []
        self.seconds = 0.0

    @property
    def perceptual_weights_source(self) -> str | None:
        return self.P.weights_source if self.P is not None else None

    @property
    def is_perceptual_fallback(self) -> bool:
        return bool(self.P is not None and self.P.is_fallback)

    def effective_loss_weights(self) -> dict[str, Any]:
        """Loss weights as trained: a term without its network (no D / no VGG) has weight 0."""
        loss = self.profile.loss
        return {"w_rec": loss.w_rec, "w_adv": loss.w_adv if self.D is not None else 0.0,
                "w_per": loss.w_per if self.P is not None else 0.0,
                "rec_distance": loss.rec_distance, "adversarial": self.profile.model.adversarial,
                "gp_weight": loss.gp_weight if self.profile.model.adversarial == "wgan-gp" else None,
                "per_network": loss.per_network if self.P is not None else None,
                "per_layers": list(loss.per_layers) if self.P is not None else [],
                "per_layer_weights": self.per_layer_weights if self.P is not None else {},
                "per_distance": loss.per_distance if self.P is not None else None,
                "perceptual_weights_source": self.perceptual_weights_source,
                "is_perceptual_fallback": self.is_perceptual_fallback}

    def _record_fallback(self) -> None:
        if not self.is_perceptual_fallback:
            return
        message = (f"the perceptual network ({self.profile.loss.per_network}) of every run with "
                   f"L_per uses {self.perceptual_weights_source} weights, so L_per is NOT the "
                   "paper's ImageNet-feature loss")
        warn_loudly(f"run {self.out_dir}: {message}")
        update_run_json(self.profile.name, warnings={"perceptual": message})

    def _init_generator(self) -> None:
        path = self.profile.train.init_generator
        if path:
            blob = torch.load(path, map_location="cpu", weights_only=False)
            self.G.load_state_dict(blob["state_dict"])

    # ------------------------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict:
        """Everything needed to continue the run exactly (see module docstring)."""
        def sd(obj):
            return obj.state_dict() if obj is not None else None
        return {"step": self.step, "role": self.role, "profile": asdict(self.profile),
                "history": self.history, "seconds": self.seconds,
                "G": sd(self.G), "D": sd(self.D), "opt_g": sd(self.opt_g), "opt_d": sd(self.opt_d),
                "sched_g": sd(self.sched_g), "sched_d": sd(self.sched_d),
                "scaler_g": sd(self.scaler_g), "scaler_d": sd(self.scaler_d), "rng": _rng_state(),
                "perceptual_weights_source": self.perceptual_weights_source}

    def _check_compatible(self, state: dict) -> None:
        diffs = profile_differences(state["profile"], asdict(self.profile), self.role)
        if state["role"] != self.role:
            diffs.insert(0, f"role: checkpoint {state['role']!r} vs now {self.role!r}")
        if _weights_kind(state["perceptual_weights_source"]) != \
                _weights_kind(self.perceptual_weights_source):
            diffs.append(f"perceptual weights: checkpoint {state['perceptual_weights_source']!r} "
                         f"vs now {self.perceptual_weights_source!r}")
        if diffs:
            raise ValueError(
                f"the checkpoint in {self.ckpt_dir} was made with a different configuration:\n  "
                + "\n  ".join(diffs) + "\nChoose a new out_dir for this configuration, or delete "
                f"{self.out_dir} to start this run again.")

    def load_state_dict(self, state: dict) -> None:
        self._check_compatible(state)
        for name in ("G", "D", "opt_g", "opt_d", "sched_g", "sched_d", "scaler_g", "scaler_d"):
            if getattr(self, name) is not None:
                getattr(self, name).load_state_dict(state[name])
        self.step, self.history, self.seconds = state["step"], state["history"], state["seconds"]
        _set_rng_state(state["rng"])

    def _save(self) -> None:
        save_checkpoint(self.state_dict(), self.ckpt_dir, self.step)
        save_table(self.history_frame(), self.out_dir / "log.csv")

    def history_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.history, columns=list(HISTORY_COLUMNS))

    # ------------------------------------------------------------------------------ updates
    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp)

    def _d_update(self, images: torch.Tensor, masks: torch.Tensor, fake: torch.Tensor) -> float:
        """One D step on real ``images`` vs detached composite ``fake``; returns L_D."""
        kind = self.profile.model.adversarial
        _requires_grad(self.D, True)
        with self._autocast():
            loss = losses.discriminator_loss(self.D(images, masks), self.D(fake, masks), kind)
        if kind == "wgan-gp":  # in float32, outside autocast
            loss = loss + self.profile.loss.gp_weight * losses.gradient_penalty(
                self.D, images, fake.float(), masks)
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(loss).backward()
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        return loss.item()

    def _g_update(self, images: torch.Tensor, masks: torch.Tensor, output: torch.Tensor,
                  use_adv: bool) -> dict[str, float]:
        """One G step on ``w_rec*L_rec (+ w_per*L_per) (+ w_adv*L_adv^G)``; returns the terms."""
        w = self.profile.loss
        terms = {}
        with self._autocast():
            done = composite(images, output, masks)
            terms["rec"] = losses.reconstruction_loss(output, images, masks, w.rec_distance)
            total = w.w_rec * terms["rec"]
            if self.P is not None:
                with torch.no_grad():
                    real_features = self.P(images)
                terms["per"] = losses.perceptual_loss(self.P(done), real_features,
                                                      self.per_layer_weights, w.per_distance)
                total = total + w.w_per * terms["per"]
            if use_adv:
                _requires_grad(self.D, False)  # gradients flow through D to G only
                terms["adv_g"] = losses.generator_adversarial_loss(
                    self.D(done, masks), self.profile.model.adversarial)
                total = total + w.w_adv * terms["adv_g"]
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(total).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        terms["g_total"] = total
        return {k: v.item() for k, v in terms.items()}

    def train_step(self) -> dict:
        """Run global step ``self.step`` and return its history record."""
        start = time.perf_counter()
        stage = self.schedule.stage(self.step)
        images, masks = self.batch(self.step)
        record = {c: math.nan for c in HISTORY_COLUMNS}
        record.update(step=self.step, stage=stage, lr_g=self.opt_g.param_groups[0]["lr"],
                      lr_d=self.opt_d.param_groups[0]["lr"] if self.opt_d else math.nan)
        self.G.train()
        if self.D is not None:
            self.D.train()
        if stage == "D":
            with torch.no_grad(), self._autocast():
                fake = composite(images, self.G(images, masks), masks)
            record["d_loss"] = self._d_update(images, masks, fake)
        else:
            with self._autocast():
                output = self.G(images, masks)
            use_adv = stage == "joint" and self.D is not None
            if use_adv:
                record["d_loss"] = self._d_update(images, masks,
                                                  composite(images, output, masks).detach())
            record.update(self._g_update(images, masks, output, use_adv))
        with warnings.catch_warnings():  # the idle optimiser's scheduler still follows the step
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)`")
            for sched in (self.sched_g, self.sched_d):
                if sched is not None:
                    sched.step()
        self.step += 1
        record["seconds"] = time.perf_counter() - start
        self.seconds += record["seconds"]
        self.history.append(record)
        return record

    # ------------------------------------------------------------------------------- samples
    def _sample_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        test = build_dataset(self.data_cfg, "test")
        n = min(N_SAMPLES, len(test))
        images = torch.stack([test[i] for i in range(n)])
        masks = sample_masks(self.mask_cfg, n, self.image_size,
                             np.random.default_rng([self.profile.masks.seed, 7]))
        return images.to(self.device), masks.to(self.device)

    def save_samples(self) -> Path:
        """PNG grid of the fixed sample batch (first test images, fixed masks) at the current
        step: rows = images, columns = input (hole grey) | completion | ground truth."""
        from matplotlib.figure import Figure
        images, masks = self.samples
        self.G.eval()
        with torch.no_grad():
            done = self.G.complete(images, masks)
        columns = [images * (1 - masks), done, images]
        fig = Figure(figsize=(3 * 1.3, len(images) * 1.3))
        axes = fig.subplots(len(images), 3, squeeze=False)
        for r in range(len(images)):
            for c, title in enumerate(("input", "completion", "ground truth")):
                picture = ((columns[c][r].float().cpu().permute(1, 2, 0) + 1) / 2).clamp(0, 1)
                axes[r, c].imshow(picture.numpy())
                axes[r, c].axis("off")
                if r == 0:
                    axes[r, c].set_title(title, fontsize=8)
        fig.suptitle(f"{self.profile.model.generator} step {self.step}", fontsize=8)
        path = save_figure(fig, self.out_dir / "samples" / f"step_{self.step:06d}.png")
        self.sample_paths.append(path)
        return path

    # ----------------------------------------------------------------------------------- fit
    def fit(self) -> TrainResult:
        """Train to ``schedule.total`` steps, resuming from ``out_dir/checkpoints/latest`` if there;
        a finished run returns its stored result at once."""
        self.build()
        self._init_generator()
        state = load_latest(self.ckpt_dir, map_location="cpu")
        if state is not None:
            self.load_state_dict(state)
        generator_path = self.out_dir / "generator.pt"
        if self.step >= self.schedule.total and generator_path.exists():
            return self.result()
        self._record_fallback()
        self._write_config(status="running")
        self.samples = self._sample_batch()
        self.sample_paths = sorted((self.out_dir / "samples").glob("step_*.png"))
        t = self.profile.train
        bar = self._progress_bar()
        window = time.perf_counter(), self.step
        while self.step < self.schedule.total:
            record = self.train_step()
            if bar:
                bar.update(1)
            if self.step % t.log_every == 0 or self.step == self.schedule.total:
                window = self._log(record, bar, window)
            if self.step % t.sample_every == 0:
                self.save_samples()
            if self.step % t.checkpoint_every == 0 or self.schedule.is_stage_end(self.step):
                self._save()
        if bar:
            bar.close()
        if not self.sample_paths or self.sample_paths[-1].name != f"step_{self.step:06d}.png":
            self.save_samples()
        self._write_generator(generator_path)
        self._write_config(status="finished")
        prune_checkpoints(self.ckpt_dir, keep=1)
        return self.result()

    def _progress_bar(self):
        if not self.progress:
            return None
        from tqdm.auto import tqdm
        return tqdm(total=self.schedule.total, initial=self.step, desc=self.profile.model.generator)

    def _log(self, record: dict, bar, window: tuple[float, int]) -> tuple[float, int]:
        def f(key):
            return "-" if math.isnan(record[key]) else f"{record[key]:.4g}"
        terms = f"rec={f('rec')} adv={f('adv_g')} per={f('per')} d={f('d_loss')}"
        now = time.perf_counter()
        rate = (self.step - window[1]) / max(now - window[0], 1e-9)
        if bar:
            bar.set_postfix_str(f"[{record['stage']}] {terms}")
        else:
            print(f"step {self.step}/{self.schedule.total} [{record['stage']}] {terms} "
                  f"{rate:.2f} it/s", flush=True)
        return now, self.step

    def _write_generator(self, path: Path) -> None:
        blob = {"model": asdict(self.profile.model), "image_size": self.image_size,
                "state_dict": {k: v.detach().cpu() for k, v in self.G.state_dict().items()},
                "profile": asdict(self.profile), "role": self.role,
                "perceptual_weights_source": self.perceptual_weights_source,
                "effective_loss_weights": self.effective_loss_weights(), "steps": self.step}
        atomic_write(path, lambda tmp: torch.save(blob, tmp))

    def _write_config(self, status: str) -> None:
        s = self.schedule
        config = {"status": status, "role": self.role, "profile": asdict(self.profile),
                  "effective_loss_weights": self.effective_loss_weights(),
                  "schedule": {"steps_g": s.steps_g, "steps_d": s.steps_d,
                               "steps_joint": s.steps_joint, "total": s.total,
                               "lr_decay": s.lr_decay, "lr_g": self.profile.train.lr_g,
                               "lr_d": self.profile.train.lr_d,
                               "betas": list(self.profile.train.betas)},
                  "seed": self.profile.train.seed, "device": str(self.device),
                  "amp": self.use_amp, "steps_done": self.step}
        atomic_write_text(self.out_dir / "train_config.json",
                          json.dumps(config, indent=2, default=str))

    def result(self) -> TrainResult:
        return TrainResult(
            out_dir=self.out_dir, generator_path=self.out_dir / "generator.pt",
            history=self.history_frame(),
            sample_paths=sorted((self.out_dir / "samples").glob("step_*.png")),
            perceptual_weights_source=self.perceptual_weights_source,
            is_perceptual_fallback=self.is_perceptual_fallback,
            effective_loss_weights=self.effective_loss_weights(), seconds=self.seconds)


def load_inpainter(path: str | os.PathLike, device: str | torch.device = "auto"):
    """The :class:`~inpainting.models.Inpainter` stored in a ``generator.pt`` written by
    :class:`Trainer`, in eval mode on ``device`` (``"auto"``: :func:`runtime.select_device`).
    Files written on a GPU load on a CPU-only machine (tensors are mapped to CPU first)."""
    blob = torch.load(path, map_location="cpu", weights_only=False)
    device = select_device(device) if isinstance(device, str) else device
    model = build_inpainter(ModelConfig(**blob["model"]), blob["image_size"])
    model.load_state_dict(blob["state_dict"])
    return model.to(device).eval()
