"""Speed benchmark: the lite generator [PROTO] versus the GLCIC completion network [BASELINE-SRC].

``python -m inpainting.bench [--sizes 64 128] [--batch 16] [--device auto] [--quick] [--data-only]
[--precisions float32 bfloat16]``

Measured in one run, for both generators under identical settings:

* ``full_step``: one joint training step of :class:`inpainting.training.Trainer` (D step on real vs
  composite, then G step with L_rec + L_adv + L_per); global + local discriminator; the smoke
  profile's perceptual VGG (VGG16) at relu3_1 with **random weights** (speed does not depend on
  the weights); fixed batch, so data loading is excluded (reported separately as ``data``);
* ``g_step``: stage-G step (G forward + L_rec + backward + Adam), no D, no VGG;
* both training steps in float32 and with the trainer's mixed precision (``train.amp``: float16
  autocast on CUDA, bfloat16 on CPUs with native bfloat16 kernels; an emulated bfloat16 step takes
  minutes, so those rows come only with ``--precisions float32 bfloat16``); the FLOP rate of the
  mixed rows is still measured against the float32 matmul;
* every timed step is a plain step: the term-balance measurement the trainer makes every
  ``train.log_every`` steps (one extra backward pass per loss term) is off
  (:func:`inpainting.bench.parts.plain_steps`; ``tests/test_bench.py`` counts the backward passes
  and optimiser steps of a timed step), and it runs under the profile's ``train.threads`` as
  ``fit`` runs it;
* ``infer``: one image at 128 px (eval mode, ``no_grad``, median latency), for several execution
  options (eager, channels_last, TorchScript freeze + optimize_for_inference, torch.compile, and
  onnxruntime on the CPU when it is installed: ``inpainting.tools.export_onnx``);
* ``data``: the input pipeline alone (:class:`inpainting.training.BatchStream`, as the trainer
  reads it): batches of ``--batch`` training views at 128 px decoded from CelebA-layout JPEGs
  (178x218, quality 95, smooth noise like ``tests/fixtures.make_celeba``; read from the page cache,
  so disk speed is not measured) with 0, 1 and 2 DataLoader workers; images/s after two untimed
  warm-up batches (worker start-up excluded); the note gives the per-image cost of the training
  process (0 workers), from which the workers a GPU needs follow (README);
* peak memory (CUDA: ``max_memory_allocated``; CPU: peak RSS growth, Linux ``VmHWM`` reset through
  ``/proc/self/clear_refs``), FLOPs of one step (``torch.utils.flop_counter``) and the achieved
  FLOP rate against a 2048x2048 fp32 matmul measured in the same run at the thread count the
  step ran with (:func:`inpainting.bench.roofs.matmul_roof`).

``--quick``: 3 repetitions, no torch.compile, short data rows, float32 only on a CPU without native
bfloat16. Prints a pandas table headed by the machine (CPU or GPU model, ISA, threads, load
average before and after) and writes ``results/bench/bench.csv`` (atomically; every row carries
threads, ISA, precision and load). Figures are this machine's; the script asserts nothing.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from .common import fit_threads, load_average, machine, plain_steps
from .roofs import matmul_roof, native_precisions
from ..models import build_inpainter, composite, generator_input
from ..profiles import ModelConfig, get_profile
from ..runtime import precision as run_precision, select_device
from ..tools.export_onnx import onnxruntime_options
from ..training import BatchStream, RunSpec, Trainer

GENERATORS = ("lite", "glcic")
INFER_SIZE = 128
DATA_SIZE, DATA_WORKERS, DATA_IMAGES = 128, (0, 1, 2), 96


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timings(fn: Callable[[], object], device: torch.device, warmup: int, reps: int) -> list[float]:
    """Wall-clock seconds of ``reps`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - start)
    return out


class Roof:
    """The fp32 2048x2048 matmul roof (GFLOP/s), measured once per thread count on first use: a
    step is compared with the roof at the thread count it ran with."""

    def __init__(self, device: torch.device, reps: int = 5):
        self.device, self.reps, self.by_threads = device, reps, {}

    def __call__(self, threads: int | None = None) -> float:
        threads = threads or torch.get_num_threads()
        if threads not in self.by_threads:
            self.by_threads[threads] = matmul_roof(self.device, reps=self.reps,
                                                   threads=threads)["gflops"]
        return self.by_threads[threads]


class PeakMemory:
    """Peak memory growth (MB) inside the ``with`` block: CUDA allocator peak, or on CPU the
    resident-set high-water mark (VmHWM, reset via /proc/self/clear_refs; else ru_maxrss)."""

    def __init__(self, device: torch.device):
        self.device = device

    @staticmethod
    def _rss(field: str) -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise OSError(field)

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device) / 2**20
        else:
            Path("/proc/self/clear_refs").write_text("5")
            self.base = self._rss("VmRSS")
        return self

    def __exit__(self, *exc):
        peak = torch.cuda.max_memory_allocated(self.device) / 2**20 if self.device.type == "cuda" \
            else self._rss("VmHWM")
        self.mb = peak - self.base


def step_profile(generator: str, size: int, batch: int, stage: str, device: str, amp: bool,
                 steps: int = 10**6):
    """The smoke profile as a training row runs it: ``steps`` steps, all of ``stage`` ("joint" or
    "G"), ``generator`` at ``size`` px, random perceptual weights (speed does not depend on them);
    ``amp``: the trainer's mixed precision (bfloat16 autocast on a CPU, float16 on CUDA)."""
    overrides = {"faces.image_size": size, "faces.n_train": batch, "train.batch_size": batch,
                 "train.amp": amp,
                 "model.generator": generator, "loss.per_weights": "random", "train.device": device,
                 "train.steps_g": steps if stage == "G" else 0, "train.steps_d": 0,
                 "train.steps_joint": steps if stage == "joint" else 0}
    if stage == "G":
        overrides.update({"loss.w_adv": 0.0, "loss.w_per": 0.0})
    return get_profile("smoke", overrides)


def make_trainer(generator: str, size: int, batch: int, stage: str, device: str,
                 out_dir: Path, amp: bool) -> Trainer:
    """A built :class:`Trainer` of :func:`step_profile` whose every step is a plain step (no
    term-balance measurement), timed on its batch ``fixed_batch``."""
    trainer = plain_steps(Trainer(RunSpec(step_profile(generator, size, batch, stage, device, amp),
                                          "faces"), out_dir, progress=False))
    trainer.build()
    trainer.fixed_batch = trainer.batch(0)
    return trainer


def timed_step(trainer: Trainer) -> Callable[[], dict]:
    """What a training row times: one ``train_step`` on the fixed batch (data excluded)."""
    return lambda: trainer.train_step(trainer.fixed_batch)


def step_flops(step: Callable[[], dict]) -> float:
    """FLOPs (forward + backward, counted by FlopCounterMode) of one training step."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def bench_training(generator: str, size: int, batch: int, stage: str, device: torch.device,
                   reps: int, roof: Roof, tmp: Path, amp: bool) -> dict:
    load_start = load_average()
    trainer = make_trainer(generator, size, batch, stage, str(device), tmp, amp)
    step = timed_step(trainer)
    with fit_threads(trainer):
        data_s = statistics.median(timings(lambda: trainer.batch(1), device, 1, 3))   # the real data path
        flops = step_flops(step)
        with PeakMemory(device) as mem:
            times = timings(step, device, 1, reps)
        here = machine(device)
    seconds = statistics.median(times)
    return {"benchmark": "full_step" if stage == "joint" else "g_step", "generator": generator,
            "size": size, "batch": batch,
            "option": f"eager, {trainer.module.amp_dtype} autocast" if trainer.module.use_amp else "eager",
            "precision": trainer.precision,
            "images_per_s": batch / seconds, "ms": 1000 * seconds, "data_ms": 1000 * data_s, "peak_mem_mb": mem.mb,
            "gflop": flops / 1e9, "gflop_per_s": flops / seconds / 1e9,
            "pct_matmul": 100 * flops / seconds / 1e9 / roof(here["threads"]),
            **here, "load_start": load_start, "load_end": load_average(),
            "note": f"{trainer.profile.loss.per_network.upper()} relu3_1 random weights"
                    if stage == "joint" else ""}


def inference_options(model, x: torch.Tensor, m: torch.Tensor) -> dict[str, Callable[[], object]]:
    """Execution options for one completion (all return the composite)."""
    net = model.generator
    inp = generator_input(x, m)
    cl_net = build_inpainter(ModelConfig(model.name), x.shape[-1]).generator
    cl_net.load_state_dict(net.state_dict())
    cl_net = cl_net.eval().to(x.device, memory_format=torch.channels_last)
    inp_cl = inp.contiguous(memory_format=torch.channels_last)
    frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, inp)))
    return {"eager": lambda: model.complete(x, m),
            "eager, no input checks": lambda: composite(x, net(inp), m),
            "channels_last": lambda: composite(x, cl_net(inp_cl), m),
            "jit.freeze+optimize_for_inference": lambda: composite(x, frozen(inp), m),
            **onnxruntime_options(model, x, m)}   # {} without onnxruntime or off the CPU


def bench_inference(generator: str, device: torch.device, reps: int, roof: Roof,
                    with_compile: bool) -> list[dict]:
    torch.manual_seed(0)
    model = build_inpainter(ModelConfig(generator), INFER_SIZE).to(device).eval()
    x = torch.rand(1, 3, INFER_SIZE, INFER_SIZE, device=device) * 2 - 1
    m = torch.zeros(1, 1, INFER_SIZE, INFER_SIZE, device=device)
    m[..., 32:96, 32:96] = 1
    rows = []
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            model.complete(x, m)
        flops = counter.get_total_flops()
        options = inference_options(model, x, m)
        if with_compile:
            compiled = torch.compile(model.generator)
            inp = generator_input(x, m)
            start = time.perf_counter()
            compiled(inp)
            compile_s = time.perf_counter() - start
            options["torch.compile"] = lambda: composite(x, compiled(inp), m)
        reference = options["eager"]()
        for option, fn in options.items():
            with PeakMemory(device) as mem:
                seconds = statistics.median(timings(fn, device, 3, reps))
            err = (fn() - reference).abs().max().item()
            note = f"max |diff| vs eager {err:.1e}"
            if option == "torch.compile":
                note += f"; compile {compile_s:.1f} s"
            rows.append({"benchmark": "infer", "generator": generator, "size": INFER_SIZE,
                         "batch": 1, "option": option, "precision": "float32",
                         "images_per_s": 1 / seconds,
                         "ms": 1000 * seconds, "peak_mem_mb": mem.mb, "gflop": flops / 1e9,
                         "gflop_per_s": flops / seconds / 1e9,
                         "pct_matmul": 100 * flops / seconds / 1e9 / roof(),
                         **machine(device), "load_end": load_average(), "note": note})
    return rows


def celeba_lookalike(root: Path, n: int = DATA_IMAGES) -> Path:
    """``root/img_align_celeba/000001.jpg ..``: ``n`` 178x218 JPEGs (quality 95, smooth noise) and
    a ``list_eval_partition.txt`` putting them all in the training split."""
    import numpy as np
    from PIL import Image
    folder = root / "img_align_celeba"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for k in range(1, n + 1):
        coarse = rng.integers(0, 256, size=(27, 22, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((178, 218), Image.Resampling.BILINEAR).save(
            folder / f"{k:06d}.jpg", quality=95)
    (root / "list_eval_partition.txt").write_text(
        "".join(f"{k:06d}.jpg 0\n" for k in range(1, n + 1)))
    return root


def bench_data(root: Path, batch: int, steps: int, workers: int, device: torch.device) -> dict:
    """Images/s of the training input pipeline with ``workers`` DataLoader workers (module doc)."""
    import warnings
    from ..data import build_dataset
    profile = get_profile("smoke", {"faces.name": "celeba", "faces.root": str(root),
                                    "faces.image_size": DATA_SIZE, "faces.n_train": None,
                                    "faces.celeba_split": "official", "train.batch_size": batch})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = build_dataset(profile.faces, "train")
    stream = BatchStream(dataset, profile.masks, batch, profile.train.seed)
    warmup = 2
    batches = iter(stream.loader(0, warmup + steps, workers, pin_memory=device.type == "cuda"))
    for _ in range(warmup):
        next(batches)
    start = time.perf_counter()
    for _ in batches:
        pass
    seconds = (time.perf_counter() - start) / steps
    return {"benchmark": "data", "generator": "-", "size": DATA_SIZE, "batch": batch,
            "option": f"{workers} worker{'s' if workers != 1 else ''}",
            "images_per_s": batch / seconds, "ms": 1000 * seconds,
            "note": f"CelebA-layout JPEG -> {DATA_SIZE} px view + mask: "
                    f"{1000 * seconds / batch:.2f} ms/image"
                    + (" in the training process" if workers == 0 else " (wall, with workers)")}


def data_rows(batch: int, device: torch.device, quick: bool) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = celeba_lookalike(Path(tmp))
        for workers in DATA_WORKERS:
            rows.append(bench_data(root, batch, 4 if quick else 12, workers, device))
            print(f"data {DATA_SIZE}px ({rows[-1]['option']}): "
                  f"{rows[-1]['images_per_s']:.1f} images/s", flush=True)
    return rows


def add_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """Column ``lite_speedup``: lite images/s over GLCIC's for the same benchmark/size/option."""
    key = ["benchmark", "size", "batch", "option"]
    glcic = df[df.generator == "glcic"].set_index(key)["images_per_s"]
    df = df.copy()
    df["lite_speedup"] = [row.images_per_s / glcic.get(tuple(row[k] for k in key), float("nan"))
                          if row.generator == "lite" else float("nan") for _, row in df.iterrows()]
    return df


def amp_flags(precisions: Sequence[str], device: torch.device) -> list[bool]:
    """``train.amp`` values giving ``precisions`` on ``device`` (ValueError for a precision the
    trainer cannot compute in there, e.g. float16 on a CPU)."""
    mixed = run_precision(True, device)
    bad = [p for p in precisions if p not in ("float32", mixed)]
    if bad:
        raise ValueError(f"the trainer computes in float32 or {mixed} on {device.type}, not "
                         f"{', '.join(bad)}")
    return [p != "float32" for p in dict.fromkeys(precisions)]


def roof_rows(roof: Roof) -> list[dict]:
    return [{"benchmark": "matmul 2048 fp32", "generator": "-", "size": 2048, "batch": 1,
             "option": "eager", "precision": "float32", "threads": threads, "gflop_per_s": gflops,
             "pct_matmul": 100.0} for threads, gflops in roof.by_threads.items()]


def training_rows(generators: Sequence[str], sizes: Sequence[int], batch: int,
                  precisions: Sequence[str], dev: torch.device, reps: int,
                  roof: Roof) -> list[dict]:
    """Full and generator-only training steps of each generator, size and precision."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for generator in generators:
            for size in sizes:
                for stage in ("joint", "G"):
                    for amp in amp_flags(precisions, dev):
                        rows.append(bench_training(generator, size, batch, stage, dev, reps, roof,
                                                   Path(tmp), amp))
                        print(f"{rows[-1]['benchmark']} {generator} {size}px "
                              f"({rows[-1]['option']}): {rows[-1]['images_per_s']:.2f} images/s",
                              flush=True)
    return rows


def run(sizes: list[int], batch: int, device: str, quick: bool,
        data_only: bool = False, precisions: Sequence[str] | None = None,
        inference: bool = True) -> pd.DataFrame:
    """All measurements as one DataFrame (see module docstring); ``precisions`` of the training
    rows (default :func:`inpainting.bench.roofs.native_precisions`)."""
    dev = select_device(device)
    reps = 3 if quick else 10
    roof = Roof(dev)
    if data_only:   # the pipeline's rate beside the rate of the training step it feeds
        with tempfile.TemporaryDirectory() as tmp:
            rows = [bench_training("lite", DATA_SIZE, batch, "joint", dev, reps, roof,
                                   Path(tmp), False)]
        return pd.DataFrame(roof_rows(roof) + rows + data_rows(batch, dev, quick))
    rows = training_rows(GENERATORS, sizes, batch, precisions or native_precisions(dev), dev,
                         reps, roof)
    if inference:
        for generator in GENERATORS:
            rows += bench_inference(generator, dev, 5 * reps, roof, with_compile=not quick)
        rows += data_rows(batch, dev, quick)
    return add_ratios(pd.DataFrame(roof_rows(roof) + rows))


PARTS_REPS, ROOF_REPS, QUICK_REPS = 5, 5, 3
