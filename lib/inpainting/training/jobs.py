"""Several training runs side by side, each a child process (``python -m inpainting.train ...``
with its own arguments), as ``python -m inpainting.train --all`` trains them: warm starts first, a
run waits until its warm start is finished, ``at_once`` at a time, each one's output in a log file;
after a failure the running ones finish and nothing new starts."""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ..profiles import Profile
from ..runtime import select_device
from ..disk import now_iso
from .runs import RunSpec, is_finished, run_folder, run_key


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
    """One run: its command-line arguments, spec, label, whether it is a warm start, and (once
    started) its child process."""

    args: list[str]
    spec: RunSpec
    name: str
    is_warm_start: bool = False
    process: subprocess.Popen | None = None
    log: Path | None = None
    started: float = 0.0

    def ready(self) -> bool:
        """Its warm start (if any) is finished."""
        return self.spec.init is None or is_finished(run_folder(self.spec.init))


def schedule_order(jobs: Sequence[Job]) -> list[Job]:
    """Seed by seed, so that every finished seed is a whole replicate of the study (training that
    spans sessions never leaves a seed's rows on two machines); within a seed, warm starts first
    (every variant waits for one), then the runs without a warm start (the baselines, which train
    their own reconstruction stage: the longest runs, started early so they do not finish last
    alone), then the variants in the notebooks' order."""
    def rank(job):
        return (job.spec.profile.train.seed,
                0 if job.is_warm_start else 1 if job.spec.init is None else 2)
    return sorted(jobs, key=rank)   # stable


def run_jobs(pending: list[Job], command: list[str], logs: Path, at_once: int,
             env: Mapping[str, str], log: Callable[[str], None] = print) -> int:
    """Run every job of ``pending`` as ``command + job.args`` (``env`` added to this process's
    environment), ``at_once`` at a time, output in ``logs/<slug>.log``; 0 when all finished, 1
    when one failed (the others running are let finish; nothing new starts)."""
    env = {**os.environ, **env}
    running: list[Job] = []
    failed: list[Job] = []
    in_use: list[Job] = []
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
            elif code == IN_USE:   # another live process trains it (e.g. a child of a killed --all)
                in_use.append(job)
                log(f"[{finished}/{to_train}] skipped {job.name}: another process is training it "
                    f"(see {job.log}); going on with the others")
            else:
                failed.append(job)
                tail = job.log.read_text(errors="replace").splitlines()[-15:]
                log(f"FAILED (exit {code}): {job.name}; its output: {job.log}\n    "
                    + "\n    ".join(tail))
        waiting = any(_held(j.spec.init) for j in pending if j.spec.init is not None)
        blocked = not failed and pending and not any(j.ready() for j in pending) and not running \
            and not waiting   # a warm start trained by another live process: wait for it
        if blocked:   # a warm start that finished but left no finished run
            failed += pending
            log("FAILED: " + ", ".join(j.name for j in pending) + " wait for warm starts that "
                "are not finished")
        if failed:
            pending.clear()
        while pending and len(running) < at_once:
            job = next((j for j in pending if j.ready()), None)
            if job is None:
                break
            pending.remove(job)
            slug = "-".join(job.args[i + 1] for i, a in enumerate(job.args)
                            if a in ("--role", "--variant", "--seed"))
            job.log = logs / ("".join(c if c.isalnum() or c in "-_." else "_" for c in slug) + ".log")
            job.started = time.perf_counter()
            # appended, never truncated: the log may be another --all's, still being written
            with open(job.log, "a") as out:
                out.write(f"=== {now_iso()} process {os.getpid()}: {' '.join(job.args)}\n")
                out.flush()
                job.process = subprocess.Popen(command + job.args, stdout=out,
                                               stderr=subprocess.STDOUT, env=env)
            running.append(job)
            log(f"started {job.name} (run {run_key(job.spec)}, output {job.log})")
        if running:
            time.sleep(0.5)
    log(f"{trained} of {to_train} runs trained in "
        f"{time.perf_counter() - start:.0f} s ({at_once} at a time)"
        + (f"; {len(in_use)} skipped, trained by another process: "
           + ", ".join(j.name for j in in_use) if in_use else ""))
    return 1 if failed else 0


IN_USE = 3   # python -m inpainting.train's exit status for a run another process trains


def _held(spec: RunSpec) -> bool:
    """True while another live process holds the lock of ``spec``'s run folder (it is training)."""
    from .runs import RunLock, RunLockedError
    folder = run_folder(spec)
    if is_finished(folder) or not (folder / ".lock").exists():
        return False
    try:
        RunLock(folder).acquire().release()
    except RunLockedError:
        return True
    return False
