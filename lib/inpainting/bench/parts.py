"""Where the time of one training step goes: every kind of step a profile trains, split into parts.

``python -m inpainting.bench --parts [--profile demo] [--variants ...] [--roles ...] [--stages ...]
[--size S] [--reps N] [--quick]`` (the command line is in :mod:`inpainting.bench`).

*Step kinds.* The notebooks' runs (:data:`inpainting.experiments.NOTEBOOK_VARIANTS`, every
variant's :func:`~inpainting.experiments.variant_spec`, its warm start first) take a few distinct kinds
of step: the warm start's G step, each variant's D-only and joint steps, the baselines' G, D and
joint steps. Two steps are the same kind when they compute the same thing (:func:`step_signature`):
a joint step without a discriminator is a G step (``L_rec`` joint = the warm start's G step), and a
D-only step does not depend on the generator's losses (one D step serves every lite variant with
L_adv). Each kind is listed once with every variant that takes it.

*Parts.* :func:`decomposed_step` runs the trainer's own step,
:meth:`inpainting.training.module.InpaintingModule.train_step`, with hooks that mark a clock and compute nothing:
forward pre/post hooks on G, on D's global branch, local branch and head (or the whole D where it
has no branches) and on the perceptual network; gradient hooks on their outputs and inputs, which
fire when the backward pass reaches them; and the optimisers' step pre/post hooks. Every moment of
the step therefore belongs to exactly one part and the parts add up to the hooked step exactly; the
models are updated exactly as by an unhooked step (``tests/test_bench.py`` checks bit-equality).
Parts: data (:meth:`Trainer.batch`, as ``fit`` reads a batch with ``train.num_workers = 0``), G
forward / backward, D global / local branch forward / backward (the local patch crop falls into
"other"), D head + loss, the perceptual network on the real images (no grad), on the composite and
its backward, Adam for G and D, and the rest (composite, losses, schedulers, bookkeeping). In a
backward pass a part runs from the moment the gradient of a module's output is ready until the
gradient of its input is ready or the next module's backward starts; D's parts are named by the
update they belong to (``D step``: D's weights take gradients; ``G step``: they do not). With
``wgan-gp`` the penalty's extra D passes are counted in D's parts.

*Timing.* Per kind: one untimed warm-up, then ``reps`` repetitions, each a whole step (batch +
``train_step``) and a decomposed step of the same global step, in alternating order (so slow drift
of the machine hits both alike). Wall-clock seconds; the medians, minima and maxima per part; each
part's share of the sum of part medians; and the check that the parts add up to the whole step
(median of per-repetition sums over the median whole step, flagged outside ``TOLERANCE``). The
hooks add a little Python time (and, on a GPU, a synchronisation at each mark), so the sum runs
a little above the step.

The models start from their initialisation (not from a warm start: speed does not depend on the
weights, apart from rare denormal effects) and the perceptual network has random weights
(``loss.per_weights = "random"``: no download, same shapes). The profile's precision is used (the
demo: float32).
"""
from __future__ import annotations

import contextlib
import math
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd
import torch

from ..experiments import CONTEXT_ENCODER, FULL_MODEL, NOTEBOOK_VARIANTS, Plan
from ..profiles import Profile, with_overrides
from ..runtime import device_name
from ..training import Schedule, Trainer
from ..training.stream import torch_threads
from ..training.runs import RunSpec

WARM_START = "warm start"
STAGES = ("G", "D", "joint")
RANDOM_VGG = {"loss.per_weights": "random"}   # speed does not depend on the weights
TOLERANCE = 0.05   # |sum of parts / whole step - 1| above this is flagged in the check
SHORT_NAMES = {FULL_MODEL: "full", CONTEXT_ENCODER: "CE", "L_rec + L_adv": "L_rec+L_adv",
               "L_rec + L_per": "L_rec+L_per", "relu1_1..relu5_1 (equal weights)": "all levels"}

# part name -> group (the categories); parts not listed are "other".
GROUPS = {"data": "data",
          "G forward": "generator", "G forward (no_grad)": "generator", "G backward": "generator",
          "D global forward (D step)": "D global", "D global backward (D step)": "D global",
          "D global forward (G step)": "D global", "D global backward (G step)": "D global",
          "D local forward (D step)": "D local", "D local backward (D step)": "D local",
          "D local forward (G step)": "D local", "D local backward (G step)": "D local",
          "D head + loss (D step)": "D head", "D head + loss (G step)": "D head",
          "D forward (D step)": "D whole", "D backward (D step)": "D whole",
          "D forward (G step)": "D whole", "D backward (G step)": "D whole",
          "perceptual forward (real, no_grad)": "perceptual",
          "perceptual forward (composite)": "perceptual",
          "perceptual backward (to the composite)": "perceptual",
          "Adam G": "optimiser", "Adam D": "optimiser"}
GROUP_ORDER = ("data", "generator", "D global", "D local", "D head", "D whole", "perceptual",
               "optimiser", "other")
SUM_ROW, STEP_ROW = "sum of parts", "whole step (batch + train_step, interleaved)"


def load_average() -> str:
    """The 1-minute load average (``"?"`` where the OS has none)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "?"


def isa(device: torch.device) -> str:
    """What the kernels can use: the CPU's vector ISA as torch dispatches to it (``AVX2``,
    ``AVX512``, ...) or the GPU's compute capability (``sm_90``)."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return f"sm_{major}{minor}"
    return torch.backends.cpu.get_cpu_capability()


def machine(device: torch.device) -> dict:
    """Threads (the count in effect now: call it where the timed work runs), CPU / GPU model and
    its ISA, for every output table; the load average is taken around each measurement."""
    return {"threads": torch.get_num_threads(), "device_name": device_name(device),
            "isa": isa(device), "torch": torch.__version__}


def machine_line(device: torch.device, precision: str | None = None) -> str:
    """One line naming what a figure was measured on, printed beside every table: a figure read
    without it cannot be compared (a loaded machine or another thread count moves it by 2x)."""
    m = machine(device)
    return (f"{m['device_name']} ({m['isa']}), {m['threads']} torch thread"
            f"{'s' if m['threads'] != 1 else ''}"
            + (f", {precision}" if precision else "")
            + f", load average {load_average()} (1 min), torch {m['torch']}")


def plain_steps(trainer: Trainer) -> Trainer:
    """``trainer`` with the term-balance measurement off: a measured step adds one backward pass
    per loss term (about 2x an ordinary step), so a timed step that measured it would not be the
    step its row names. The update is the same either way (tests/test_balance.py)."""
    trainer.balance_every = 0
    return trainer


def fit_threads(trainer: Trainer):
    """The intra-op thread count ``fit`` gives the steps (``train.threads``; None: unchanged), as a
    context: a timed step, and the roof it is compared with, run under it."""
    return torch_threads(trainer.profile.train.threads)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --------------------------------------------------------------------------------- step kinds
@dataclass(frozen=True)
class StepKind:
    """One distinct kind of training step of a profile.

    ``label``: short name (first variant that takes it, stage, role if not faces); ``role``;
    ``stage``: the schedule stage (``"G"``, ``"D"``, ``"joint"``) whose steps are timed;
    ``profile``: the run's effective profile; ``variants``: every variant (or ``"warm start"``)
    whose runs take this step, as named in :mod:`inpainting.experiments`.
    """

    label: str
    role: str
    stage: str
    profile: Profile
    variants: tuple[str, ...]


def short_name(variant: str) -> str:
    return SHORT_NAMES.get(variant, variant)


def step_signature(profile: Profile, role: str, stage: str) -> tuple:
    """What a step of ``stage`` computes (equal signatures = the same work): the models, the data,
    the batch, the precision and the loss terms that stage evaluates; loss *weights* and learning
    rates change no work and are left out."""
    p, loss = asdict(profile), profile.loss
    has_d = loss.w_adv > 0
    if stage == "joint" and not has_d:
        stage = "G"   # a joint step without a discriminator is a G step
    sig = [("role", role), ("stage", stage), ("model", repr(p["model"])), ("data", repr(p[role])),
           ("masks", repr(p["masks"])), ("batch", profile.train.batch_size),
           ("amp", profile.train.amp), ("device", profile.train.device)]
    if stage in ("G", "joint"):
        sig.append(("rec", loss.rec_distance))
        if loss.w_per > 0:
            sig.append(("per", (loss.per_network, tuple(loss.per_layers), loss.per_distance,
                                loss.per_layer_weights)))
    if stage in ("D", "joint"):
        sig.append(("adv", profile.model.adversarial))
    return tuple(sig)


def _stages(profile: Profile) -> list[str]:
    s = Schedule.from_profile(profile)
    return [stage for stage, n in zip(STAGES, (s.steps_g, s.steps_d, s.steps_joint)) if n > 0]


def step_kinds(profile: Profile, roles: Sequence[str] | None = None) -> list[StepKind]:
    """Every distinct kind of step the notebooks' runs of ``profile`` take (see module doc), per
    dataset role in the order the notebooks first need them, warm starts first; ``roles`` keeps
    only those datasets. A run asked for under several names (the full model is also 05's relu3_1
    row) lists them all, except 06's ``per@`` aliases of 05's rows."""
    profile = with_overrides(profile, RANDOM_VGG)   # no weights download for run keys
    runs: list[tuple[list[str], str, Profile]] = []   # (variant names, role, effective profile)
    names: dict[tuple, list[str]] = {}                # (role, run key) -> the same list
    for row in Plan(profile).rows:
        if roles is not None and row.role not in roles:
            continue
        name, role, spec = row.name, row.role, row.runs[0]
        key = (role, spec.key)
        if key in names:
            if name not in names[key] and not (name.startswith("per@") and name[4:] in names[key]):
                names[key].append(name)
            continue
        names[key] = [name]
        if spec.init is not None:
            runs.append(([WARM_START], role, spec.init.profile))
        runs.append((names[key], role, spec.profile))
    role_order = list(dict.fromkeys(role for _, role, _ in runs))
    runs.sort(key=lambda r: (role_order.index(r[1]), r[0] != [WARM_START]))   # stable
    kinds: dict[tuple, dict] = {}
    for run_names, role, eff in runs:
        for stage in _stages(eff):
            sig = step_signature(eff, role, stage)
            if sig not in kinds:
                where = "" if role == "faces" else f"{role}: "
                kinds[sig] = {"label": f"{where}{short_name(run_names[0])} {stage}", "role": role,
                              "stage": stage, "profile": eff, "variants": []}
            kinds[sig]["variants"] += [n for n in run_names if n not in kinds[sig]["variants"]]
    return [StepKind(k["label"], k["role"], k["stage"], k["profile"], tuple(k["variants"]))
            for k in kinds.values()]


def variant_aliases() -> dict[str, str]:
    """Lower-case names accepted by ``--variants`` -> the variant's name in the experiments."""
    names = {WARM_START}
    for entries in NOTEBOOK_VARIANTS.values():
        for _, variants in entries:
            names.update(variants)
    aliases = {n.lower(): n for n in names}
    aliases.update({short_name(n).lower(): n for n in names})
    aliases.update({"warm": WARM_START, "context encoder": CONTEXT_ENCODER})
    return aliases


def resolve_variants(requested: Iterable[str]) -> list[str]:
    """Variant names from ``--variants`` (full names, short names, any case); ValueError names the
    valid ones."""
    aliases = variant_aliases()
    out, bad = [], []
    for name in requested:
        hit = aliases.get(name.strip().lower())
        (out if hit else bad).append(hit or name)
    if bad:
        valid = sorted({short_name(v) for v in aliases.values()}, key=str.lower)
        raise ValueError(f"unknown variant(s) {bad}; valid: {', '.join(valid)} (or the full names "
                         "of inpainting.experiments)")
    return out


def select_kinds(kinds: list[StepKind], variants: Sequence[str] | None = None,
                 stages: Sequence[str] | None = None) -> list[StepKind]:
    """The kinds taken by any of ``variants`` (resolved names) in any of ``stages``."""
    return [k for k in kinds if (not variants or set(k.variants) & set(variants))
            and (not stages or k.stage in stages)]


def kind_trainer(kind: StepKind, out_dir: str | os.PathLike, overrides: dict | None = None) -> Trainer:
    """A built :class:`Trainer` for ``kind`` (random perceptual weights, ``progress=False``)."""
    profile = with_overrides(kind.profile, {**RANDOM_VGG, **(overrides or {})})
    trainer = plain_steps(Trainer(RunSpec(profile, kind.role), out_dir, progress=False))
    trainer.build()
    return trainer


def stage_steps(trainer: Trainer, stage: str) -> range:
    """The global steps of ``stage`` in ``trainer``'s schedule."""
    steps = trainer.schedule.steps_of(stage)
    if not steps:
        raise ValueError(f"the schedule has no {stage} steps")
    return steps


# ------------------------------------------------------------------------------ decomposition
OTHER = "other (composite, losses, schedulers)"


class Clock:
    """Wall time between marks, summed per part name (device synchronised at each mark).

    The clock always runs one part: :meth:`mark` closes it (its time goes to its name) and starts
    the next, so the parts add up to :attr:`total` exactly."""

    def __init__(self, device: torch.device, first: str = "data"):
        self.device = device
        self.parts: dict[str, float] = {}
        self.label = first
        sync(device)
        self.start = self.last = time.perf_counter()

    def mark(self, label: str) -> None:
        if label == self.label:
            return
        sync(self.device)
        now = time.perf_counter()
        self.parts[self.label] = self.parts.get(self.label, 0.0) + now - self.last
        self.last, self.label = now, label

    def stop(self) -> None:
        self.mark("")
        self.parts.pop("", None)

    @property
    def total(self) -> float:
        return self.last - self.start


def is_global_local(D) -> bool:
    return all(hasattr(D, a) for a in ("global_branch", "local_branch", "head", "patch_size"))


def _tensors(x) -> list[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, (list, tuple)):
        return [t for item in x for t in _tensors(item)]
    return []


def _on_grad(tensors, clock: Clock, label: str) -> None:
    """Mark ``label`` when the gradient of any of ``tensors`` is computed in a backward pass."""
    for x in tensors:
        if x.requires_grad:
            x.register_hook(lambda grad, label=label: clock.mark(label))


def _watch(module: torch.nn.Module, clock: Clock, name, backward: str | None,
           close_forward: bool = True) -> list:
    """Forward and backward marks around ``module`` (hooks; the computation is not touched).

    Forward: ``name(grad_enabled)`` from the module's start to its end (then :data:`OTHER`, unless
    ``close_forward`` is False: the following loss belongs to the same part). Backward: the
    part ``backward(tag)`` starts when the gradient of the module's output arrives and ends when the
    gradient of its input is ready (or at the next mark)."""
    tags = {}

    def pre(mod, args):
        tags["tag"] = name(mod)
        clock.mark(tags["tag"][0])
        _on_grad(_tensors(args), clock, OTHER)

    def post(mod, args, out):
        if close_forward:
            clock.mark(OTHER)
        if backward is not None:
            _on_grad(_tensors(out), clock, tags["tag"][1])

    return [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]


def _d_tag(module) -> str:
    """Which update a discriminator pass belongs to: its weights take gradients only in D's own."""
    return "D step" if any(p.requires_grad for p in module.parameters()) else "G step"


@contextlib.contextmanager
def part_hooks(t: Trainer, clock: Clock):
    """Inside the block every forward and backward pass of the trainer's G, D (global branch,
    local branch, head) and perceptual network, and every optimiser step, marks ``clock``."""
    science = t.module
    handles = [*_watch(science.G, clock, lambda m: ("G forward" if torch.is_grad_enabled()
                                                    else "G forward (no_grad)", "G backward"), "G")]
    if science.perceptual is not None:
        handles += _watch(science.perceptual, clock, lambda m: (
            "perceptual forward (composite)" if torch.is_grad_enabled()
            else "perceptual forward (real, no_grad)", "perceptual backward (to the composite)"),
            "perceptual")
    D = science.D
    if D is not None:
        if is_global_local(D):
            for branch, module in (("global", D.global_branch), ("local", D.local_branch)):
                handles += _watch(module, clock, lambda m, b=branch: (
                    f"D {b} forward ({_d_tag(D)})", f"D {b} backward ({_d_tag(D)})"), branch)
            handles += _watch(D.head, clock, lambda m: (f"D head + loss ({_d_tag(D)})",) * 2,
                              "head", close_forward=False)
        else:
            handles += _watch(D, clock, lambda m: (f"D forward ({_d_tag(m)})",
                                                   f"D backward ({_d_tag(m)})"), "D")
    for opt, name in ((science.opt_g, "Adam G"), (science.opt_d, "Adam D")):
        if opt is not None:
            handles.append(opt.register_step_pre_hook(lambda o, a, k, n=name: clock.mark(n)))
            handles.append(opt.register_step_post_hook(lambda o, a, k: clock.mark(OTHER)))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def decomposed_step(t: Trainer, step: int) -> Clock:
    """Global step ``step`` of built trainer ``t``: ``t.train_step(t.batch(step))`` itself, timed in
    parts by hooks (module doc). It is the trainer's own step, so it updates the models exactly as
    an unhooked step does. Returns the stopped :class:`Clock` (``.parts`` in seconds)."""
    if t.dist.active:
        raise RuntimeError("the parts benchmark runs in one process (not under torchrun)")
    clock = Clock(t.device, first="data")
    batch = t.batch(step)
    t.step = step
    with part_hooks(t, clock):
        t.train_step(batch)
    clock.stop()
    return clock


def whole_step(t: Trainer, step: int) -> float:
    """Seconds of ``t.train_step(t.batch(step))`` (the batch read included, as in ``fit``)."""
    sync(t.device)
    start = time.perf_counter()
    t.step = step
    t.train_step(t.batch(step))
    sync(t.device)
    return time.perf_counter() - start


@dataclass
class PartTimes:
    """Repetitions of one kind: ``parts`` name -> seconds per repetition, ``sums`` (one decomposed
    step each), ``whole`` (interleaved whole steps)."""

    parts: dict[str, list[float]]
    sums: list[float]
    whole: list[float]

    @property
    def ratio(self) -> float:
        """Median sum of parts over the median whole step."""
        return statistics.median(self.sums) / statistics.median(self.whole)


def measure(t: Trainer, stage: str, reps: int, warmup: int = 1) -> PartTimes:
    """``warmup`` untimed + ``reps`` timed pairs (whole step, decomposed step) in alternating order,
    on successive global steps of ``stage`` (each pair on the same step)."""
    steps = stage_steps(t, stage)
    parts: dict[str, list[float]] = {}
    sums, whole = [], []
    for i in range(warmup + reps):
        step = steps[i % len(steps)]
        if i % 2 == 0:
            w = whole_step(t, step)
            clock = decomposed_step(t, step)
        else:
            clock = decomposed_step(t, step)
            w = whole_step(t, step)
        if i < warmup:
            continue
        whole.append(w)
        sums.append(clock.total)
        for name in parts.keys() | clock.parts.keys():
            parts.setdefault(name, [0.0] * (len(sums) - 1)).append(clock.parts.get(name, 0.0))
    return PartTimes(parts, sums, whole)


def _stats(xs: list[float]) -> dict:
    return {"ms_median": 1000 * statistics.median(xs), "ms_min": 1000 * min(xs),
            "ms_max": 1000 * max(xs)}


def kind_rows(kind: StepKind, times: PartTimes, info: dict) -> list[dict]:
    """Long-format rows of one kind: every part, the sum of parts and the whole step."""
    base = {"kind": kind.label, "role": kind.role, "stage": kind.stage,
            "variants": "; ".join(kind.variants), **info}
    total = sum(statistics.median(v) for v in times.parts.values())
    rows = [{**base, "part": name, "group": GROUPS.get(name, "other"), **_stats(v),
             "pct_of_step": 100 * statistics.median(v) / total if total else math.nan}
            for name, v in times.parts.items()]
    rows.append({**base, "part": SUM_ROW, "group": "", **_stats(times.sums), "pct_of_step": 100.0})
    rows.append({**base, "part": STEP_ROW, "group": "", **_stats(times.whole),
                 "pct_of_step": 100 / times.ratio})
    return rows


def summary(df: pd.DataFrame, tolerance: float = TOLERANCE) -> pd.DataFrame:
    """One row per kind: % of the step per group, sum of parts, whole step, their ratio and the
    check."""
    rows = []
    for kind, sub in df.groupby("kind", sort=False):
        parts = sub[sub.group != ""]
        total = parts.ms_median.sum()
        row = {"kind": kind}
        for group in GROUP_ORDER:
            row[f"% {group}"] = 100 * parts[parts.group == group].ms_median.sum() / total
        s = sub.set_index("part")
        row.update({"sum_ms": s.loc[SUM_ROW, "ms_median"], "step_ms": s.loc[STEP_ROW, "ms_median"],
                    "step_ms_min": s.loc[STEP_ROW, "ms_min"],
                    "step_ms_max": s.loc[STEP_ROW, "ms_max"]})
        row["sum/step"] = row["sum_ms"] / row["step_ms"]
        row["check"] = "ok" if abs(row["sum/step"] - 1) <= tolerance else \
            f"off by more than {100 * tolerance:.0f} %"
        row.update({k: sub.iloc[0][k] for k in ("load_start", "load_end")})
        rows.append(row)
    out = pd.DataFrame(rows)
    empty = [c for c in out.columns if c.startswith("% ") and (out[c] == 0).all()]
    return out.drop(columns=empty)


def run_parts(profile: Profile, kinds: list[StepKind], reps: int, warmup: int = 1,
              overrides: dict | None = None, log=print) -> pd.DataFrame:
    """Long-format table of every part of every kind (see :func:`kind_rows`)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, kind in enumerate(kinds):
            load_start = load_average()
            trainer = kind_trainer(kind, Path(tmp) / f"kind{n}", overrides)
            with fit_threads(trainer):
                times = measure(trainer, kind.stage, reps, warmup)
                here = machine(trainer.device)
            info = {"profile": profile.name, "size": trainer.image_size,
                    "batch": trainer.profile.train.batch_size, "precision": trainer.precision,
                    "reps": reps, **here, "load_start": load_start, "load_end": load_average()}
            rows += kind_rows(kind, times, info)
            log(f"{kind.label}: parts {1000 * statistics.median(times.sums):.0f} ms, step "
                f"{1000 * statistics.median(times.whole):.0f} ms (sum/step {times.ratio:.3f}); "
                f"load {load_start} -> {info['load_end']}")
            del trainer
    return pd.DataFrame(rows)


def size_overrides(size: int | None) -> dict:
    """Profile overrides putting every dataset role at ``size`` px (None: the profile's own)."""
    if size is None:
        return {}
    return {f"{role}.image_size": size for role in ("faces", "facades", "photos")}


def with_size(profile: Profile, size: int | None) -> Profile:
    return with_overrides(profile, size_overrides(size))


__all__ = ["Clock", "GROUPS", "PartTimes", "StepKind", "TOLERANCE", "WARM_START",
           "decomposed_step", "fit_threads", "isa", "kind_rows", "kind_trainer", "machine",
           "machine_line", "measure", "plain_steps", "resolve_variants", "run_parts",
           "select_kinds", "stage_steps", "step_kinds", "step_signature", "summary", "whole_step",
           "with_size"]
