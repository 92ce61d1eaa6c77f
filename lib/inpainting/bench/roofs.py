"""How close to this machine's limit a training step runs: FLOP rate against two measured roofs.

``python -m inpainting.bench --roofs [--profile demo] [--sizes 64 128] [--precisions float32
bfloat16] [--quick]`` (the command line is in :mod:`inpainting.bench`).

For the lite full step (the full model's joint step: one D step, then one G step with L_rec + L_adv
+ L_per, of ``--profile`` at each size, its own batch and discriminator) in float32 and under the
trainer's mixed precision (``train.amp``: bfloat16 autocast on a CPU, float16 on CUDA); by default
the mixed rows only where the device has native kernels for them (:func:`native_precisions`), since
an emulated bfloat16 step takes minutes; ``--precisions float32 bfloat16`` asks for them anyway.
The steps run plain (no term-balance measurement: :func:`inpainting.bench.parts.plain_steps`) and
under the profile's ``train.threads`` as ``fit`` runs them; the matmul roofs are measured at that
same thread count, so "% of roof" compares like with like.

* **step FLOPs**: :class:`torch.utils.flop_counter.FlopCounterMode` over one real ``train_step``
  (forward and backward; convolutions, matmuls; elementwise work is not counted);
* **step rate**: FLOPs over the best of ``reps`` timed steps on a fixed batch (data excluded);
* **matmul roof**: best GFLOP/s of an ``n x n`` matmul in float32 (n = 2048), and in bfloat16
  (n = 2048, or 512 where bfloat16 is emulated: the full size would take minutes);
* **convolution roof of the same shapes**: every ``aten.convolution`` and
  ``aten.convolution_backward`` call of one real step is recorded (shapes, strides, i.e. memory
  format, dtypes, which gradients it computes) with a dispatch mode; each distinct call is then run
  alone on fresh random tensors (best of ``conv_reps``) and its FLOPs counted. The roof is the
  step's conv FLOPs over the sum of those stand-alone times (each call weighted by how often the
  step makes it): the rate the step would reach if every convolution ran as fast as it does alone
  and nothing else took time. ``conv_alone_ms`` is that time; the rest of a step is non-conv work
  (BatchNorm, activations, losses, Adam, the D's linear layers) and framework overhead.

bfloat16 on a CPU without AVX512-BF16 / AMX (``torch.ops.mkldnn._is_mkldnn_bf16_supported()``
False) runs on emulated kernels, tens of times slower than float32; its rows are labelled
"emulated (no AVX512-BF16/AMX)" and timed with fewer repetitions (the recording step serves as the
warm-up; each bfloat16 conv is timed once). The bf16 step's percentages are given against its own
precision's roofs and against the float32 matmul (the machine's real ceiling).

Every row records threads, CPU model, ISA and the 1-minute load average before and after it: a loaded
machine lowers both the step and the roofs, but not by the same amount.
"""
from __future__ import annotations

import math
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from .parts import (RANDOM_VGG, fit_threads, load_average, machine, plain_steps, size_overrides,
                    stage_steps, sync)
from ..experiments import variant_spec
from ..profiles import Profile, with_overrides
from ..runtime import cpu_bf16_fast, precision as run_precision
from ..training import RunSpec, Trainer
from ..training.stream import torch_threads

PRECISIONS = ("float32", "bfloat16", "float16")
CONV_OPS = (torch.ops.aten.convolution.default, torch.ops.aten.convolution_backward.default)
EMULATED = "emulated (no AVX512-BF16/AMX)"


def emulated(device: torch.device, precision: str) -> bool:
    """True where ``precision`` has no native kernels on ``device`` (a CPU without AVX512-BF16 /
    AMX for bfloat16; float16 on any CPU): tens of times slower than float32."""
    if device.type == "cuda" or precision == "float32":
        return False
    return not (precision == "bfloat16" and cpu_bf16_fast())


def native_precisions(device: torch.device) -> tuple[str, ...]:
    """The precisions measured unless asked otherwise: float32, and the trainer's mixed precision
    on ``device`` (``train.amp``) where it runs on native kernels."""
    mixed = run_precision(True, device)
    return ("float32",) if emulated(device, mixed) else ("float32", mixed)


def kernels(device: torch.device, precision: str) -> str:
    """The label of a row's kernels: float32, native mixed precision, or emulated."""
    if precision == "float32":
        return "float32"
    if device.type == "cuda":
        return f"CUDA {precision}"
    return EMULATED if emulated(device, precision) else "native (AVX512-BF16/AMX)"


def best_seconds(fn, device: torch.device, reps: int, warmup: int) -> tuple[float, float]:
    """(best, median) wall seconds of ``reps`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    times.sort()
    return times[0], times[len(times) // 2]


def matmul_roof(device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048,
                reps: int = 5, threads: int | None = None) -> dict:
    """GFLOP/s (2 n^3 FLOPs per product) of an ``n x n`` matmul in ``dtype``: best and median,
    with ``threads`` intra-op threads (None: the count in effect), recorded as ``threads``."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    with torch_threads(threads):
        lo, med = best_seconds(lambda: a @ b, device, reps, 1)
        used = torch.get_num_threads()
    return {"n": n, "dtype": str(dtype).removeprefix("torch."), "gflops": 2 * n**3 / lo / 1e9,
            "gflops_median": 2 * n**3 / med / 1e9, "threads": used}


def _freeze(value):
    return tuple(_freeze(v) for v in value) if isinstance(value, (list, tuple)) else value


class ConvRecorder(TorchDispatchMode):
    """Records every convolution / convolution-backward call made inside the ``with`` block as a
    hashable spec: per argument, a tensor's ``(shape, stride, dtype)`` or the value itself."""

    def __init__(self):
        super().__init__()
        self.calls: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in CONV_OPS:
            spec = tuple(("T", tuple(a.shape), tuple(a.stride()), a.dtype)
                         if isinstance(a, torch.Tensor) else ("V", _freeze(a)) for a in args)
            self.calls[(func, spec)] += 1
        return func(*args, **(kwargs or {}))


def materialise(spec: tuple, device: torch.device) -> list:
    """Fresh arguments for a recorded call: random tensors with the recorded layout."""
    args = []
    for kind, *rest in spec:
        if kind == "T":
            shape, stride, dtype = rest
            t = torch.empty_strided(shape, stride, dtype=dtype, device=device)
            if t.numel():
                t.normal_()
            args.append(t)
        else:
            value = rest[0]
            args.append(list(value) if isinstance(value, tuple) else value)
    return args


def call_columns(func, spec: tuple) -> dict:
    """Readable columns of one recorded call: op, shapes, dtype, memory format."""
    tensors = [s for s in spec if s[0] == "T"]
    first = tensors[0]
    channels_last = len(first[1]) == 4 and first[2][1] == 1 and first[1][1] > 1
    if func is torch.ops.aten.convolution.default:
        op, a, w = "conv forward", spec[0][1], spec[1][1]
        transposed = spec[6][1]
    else:   # grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed, ...
        op, a, w = "conv backward", spec[1][1], spec[2][1]
        transposed = spec[7][1]
        mask = spec[10][1]
        op += " (" + ", ".join(n for n, m in zip(("input", "weight", "bias"), mask) if m) + ")"
    return {"op": op + (" transposed" if transposed else ""), "input": str(tuple(a)),
            "weight": str(tuple(w)), "dtype": str(first[3]).removeprefix("torch."),
            "layout": "channels_last" if channels_last else "contiguous"}


def conv_roof(calls: Counter, device: torch.device, reps: int, warmup: int) -> tuple[dict, list[dict]]:
    """Each distinct recorded call alone (best of ``reps``): totals and one row per distinct call."""
    rows, flops_total, seconds_total = [], 0.0, 0.0
    for (func, spec), count in calls.items():
        args = materialise(spec, device)
        with FlopCounterMode(display=False) as counter:
            func(*args)
        flops = counter.get_total_flops()
        best, _ = best_seconds(lambda: func(*args), device, reps, warmup)
        del args
        flops_total += count * flops
        seconds_total += count * best
        rows.append({**call_columns(func, spec), "calls": count, "gflop": count * flops / 1e9,
                     "ms": 1000 * count * best,
                     "gflop_per_s": flops / best / 1e9 if best > 0 else math.nan})
    totals = {"conv_gflop": flops_total / 1e9, "conv_calls": sum(calls.values()),
              "conv_distinct": len(calls), "conv_alone_ms": 1000 * seconds_total,
              "conv_roof_gflops": flops_total / seconds_total / 1e9 if seconds_total else math.nan}
    return totals, rows


def full_step_trainer(profile: Profile, size: int, precision: str, out_dir: Path,
                      batch: int | None = None) -> Trainer:
    """A built trainer of ``profile``'s full model (faces) at ``size`` px whose step is a joint
    step, in ``precision`` (``"float32"`` or ``"bfloat16"``: the trainer's ``train.amp``)."""
    overrides = {**size_overrides(size), **RANDOM_VGG, "train.amp": precision != "float32",
                 **({"train.batch_size": batch} if batch else {})}
    spec = variant_spec(with_overrides(profile, overrides), {}, "faces")
    trainer = plain_steps(Trainer(RunSpec(spec.profile, "faces"), out_dir, progress=False))
    trainer.build()
    if trainer.precision != precision:
        raise ValueError(f"{precision} asked for, but the trainer computes in {trainer.precision} "
                         f"on {trainer.device}")
    trainer.step = stage_steps(trainer, "joint")[0]
    return trainer


def step_roofs(profile: Profile, size: int, precision: str, roofs: dict, reps: int,
               conv_reps: int, batch: int | None = None, log=print) -> tuple[dict, list[dict]]:
    """One row for the full step of ``profile`` at ``size`` in ``precision`` (module doc), and its
    per-convolution rows. ``roofs``: matmul roofs by dtype name (from :func:`matmul_roof`)."""
    load_start = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        t = full_step_trainer(profile, size, precision, Path(tmp), batch)
        step0 = t.step
        batch_ = t.batch(step0)
        slow = emulated(t.device, precision)

        def one_step():
            t.step = step0
            t.train_step(batch_)

        recorder = ConvRecorder()
        with fit_threads(t):
            with FlopCounterMode(display=False) as counter, recorder:   # also the warm-up
                one_step()
            flops = counter.get_total_flops()
            step_reps = min(reps, 2) if slow else reps
            best, median = best_seconds(one_step, t.device, step_reps, 0 if slow else 1)
            log(f"  {size}px {precision}: step {best:.2f} s (best of {step_reps}); timing "
                f"{sum(recorder.calls.values())} conv calls alone ...")
            conv, conv_rows = conv_roof(recorder.calls, t.device, 1 if slow else conv_reps,
                                        0 if slow else 1)
            here = machine(torch.device(t.device))
        info = {"size": size, "precision": precision, "kernels": kernels(t.device, precision),
                "batch": t.profile.train.batch_size, "d_width": getattr(t.profile.model, "d_width", 1.0)}
    rate = flops / best / 1e9
    same = roofs.get(precision, roofs["float32"])
    row = {**info, "step_gflop": flops / 1e9, "conv_share_of_flops": conv["conv_gflop"] * 1e9 / flops,
           "step_ms_best": 1000 * best, "step_ms_median": 1000 * median, "step_reps": step_reps,
           "gflop_per_s": rate, **conv,
           "pct_conv_roof": 100 * rate / conv["conv_roof_gflops"],
           "matmul_fp32_gflops": roofs["float32"]["gflops"],
           "matmul_threads": roofs["float32"]["threads"],
           "pct_matmul_fp32": 100 * rate / roofs["float32"]["gflops"],
           "matmul_same_precision_gflops": same["gflops"],
           "pct_matmul_same_precision": 100 * rate / same["gflops"],
           "matmul_same_precision_n": same["n"],
           **here, "load_start": load_start, "load_end": load_average()}
    conv_rows = [{**info, **r} for r in conv_rows]
    return row, conv_rows


def run_roofs(profile: Profile, sizes: Sequence[int], precisions: Sequence[str] | None = None,
              device: torch.device | None = None, reps: int = 5, conv_reps: int = 5,
              batch: int | None = None, log=print) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The roofs table (one row per size and precision; default :func:`native_precisions`) and the
    per-convolution table. The matmul roofs are measured at the steps' thread count (the
    profile's ``train.threads``, as the steps run)."""
    device = device or torch.device("cpu")
    precisions = precisions or native_precisions(device)
    threads = profile.train.threads
    roofs = {"float32": matmul_roof(device, torch.float32, reps=reps, threads=threads)}
    log(f"matmul 2048 float32: {roofs['float32']['gflops']:.1f} GFLOP/s (best of {reps}, "
        f"{roofs['float32']['threads']} threads)")
    for precision in precisions:
        if precision == "float32":
            continue
        slow = emulated(device, precision)
        roofs[precision] = matmul_roof(device, getattr(torch, precision), n=512 if slow else 2048,
                                       reps=2 if slow else reps, threads=threads)
        log(f"matmul {roofs[precision]['n']} {precision}: {roofs[precision]['gflops']:.2f} "
            f"GFLOP/s" + (f" ({EMULATED})" if slow else ""))
    rows, conv_rows = [], []
    for size in sizes:
        for precision in precisions:
            row, convs = step_roofs(profile, size, precision, roofs, reps, conv_reps, batch, log)
            rows.append(row)
            conv_rows += convs
            log(f"{size}px {precision}: {row['gflop_per_s']:.1f} GFLOP/s = "
                f"{row['pct_matmul_fp32']:.0f} % of the fp32 matmul, {row['pct_conv_roof']:.0f} % of "
                f"the conv roof ({row['conv_roof_gflops']:.1f} GFLOP/s); load {row['load_start']} "
                f"-> {row['load_end']}")
    return pd.DataFrame(rows), pd.DataFrame(conv_rows)


__all__ = ["ConvRecorder", "EMULATED", "PRECISIONS", "conv_roof", "emulated", "full_step_trainer",
           "kernels", "matmul_roof", "native_precisions", "run_roofs", "step_roofs"]
