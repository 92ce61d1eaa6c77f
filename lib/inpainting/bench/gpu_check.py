"""``./run_all.sh gpu-check`` (``python -m inpainting.bench.gpu_check``): the CUDA paths, run once on
the first GPU lent, with one JSON of figures.

The kit's CUDA code (float16 autocast with loss scaling, cuDNN determinism, pinned-memory loading,
SyncBatchNorm, the GPU rows of the bench, the paper profile) was written on CPU-only machines. On a
CUDA machine this command, in a few minutes:

1. prints the device (model, compute capability, memory, CUDA / cuDNN / torch versions);
2. runs every CUDA-only test (``pytest -m cuda``: the tests marked ``cuda``, which skip without a
   GPU; the 2-GPU one skips on one GPU);
3. trains the paper profile for a few steps on CelebA- and Paris-StreetView-laid-out folders (the
   tests' look-alike fixtures, ``tests/fixtures.py``; random perceptual weights, since the machine
   may be offline) with its mixed precision (``train.amp``: float16 on CUDA, data loader workers
   and pinned memory), and checks resume: a run stopped right after a checkpoint and resumed in a
   new process ends bit-identical (weights and log) to an uninterrupted one;
4. measures the lite generator against GLCIC's completion network (full and generator-only
   training steps, :func:`inpainting.bench.throughput.training_rows`) at 128 and 256 px in float32
   and float16;
5. writes every figure with the machine to ``results/bench/gpu_check.json``.

Without CUDA (or with ``--dry-run``) it says that no GPU is present and checks its own plumbing
instead: the same steps on the CPU at tiny sizes (the CUDA tests collected, not run; 32-px
training; one repetition), written to ``gpu_check_dry.json``; it exits 0 when every step worked.
The exit status is 1 when a step failed (the JSON says which and why).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]   # the checkout: lib/inpainting/bench/gpu_check.py
TESTS = ROOT / "tests"
STOPPED = 75   # exit status of the interrupted training child (os._exit after its checkpoint)


@dataclass(frozen=True)
class CheckPlan:
    """How big each step is: the real check on a GPU, or the plumbing check on a CPU."""

    dry: bool
    device: str
    image_size: int
    batch: int
    bench_sizes: tuple[int, ...]
    bench_batch: int
    bench_reps: int
    precisions: tuple[str, ...]
    amp: bool

    @classmethod
    def for_machine(cls, dry: bool) -> "CheckPlan":
        if not dry:
            return cls(False, "cuda", 128, 8, (128, 256), 16, 10, ("float32", "float16"), True)
        from .roofs import emulated
        cpu = torch.device("cpu")
        # mixed precision on the CPU only where it is native (emulated bfloat16 takes minutes)
        return cls(True, "cpu", 32, 2, (32,), 2, 1, ("float32",), not emulated(cpu, "bfloat16"))


# ----------------------------------------------------------------------------------- device
def device_info(plan: CheckPlan) -> dict:
    from .common import machine
    info = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
            "dry_run": plan.dry, **machine(torch.device("cpu")),
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    info["cpu"] = info.pop("device_name")
    info["cpu_isa"] = info.pop("isa")
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpus=torch.cuda.device_count(),
                    capability=f"sm_{props.major}{props.minor}",
                    memory_gib=round(props.total_memory / 2**30, 1),
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return info


# ------------------------------------------------------------------------------- CUDA tests
def cuda_test_files() -> list[Path]:
    """The test files holding a test marked ``cuda`` (collecting only these is quick)."""
    return sorted(p for p in TESTS.glob("test_*.py") if "pytest.mark.cuda" in p.read_text())


def cuda_tests(plan: CheckPlan) -> dict:
    """``pytest -m cuda`` over those files (dry: collected only, so the selection is checked)."""
    files = cuda_test_files()
    if not files:
        raise RuntimeError(f"no test marked cuda under {TESTS}")
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider",
               "-o", "addopts=", *(["--collect-only"] if plan.dry else ["-rs"]), *map(str, files)]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    tests = [line for line in lines if "::" in line and " " not in line.split("::")[0]]
    result = {"command": " ".join(command[2:]), "returncode": proc.returncode,
              "summary": lines[-1] if lines else proc.stderr[-500:],
              "collected" if plan.dry else "skipped": tests if plan.dry
              else [line for line in lines if line.startswith("SKIPPED")]}
    if proc.returncode != 0 or (plan.dry and not tests):
        raise RuntimeError(f"pytest -m cuda: {result['summary']}\n{proc.stdout[-3000:]}")
    return result


# ----------------------------------------------------------------- paper-profile training
def _fixtures():
    """The tests' look-alike dataset builders (one implementation, ``tests/fixtures.py``)."""
    spec = importlib.util.spec_from_file_location("inpainting_test_fixtures", TESTS / "fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lookalike_data(root: Path) -> dict[str, Path]:
    fixtures = _fixtures()
    return {"faces": fixtures.make_celeba(root / "celeba", n=48),
            "facades": fixtures.make_paris(root / "paris", n_train=8, n_test=3)}


def paper_recipe(plan: CheckPlan, data: dict[str, Path]) -> dict:
    """Overrides of the paper profile for a short run on the look-alike folders."""
    return {"faces.root": str(data["faces"]), "facades.root": str(data["facades"]),
            "faces.image_size": plan.image_size, "facades.image_size": plan.image_size,
            "faces.n_test": 2, "facades.n_test": 2, "loss.per_weights": "random",
            "train.batch_size": plan.batch, "train.steps_g": 2, "train.steps_d": 1,
            "train.steps_joint": 3, "train.checkpoint_every": 1, "train.log_every": 2,
            "train.sample_every": 100, "train.num_workers": 2, "train.amp": plan.amp,
            "train.device": plan.device,
            # the child process must sum in the same order as this one (bit-identity)
            "train.threads": torch.get_num_threads()}


def _trainer(recipe: dict, role: str, out_dir: Path):
    from ..profiles import get_profile
    from ..training import RunSpec, Trainer
    return Trainer(RunSpec(get_profile("paper", recipe), role), out_dir, progress=False)


def interrupted_child(recipe: dict, role: str, out_dir: Path, stop_after: int) -> None:
    """In a child process: train, and end the process abruptly right after the checkpoint of step
    ``stop_after`` is written (as a kill would, but at a known step)."""
    from ..training import loop
    save = loop.save_checkpoint

    def save_then_stop(state, ckpt_dir, step, *args, **kwargs):
        path = save(state, ckpt_dir, step, *args, **kwargs)
        if step >= stop_after:
            os._exit(STOPPED)
        return path

    loop.save_checkpoint = save_then_stop
    _trainer(recipe, role, out_dir).fit()


def resume_check(recipe: dict, role: str, work: Path, stop_after: int = 4) -> dict:
    """An uninterrupted run against one stopped after step ``stop_after``'s checkpoint (in a child
    process) and resumed here: every weight and the log must be equal, bit for bit."""
    import pandas as pd
    from ..training.checkpoint import load_latest
    start = time.perf_counter()
    straight = _trainer(recipe, role, work / "straight")
    result = straight.fit()
    command = [sys.executable, "-m", "inpainting.bench.gpu_check", "--interrupted-child",
               json.dumps({"recipe": recipe, "role": role, "out_dir": str(work / "resumed"),
                           "stop_after": stop_after})]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != STOPPED:
        raise RuntimeError(f"the interrupted run ended with {proc.returncode}: {proc.stderr[-3000:]}")
    resumed = _trainer(recipe, role, work / "resumed")
    resumed.fit()
    a = load_latest(work / "straight" / "checkpoints")
    b = load_latest(work / "resumed" / "checkpoints")
    differ = [f"{net}.{key}" for net in ("G", "D") for key in a[net]
              if not torch.equal(a[net][key], b[net][key])]
    logs = [pd.DataFrame(s["history"]).drop(columns=["seconds"]) for s in (a, b)]
    same_log = logs[0].equals(logs[1])
    return {"role": role, "dataset": straight.data_cfg.name, "image_size": straight.image_size,
            "batch": straight.profile.train.batch_size, "precision": straight.precision,
            "device": str(straight.device), "steps": straight.schedule.total,
            "stopped_after_step": stop_after, "weights_identical": not differ,
            "differing_tensors": differ[:20], "log_identical": same_log,
            "final_losses": {k: float(v) for k, v in
                             result.history.iloc[-1][["rec", "adv_g", "per", "d_loss"]].items()},
            "seconds": time.perf_counter() - start}


def paper_training(plan: CheckPlan) -> dict:
    """The paper profile on both look-alike datasets: faces with the resume check, facades one
    straight run (the Paris loader at the profile's size)."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        recipe = paper_recipe(plan, lookalike_data(work / "data"))
        faces = resume_check(recipe, "faces", work / "faces")
        start = time.perf_counter()
        facades = _trainer(recipe, "facades", work / "facades").fit()
        out = {"overrides": recipe, "faces": faces,
               "facades": {"steps": int(facades.history.step.max()) + 1,
                           "final_rec": float(facades.history.rec.iloc[-1]),
                           "seconds": time.perf_counter() - start}}
    if not (faces["weights_identical"] and faces["log_identical"]):
        raise RuntimeError(f"resume is not bit-identical: {json.dumps(faces)}")
    for key in ("faces.root", "facades.root"):
        out["overrides"][key] = "<look-alike fixture>"
    return out


# ------------------------------------------------------------------------------- throughput
def throughput(plan: CheckPlan) -> list[dict]:
    from .throughput import GENERATORS, Roof, training_rows
    device = torch.device(plan.device)
    rows = training_rows(GENERATORS, plan.bench_sizes, plan.bench_batch, plan.precisions, device,
                         plan.bench_reps, Roof(device, reps=plan.bench_reps))
    keep = ("benchmark", "generator", "size", "batch", "precision", "images_per_s", "ms",
            "peak_mem_mb", "gflop", "gflop_per_s", "pct_matmul", "threads", "device_name")
    rows = [{k: r.get(k) for k in keep} for r in rows]
    glcic = {(r["benchmark"], r["size"], r["precision"]): r["images_per_s"]
             for r in rows if r["generator"] == "glcic"}
    for r in rows:
        if r["generator"] == "lite":
            r["lite_speedup"] = r["images_per_s"] / glcic[(r["benchmark"], r["size"], r["precision"])]
    return rows


# ------------------------------------------------------------------------------------- main
STEPS = (("cuda_tests", cuda_tests), ("paper_training", paper_training),
         ("throughput", throughput))


def run_steps(plan: CheckPlan, log=print) -> dict:
    """Every step, each timed; a failed step is recorded (with its error) and the next one runs."""
    report = {"machine": device_info(plan), "steps": {}, "seconds": {}, "failed": []}
    for name, step in STEPS:
        log(f"--- {name} ({'dry run on the CPU' if plan.dry else plan.device})")
        start = time.perf_counter()
        try:
            report["steps"][name] = step(plan)
            log(f"    ok ({time.perf_counter() - start:.0f} s)")
        except Exception as exc:   # noqa: BLE001 - the report names it and the status says so
            report["steps"][name] = {"error": f"{type(exc).__name__}: {exc}",
                                     "traceback": traceback.format_exc()[-4000:]}
            report["failed"].append(name)
            log(f"    FAILED ({time.perf_counter() - start:.0f} s): {type(exc).__name__}: {exc}")
        report["seconds"][name] = round(time.perf_counter() - start, 1)
    report["seconds"]["total"] = round(sum(report["seconds"].values()), 1)
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="./run_all.sh gpu-check",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="the plumbing check on the CPU at tiny sizes, even where CUDA is present")
    parser.add_argument("--out", type=Path, default=None,
                        help="the JSON (default results/bench/gpu_check.json; dry: gpu_check_dry.json)")
    parser.add_argument("--interrupted-child", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.interrupted_child:
        job = json.loads(args.interrupted_child)
        interrupted_child(job["recipe"], job["role"], Path(job["out_dir"]), job["stop_after"])
        return 1   # not reached when the run stops after its checkpoint
    from ..disk import atomic_write, results_dir
    dry = args.dry_run or not torch.cuda.is_available()
    if not torch.cuda.is_available():
        print("gpu-check: no GPU is present (torch.cuda.is_available() is False); checking the "
              "command's own plumbing on the CPU at tiny sizes instead", flush=True)
    plan = CheckPlan.for_machine(dry)
    report = run_steps(plan, log=lambda m: print(m, flush=True))
    machine = report["machine"]
    print(f"device: {machine.get('gpu', 'no GPU')} {machine.get('capability', '')}; CPU "
          f"{machine['cpu']} ({machine['cpu_isa']}), {machine['threads']} threads, torch "
          f"{machine['torch']}", flush=True)
    for row in report["steps"].get("throughput", []) if isinstance(
            report["steps"].get("throughput"), list) else []:
        print(f"  {row['benchmark']:9} {row['generator']:5} {row['size']:3} px {row['precision']:8}"
              f" {row['images_per_s']:9.1f} images/s" + (f"  lite x{row['lite_speedup']:.2f}"
                                                         if "lite_speedup" in row else ""))
    out = args.out or results_dir("bench") / ("gpu_check_dry.json" if dry else "gpu_check.json")
    atomic_write(out, lambda p: Path(p).write_text(json.dumps(report, indent=1, default=str)))
    print(f"wrote {out} ({report['seconds']['total']:.0f} s); "
          + (f"FAILED: {', '.join(report['failed'])}" if report["failed"] else "every step ok"))
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
