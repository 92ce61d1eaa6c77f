"""Train one named run of the experiments from the command line, into the run cache the notebooks
read (``results/<profile>/runs/<role>/<generator>-<key>``, :mod:`inpainting.training.runs`), so a notebook run
afterwards finds it finished and trains nothing.

One process (a CPU, or one GPU)::

    python -m inpainting.train --profile paper --variant 'L_rec + L_adv' [--role faces] [--seed K]
                               [--overrides '{"train.num_workers": 6}']

Several GPUs of one node (DistributedDataParallel; NCCL on CUDA, gloo on the CPU), or several
nodes (run the same line on every node)::

    torchrun --nproc_per_node 4 -m inpainting.train --profile paper --variant 'L_rec + L_adv'
    torchrun --nnodes 2 --nproc_per_node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
        --rdzv-id JOB -m inpainting.train --profile paper --variant 'L_rec + L_adv'

Every run the notebooks of a profile need, warm starts first, one per line, ready to be fed back
(``--list warm-starts`` / ``--list variants`` for the two waves of a job array)::

    python -m inpainting.train --profile paper --list > runs.txt
    eval "python -m inpainting.train $(sed -n "${SLURM_ARRAY_TASK_ID}p" runs.txt)"

Every run the notebooks need, on this machine, several side by side when ``train.threads`` is set::

    python -m inpainting.train --profile demo --overrides '{"train.threads": 1}' --all [--jobs N]

Each run is a child process with ``train.threads`` torch threads; ``--jobs`` defaults to the cores
over ``train.threads`` (one run at a time when it is unset, and on a GPU); a variant waits for its
warm start; the output of each run goes to ``results/<profile>/logs/``.

``--variant`` takes the row names of :mod:`inpainting.experiments` (``--variants`` prints them) or
``warm-start`` (the shared reconstruction warm start the kit's generators start from; a variant
trains it first when it is missing). ``--overrides`` applies to the profile as a notebook's
``get_profile(name, overrides)`` does: give the notebook the same overrides to reuse the run.
Bad arguments are usage errors (exit status 2) before anything is computed; a run being trained by
another job is exit status 3.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from .experiments import NOTEBOOK_VARIANTS, WARM_STARTED, needed_runs, seeds, variant_spec
from .profiles import PROFILES, Profile, get_profile
from .training.runs import ROLES, RunLockedError, RunSpec, is_finished, run_key
from .runtime import NOTEBOOK_ENV, results_dir, select_device

WARM_START = "warm-start"
LIST_CHOICES = ("all", "warm-starts", "variants")


class UsageError(ValueError):
    """A bad command-line argument (exit status 2)."""


def variant_table() -> dict[str, dict]:
    """Every named variant of the notebooks (:data:`inpainting.experiments.NOTEBOOK_VARIANTS`):
    name -> profile overrides."""
    table: dict[str, dict] = {}
    for entries in NOTEBOOK_VARIANTS.values():
        for _, variants in entries:
            for name, overrides in variants.items():
                if table.setdefault(name, dict(overrides)) != dict(overrides):
                    raise RuntimeError(f"variant {name!r} has two definitions in NOTEBOOK_VARIANTS")
    return table


def resolve(profile: Profile, variant: str, role: str = "faces", seed: int | None = None) -> RunSpec:
    """The run of ``variant`` (a name of :func:`variant_table` or ``warm-start``); ``UsageError``
    for an unknown name or a generator that has no warm start."""
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")
    if variant == WARM_START:
        spec = variant_spec(profile, {}, role, seed)
        if spec.init is None:
            raise UsageError(
                f"model.generator={profile.model.generator!r} with train.steps_g="
                f"{profile.train.steps_g} has no warm start (only {', '.join(WARM_STARTED)} with "
                "train.steps_g > 0 start from one); train its variants directly")
        return spec.init
    table = variant_table()
    if variant not in table:
        raise UsageError(f"unknown variant {variant!r}; valid variants: "
                         + ", ".join(repr(v) for v in [WARM_START, *table]))
    return variant_spec(profile, table[variant], role, seed)


def run_folder(spec: RunSpec) -> Path:
    """The folder :func:`inpainting.training.runs.run_dir` gives ``spec``, without creating it."""
    return results_dir(spec.profile.name) / "runs" / spec.role / \
        f"{spec.profile.model.generator}-{run_key(spec)}"


def listing(profile: Profile, notebooks: Sequence[str] | None = None) -> list[tuple[list[str], RunSpec]]:
    """``(arguments, spec)`` of every run the notebooks need (:func:`inpainting.experiments.needed_runs`,
    warm starts first); ``arguments`` (``--role R --variant NAME --seed K``) resolve to ``spec``."""
    names: dict[str, tuple[str, str, int]] = {}
    for notebook in notebooks or NOTEBOOK_VARIANTS:
        for role, variants in NOTEBOOK_VARIANTS[notebook]:
            for name, overrides in variants.items():
                for seed in seeds(profile):
                    spec = variant_spec(profile, overrides, role, seed)
                    names.setdefault(run_key(spec), (role, name, seed))
                    if spec.init is not None:
                        names.setdefault(run_key(spec.init), (role, WARM_START, seed))
    rows = []
    for spec in needed_runs(profile, notebooks):
        key = run_key(spec)
        role, name, seed = names[key]
        if run_key(resolve(profile, name, role, seed)) != key:   # the line must train this run
            raise RuntimeError(f"--role {role} --variant {name!r} --seed {seed} does not resolve to "
                               f"run {key}")
        rows.append((["--role", role, "--variant", name, "--seed", str(seed)], spec))
    return rows


def _is_warm_start(args: list[str]) -> bool:
    return args[args.index("--variant") + 1] == WARM_START


def print_listing(profile_name: str, overrides: Mapping, profile: Profile,
                  notebooks: Sequence[str] | None, which: str) -> int:
    rows = [(a, s) for a, s in listing(profile, notebooks)
            if which == "all" or (which == "warm-starts") == _is_warm_start(a)]
    head = ["--profile", profile_name] + (["--overrides", json.dumps(dict(overrides))] if overrides else [])
    base = results_dir(profile.name)
    for args, spec in rows:
        folder = run_folder(spec)
        status = "finished" if is_finished(folder) else "to train"
        print(f"{shlex.join(head + args)}  # key {run_key(spec)} run "
              f"{folder.relative_to(base)} ({status})")
    warm = sum(_is_warm_start(a) for a, _ in rows)
    print(f"# {len(rows)} runs ({warm} warm starts, listed first: a variant trains its warm start "
          "when it is missing, so submit the warm starts before the variants, e.g. as a job array "
          "the variants' array depends on)", file=sys.stderr)
    return 0


ALL_TRAINED_BY = "inpainting.train --all"   # the "notebook" that trained a run of --all (run.json)


def cpu_count() -> int:
    """Cores this process may use (its CPU affinity where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def default_jobs(profile: Profile) -> int:
    """Runs trained at once by ``--all``: one on a GPU (use torchrun or a job array for more); on
    the CPU, the cores over ``train.threads`` (all cores for one run when it is None)."""
    if select_device(profile.train.device).type != "cpu":
        return 1
    return max(1, cpu_count() // (profile.train.threads or cpu_count()))


@dataclass
class Job:
    """One run of ``--all``: its command-line arguments, spec and (once started) child process."""

    args: list[str]
    spec: RunSpec
    process: subprocess.Popen | None = None
    log: Path | None = None
    started: float = 0.0

    @property
    def name(self) -> str:
        a = self.args
        return f"{a[a.index('--role') + 1]}: {a[a.index('--variant') + 1]} (seed {a[a.index('--seed') + 1]})"

    def ready(self) -> bool:
        """Its warm start (if any) is finished."""
        return self.spec.init is None or is_finished(run_folder(self.spec.init))


def schedule_order(rows: list[tuple[list[str], RunSpec]]) -> list[tuple[list[str], RunSpec]]:
    """Warm starts first (every variant waits for one), then the runs without a warm start (the
    baselines, which train their own reconstruction stage: the longest runs, started early so
    they do not finish last alone), then the variants in the notebooks' order."""
    def rank(row):
        args, spec = row
        return 0 if _is_warm_start(args) else 1 if spec.init is None else 2
    return sorted(rows, key=rank)   # stable


def train_all(profile_name: str, overrides: Mapping, profile: Profile, jobs: int | None = None,
              notebooks: Sequence[str] | None = None) -> int:
    """Train every unfinished run the notebooks need, ``jobs`` child processes at a time (each
    ``python -m inpainting.train ... --variant NAME`` with ``train.threads`` threads); 0 when all
    finished, 1 when one failed (the others running are let finish; nothing new starts)."""
    def log(line: str) -> None:
        print(line)
    jobs = jobs or default_jobs(profile)
    rows = listing(profile, notebooks)
    pending = [Job(a, s) for a, s in schedule_order(rows) if not is_finished(run_folder(s))]
    total, done_before = len(rows), len(rows) - len(pending)
    threads = profile.train.threads or max(1, cpu_count() // jobs)
    log(f"{total} runs needed by the notebooks of profile {profile_name}: {done_before} finished, "
        f"{len(pending)} to train, {jobs} at a time with {threads} torch thread(s) each")
    if not pending:
        return 0
    logs = results_dir(profile.name, "logs")
    head = [sys.executable, "-m", "inpainting.train", "--profile", profile_name] + \
        (["--overrides", json.dumps(dict(overrides))] if overrides else [])
    env = {**os.environ, NOTEBOOK_ENV: ALL_TRAINED_BY, "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    running: list[Job] = []
    failed: list[Job] = []
    start, finished, trained, to_train = time.perf_counter(), 0, 0, len(pending)
    while pending or running:
        for job in list(running):
            code = job.process.poll()
            if code is None:
                continue
            running.remove(job)
            finished += 1
            seconds = time.perf_counter() - job.started
            if code == 0:
                trained += 1
                log(f"[{finished}/{to_train}] finished {job.name} in {seconds:.0f} s")
            else:
                failed.append(job)
                tail = job.log.read_text(errors="replace").splitlines()[-15:]
                log(f"FAILED (exit {code}): {job.name}; its output: {job.log}\n    "
                    + "\n    ".join(tail))
        blocked = not failed and pending and not any(j.ready() for j in pending) and not running
        if blocked:   # a warm start that finished but left no finished run
            failed += pending
            log("FAILED: " + ", ".join(j.name for j in pending) + " wait for warm starts that "
                "are not finished")
        if failed:
            pending.clear()
        while pending and len(running) < jobs:
            job = next((j for j in pending if j.ready()), None)
            if job is None:
                break
            pending.remove(job)
            slug = "-".join(job.args[i + 1] for i, a in enumerate(job.args)
                            if a in ("--role", "--variant", "--seed"))
            job.log = logs / ("".join(c if c.isalnum() or c in "-_." else "_" for c in slug) + ".log")
            job.started = time.perf_counter()
            with open(job.log, "w") as out:
                job.process = subprocess.Popen(head + job.args, stdout=out, stderr=subprocess.STDOUT,
                                               env=env)
            running.append(job)
            log(f"started {job.name} (run {run_key(job.spec)}, output {job.log})")
        if running:
            time.sleep(0.5)
    log(f"{trained} of {to_train} runs trained in "
        f"{time.perf_counter() - start:.0f} s ({jobs} at a time)")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inpainting.train", description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Under torchrun the same command trains with DistributedDataParallel; see "
               "`python -m pydoc inpainting.train` and the README.")
    parser.add_argument("--profile", required=True, help=f"one of: {', '.join(PROFILES)}")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--variant", help=f"a row name of the experiments, or {WARM_START!r}")
    what.add_argument("--list", nargs="?", const="all", choices=LIST_CHOICES,
                      help="print every run the notebooks need, one per line (no training)")
    what.add_argument("--variants", action="store_true", help="print the variant names")
    what.add_argument("--all", action="store_true",
                      help="train every run the notebooks need, --jobs at a time (child processes)")
    parser.add_argument("--jobs", type=int, help="with --all: runs at once (default: the cores "
                        "over train.threads on a CPU, 1 on a GPU)")
    parser.add_argument("--role", default="faces", help=f"dataset role: {', '.join(ROLES)}")
    parser.add_argument("--seed", type=int, help="training seed (default: the profile's train.seed)")
    parser.add_argument("--overrides", default="{}",
                        help='profile overrides as a JSON object, e.g. \'{"train.num_workers": 4}\'')
    parser.add_argument("--notebook", action="append", choices=list(NOTEBOOK_VARIANTS),
                        help="with --list: only the runs of this notebook (repeatable)")
    parser.add_argument("--progress", action="store_true", help="a tqdm bar instead of log lines")
    return parser


def parse(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, dict, Profile]:
    """Arguments, overrides and profile; any problem exits with status 2 (argparse's usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        overrides = json.loads(args.overrides)
    except json.JSONDecodeError as exc:
        parser.error(f"--overrides is not valid JSON ({exc}): {args.overrides!r}")
    if not isinstance(overrides, dict):
        parser.error(f"--overrides must be a JSON object of dotted names, got {args.overrides!r}")
    if args.seed is not None and args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    if args.notebook and not (args.list or args.all):
        parser.error("--notebook only applies to --list and --all")
    if args.jobs is not None and not args.all:
        parser.error("--jobs only applies to --all")
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    try:
        profile = get_profile(args.profile, overrides)
        if args.variant is not None:
            args.spec = resolve(profile, args.variant, args.role, args.seed)
        elif args.role not in ROLES:
            raise UsageError(f"unknown role {args.role!r}; valid roles: {', '.join(ROLES)}")
        from .training.distributed import env_world
        world = env_world()[1]
        if profile.train.batch_size % world:
            raise UsageError(f"train.batch_size={profile.train.batch_size} is not divisible by "
                             f"the {world} processes of this job: each takes an equal share of the "
                             "global batch; choose a process count that divides it")
        select_device(profile.train.device)
    except (ValueError, RuntimeError) as exc:   # profiles and RunSpec raise ValueError
        parser.error(str(exc))
    return args, overrides, profile


def train(spec: RunSpec, progress: bool) -> int:
    """Train (or reuse / resume) ``spec`` and its warm start, in this process or under torchrun."""
    from .experiments import train_spec
    from .training import distributed
    ctx = distributed.setup(select_device(spec.profile.train.device))
    try:
        if ctx.is_main:
            key = run_key(spec)   # resolves the perceptual weights (a download) once, on rank 0
            print(f"run {key} ({spec.role}, {spec.profile.model.generator}, seed "
                  f"{spec.profile.train.seed}) with {ctx.world_size} process(es)"
                  + (f" ({ctx.backend})" if ctx.active else ""), flush=True)
        ctx.barrier()
        start = time.perf_counter()
        try:
            result = train_spec(spec, progress=progress)
        except RunLockedError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        if ctx.is_main:
            print(f"finished: {result.out_dir} (key {result.key}, {len(result.history)} steps, "
                  f"{result.seconds:.1f} s of training; {time.perf_counter() - start:.1f} s now)",
                  flush=True)
        return 0
    finally:
        distributed.teardown()


def main(argv: Sequence[str] | None = None) -> int:
    args, overrides, profile = parse(argv)
    if args.variants:
        print("\n".join([WARM_START, *variant_table()]))
        return 0
    if args.list:
        return print_listing(args.profile, overrides, profile, args.notebook, args.list)
    if args.all:
        from .training.distributed import env_world
        if env_world()[1] > 1:
            raise SystemExit("--all starts its own processes: run it without torchrun")
        return train_all(args.profile, overrides, profile, args.jobs, args.notebook)
    return train(args.spec, args.progress)


if __name__ == "__main__":
    sys.exit(main())
