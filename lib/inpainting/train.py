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
import shlex
import sys
import time
from typing import Sequence

from .experiments import (NOTEBOOK_VARIANTS, VARIANTS, WARM_START, Plan, fetch_perceptual_weights,
                          train_spec)
from .profiles import PROFILES, Profile, get_profile
from .runtime import NOTEBOOK_ENV, seed_problem, select_device
from .disk import results_dir
from .training.jobs import Job, cpu_count, default_jobs, run_jobs, schedule_order
from .training.runs import ROLES, RunLockedError, RunSpec, is_finished, run_folder, run_key

LIST_CHOICES = ("all", "warm-starts", "variants")


class UsageError(ValueError):
    """A bad command-line argument (exit status 2)."""


def resolve(profile: Profile, variant: str, role: str = "faces", seed: int | None = None) -> RunSpec:
    """The run of ``variant`` (a row name of :data:`inpainting.experiments.VARIANTS` or
    ``warm-start``); ``UsageError`` for an unknown name or a generator that has no warm start."""
    return _resolve(Plan(profile), variant, role, seed)


def _resolve(plan: Plan, variant: str, role: str, seed: int | None) -> RunSpec:
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")
    if variant == WARM_START:
        try:
            return plan.warm_start(role, seed)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if variant not in VARIANTS:
        raise UsageError(f"unknown variant {variant!r}; valid variants: "
                         + ", ".join(repr(v) for v in [WARM_START, *VARIANTS]))
    return plan.spec(VARIANTS[variant], role, seed)


def listing(profile: Profile, notebooks: Sequence[str] | None = None) -> list[tuple[list[str], RunSpec]]:
    """``(arguments, spec)`` of every run the notebooks need (:attr:`Plan.named_runs
    <inpainting.experiments.Plan.named_runs>`, warm starts first); ``arguments``
    (``--role R --variant NAME --seed K``) resolve to ``spec``."""
    plan = Plan(profile, notebooks)
    rows = []
    for role, name, seed, spec in plan.named_runs:
        if _resolve(plan, name, role, seed).key != spec.key:   # the line must train this run
            raise RuntimeError(f"--role {role} --variant {name!r} --seed {seed} does not resolve to "
                               f"run {spec.key}")
        rows.append((["--role", role, "--variant", name, "--seed", str(seed)], spec))
    return rows


def _is_warm_start(args: list[str]) -> bool:
    return args[args.index("--variant") + 1] == WARM_START


def profile_args(profile: Profile) -> list[str]:
    """``--profile NAME [--overrides JSON]``: the command-line arguments that make ``profile``
    again (its preset and the overrides it carries)."""
    return ["--profile", profile.name] + \
        (["--overrides", json.dumps(dict(profile.overrides))] if profile.overrides else [])


def _picked(args: list[str], role: str | None, seed: int | None) -> bool:
    """Whether a listed run is of ``role`` and ``seed`` (None: any): ``--role`` and ``--seed``
    with ``--list`` and ``--all`` pick runs, never silently ignored."""
    return (role is None or args[args.index("--role") + 1] == role) and \
        (seed is None or int(args[args.index("--seed") + 1]) == seed)


def print_listing(profile: Profile, notebooks: Sequence[str] | None, which: str,
                  role: str | None = None, seed: int | None = None) -> int:
    rows = [(a, s) for a, s in listing(profile, notebooks)
            if (which == "all" or (which == "warm-starts") == _is_warm_start(a))
            and _picked(a, role, seed)]
    head = profile_args(profile)
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


def _job(args: list[str], spec: RunSpec) -> Job:
    name = f"{args[args.index('--role') + 1]}: {args[args.index('--variant') + 1]} " \
           f"(seed {args[args.index('--seed') + 1]})"
    return Job(args, spec, name, is_warm_start=_is_warm_start(args))


def committed_records(profile: Profile) -> set[str]:
    """Run keys whose per-image records are committed in ``references/<profile>/records`` (a study
    trained across sessions: a new machine need not retrain what is already recorded)."""
    from .evaluation.records import read_index
    from .references import reference_root
    return set(read_index(reference_root(profile.name))["key"].astype(str))


def train_all(profile: Profile, jobs: int | None = None,
              notebooks: Sequence[str] | None = None, role: str | None = None,
              seed: int | None = None) -> int:
    """Train every unfinished run the notebooks need, ``jobs`` child processes at a time (each
    ``python -m inpainting.train ... --variant NAME`` with ``train.threads`` threads,
    :func:`inpainting.training.jobs.run_jobs`); 0 when all finished, 1 when one failed."""
    def log(line: str) -> None:
        print(line)
    jobs = jobs or default_jobs(profile)
    fetch_perceptual_weights(profile)   # the rows only switch L_per off
    rows = [(a, s) for a, s in listing(profile, notebooks) if _picked(a, role, seed)]
    recorded = committed_records(profile)
    pending = [job for job in schedule_order([_job(a, s) for a, s in rows])
               if not is_finished(run_folder(job.spec)) and run_key(job.spec) not in recorded]
    # a warm start is trained only for a variant that still needs it
    needed = {run_key(j.spec.init) for j in pending if j.spec.init is not None}
    pending = [j for j in pending if not j.is_warm_start or run_key(j.spec) in needed]
    total, done_before = len(rows), len(rows) - len(pending)
    threads = profile.train.threads or max(1, cpu_count() // jobs)
    log(f"{total} runs needed by the notebooks of profile {profile.name}: {done_before} finished "
        f"or not needed ({len(recorded)} with committed records in references/{profile.name}/"
        f"records, not retrained), {len(pending)} to train, {jobs} at a time with {threads} torch "
        "thread(s) each")
    if not pending:
        return 0
    head = [sys.executable, "-m", "inpainting.train", *profile_args(profile)]
    env = {NOTEBOOK_ENV: ALL_TRAINED_BY, "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    return run_jobs(pending, head, results_dir(profile.name, "logs"), jobs, env, log)


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
    parser.add_argument("--role", help=f"dataset role: {', '.join(ROLES)} (with --variant: "
                        "default faces; with --list / --all: only the runs of this role)")
    parser.add_argument("--seed", type=int, help="training seed (with --variant: default the "
                        "profile's train.seed; with --list / --all: only the runs of this seed)")
    parser.add_argument("--overrides", default="{}",
                        help='profile overrides as a JSON object, e.g. \'{"train.num_workers": 4}\'')
    parser.add_argument("--notebook", action="append", choices=list(NOTEBOOK_VARIANTS),
                        help="with --list: only the runs of this notebook (repeatable)")
    parser.add_argument("--progress", action="store_true", help="a tqdm bar instead of log lines")
    return parser


def parse(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, Profile]:
    """Arguments and the profile (which carries its overrides); any problem exits with status 2
    (argparse's usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        overrides = json.loads(args.overrides)
    except json.JSONDecodeError as exc:
        parser.error(f"--overrides is not valid JSON ({exc}): {args.overrides!r}")
    if not isinstance(overrides, dict):
        parser.error(f"--overrides must be a JSON object of dotted names, got {args.overrides!r}")
    if args.seed is not None and seed_problem(args.seed, "--seed"):
        parser.error(seed_problem(args.seed, "--seed"))
    if args.notebook and not (args.list or args.all):
        parser.error("--notebook only applies to --list and --all")
    if args.jobs is not None and not args.all:
        parser.error("--jobs only applies to --all")
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    if args.variants and (args.seed is not None or args.role is not None):
        parser.error("--variants prints the variant names; --seed and --role do not apply")
    try:
        profile = get_profile(args.profile, overrides)
        if seed_problem(profile.train.seed):
            raise UsageError(seed_problem(profile.train.seed))
        if args.role is not None and args.role not in ROLES:
            raise UsageError(f"unknown role {args.role!r}; valid roles: {', '.join(ROLES)}")
        plan = Plan(profile)
        if args.variant is not None:
            args.spec = _resolve(plan, args.variant, args.role or "faces", args.seed)
        elif args.seed is not None and args.seed not in plan.seeds:
            raise UsageError(f"--seed {args.seed} is not a seed of profile {profile.name} "
                             f"(its seeds: {', '.join(map(str, plan.seeds))}); with --list "
                             "and --all, --seed picks the runs of one of them")
        from .training.distributed import env_world
        world = env_world()[1]
        if profile.train.batch_size % world:
            raise UsageError(f"train.batch_size={profile.train.batch_size} is not divisible by "
                             f"the {world} processes of this job: each takes an equal share of the "
                             "global batch; choose a process count that divides it")
        select_device(profile.train.device)
    except (ValueError, RuntimeError) as exc:   # profiles and RunSpec raise ValueError
        parser.error(str(exc))
    return args, profile


def train(spec: RunSpec, progress: bool) -> int:
    """Train (or reuse / resume) ``spec`` and its warm start, in this process or under torchrun."""
    from .training import distributed
    ctx = distributed.setup(select_device(spec.profile.train.device))
    try:
        if ctx.is_main:
            fetch_perceptual_weights(spec.profile)   # a download, once, on rank 0, before any key
            key = run_key(spec)
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
    args, profile = parse(argv)
    if args.variants:
        print("\n".join([WARM_START, *VARIANTS]))
        return 0
    if args.list:
        return print_listing(profile, args.notebook, args.list, args.role, args.seed)
    if args.all:
        from .training.distributed import env_world
        if env_world()[1] > 1:
            raise SystemExit("--all starts its own processes: run it without torchrun")
        return train_all(profile, args.jobs, args.notebook, args.role, args.seed)
    return train(args.spec, args.progress)


if __name__ == "__main__":
    sys.exit(main())
