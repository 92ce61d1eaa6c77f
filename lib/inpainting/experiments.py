"""The paper's experiments as data, and the experiment plan of a profile computed from them.

A *row* is one line of a notebook's table: a name and the profile overrides that make it
(``inpainting.profiles``), trained on one dataset role with every training seed of the profile.
:data:`NOTEBOOK_VARIANTS` says which rows each notebook's tables show; :class:`Plan` is the one
place that turns a profile into its rows and their runs (the training command's ``--list`` and
``--all``, the references, the tools, the benchmark, the demo and the notebooks iterate it). Each
run has one identity (:mod:`inpainting.training.runs`) and one folder under
``results/<profile>/runs/<role>/``, so a run shared by two notebooks (the full model is both the
last ablation row and the relu3_1 row of the perceptual-level sweep) is trained once, an
interrupted run resumes where it stopped, and a changed experiment (other steps, another warm
start) is a new run, never an old one returned. The paper's claims over these rows, the study's
pre-registered analysis plan, are data of their own (:mod:`inpainting.evaluation.preregistration`).

Protocol [INFERRED, this kit's choice]: the kit's generators start from one shared
*reconstruction warm start* (``steps_g`` steps of L_rec only, as GLCIC's first stage), then every
row trains ``steps_d`` discriminator-only and ``steps_joint`` joint steps with its own losses.
All rows thus see the same data, masks, seed and number of updates, and differ only in the
losses of the final stage. The baselines (GLCIC, Context Encoder) have their own architectures, so
they run the same three-stage schedule from scratch with the same step counts.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

from .profiles import VGG_LAYERS, Profile, with_overrides
from .stages import generator_update_steps
from .training.runs import (GENERATOR_FILE, IDENTITY_FILE, RunSpec, is_finished, read_json, run_folder,
                            runs_folder)

ABLATION_VARIANTS: dict[str, dict] = {  # docs/method.md §5.4 rows (a)-(d)
    "L_rec": {"loss.w_adv": 0.0, "loss.w_per": 0.0},
    "L_rec + L_adv": {"loss.w_per": 0.0},
    "L_rec + L_per": {"loss.w_adv": 0.0},
    "L_rec + L_adv + L_per (full)": {},
}
FULL_MODEL = "L_rec + L_adv + L_per (full)"

PERCEPTUAL_LEVEL_VARIANTS: dict[str, dict] = {  # docs/method.md §5.4 row (e), T4: all with L_adv
    **{layer: {"loss.per_layers": (layer,)} for layer in VGG_LAYERS},
    "relu1_1..relu5_1 (equal weights)": {"loss.per_layers": VGG_LAYERS},
    # the full model with a seeded random VGG of the same network: what pretraining adds
    "random features": {"loss.per_weights": "random"},
}

GLCIC = "GLCIC"
# The Context Encoder's own training fills the centre minus a 4-px band and weights that band 10x in
# its loss; under the kit's protocol every method sees the same hole, so the kit's CE fills the whole
# hole without the band [INFERRED], and its row says so.
CONTEXT_ENCODER = "Context Encoder (no 4-px overlap band)"
_BASELINES: dict[str, dict] = {  # docs/method.md §8.4, re-trained under the kit's protocol
    GLCIC: {"model.generator": "glcic", "loss.w_per": 0.0, "loss.w_adv": 4e-4},
    CONTEXT_ENCODER: {"model.generator": "context_encoder", "loss.w_per": 0.0,
                      "loss.w_rec": 0.999, "loss.w_adv": 0.001,
                      "masks.train_kinds": ("centre",), "masks.train_probs": (1.0,)},
}

# The rows of notebook 06: every faces model of 04 and 05 (relu3_1 is the full model) and the baselines.
PER_LEVEL_PREFIX = "per@"
_FACES_ALL: dict[str, dict] = {
    **ABLATION_VARIANTS,
    **{PER_LEVEL_PREFIX + k: v for k, v in PERCEPTUAL_LEVEL_VARIANTS.items() if k != "relu3_1"},
    **_BASELINES,
}
_FACADES: dict[str, dict] = {FULL_MODEL: ABLATION_VARIANTS[FULL_MODEL], **_BASELINES}

# The rows each notebook's tables show, per dataset role: the one source of the plan.
NOTEBOOK_VARIANTS: dict[str, list[tuple[str, dict[str, dict]]]] = {
    "03_training": [("faces", {FULL_MODEL: ABLATION_VARIANTS[FULL_MODEL]})],
    "04_loss_ablation": [("faces", ABLATION_VARIANTS)],
    "05_perceptual_levels": [("faces", PERCEPTUAL_LEVEL_VARIANTS)],
    "06_evaluation": [("faces", _FACES_ALL), ("facades", _FACADES)],
    "07_interactive_demo": [],   # shows the runs it finds; trains only a quick tiny run on request
}


def _one_table() -> dict[str, dict]:
    table: dict[str, dict] = {}
    for entries in NOTEBOOK_VARIANTS.values():
        for _, variants in entries:
            for name, overrides in variants.items():
                if table.setdefault(name, dict(overrides)) != dict(overrides):
                    raise RuntimeError(f"row {name!r} has two definitions in NOTEBOOK_VARIANTS")
    return table


VARIANTS: dict[str, dict] = _one_table()   # every row name of the notebooks -> its overrides
WARM_START = "warm-start"   # the name of the shared reconstruction warm start among the rows
_WARM_STARTED = ("lite", "wide")


def _warm_start_profile(profile: Profile) -> Profile:
    """Stage G only, reconstruction loss only: the run every row of one generator starts from."""
    return with_overrides(profile, {"loss.w_adv": 0.0, "loss.w_per": 0.0, "train.steps_d": 0,
                                    "train.steps_joint": 0})


def variant_spec(profile: Profile, overrides: Mapping, role: str = "faces",
                 seed: int | None = None) -> RunSpec:
    """The run of one row: ``profile`` + ``overrides`` (+ ``train.seed = seed``); the kit's own
    generators start from the shared reconstruction warm start of the same seed (its ``init``) and
    have no stage-G steps of their own. Each profile it makes is validated once."""
    effective = with_overrides(profile, {**overrides, **({} if seed is None else {"train.seed": seed})})
    if effective.model.generator in _WARM_STARTED and effective.train.steps_g > 0:
        warm = RunSpec(_warm_start_profile(effective), role)
        after = dataclasses.replace(effective, train=dataclasses.replace(effective.train, steps_g=0))
        if not any(generator_update_steps(after).values()):
            return warm   # nothing after the warm start changes G: the row is the warm start
        return RunSpec(with_overrides(effective, {"train.steps_g": 0}), role, init=warm)
    return RunSpec(effective, role)


@dataclass(frozen=True, eq=False)   # one object per (role, name) in a plan
class Row:
    """One row of the notebooks' tables on one dataset role: its name, the overrides that make it
    and its runs, one per training seed of the profile (a run's ``init`` is its warm start)."""

    name: str
    role: str
    overrides: Mapping[str, Any]
    runs: tuple[RunSpec, ...]

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(spec.profile.train.seed for spec in self.runs)

    def train(self, progress: bool | str = "auto") -> list:
        """Train (or reuse / resume) every run of the row: its ``TrainResult`` per seed."""
        return [train_spec(spec, progress) for spec in self.runs]


class NamedRun(NamedTuple):
    """One run of a plan under the first name that asks for it (``WARM_START`` for a warm start)."""

    role: str
    name: str
    seed: int
    spec: RunSpec


class Plan:
    """The experiment plan of ``profile``: every row the tables of ``notebooks`` (default: all)
    show that the profile trains (of the baselines those in ``experiments.<role>_baselines``, of
    the perceptual levels those in ``experiments.perceptual_levels``), each with its runs over the
    training seeds ``train.seed + k``, ``k < experiments.seeds``. Computed once; nothing is
    trained or read from disk."""

    def __init__(self, profile: Profile, notebooks: Sequence[str] | None = None):
        self.profile = profile
        self.notebooks = tuple(notebooks or NOTEBOOK_VARIANTS)
        self.seeds = tuple(profile.train.seed + k for k in range(profile.experiments.seeds))
        self._runs: dict[tuple, RunSpec] = {}

    def spec(self, overrides: Mapping, role: str = "faces", seed: int | None = None) -> RunSpec:
        """:func:`variant_spec` of the plan's profile, made once per plan."""
        cache = (role, seed, repr(sorted(overrides.items())))
        if cache not in self._runs:
            self._runs[cache] = variant_spec(self.profile, overrides, role, seed)
        return self._runs[cache]

    def warm_start(self, role: str = "faces", seed: int | None = None) -> RunSpec:
        """The shared reconstruction warm start of the profile's generator; ``ValueError`` for a
        generator that has none."""
        spec = self.spec({}, role, seed)
        if spec.init is None:
            p = self.profile
            raise ValueError(f"model.generator={p.model.generator!r} with train.steps_g="
                             f"{p.train.steps_g} has no warm start (only {', '.join(_WARM_STARTED)} "
                             "with train.steps_g > 0 start from one); train its variants directly")
        return spec.init

    @functools.cached_property
    def _tables(self) -> dict[tuple[str, str], tuple[Row, ...]]:
        """(notebook, role) -> the rows of that table the profile trains, in the table's order:
        the one loop over the experiments' rows."""
        rows: dict[tuple[str, str], Row] = {}
        tables = {}
        for notebook in self.notebooks:
            for role, variants in NOTEBOOK_VARIANTS[notebook]:
                for name, overrides in variants.items():
                    if (role, name) not in rows and self._trains(name, overrides, role):
                        rows[role, name] = Row(name, role, overrides,
                                               tuple(self.spec(overrides, role, s) for s in self.seeds))
                tables[notebook, role] = tuple(rows[role, n] for n in variants if (role, n) in rows)
        return tables

    def _trains(self, name: str, overrides: Mapping, role: str) -> bool:
        """Whether the profile trains row ``name`` on ``role`` (see the class docstring)."""
        experiments = self.profile.experiments
        baselines = getattr(experiments, f"{role}_baselines", None)
        if name in _BASELINES and baselines is not None:
            return _BASELINES[name]["model.generator"] in baselines
        if overrides.get("loss.per_weights") == "random":
            return "random" in experiments.perceptual_levels
        layers = tuple(overrides.get("loss.per_layers", ()))
        return not layers or (layers[0] if len(layers) == 1 else "all") in experiments.perceptual_levels

    @property
    def rows(self) -> tuple[Row, ...]:
        """Every row, each (role, name) once, in the order the notebooks first show it."""
        return tuple(dict.fromkeys(r for table in self._tables.values() for r in table))

    def table(self, notebook: str, role: str | None = None) -> tuple[Row, ...]:
        """The rows of ``notebook``'s table(s) (of ``role``), in the table's order."""
        return tuple(r for (nb, table_role), rows in self._tables.items() if nb == notebook
                     and role in (None, table_role) for r in rows)

    def train(self, notebook: str, role: str = "faces", progress: bool | str = "auto") -> dict:
        """Train (or reuse / resume) every run of ``notebook``'s table of ``role``:
        ``{row name: [TrainResult per seed]}``."""
        return {row.name: row.train(progress) for row in self.table(notebook, role)}

    @functools.cached_property
    def named_runs(self) -> tuple[NamedRun, ...]:
        """Every run the rows need, each once under the first name that asks for it, warm starts
        first (each before the rows that start from it)."""
        names: dict[str, NamedRun] = {}
        rows: dict[str, RunSpec] = {}
        for row in self.rows:
            for seed, spec in zip(row.seeds, row.runs):
                names.setdefault(spec.key, NamedRun(row.role, row.name, seed, spec))
                rows.setdefault(spec.key, spec)
                if spec.init is not None:
                    names.setdefault(spec.init.key, NamedRun(row.role, WARM_START, seed, spec.init))
        # a warm start as the last row that starts from it makes it (the same key and run)
        warm = {s.init.key: s.init for s in rows.values() if s.init is not None}
        return tuple(names[k]._replace(spec=warm[k]) for k in warm) + \
            tuple(names[k] for k in rows if k not in warm)

    def runs(self) -> list[RunSpec]:
        """:attr:`named_runs` without their names."""
        return [run.spec for run in self.named_runs]


# ------------------------------------------------------------------------------ training
def fetch_perceptual_weights(profile: Profile) -> None:
    """Make the perceptual weights of ``profile`` available (downloaded or converted,
    :func:`inpainting.models.perceptual_weights.fetch_weights`; missing ones stop here with the
    fix) when its loss uses them; every command that trains calls this first."""
    if profile.loss.w_per > 0:
        from .models.perceptual_weights import fetch_weights
        fetch_weights(profile.loss.per_network, profile.loss.per_weights)


def train_spec(spec: RunSpec, progress: bool | str = "auto"):
    """Train (or reuse / resume) the run ``spec`` and, first, the warm start it starts from (not
    for a finished run, which reuses without it: a committed reference run copied into the cache
    trains nothing, :func:`inpainting.teaching.book.seed_run_cache`)."""
    from .training import Trainer
    fetch_perceptual_weights(spec.profile)
    if spec.init is not None and not is_finished(run_folder(spec)):
        train_spec(spec.init, progress)
    return Trainer(spec, progress=progress).fit()


def train_warm_start(profile: Profile, role: str = "faces", seed: int | None = None):
    """Train (or reuse) the shared reconstruction warm start of ``profile``'s generator."""
    spec = variant_spec(profile, {}, role, seed)
    return train_spec(spec.init if spec.init is not None else spec)


def train_variant(profile: Profile, overrides: Mapping, role: str = "faces", seed: int | None = None):
    """Train (or reuse / resume) one row given by its ``overrides`` with one seed (default
    ``train.seed``); returns its :class:`~inpainting.training.TrainResult`."""
    return train_spec(variant_spec(profile, overrides, role, seed))


# ------------------------------------------------------------------------------ finished runs
@dataclass
class FoundModel:
    """One finished training run: its label, the role it was trained on, its folder."""

    name: str
    role: str                      # the role it was trained on
    run_dir: Path
    result: Any = None             # its TrainResult (inpainting.training), read from the run folder
    _model: Any = field(default=None, repr=False)

    @property
    def generator_path(self) -> Path:
        return self.run_dir / GENERATOR_FILE

    def model(self):
        """The :class:`~inpainting.models.Inpainter`, loaded on first use."""
        if self._model is None:
            from .models import load_inpainter
            self._model = load_inpainter(self.generator_path)
        return self._model


def _describe_run(identity: dict, folder: Path) -> str:
    """A label for a finished run the notebooks do not name, from its stored identity."""
    prof = identity.get("profile", {})
    model, loss, train = prof.get("model", {}), prof.get("loss", {}), prof.get("train", {})
    terms = ["L_rec"]
    if loss.get("w_adv", 0):
        terms.append("L_adv")
    if loss.get("w_per", 0):
        terms.append(f"L_per@{'+'.join(loss.get('per_layers') or [])}")
    steps = "/".join(str(train.get(k, 0)) for k in ("steps_g", "steps_d", "steps_joint"))
    return f"{model.get('generator', '?')}: {' + '.join(terms)}, steps {steps} ({folder.name})"


def find_runs(profile: Profile, role: str,
              extra: Sequence[tuple[str, RunSpec]] = ()) -> list[FoundModel]:
    """Every finished training run of ``profile`` on ``role``, each once: the plan's rows first
    (first seed, their table names), then ``extra`` (name, RunSpec), the warm starts and any other
    finished run in ``results/<profile>/runs/<role>/`` (labelled from its identity). Nothing is
    trained or loaded."""
    from .training.records import read_result
    named = [(row.name, row.runs[0]) for row in Plan(profile).rows if row.role == role]
    named += list(extra)
    named += [(f"warm start of {spec.profile.model.generator} (L_rec only, stage G)", spec.init)
              for _, spec in named if spec.init is not None]
    found: dict[Path, FoundModel] = {}
    for name, spec in named:
        folder = run_folder(spec)
        if folder not in found and is_finished(folder):
            found[folder] = FoundModel(name, role, folder)
    for folder in sorted(p for p in runs_folder(profile, role).iterdir() if p.is_dir()):
        if folder not in found and is_finished(folder):
            identity = read_json(folder / IDENTITY_FILE) or {}
            found[folder] = FoundModel(_describe_run(identity, folder), role, folder)
    models = list(found.values())
    for m in models:
        m.result = read_result(m.run_dir, m.generator_path)
    return models


_LITERATURE_CE_PARIS = {  # docs/method.md §8.2 [BASELINE-SRC]; convention not verified
    "method": "Context Encoder — Pathak et al. 2016, Table 1 (literature, not this kit's run)",
    "kind": "centre", "l1_hole_pct": 9.37, "l2_hole_pct": 1.96,
    "literature PSNR (dB, region convention unverified)": 18.58,
}


def literature_rows(profile: Profile):
    """The one literature figure known to the kit, only when the facades role is the real
    Paris StreetView (it must never appear beside other data)."""
    import pandas as pd
    if profile.facades.name != "paris":
        return pd.DataFrame()
    return pd.DataFrame([_LITERATURE_CE_PARIS])
