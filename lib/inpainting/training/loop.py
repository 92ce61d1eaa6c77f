"""The run around the training step: :class:`Trainer` builds the
:class:`~inpainting.training.module.InpaintingModule` of a run spec, feeds it the batches of the
staged schedule, checkpoints and resumes, checks its folder and writes its records.

Schedule: :mod:`inpainting.training.schedule` (G, then D only, then joint). Batches:
:mod:`inpainting.training.stream` (a pure function of ``(seed, step)``). The step itself:
:mod:`inpainting.training.module`. Files beside the checkpoints, and the one record of run facts
they are written from (:class:`~inpainting.training.records.RunFacts`):
:mod:`inpainting.training.records`. What "the same run" means: :mod:`inpainting.training.runs`.

Reproducibility: models are initialised after ``torch.manual_seed(train.seed)``, and every checkpoint
holds models, optimisers, schedulers, AMP scalers and the Python / NumPy / torch RNG states, so
resuming from any checkpoint gives bit-identical weights to an uninterrupted run on the same machine
(same torch build, thread count and precision; on CUDA, cuDNN is put in deterministic mode and
``CUBLAS_WORKSPACE_CONFIG`` is set if unset). The per-step ``seconds`` column is wall time and is the
only logged value that differs between runs.

Data parallelism (``torchrun``, :mod:`inpainting.training.distributed`) is one concern, reached
through ``self.dist``: the module's networks are wrapped after they are built or restored, the
batch-wide reconstruction normaliser and the logged losses span all ranks, and rank 0 alone writes
(``is_main``). In one process every one of these calls does nothing.

Nothing is lost silently: a damaged checkpoint falls back to the newest intact one with a warning
naming it, a run folder whose checkpoints are all damaged stops with an error that names the
smallest safe action, a finished run's generator file is checked before it is reused, damaged
bookkeeping (``identity.json``, ``train_config.json``) is set aside and rebuilt, files of another
run and a changed data folder are caught (:class:`inpainting.training.integrity.RunFolder`), and a
run being trained by another process is refused (:class:`inpainting.training.runs.RunLock`).
"""
from __future__ import annotations

import dataclasses
import math
import os
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from .checkpoint import list_checkpoints, load_latest, prune_checkpoints, save_checkpoint
from ..data import build_dataset
from ..models import (ModelFileError, PerceptualNetwork, build_discriminator, build_inpainter,
                      read_generator, save_generator)
from ..models.loading import load_start_weights
from ..models.perceptual_weights import weights_kind
from .runs import GENERATOR_FILE, RunLock, RunSpec, is_finished, key_of, run_dir, run_identity, run_key
from ..runtime import cpu_bf16_fast, device_name, precision, select_device
from ..disk import warn_loudly
from .integrity import STATE_KEYS, RunFolder, check_resume_data
from . import distributed, records, tensorboard
from .balance import BALANCE_COLUMNS, SPARSE, is_measured
from .module import InpaintingModule
from .records import HISTORY_COLUMNS, RunFacts, TrainResult
from .schedule import Schedule
from .stream import BatchStream, torch_threads

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


def perceptual_network(spec: RunSpec, device: torch.device) -> PerceptualNetwork | None:
    """The frozen VGG of L_per with the weights the run's key names (no download: the commands
    that train fetch the weights before any key is computed; missing ones stop the run with an
    error naming the file and the fix). ``None`` without L_per."""
    loss = spec.profile.loss
    if loss.w_per <= 0:
        return None
    now = weights_kind(loss.per_network, loss.per_weights)
    if now != spec.perceptual_weights:
        raise RuntimeError(
            f"loss.per_weights: the file {loss.per_weights} changed after this run's key was "
            f"computed (the key names {spec.perceptual_weights!r}, the file is now {now!r}); "
            "start again so the run is named by the weights it trains with")
    network = PerceptualNetwork(loss.per_network, loss.per_layers, loss.per_weights,
                                download=False).to(device).eval()
    return network.requires_grad_(False)


def prepare_device(device: torch.device, precision: str) -> None:
    """Deterministic cuDNN and cuBLAS on CUDA; a warning (once) when bfloat16 is emulated."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    if precision == "bfloat16" and device.type == "cpu" and not cpu_bf16_fast() \
            and "bf16" not in _WARNED_BF16:
        _WARNED_BF16.add("bf16")
        warnings.warn("train.amp: bfloat16 autocast on a CPU without fast bfloat16 kernels "
                      "(AVX512-BF16 / AMX) is emulated and slower than float32 here; it is "
                      "kept so the numbers equal those of the same profile elsewhere")


def mean_pixel(dataset, seed: int) -> torch.Tensor:
    """Mean RGB (in [-1, 1]) of up to ``MEAN_PIXEL_IMAGES`` training images (a seeded choice)."""
    n = len(dataset)
    picks = np.random.default_rng([seed, 7]).choice(n, size=min(n, MEAN_PIXEL_IMAGES), replace=False)
    return torch.stack([dataset[int(i)].mean(dim=(1, 2)) for i in picks]).mean(0)


class Progress:
    """What a run shows while it trains (rank 0 only): a tqdm bar (``bar``) or a plain line at
    each logged step, and the TensorBoard events of the steps since the last one."""

    def __init__(self, out_dir: Path, total: int, step: int, name: str, bar: bool, is_main: bool):
        self.out_dir, self.total, self.is_main = out_dir, total, is_main
        self.bar = None
        if bar and is_main:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, initial=step, desc=name)
        self.window = time.perf_counter(), step

    def advance(self) -> None:
        if self.bar:
            self.bar.update(1)

    def log(self, record: dict, history: list[dict], step: int) -> None:
        if not self.is_main:
            return
        def f(key):
            return "-" if math.isnan(record[key]) else f"{record[key]:.4g}"
        terms = f"rec={f('rec')} adv={f('adv_g')} per={f('per')} d={f('d_loss')}"
        tensorboard.log_steps(self.out_dir, history[self.window[1]:step])   # since last log
        now = time.perf_counter()
        rate = (step - self.window[1]) / max(now - self.window[0], 1e-9)
        if self.bar:
            self.bar.set_postfix_str(f"[{record['stage']}] {terms}")
        else:
            print(f"step {step}/{self.total} [{record['stage']}] {terms} {rate:.2f} it/s", flush=True)
        self.window = now, step

    def close(self) -> None:
        if self.bar:
            self.bar.close()


class Trainer:
    """Train the run ``spec``: ``spec.profile.model`` on the dataset of ``spec.role`` with the staged
    schedule, its generator started from the warm-start run ``spec.init`` (trained first) when
    given, in ``out_dir`` (default: :func:`inpainting.training.runs.run_dir`, named by the run's
    key). ``progress``: ``True`` (tqdm bar), ``False`` (a plain line every ``train.log_every``
    steps) or ``"auto"`` (bar in a notebook, plain lines in a headless run).

    :meth:`build` makes ``module`` (:class:`~inpainting.training.module.InpaintingModule`) and
    the batch stream. Term balance: generator steps on the ``balance_every`` grid (default
    ``train.log_every``; 0: never) that :func:`~inpainting.training.balance.is_measured` picks
    also log each weighted term's gradient norm (``gnorm_*``); the update is the same either way.
    """

    def __init__(self, spec: RunSpec, out_dir: str | os.PathLike | None = None,
                 progress: bool | str = "auto"):
        if not isinstance(spec, RunSpec):
            raise TypeError(f"Trainer takes a RunSpec (inpainting.training.RunSpec(profile, role)), "
                            f"got {type(spec).__name__}")
        self.spec, self.profile, self.role, self.init = spec, spec.profile, spec.role, spec.init
        self.data_cfg = getattr(spec.profile, self.role)
        self.image_size = self.data_cfg.image_size
        self.identity = run_identity(spec)
        self.key = key_of(self.identity)
        self.out_dir = Path(out_dir) if out_dir is not None else run_dir(spec)
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.generator_path = self.out_dir / GENERATOR_FILE
        self.progress = _in_notebook() if progress == "auto" else bool(progress)
        self.schedule = Schedule.from_profile(spec.profile)
        self.dist = distributed.current()
        self.device = self.dist.device(select_device(spec.profile.train.device))
        self.precision = precision(spec.profile.train.amp, self.device)
        self.world_size, self.is_main = self.dist.world_size, self.dist.is_main
        self.folder = RunFolder(self.out_dir, self.key, self.identity, self.schedule.total,
                                self.is_main)
        self.balance_every, self.balance_sparse = spec.profile.train.log_every, SPARSE
        self.curve_steps = set(self.schedule.curve_points(spec.profile.train.curve_points))

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(B, 3, S, S)`` and masks ``(B, 1, S, S)`` of global ``step`` on the device
        (:class:`~inpainting.training.stream.BatchStream`)."""
        images, masks = self.stream[step]
        return images.to(self.device), masks.to(self.device)

    def build(self) -> None:
        """Data and the module (networks, optimisers, schedulers) at step 0 (:meth:`fit` calls it)."""
        p, t = self.profile, self.profile.train
        prepare_device(self.device, self.precision)
        torch.manual_seed(t.seed)   # the networks' initial weights: in this order
        self.dataset = build_dataset(self.data_cfg, "train")
        fingerprint = getattr(self.dataset, "fingerprint", None)   # real data only
        self.data_fingerprint = fingerprint() if fingerprint is not None else None
        G = build_inpainter(p.model, self.image_size).to(self.device)
        D = build_discriminator(p.model, self.image_size).to(self.device) if p.loss.w_adv > 0 else None
        perceptual = perceptual_network(self.spec, self.device)
        if t.channels_last:   # NHWC: faster convolutions on CPUs (README, Speed), other sums
            for net in (G, D, perceptual):
                if net is not None:
                    net.to(memory_format=torch.channels_last)
        self.memory_format = torch.channels_last if t.channels_last else torch.preserve_format
        self.module = InpaintingModule(p, G, D, perceptual, self.device, self.dist)
        self.mask_cfg = p.masks
        if G.supported_mask_kinds == ("centre",):
            self.mask_cfg = dataclasses.replace(p.masks, train_kinds=("centre",), train_probs=(1.0,))
        self.stream = BatchStream(self.dataset, self.mask_cfg, t.batch_size, t.seed,
                                  self.dist.rank, self.world_size)
        self.step, self.history, self.seconds = 0, [], 0.0
        self.resumed_world_size = self.world_size

    def _start_generator(self) -> None:
        """Step-0 weights of G: the warm start's generator (``init``) or ``train.init_generator``;
        GLCIC's hole colour from the training images."""
        path, G = None, self.module.G
        if self.init is not None:
            path = run_dir(self.init) / GENERATOR_FILE
            if not is_finished(path.parent):
                raise RuntimeError(f"the warm start {path.parent} has not been trained; train it "
                                   "first (inpainting.experiments.train_warm_start)")
        elif self.profile.train.init_generator:
            path = Path(self.profile.train.init_generator)
        if path is not None:
            expected = run_key(self.init) if self.init is not None else None
            load_start_weights(G, path, "the warm start" if self.init is not None
                               else "train.init_generator", self.profile.model.generator,
                               self.image_size, f"{self.role}.image_size", expected)
        set_fill = getattr(G.generator, "set_fill", None)
        if set_fill is not None:
            set_fill(mean_pixel(self.dataset, self.profile.train.seed).to(self.device))

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict:
        """Run global step ``self.step`` (on ``batch``, default :meth:`batch`) and return its
        history record."""
        start = time.perf_counter()
        stage = self.schedule.stage(self.step)
        images, masks = batch if batch is not None else self.batch(self.step)
        batch = tuple(x.to(self.device, non_blocking=True, memory_format=self.memory_format)
                      for x in (images, masks))
        record = {c: math.nan for c in HISTORY_COLUMNS}
        record.update(step=self.step, stage=stage, **self.module.learning_rates())
        measure = is_measured(self.step, self.schedule, self.balance_every, self.balance_sparse)
        record.update(self.module.train_step(batch, stage, measure))
        record = self.dist.average(record, LOSS_COLUMNS)   # losses of the global batch
        self.step += 1
        record["seconds"] = time.perf_counter() - start
        self.seconds += record["seconds"]
        self.history.append(record)
        return record

    # ------------------------------------------------------------------- records and checkpoints
    def facts(self) -> RunFacts:
        """The run's facts now (:class:`~inpainting.training.records.RunFacts`)."""
        m = self.module
        return RunFacts(
            key=self.key, identity=self.identity, role=self.role, profile=self.profile,
            run=records.run_name(self.out_dir, self.profile.name),
            dataset=self.data_cfg.name, dataset_description=self.dataset.description,
            data=self.data_fingerprint, precision=self.precision, device=str(self.device),
            device_name=device_name(self.device), torch_threads=torch.get_num_threads(),
            world_size=self.world_size, balance_wrt=m.balance_wrt,
            effective_loss_weights=m.effective_loss_weights(),
            perceptual_weights_source=m.perceptual_weights_source, steps=self.step,
            seconds=self.seconds)

    def state_dict(self) -> dict:
        """Everything needed to continue the run exactly (see module docstring)."""
        return {**self.facts().checkpoint(), "history": self.history,
                **self.module.state_dict(), "rng": _rng_state()}

    def load_state_dict(self, state: dict) -> None:
        self.folder.check_compatible(state.get("identity", {}), self.ckpt_dir)
        check_resume_data(state.get("data"), self.data_fingerprint, self.out_dir, state["step"],
                          self.data_cfg.root)
        self.module.load_state_dict(state)
        self.step, self.history, self.seconds = state["step"], state["history"], state["seconds"]
        _set_rng_state(state["rng"])
        self.dist.restore_rng(state["rng"])
        self.resumed_world_size = state.get("world_size", 1)

    def _save(self) -> None:
        if self.is_main:
            save_checkpoint(self.state_dict(), self.ckpt_dir, self.step)
            records.write_log(self.out_dir, self.history)

    def _write_record(self, status: str) -> None:
        if self.is_main:
            records.write_record(self.out_dir, self.facts().record(status))

    # ----------------------------------------------------------------------------------- fit
    def fit(self) -> TrainResult:
        """Train to ``schedule.total`` steps, resuming from the newest intact checkpoint of
        ``out_dir``; a finished run returns its stored result at once (nothing is rebuilt)."""
        if self.dist.broadcast(is_finished(self.out_dir)):   # rank 0's view of the folder
            return self._reuse()
        with self.dist.lock(self.out_dir, "training run"), torch_threads(self.profile.train.threads):
            return self._fit()

    def _fit(self) -> TrainResult:
        self.build()
        self.folder.check_identity()
        state = load_latest(self.ckpt_dir, map_location="cpu", required=STATE_KEYS,
                            own_key=self.key)
        if state is not None:
            self.load_state_dict(state)
        elif self.is_main and self.folder.rebuild_finished():
            return records.read_result(self.out_dir, self.generator_path)
        else:
            self._start_generator()
        self._distribute()
        if self.is_main:
            records.write_identity(self.out_dir, self.identity)
        self._write_record(status="running")
        self.samples = records.sample_batch(self.data_cfg, self.mask_cfg, self.profile.masks.seed,
                                            self.device)
        t, total = self.profile.train, self.schedule.total
        progress = Progress(self.out_dir, total, self.step, self.profile.model.generator,
                            self.progress, self.is_main)
        batches = iter(self.stream.loader(self.step, total, t.num_workers,
                                          pin_memory=self.device.type == "cuda"))
        if state is not None:   # iter() drew a seed from torch's CPU RNG; the checkpoint holds
            torch.set_rng_state(state["rng"]["torch"])   # the first session's draw: no second one
        self._keep_curve_point()
        for batch in batches:
            record = self.train_step(batch)
            self._keep_curve_point()
            progress.advance()
            if self.step % t.log_every == 0 or self.step == total:
                progress.log(record, self.history, self.step)
            if self.step % t.sample_every == 0 and self.is_main:
                records.save_samples(self.out_dir, self.step, self.module.G, self.samples)
            if self.step % t.checkpoint_every == 0 or self.schedule.is_stage_end(self.step):
                self._save()
        progress.close()
        if self.is_main and not (self.out_dir / records.SAMPLES / f"step_{self.step:06d}.png").exists():
            records.save_samples(self.out_dir, self.step, self.module.G, self.samples)
        if self.is_main:
            if not list_checkpoints(self.ckpt_dir):
                self._save()
            self._finish()
        self.dist.barrier()   # the other ranks read the finished run only once it is written
        return records.read_result(self.out_dir, self.generator_path)

    def _distribute(self) -> None:
        """Under torchrun: the same run at the same step on every rank, then the networks wrapped
        for gradient averaging (BatchNorm synchronised)."""
        if self.dist.active:
            self.dist.check_resumed(self.key, self.step, self.resumed_world_size, self.out_dir)
            self.module.distribute()

    def _keep_curve_point(self) -> None:
        """At a step of ``train.curve_points``, keep the generator for the learning curves (a file
        already there was written at this same step of this run, atomically: kept)."""
        if not self.is_main or self.step not in self.curve_steps:
            return
        path = records.curve_file(self.out_dir, self.step)
        if not path.is_file():
            save_generator(path, self.module.G, self.image_size, self.profile.model,
                           self.facts().generator_meta(curve_point=True))

    def _finish(self) -> None:
        """Write the generator file and the finished record of a run at its last step."""
        records.write_log(self.out_dir, self.history)
        facts = self.facts()
        save_generator(self.generator_path, self.module.G, self.image_size, self.profile.model,
                       facts.generator_meta())
        records.write_record(self.out_dir, facts.record("finished"))
        prune_checkpoints(self.ckpt_dir, keep=1)
        records.register_run(self.profile.name, facts.provenance(), trained=True)

    def _reuse(self) -> TrainResult:
        """The stored result of a finished run, after checking its identity and generator file
        (damaged or another run's: rewritten from the final checkpoint; identity.json rebuilt)."""
        self.folder.check_identity()
        if self.is_main:
            try:
                blob = read_generator(self.generator_path, self.key)
            except ModelFileError as exc:
                self._rewrite_generator(exc)
            else:
                self.folder.check_reused(blob, self.data_cfg)
        self.dist.barrier()
        result = records.read_result(self.out_dir, self.generator_path)
        if result.provenance and self.is_main:
            records.register_run(self.profile.name, result.provenance, trained=False)
        return result

    def _rewrite_generator(self, damage: ModelFileError) -> None:
        """A finished run whose ``generator.pt`` is damaged or another run's: write it again from
        the run's final checkpoint, with a warning (:meth:`RunFolder.final_state`)."""
        with RunLock(self.out_dir, "training run"):
            self.build()
            self.load_state_dict(self.folder.final_state(damage))
            damage = self.folder.set_aside_foreign(damage)
            warn_loudly(f"{self.generator_path} was not usable ({damage}); it was written again "
                        f"from the run's final checkpoint (step {self.step})")
            self._finish()
