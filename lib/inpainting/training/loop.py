"""The training loop and its state: the staged trainer with atomic checkpoints and exact resume.

Schedule: :mod:`inpainting.training.schedule` (G, then D only, then joint). Batches:
:mod:`inpainting.training.stream` (a pure function of ``(seed, step)``). Files beside the
checkpoints: :mod:`inpainting.training.records`. What "the same run" means:
:mod:`inpainting.training.runs`.

* stage ``"G"``: G with ``w_rec*L_rec`` (+ ``w_per*L_per`` on the composite);
* stage ``"D"``: D only; real = ground truth, fake = the composite ``I*(1-M) + G(x)*M`` of a
  generator that is held fixed: it runs in train mode (batch statistics, as in the joint stage)
  but its BatchNorm running statistics are not updated, so its test-time behaviour is unchanged;
* stage ``"joint"``: one D step, then one G step with ``w_rec*L_rec + w_adv*L_adv^G + w_per*L_per``.

Adam(``train.betas``) with ``lr_g`` / ``lr_d``; with ``train.lr_decay`` both decay linearly to 0
over the second half of the joint stage (``LambdaLR`` stepped once per global step).

Reproducibility: models are initialised after ``torch.manual_seed(train.seed)``, and every checkpoint
holds models, optimisers, schedulers, AMP scalers and the Python / NumPy / torch RNG states, so
resuming from any checkpoint gives bit-identical weights to an uninterrupted run on the same machine
(same torch build, thread count and precision; on CUDA, cuDNN is put in deterministic mode and
``CUBLAS_WORKSPACE_CONFIG`` is set if unset). The per-step ``seconds`` column is wall time and is the
only logged value that differs between runs.

Data parallelism (``torchrun``, :mod:`inpainting.training.distributed`) is one concern, reached
through ``self.dist``: the models are wrapped after they are built or restored (``g_net`` /
``d_net`` take the gradient-averaged forward passes; ``G`` / ``D`` stay the plain models that are
saved), the batch-wide reconstruction normaliser and the logged losses span all ranks, and rank 0
alone writes (``is_main``). In one process every one of these calls does nothing.

Nothing is lost silently: a damaged checkpoint falls back to the newest intact one with a warning
naming it, a run folder whose checkpoints are all damaged stops with an error that names the
smallest safe action, a finished run's generator file is checked before it is reused, damaged
bookkeeping (``identity.json``, ``train_config.json``) is set aside and rebuilt, files of another
run and a changed data folder are caught (:mod:`inpainting.training.integrity`), and a run being
trained by another process is refused (:class:`inpainting.training.runs.RunLock`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import losses
from .checkpoint import (list_checkpoints, load_latest, prune_checkpoints,
                          save_checkpoint)
from ..data import build_dataset
from ..data.masks import sample_masks
from ..models import PerceptualNetwork, build_discriminator, build_inpainter, save_generator
from ..models.loading import load_start_weights
from ..models.generator import composite
from ..models.perceptual_weights import weights_kind
from .runs import (GENERATOR_FILE, RunSpec, identity_differences, is_finished, key_of, run_dir,
                   run_identity, run_key)
from ..stages import generator_loss_weights
from ..runtime import cpu_bf16_fast, device_name, precision, select_device
from ..disk import results_dir
from .integrity import STATE_KEYS, FolderChecks, check_resume_data
from . import distributed, records, tensorboard
from .balance import BALANCE_COLUMNS, SPARSE, gradient_targets, is_measured, term_gradient_norms
from .records import HISTORY_COLUMNS, TrainResult
from .schedule import Schedule
from .stream import BatchStream, torch_threads

N_SAMPLES = 8
MEAN_PIXEL_IMAGES = 1000
LOSS_COLUMNS = ("rec", "adv_g", "per", "g_total", "d_loss", *BALANCE_COLUMNS)
_WARNED_BF16 = set()


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return bool(shell) and hasattr(shell, "kernel")


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


def _requires_grad(module: nn.Module | None, flag: bool) -> None:
    if module is not None:
        module.requires_grad_(flag)


@contextlib.contextmanager
def frozen_batchnorm_statistics(module: nn.Module):
    """Inside the block, BatchNorm layers of ``module`` normalise with batch statistics (train mode)
    but leave their running statistics untouched."""
    norms = [m for m in module.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    for m in norms:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in norms:
            m.track_running_stats = True


class Trainer(FolderChecks):
    """Train the run ``spec``: ``spec.profile.model`` on the dataset of ``spec.role`` with the staged
    schedule, its generator started from the warm-start run ``spec.init`` when given.

    Parameters
    ----------
    spec : the :class:`~inpainting.training.runs.RunSpec` (its ``init`` must have been trained
        first).
    out_dir : run folder (default: :func:`inpainting.training.runs.run_dir`, named by the run's key).
    progress : ``True`` (tqdm bar), ``False`` (a plain line every ``train.log_every`` steps) or
        ``"auto"`` (bar in a notebook, plain lines in a headless run).

    ``perceptual`` is the frozen VGG of L_per (``None`` without it), built from the weights
    ``spec.perceptual_weights`` resolved for the key; a weights file changed since is an error,
    never a run whose key names other weights.

    Term balance (:mod:`inpainting.training.balance`): on the points of the ``balance_every`` grid
    (default ``train.log_every``; 0: never) that :func:`~inpainting.training.balance.is_measured`
    picks (all of a stage's first 40 steps, then one in ``balance_sparse``) a generator step also
    measures each weighted term's gradient norm w.r.t. ``balance_wrt`` (``"parameters"`` in one
    process, ``"output"`` under torchrun) into the ``gnorm_*`` columns (``train_config.json`` says
    which); the update is the same either way.
    """

    def __init__(self, spec: RunSpec, out_dir: str | os.PathLike | None = None,
                 progress: bool | str = "auto"):
        if not isinstance(spec, RunSpec):
            raise TypeError(f"Trainer takes a RunSpec (inpainting.training.RunSpec(profile, role)), "
                            f"got {type(spec).__name__}")
        self.spec = spec
        self.profile, self.role, self.init = spec.profile, spec.role, spec.init
        profile = spec.profile
        self.data_cfg = getattr(profile, self.role)
        self.image_size = self.data_cfg.image_size
        self.identity = run_identity(self.spec)
        self.key = key_of(self.identity)
        self.out_dir = Path(out_dir) if out_dir is not None else run_dir(self.spec)
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.generator_path = self.out_dir / GENERATOR_FILE
        self.progress = _in_notebook() if progress == "auto" else bool(progress)
        self.schedule = Schedule.from_profile(profile)
        self.dist = distributed.current()
        self.device = self.dist.device(select_device(profile.train.device))
        self.precision = precision(profile.train.amp, self.device)
        self.use_amp = self.precision != "float32"
        self.amp_dtype = torch.float16 if self.precision == "float16" else torch.bfloat16
        self.rank, self.world_size = self.dist.rank, self.dist.world_size
        self.is_main = self.dist.is_main
        self.balance_every = profile.train.log_every
        self.balance_sparse = SPARSE
        self.balance_wrt = "output" if self.dist.active else "parameters"
        self.curve_steps = set(self.schedule.curve_points(profile.train.curve_points))

    # ----------------------------------------------------------------------------------- data
    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(B, 3, S, S)`` and masks ``(B, 1, S, S)`` of global ``step`` on the device
        (:class:`~inpainting.training.stream.BatchStream`)."""
        images, masks = self.stream[step]
        return images.to(self.device), masks.to(self.device)

    def _mean_pixel(self) -> torch.Tensor:
        """Mean RGB (in [-1, 1]) of up to ``MEAN_PIXEL_IMAGES`` training images (a seeded choice)."""
        n = len(self.dataset)
        rng = np.random.default_rng([self.profile.train.seed, 7])
        picks = rng.choice(n, size=min(n, MEAN_PIXEL_IMAGES), replace=False)
        return torch.stack([self.dataset[int(i)].mean(dim=(1, 2)) for i in picks]).mean(0)

    # --------------------------------------------------------------------------------- set-up
    def build(self) -> None:
        """Data, models, optimisers, schedulers and scalers at step 0 (:meth:`fit` calls it)."""
        p, t = self.profile, self.profile.train
        if self.device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        if self.precision == "bfloat16" and self.device.type == "cpu" and not cpu_bf16_fast() \
                and "bf16" not in _WARNED_BF16:
            _WARNED_BF16.add("bf16")
            warnings.warn("train.amp: bfloat16 autocast on a CPU without fast bfloat16 kernels "
                          "(AVX512-BF16 / AMX) is emulated and slower than float32 here; it is "
                          "kept so the numbers equal those of the same profile elsewhere")
        torch.manual_seed(t.seed)
        self.dataset = build_dataset(self.data_cfg, "train")
        fingerprint = getattr(self.dataset, "fingerprint", None)   # real data only
        self.data_fingerprint = fingerprint() if fingerprint is not None else None
        self.mask_cfg = p.masks
        self.G = build_inpainter(p.model, self.image_size).to(self.device)
        if self.G.supported_mask_kinds == ("centre",):
            self.mask_cfg = dataclasses.replace(p.masks, train_kinds=("centre",), train_probs=(1.0,))
        self.stream = BatchStream(self.dataset, self.mask_cfg, t.batch_size, t.seed,
                                  self.rank, self.world_size)
        self.D = build_discriminator(p.model, self.image_size).to(self.device) \
            if p.loss.w_adv > 0 else None
        self.g_net, self.d_net = self.G, self.D   # distributed: wrapped in _fit (_distribute)
        self.perceptual = self._perceptual_network()
        layer_weights = p.loss.per_layer_weights or (1.0 / len(p.loss.per_layers),) * len(p.loss.per_layers)
        self.per_layer_weights = dict(zip(p.loss.per_layers, layer_weights))
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=t.lr_g, betas=t.betas, fused=True)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, self.schedule.lr_factor)
        self.opt_d = self.sched_d = None
        if self.D is not None:
            self.opt_d = torch.optim.Adam(self.D.parameters(), lr=t.lr_d, betas=t.betas, fused=True)
            self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, self.schedule.lr_factor)
        scale = self.precision == "float16"
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=scale)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=scale)
        self.step = 0
        self.history: list[dict] = []
        self.seconds = 0.0

    def _perceptual_network(self) -> PerceptualNetwork | None:
        """The frozen VGG of L_per with the weights the run's key names (no download: the commands
        that train fetch the weights before any key is computed; missing ones stop the run with an
        error naming the file and the fix)."""
        loss, spec = self.profile.loss, self.spec
        if loss.w_per <= 0:
            return None
        now = weights_kind(loss.per_network, loss.per_weights)
        if now != spec.perceptual_weights:
            raise RuntimeError(
                f"loss.per_weights: the file {loss.per_weights} changed after this run's key was "
                f"computed (the key names {spec.perceptual_weights!r}, the file is now {now!r}); "
                "start again so the run is named by the weights it trains with")
        network = PerceptualNetwork(loss.per_network, loss.per_layers, loss.per_weights,
                                    download=False).to(self.device).eval()
        _requires_grad(network, False)
        return network

    def _start_generator(self) -> None:
        """Step-0 weights of G: the warm start's generator (``init``) or ``train.init_generator``;
        GLCIC's hole colour from the training images."""
        path = None
        if self.init is not None:
            path = run_dir(self.init) / GENERATOR_FILE
            if not is_finished(path.parent):
                raise RuntimeError(f"the warm start {path.parent} has not been trained; train it "
                                   "first (inpainting.experiments.train_warm_start)")
        elif self.profile.train.init_generator:
            path = Path(self.profile.train.init_generator)
        if path is not None:
            expected = run_key(self.init) if self.init is not None else None
            load_start_weights(self.G, path, "the warm start" if self.init is not None
                               else "train.init_generator", self.profile.model.generator,
                               self.image_size, f"{self.role}.image_size", expected)
        set_fill = getattr(self.G.generator, "set_fill", None)
        if set_fill is not None:
            set_fill(self._mean_pixel().to(self.device))

    @property
    def perceptual_weights_source(self) -> str | None:
        return self.perceptual.weights_source if self.perceptual is not None else None

    def effective_loss_weights(self) -> dict[str, Any]:
        """Loss weights as trained: a term without its network (no D / no VGG) has weight 0."""
        loss = self.profile.loss
        return {"w_rec": loss.w_rec, "w_adv": loss.w_adv if self.D is not None else 0.0,
                "w_per": loss.w_per if self.perceptual is not None else 0.0,
                "rec_distance": loss.rec_distance, "adversarial": self.profile.model.adversarial,
                "gp_weight": loss.gp_weight if self.profile.model.adversarial == "wgan-gp" else None,
                "per_network": loss.per_network if self.perceptual is not None else None,
                "per_layers": list(loss.per_layers) if self.perceptual is not None else [],
                "per_layer_weights": self.per_layer_weights if self.perceptual is not None else {},
                "per_distance": loss.per_distance if self.perceptual is not None else None,
                "perceptual_weights_source": self.perceptual_weights_source}

    # ------------------------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict:
        """Everything needed to continue the run exactly (see module docstring)."""
        def sd(obj):
            return obj.state_dict() if obj is not None else None
        return {"step": self.step, "role": self.role, "identity": self.identity, "key": self.key,
                "profile": asdict(self.profile), "history": self.history, "seconds": self.seconds,
                "G": sd(self.G), "D": sd(self.D), "opt_g": sd(self.opt_g), "opt_d": sd(self.opt_d),
                "sched_g": sd(self.sched_g), "sched_d": sd(self.sched_d),
                "scaler_g": sd(self.scaler_g), "scaler_d": sd(self.scaler_d), "rng": _rng_state(),
                "world_size": self.world_size, "data": self.data_fingerprint,
                "perceptual_weights_source": self.perceptual_weights_source}

    def _check_compatible(self, stored: dict, where: Path) -> None:
        diffs = identity_differences(stored, self.identity)
        if diffs:
            raise ValueError(
                f"the run in {where} was made with a different configuration:\n  "
                + "\n  ".join(diffs) + f"\nNothing was changed. Leave out_dir unset (each "
                f"configuration gets its own folder) or choose a new out_dir; to train this "
                f"configuration in {self.out_dir}, move that run aside first (mv {self.out_dir} "
                f"{self.out_dir}.other).")

    def load_state_dict(self, state: dict) -> None:
        self._check_compatible(state.get("identity", {}), self.ckpt_dir)
        check_resume_data(state.get("data"), getattr(self, "data_fingerprint", None),
                          self.out_dir, state["step"], self.data_cfg.root)
        for name in ("G", "D", "opt_g", "opt_d", "sched_g", "sched_d", "scaler_g", "scaler_d"):
            if getattr(self, name) is not None:
                getattr(self, name).load_state_dict(state[name])
        self.step, self.history, self.seconds = state["step"], state["history"], state["seconds"]
        _set_rng_state(state["rng"])
        self.dist.restore_rng(state["rng"])
        self.resumed_world_size = state.get("world_size", 1)

    def _save(self) -> None:
        if not self.is_main:
            return
        save_checkpoint(self.state_dict(), self.ckpt_dir, self.step)
        records.write_log(self.out_dir, self.history)

    def history_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.history, columns=list(HISTORY_COLUMNS))

    # ------------------------------------------------------------------------------ updates
    def autocast(self):
        """The run's precision: autocast to bfloat16 / float16, or nothing (float32)."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp)

    def d_update(self, images: torch.Tensor, masks: torch.Tensor, fake: torch.Tensor) -> float:
        """One D step on real ``images`` vs the detached composite ``fake``; returns L_D."""
        kind = self.profile.model.adversarial
        _requires_grad(self.D, True)
        with self.autocast():
            loss = losses.discriminator_loss(self.d_net(images, masks), self.d_net(fake, masks), kind)
        if kind == "wgan-gp":  # in float32, outside autocast
            loss = loss + self.profile.loss.gp_weight * losses.gradient_penalty(
                self.D, images, fake.float(), masks)
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(loss).backward()
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        return loss.item()

    def g_update(self, images: torch.Tensor, masks: torch.Tensor, output: torch.Tensor,
                 use_adv: bool, measure: bool = False) -> dict[str, float]:
        """One G step on ``w_rec*L_rec (+ w_per*L_per) (+ w_adv*L_adv^G)``; returns the terms
        (with ``measure``, also each weighted term's gradient norm: :meth:`measure_balance`)."""
        w = self.profile.loss
        # the weights profile validation reads too (inpainting.stages.generator_loss_weights)
        weight = generator_loss_weights(self.profile, "joint" if use_adv else "G")
        terms, weighted = {}, {}
        with self.autocast():
            done = composite(images, output, masks)
            terms["rec"] = self.dist.global_ratio(   # normalised by the global batch's hole area
                losses.reconstruction_loss(output, images, masks, w.rec_distance), masks.sum())
            total = weighted["rec"] = weight["rec"] * terms["rec"]
            if self.perceptual is not None:
                with torch.no_grad():
                    real_features = self.perceptual(images)
                terms["per"] = losses.perceptual_loss(self.perceptual(done), real_features,
                                                      self.per_layer_weights, w.per_distance)
                weighted["per"] = weight["per"] * terms["per"]
                total = total + weighted["per"]
            if use_adv:
                _requires_grad(self.D, False)  # gradients flow through D to G only
                terms["adv_g"] = losses.generator_adversarial_loss(
                    self.D(done, masks), self.profile.model.adversarial)
                weighted["adv"] = weight["adv"] * terms["adv_g"]
                total = total + weighted["adv"]
        # a term alone has share 1: measured only where terms share the step
        norms = self.measure_balance(weighted, output) if measure and len(weighted) > 1 else {}
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(total).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        terms["g_total"] = total
        return {**{k: v.item() for k, v in terms.items()}, **norms}

    def measure_balance(self, weighted: dict[str, torch.Tensor],
                        output: torch.Tensor) -> dict[str, float]:
        """Gradient norm of each weighted term and of their sum w.r.t. ``balance_wrt``
        (:func:`inpainting.training.balance.term_gradient_norms`; the graph is kept for the update)."""
        wrt = gradient_targets(self.balance_wrt, output, self.G, self.dist.active)
        scale = float(self.scaler_g.get_scale()) if self.scaler_g.is_enabled() else 1.0
        return term_gradient_norms(weighted, wrt, scale)

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict:
        """Run global step ``self.step`` (on ``batch``, default :meth:`batch`) and return its
        history record."""
        start = time.perf_counter()
        stage = self.schedule.stage(self.step)
        images, masks = batch if batch is not None else self.batch(self.step)
        images, masks = images.to(self.device, non_blocking=True), masks.to(self.device, non_blocking=True)
        record = {c: math.nan for c in HISTORY_COLUMNS}
        record.update(step=self.step, stage=stage, lr_g=self.opt_g.param_groups[0]["lr"],
                      lr_d=self.opt_d.param_groups[0]["lr"] if self.opt_d else math.nan)
        self.G.train()
        if self.D is not None:
            self.D.train()
        if stage == "D":
            with torch.no_grad(), self.autocast(), frozen_batchnorm_statistics(self.G):
                fake = composite(images, self.G(images, masks), masks)
            record["d_loss"] = self.d_update(images, masks, fake)
        else:
            with self.autocast():
                output = self.g_net(images, masks)
            use_adv = stage == "joint" and self.D is not None
            if use_adv:
                record["d_loss"] = self.d_update(images, masks,
                                                 composite(images, output, masks).detach())
            measure = is_measured(self.step, self.schedule, self.balance_every, self.balance_sparse)
            record.update(self.g_update(images, masks, output, use_adv, measure))
        with warnings.catch_warnings():  # the idle optimiser's scheduler still follows the step
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)`")
            for sched in (self.sched_g, self.sched_d):
                if sched is not None:
                    sched.step()
        record = self.dist.average(record, LOSS_COLUMNS)   # losses of the global batch
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

    def save_samples(self) -> Path | None:
        """PNG grid of the fixed sample batch (first test images, fixed masks) at the current step."""
        if not self.is_main:
            return None
        images, masks = self.samples
        was_training = self.G.training
        self.G.eval()
        with torch.no_grad():
            done = self.G.complete(images, masks)
        self.G.train(was_training)
        grid = records.sample_grid(images, done, masks)
        tensorboard.log_samples(self.out_dir, self.step, grid)   # no-op without the package
        return records.save_sample_grid(self.out_dir, self.step, grid)

    # ----------------------------------------------------------------------------------- fit
    def provenance(self) -> dict[str, Any]:
        try:
            run = str(self.out_dir.resolve().relative_to(results_dir(self.profile.name).resolve()))
        except ValueError:
            run = str(self.out_dir)
        return records.provenance(
            key=self.key, run=run, role=self.role, dataset=self.data_cfg.name,
            dataset_description=self.dataset.description, generator=self.profile.model.generator,
            seed=self.profile.train.seed, precision=self.precision, device=str(self.device),
            device_name=device_name(self.device), torch_threads=torch.get_num_threads(),
            world_size=self.world_size, perceptual_weights_source=self.perceptual_weights_source,
            steps=self.step, seconds=self.seconds)

    def _write_record(self, status: str) -> None:
        if not self.is_main:
            return
        s = self.schedule
        records.write_record(self.out_dir, {
            "status": status, "key": self.key, "role": self.role, "profile": asdict(self.profile),
            "effective_loss_weights": self.effective_loss_weights(),
            "schedule": {"steps_g": s.steps_g, "steps_d": s.steps_d, "steps_joint": s.steps_joint,
                         "total": s.total, "lr_decay": s.lr_decay, "lr_g": self.profile.train.lr_g,
                         "lr_d": self.profile.train.lr_d, "betas": list(self.profile.train.betas)},
            "seed": self.profile.train.seed, "device": str(self.device), "amp": self.use_amp,
            "precision": self.precision, "steps_done": self.step, "seconds": self.seconds,
            "balance_wrt": self.balance_wrt,
            "provenance": self.provenance()})

    def fit(self) -> TrainResult:
        """Train to ``schedule.total`` steps, resuming from the newest intact checkpoint of
        ``out_dir``; a finished run returns its stored result at once (nothing is rebuilt)."""
        if self.dist.broadcast(is_finished(self.out_dir)):   # rank 0's view of the folder
            return self._reuse()
        with self.dist.lock(self.out_dir, "training run"), torch_threads(self.profile.train.threads):
            return self._fit()

    def _fit(self) -> TrainResult:
        self.build()
        self._check_folder_identity()
        state = load_latest(self.ckpt_dir, map_location="cpu", required=STATE_KEYS,
                            own_key=self.key)
        if state is not None:
            self.load_state_dict(state)
        elif self.is_main and self._rebuild_finished():
            return records.read_result(self.out_dir, self.generator_path)
        else:
            self._start_generator()
        self._distribute()
        if self.is_main:
            records.write_identity(self.out_dir, self.identity)
        self._write_record(status="running")
        self.samples = self._sample_batch()
        t = self.profile.train
        bar = self._progress_bar()
        window = time.perf_counter(), self.step
        loader = self.stream.loader(self.step, self.schedule.total, t.num_workers,
                                    pin_memory=self.device.type == "cuda")
        self._keep_curve_point()
        for batch in loader:
            record = self.train_step(batch)
            self._keep_curve_point()
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
        if not (self.out_dir / records.SAMPLES / f"step_{self.step:06d}.png").exists():
            self.save_samples()
        if self.is_main:
            if not list_checkpoints(self.ckpt_dir):
                self._save()
            self._finish()
        self.dist.barrier()   # the other ranks read the finished run only once it is written
        return records.read_result(self.out_dir, self.generator_path)

    def _distribute(self) -> None:
        """Under torchrun: check that every rank has the same run at the same step, then
        synchronise BatchNorm and wrap the models for gradient averaging (``g_net`` / ``d_net``)."""
        if not self.dist.active:
            return
        self.dist.check_same((self.key, self.step), "the run key and resumed step",
                             "Every process must see the same profile, code and results folder "
                             "(on several nodes: a shared filesystem)")
        previous = getattr(self, "resumed_world_size", self.world_size)
        if previous != self.world_size and self.is_main:
            print(f"resuming {self.out_dir} at step {self.step} with {self.world_size} processes "
                  f"(it ran with {previous}): the global batch is unchanged and BatchNorm is "
                  "synchronised, so only floating-point summation order differs", flush=True)
        self.g_net = self.dist.wrap(self.G, self.device)
        self.d_net = self.dist.wrap(self.D, self.device)

    def _keep_curve_point(self) -> None:
        """At a step of ``train.curve_points``, keep the generator for the learning curves (a file
        already there was written at this same step of this run, atomically: kept)."""
        if not self.is_main or self.step not in self.curve_steps:
            return
        path = records.curve_file(self.out_dir, self.step)
        if not path.is_file():
            save_generator(path, self.G, self.image_size, self.profile.model,
                           {"key": self.key, "role": self.role, "profile": asdict(self.profile),
                            "steps": self.step, "precision": self.precision, "curve_point": True,
                            "perceptual_weights_source": self.perceptual_weights_source})

    def _finish(self) -> None:
        """Write the generator file and the finished record of a run at its last step."""
        records.write_log(self.out_dir, self.history)
        save_generator(self.generator_path, self.G, self.image_size, self.profile.model,
                       {"key": self.key, "role": self.role, "profile": asdict(self.profile),
                        "steps": self.step, "precision": self.precision,
                        "perceptual_weights_source": self.perceptual_weights_source,
                        "effective_loss_weights": self.effective_loss_weights(),
                        "data": self.data_fingerprint})
        self._write_record(status="finished")
        prune_checkpoints(self.ckpt_dir, keep=1)
        records.register_run(self.profile.name, self.provenance(), trained=True)

    def _progress_bar(self):
        if not self.progress or not self.is_main:
            return None
        from tqdm.auto import tqdm
        return tqdm(total=self.schedule.total, initial=self.step, desc=self.profile.model.generator)

    def _log(self, record: dict, bar, window: tuple[float, int]) -> tuple[float, int]:
        if not self.is_main:
            return window
        def f(key):
            return "-" if math.isnan(record[key]) else f"{record[key]:.4g}"
        terms = f"rec={f('rec')} adv={f('adv_g')} per={f('per')} d={f('d_loss')}"
        tensorboard.log_steps(self.out_dir, self.history[window[1]:self.step])   # since last log
        now = time.perf_counter()
        rate = (self.step - window[1]) / max(now - window[0], 1e-9)
        if bar:
            bar.set_postfix_str(f"[{record['stage']}] {terms}")
        else:
            print(f"step {self.step}/{self.schedule.total} [{record['stage']}] {terms} "
                  f"{rate:.2f} it/s", flush=True)
        return now, self.step
