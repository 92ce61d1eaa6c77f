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

*Parts.* :func:`decomposed_step` runs the same computation as
:meth:`inpainting.training.Trainer.train_step` from outside the trainer, through its public
attributes (``G``, ``D``, ``P``, ``opt_g``, ``opt_d``, schedulers, scalers, ``autocast()``), with a
clock lap after each part. The backward pass is split exactly by the chain rule: the perceptual and
adversarial terms of the G objective are evaluated on a detached copy of the composite and their
input gradient is then pushed through G in one backward with L_rec; the outputs of D's global and
local branches are detached before D's head likewise, so each branch's backward is timed alone.
Gradients and updates equal those of ``train_step`` up to floating-point summation order
(``tests/test_bench.py`` checks it). Parts: data (:meth:`Trainer.batch`, as ``fit`` reads a batch
with ``train.num_workers = 0``), G forward / backward, D global / local branch forward / backward
(the local patch crop included), D head + loss, the perceptual network on the real images (no grad),
on the composite and its backward, Adam for G and D, and the rest (composite, losses, schedulers).

*Timing.* Per kind: one untimed warm-up, then ``reps`` repetitions, each a whole step (batch +
``train_step``) and a decomposed step of the same global step, in alternating order (so slow drift
of the machine hits both alike). Wall-clock seconds; the medians, minima and maxima per part; each
part's share of the sum of part medians; and the check that the parts add up to the whole step
(median of per-repetition sums over the median whole step, flagged outside ``TOLERANCE``). The
decomposition adds a few small operations (detach, one extra product in G's backward), so the sum
runs a little above the step.

The models start from their initialisation (not from a warm start: speed does not depend on the
weights, apart from rare denormal effects) and the perceptual network has random weights
(``loss.per_weights = "random"``: no download, same shapes). The profile's precision is used (the
demo: float32).
"""
from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd
import torch

from .. import losses
from ..experiments import (CONTEXT_ENCODER, FULL_MODEL, NOTEBOOK_VARIANTS, variant_spec,
                          variants_for, warm_start_profile)
from ..models.discriminator import local_patch
from ..models.generator import composite
from ..profiles import Profile, with_overrides
from ..training.runs import RunSpec, run_key
from ..runtime import device_name
from ..training import Schedule, Trainer, frozen_batchnorm_statistics

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
          "D gradient penalty": "D whole",
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


def machine(device: torch.device) -> dict:
    """Threads, CPU / GPU model and the moment's load average, for every output table."""
    return {"threads": torch.get_num_threads(), "device_name": device_name(device),
            "torch": torch.__version__}


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
    for notebook in NOTEBOOK_VARIANTS:
        for role, variants in NOTEBOOK_VARIANTS[notebook]:
            if roles is not None and role not in roles:
                continue
            for name, overrides in variants_for(profile, variants, role).items():
                spec = variant_spec(profile, overrides, role)
                key = (role, run_key(spec))
                if key in names:
                    if name not in names[key] and not (name.startswith("per@")
                                                       and name[4:] in names[key]):
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
    trainer = Trainer(RunSpec(profile, kind.role), out_dir, progress=False)
    trainer.build()
    return trainer


def stage_steps(trainer: Trainer, stage: str) -> range:
    """The global steps of ``stage`` in ``trainer``'s schedule."""
    s = trainer.schedule
    bounds = {"G": (0, s.steps_g), "D": (s.steps_g, s.steps_g + s.steps_d),
              "joint": (s.steps_g + s.steps_d, s.total)}[stage]
    if bounds[1] <= bounds[0]:
        raise ValueError(f"the schedule has no {stage} steps")
    return range(*bounds)


# ------------------------------------------------------------------------------ decomposition
class Clock:
    """Laps of wall time, summed per part name (device synchronised before each reading)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.parts: dict[str, float] = {}
        sync(device)
        self.start = self.last = time.perf_counter()

    def lap(self, part: str) -> None:
        sync(self.device)
        now = time.perf_counter()
        self.parts[part] = self.parts.get(part, 0.0) + now - self.last
        self.last = now

    @property
    def total(self) -> float:
        return self.last - self.start


def is_global_local(D) -> bool:
    return all(hasattr(D, a) for a in ("global_branch", "local_branch", "head", "patch_size"))


def split_d_forward(D, image: torch.Tensor, mask: torch.Tensor, clock: Clock | None = None,
                    tag: str = ""):
    """``D(image, mask)`` of a global + local discriminator with each branch's output detached
    before the head. Returns ``(logits, [(branch output, its detached leaf), ...])`` for the
    global and local branch; the branches' backward is ``out.backward(leaf.grad)``."""
    g = D.global_branch(image)
    if clock:
        clock.lap(f"D global forward ({tag})")
    l = D.local_branch(local_patch(image, mask, D.patch_size))
    if clock:
        clock.lap(f"D local forward ({tag})")
    gd, ld = g.detach().requires_grad_(), l.detach().requires_grad_()
    return D.head(torch.cat([gd, ld], dim=1)).flatten(), [(g, gd), (l, ld)]


def _branch_backward(pieces: list[list[tuple]], clock: Clock, tag: str) -> None:
    """Backward of the global, then the local branch, for every forward in ``pieces``."""
    for k, branch in enumerate(("global", "local")):
        outs = [p[k][0] for p in pieces]
        grads = [p[k][1].grad for p in pieces]
        torch.autograd.backward(outs, grads)
        clock.lap(f"D {branch} backward ({tag})")


def _d_update(t: Trainer, images, masks, fake, clock: Clock) -> None:
    """Trainer.d_update, in parts."""
    kind = t.profile.model.adversarial
    t.D.requires_grad_(True)
    split = is_global_local(t.D)
    with t.autocast():
        if split:
            real_logits, real_pieces = split_d_forward(t.D, images, masks, clock, "D step")
            fake_logits, fake_pieces = split_d_forward(t.D, fake, masks, clock, "D step")
        else:
            real_logits, fake_logits = t.D(images, masks), t.D(fake, masks)
            clock.lap("D forward (D step)")
        loss = losses.discriminator_loss(real_logits, fake_logits, kind)
    t.opt_d.zero_grad(set_to_none=True)
    t.scaler_d.scale(loss).backward()
    clock.lap("D head + loss (D step)" if split else "D backward (D step)")
    if split:
        _branch_backward([real_pieces, fake_pieces], clock, "D step")
    if kind == "wgan-gp":   # gradients add up, so the penalty's backward can come last
        gp = t.profile.loss.gp_weight * losses.gradient_penalty(t.D, images, fake.float(), masks)
        t.scaler_d.scale(gp).backward()
        clock.lap("D gradient penalty")
    t.scaler_d.step(t.opt_d)
    t.scaler_d.update()
    clock.lap("Adam D")


def _g_update(t: Trainer, images, masks, output, use_adv: bool, clock: Clock) -> None:
    """Trainer.g_update, in parts."""
    w = t.profile.loss
    with t.autocast():
        done = composite(images, output, masks)
        head = w.w_rec * t.dist.global_ratio(
            losses.reconstruction_loss(output, images, masks, w.rec_distance), masks.sum())
    done_leaf = done.detach().requires_grad_()
    clock.lap("losses, composite")
    if t.perceptual is not None:
        with torch.no_grad(), t.autocast():
            real_features = t.perceptual(images)
        clock.lap("perceptual forward (real, no_grad)")
        with t.autocast():
            per = w.w_per * losses.perceptual_loss(t.perceptual(done_leaf), real_features,
                                                   t.per_layer_weights, w.per_distance)
        clock.lap("perceptual forward (composite)")
        t.scaler_g.scale(per).backward()
        clock.lap("perceptual backward (to the composite)")
    if use_adv:
        t.D.requires_grad_(False)   # gradients flow through D to G only
        split = is_global_local(t.D)
        with t.autocast():
            if split:
                logits, pieces = split_d_forward(t.D, done_leaf, masks, clock, "G step")
            else:
                logits = t.D(done_leaf, masks)
                clock.lap("D forward (G step)")
            adv = w.w_adv * losses.generator_adversarial_loss(logits, t.profile.model.adversarial)
        t.scaler_g.scale(adv).backward()
        clock.lap("D head + loss (G step)" if split else "D backward (G step)")
        if split:
            _branch_backward([pieces], clock, "G step")
    t.opt_g.zero_grad(set_to_none=True)
    total = t.scaler_g.scale(head)
    if done_leaf.grad is not None:   # the tail's gradient, already scaled, joins L_rec's
        total = total + (done * done_leaf.grad).sum()
    total.backward()
    clock.lap("G backward")
    t.scaler_g.step(t.opt_g)
    t.scaler_g.update()
    clock.lap("Adam G")


def decomposed_step(t: Trainer, step: int) -> Clock:
    """Global step ``step`` of built trainer ``t``, computed as ``t.train_step(t.batch(step))`` but
    in timed parts (module doc). Updates the models, optimisers and schedulers like a real step;
    ``t.step`` and ``t.history`` are left alone. Returns the :class:`Clock` (``.parts`` in s)."""
    if t.dist.active:
        raise RuntimeError("the parts benchmark runs in one process (not under torchrun)")
    clock = Clock(t.device)
    images, masks = t.batch(step)
    clock.lap("data")
    stage = t.schedule.stage(step)
    t.G.train()
    if t.D is not None:
        t.D.train()
    if stage == "D":
        with torch.no_grad(), t.autocast(), frozen_batchnorm_statistics(t.G):
            fake = composite(images, t.G(images, masks), masks)
        clock.lap("G forward (no_grad)")
        _d_update(t, images, masks, fake, clock)
    else:
        with t.autocast():
            output = t.G(images, masks)
        clock.lap("G forward")
        use_adv = stage == "joint" and t.D is not None
        if use_adv:
            fake = composite(images, output, masks).detach()
            clock.lap("losses, composite")
            _d_update(t, images, masks, fake, clock)
        _g_update(t, images, masks, output, use_adv, clock)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)`")
        for sched in (t.sched_g, t.sched_d):
            if sched is not None:
                sched.step()
    clock.lap("schedulers")
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
            times = measure(trainer, kind.stage, reps, warmup)
            info = {"profile": profile.name, "size": trainer.image_size,
                    "batch": trainer.profile.train.batch_size, "precision": trainer.precision,
                    "reps": reps, **machine(trainer.device), "load_start": load_start,
                    "load_end": load_average()}
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
           "decomposed_step", "kind_rows", "kind_trainer", "measure", "resolve_variants",
           "run_parts", "select_kinds", "split_d_forward", "stage_steps", "step_kinds",
           "step_signature", "summary", "whole_step", "with_size"]
