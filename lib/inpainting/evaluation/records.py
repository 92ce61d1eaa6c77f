"""One data model for every score: per-(method, seed, mask kind, image) values as one long table.

Columns :data:`COLUMNS`: ``role, method, seed, key`` (which trained run), ``kind`` (mask kind, or
the semantic test set's kind), ``unit`` (:data:`IMAGE`: one test image; :data:`RESAMPLE`: one
bootstrap resample of the test images, shared by every run; :data:`WHOLE`: the whole test set),
``index`` (image position, resample number, or -1), ``metric`` (a name of :data:`METRICS`) and
``value``. Per-image metrics have :data:`IMAGE` rows; KID x 1000 has one :data:`WHOLE` row and
``plan.kid_resamples`` :data:`RESAMPLE` rows per (run, kind), the resamples drawn from
``plan.kid_resample_seed`` so that two runs' values on resample r are paired.

A study's records live in ``<folder>/records/``: one gzipped CSV per trained run (written when the
run is evaluated, so each finished run can be committed as it finishes) and ``index.csv`` naming
each file's run and sha256. :func:`load` reads them back and checks every file against the index.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from ..disk import atomic_write, sha256
from . import inception, realism
from .metrics import LOWER_IS_BETTER, METRIC_COLUMNS, PSNR_COLUMNS, to_uint8

COLUMNS = ("role", "method", "seed", "key", "kind", "unit", "index", "metric", "value")
RUN_COLUMNS = ("kind", "unit", "index", "metric", "value")
IMAGE, RESAMPLE, WHOLE = "image", "resample", "whole"
INDEX_COLUMNS = ("role", "method", "seed", "key", "generator", "file", "sha256", "rows",
                 "train_seconds", "init_seconds", "cpu", "cpu_capability", "threads", "precision", "torch")
RECORDS, INDEX = "records", "index.csv"


@dataclass(frozen=True)
class Metric:
    """How a score is read: ``higher`` is better or not; ``summary`` ``mean`` (mean over images),
    ``psnr`` (the PSNR of the mean MSE over images) or ``kid`` (a set statistic with resamples)."""

    name: str
    label: str
    unit: str
    higher: bool
    summary: str = "mean"


def _metric(name: str) -> Metric:
    label = {"psnr": "PSNR", "psnr_hole": "hole PSNR", "ssim": "SSIM", "ssim_hole": "hole SSIM",
             "l1_hole_pct": "hole L1 %", "l2_hole_pct": "hole L2 %"}[name]
    return Metric(name, label, "dB" if name in PSNR_COLUMNS else "",
                  name not in LOWER_IS_BETTER, "psnr" if name in PSNR_COLUMNS else "mean")


METRICS: dict[str, Metric] = {
    **{name: _metric(name) for name in METRIC_COLUMNS},
    realism.KID_COLUMN: Metric(realism.KID_COLUMN, "KID x 1000", "", False, "kid"),
    "eye_error": Metric("eye_error", "eye error (semantic)", "", False),
    "eye_hit": Metric("eye_hit", "eye hit rate (semantic)", "", True),
    "grid_error": Metric("grid_error", "window-grid error (semantic)", "", False),
    "grid_hit": Metric("grid_hit", "window-grid hit rate (semantic)", "", True),
}
SEMANTIC_METRICS = {"faces": ("eye_error", "eye_hit"), "facades": ("grid_error", "grid_hit")}


# ------------------------------------------------------------------------------ making records
def image_rows(per_image: pd.DataFrame, ids: tuple[str, ...] = ()) -> pd.DataFrame:
    """``kind, sample`` and metric columns (one row per image) as :data:`RUN_COLUMNS` rows (and
    the ``ids`` columns carried along)."""
    metrics = [c for c in per_image.columns if c in METRICS]
    long = per_image.melt(id_vars=["kind", "sample", *ids], value_vars=metrics, var_name="metric")
    long = long.rename(columns={"sample": "index"}).assign(unit=IMAGE)
    long["value"] = long["value"].astype(float)
    return long[[*RUN_COLUMNS, *ids]]


def kid_rows(fake: np.ndarray, real: np.ndarray, kind: str, resamples: int, seed: int) -> pd.DataFrame:
    """KID x 1000 of paired features ``fake`` / ``real`` (one completion per real image): the
    whole-set value and one value per shared bootstrap resample of the images."""
    h = realism.paired_kernel(fake, real)
    n = len(h)
    whole = float(realism._offdiagonal_mean(h, np.ones((1, n)))[0]) * realism.KID_SCALE
    values = np.empty(resamples)
    for start, stop, w in realism._counts(n, resamples, seed):
        with np.errstate(invalid="ignore", divide="ignore"):
            values[start:stop] = realism._offdiagonal_mean(h, w) * realism.KID_SCALE
    return pd.DataFrame({"kind": kind, "unit": [WHOLE] + [RESAMPLE] * resamples,
                         "index": np.arange(-1, resamples), "metric": realism.KID_COLUMN,
                         "value": np.concatenate([[whole], values])})


def run_records(method, profile, role: str, resamples: int, resample_seed: int,
                kid_kinds: tuple[str, ...] = ("centre",), progress: bool = False) -> pd.DataFrame:
    """Every score of one completion method on ``role``'s fixed test set (each per-image metric on
    every mask kind, KID x 1000 on ``kid_kinds``) and, for procedural data, its semantic test set,
    as :data:`RUN_COLUMNS` rows."""
    from ..data.test_sets import fixed_test_set, semantic_test_set
    from ..disk import results_dir
    from .runner import completions, measure, supported_kinds
    from .semantic.scores import semantic_scores
    test_set = fixed_test_set(profile, role)
    per_image, composites = measure({"run": method}, test_set, progress=progress)
    frames = [image_rows(per_image)]
    cache = results_dir(profile.name, "test_sets", "inception")
    for kind in kid_kinds:
        if ("run", kind) in composites:
            real = inception.features(to_uint8(test_set.subset(kind).images), cache)
            fake = inception.features(composites[("run", kind)])
            frames.append(kid_rows(fake, real, kind, resamples, resample_seed))
    semantic = semantic_test_set(profile, role)
    allowed = supported_kinds(method)
    if semantic is not None and (allowed is None or set(semantic.kinds) <= set(allowed)):
        dataset = getattr(profile, role).name
        scores = semantic_scores(dataset, to_uint8(completions(method, semantic)),
                                 semantic.attributes, semantic.masks[:, 0].numpy())
        scores = scores.assign(kind=semantic.kinds[0])
        frames.append(image_rows(scores[["kind", "sample", *SEMANTIC_METRICS[dataset]]]))
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------ files
def _csv_gz(frame: pd.DataFrame) -> bytes:
    import gzip
    text = frame.to_csv(index=False, float_format="%.9g").encode()
    return gzip.compress(text, compresslevel=9, mtime=0)   # mtime 0: same records, same bytes


def write_run(folder: str | Path, facts: Mapping, frame: pd.DataFrame) -> Path:
    """Write one run's records (``facts``: :data:`INDEX_COLUMNS` but file, sha256, rows) and add
    it to the index; a run already in the index with other records is refused."""
    root = Path(folder) / RECORDS
    name = f"{facts['role']}/{facts['generator']}-{facts['key']}.csv.gz"
    data = _csv_gz(frame[list(RUN_COLUMNS)])
    digest = sha256(data)
    index = read_index(folder)
    if (index["file"] == name).any():
        if index.loc[index["file"] == name, "sha256"].iloc[0] != digest:
            raise FileExistsError(f"{root / name} is already recorded with other values: a run's "
                                  "records are written once and the committed ones are kept (other "
                                  "values mean another machine kind or code; record them as a new "
                                  "study)")
        return root / name
    atomic_write(root / name, lambda p: p.write_bytes(data))
    row = {**{k: facts.get(k) for k in INDEX_COLUMNS}, "file": name, "sha256": digest,
           "rows": len(frame)}
    index = pd.concat([index, pd.DataFrame([row])], ignore_index=True)
    index = index.sort_values(["role", "method", "seed"], kind="stable")
    atomic_write(root / INDEX, lambda p: index.to_csv(p, index=False))
    return root / name


FIX = ("restore the committed records with `git checkout -- references/` (or export the run again: "
       "python -m inpainting.evaluation.records export)")


def read_index_file(path: str | Path) -> pd.DataFrame:
    """A records index, checked (:mod:`inpainting.stored`): its columns, one positive row count
    and a seed per run, a 64-hex sha256 per file."""
    from ..stored import damaged, read_csv_table
    index = read_csv_table(path, FIX, INDEX_COLUMNS, dtype={"key": str, "sha256": str, "file": str})
    for column in ("seed", "rows"):
        values = pd.to_numeric(index[column], errors="coerce")
        if not (np.isfinite(values) & (values == values.round())).all():
            raise damaged(path, f"column {column!r} holds a missing or non-integer value", FIX)
    if (index["rows"] < 1).any():
        raise damaged(path, "lists a run with no records (rows < 1)", FIX)
    if not index["sha256"].fillna("").str.fullmatch(r"[0-9a-f]{64}").all():
        raise damaged(path, "holds a sha256 that is not 64 hex digits", FIX)
    return index


def read_index(folder: str | Path) -> pd.DataFrame:
    """The records index of ``folder`` (:func:`read_index_file`; none yet: an empty table)."""
    path = Path(folder) / RECORDS / INDEX
    if not path.exists():
        return pd.DataFrame(columns=list(INDEX_COLUMNS))
    return read_index_file(path)


def read_run_file(path: str | Path, sha256: str | None = None, rows: int | None = None) -> pd.DataFrame:
    """One run's records (``.csv.gz``), checked: the sha256 and row count its index entry
    records, the columns :data:`RUN_COLUMNS`, finite values (KID's resample rows may be NaN only
    where no resample was drawn)."""
    from ..stored import check_sha256, damaged, read_csv_table, require_file
    check_sha256(require_file(path, FIX), sha256, FIX)
    frame = read_csv_table(path, FIX, RUN_COLUMNS, dtype={"kind": str, "unit": str, "metric": str})
    if list(frame.columns) != list(RUN_COLUMNS):
        raise damaged(path, f"has columns {list(frame.columns)}, not {list(RUN_COLUMNS)}", FIX)
    if rows is not None and len(frame) != rows:
        raise damaged(path, f"holds {len(frame)} rows, its index records {rows}", FIX)
    if not np.isfinite(frame.loc[frame["unit"] != RESAMPLE, "value"].dropna()).all():
        raise damaged(path, "holds a non-finite value", FIX)
    return frame


def load(folder: str | Path) -> pd.DataFrame:
    """Every run's records in ``folder`` as one :data:`COLUMNS` table, each file checked against
    its sha256 in the index; one run listed twice, or two seeds of a row with the same run key,
    is refused (they would count as agreeing seeds)."""
    index = read_index(folder)
    if index.empty:
        raise FileNotFoundError(f"{Path(folder) / RECORDS / INDEX}: no records; evaluate the study "
                                "first (python -m inpainting.evaluation.records export)")
    for columns in (["key"], ["role", "method", "seed"]):
        twice = index[index.duplicated(columns, keep=False)]
        if not twice.empty:
            raise ValueError(f"records index lists {columns} twice (e.g. "
                             f"{twice[columns].values.tolist()[:2]}): one run counted as two seeds "
                             "would look like agreeing seeds; restore the index with git checkout")
    frames = [read_run_file(Path(folder) / RECORDS / row.file, row.sha256, int(row.rows)).assign(
                  role=row.role, method=row.method, seed=int(row.seed), key=row.key)
              for row in index.itertuples()]
    return pd.concat(frames, ignore_index=True)[list(COLUMNS)]


# ------------------------------------------------------------------------------ paired differences
@dataclass(frozen=True)
class SeedPairs:
    """The paired difference of one metric, A against B, seed by seed on the same test images,
    oriented so that positive means A better: ``d`` per seed, ``v_image`` the variance of their
    mean over seeds that comes from which test images were drawn (delta method for PSNR, the
    shared resamples for KID), ``n_images``, and ``a_value`` / ``b_value`` (each row's value,
    pooled over seeds as the metric summarises)."""

    metric: str
    seeds: tuple[int, ...]
    d: np.ndarray
    v_image: float
    n_images: int
    a_value: float
    b_value: float
    image_df: float | None = None   # the image part's degrees of freedom (None: n_images - 1)


@dataclass(frozen=True)
class Values:
    """One method's values of one metric on one (role, kind): ``matrix`` ``(seeds, units)`` (per
    image, or per shared resample for KID), ``whole`` per seed (KID's whole-set value, else
    None), ``seeds``."""

    seeds: tuple[int, ...]
    matrix: np.ndarray
    whole: np.ndarray | None = None

    def broadcast(self, seeds) -> "Values":
        """An untrained method's one set of values, paired with every seed of the other."""
        k = len(seeds)
        return Values(tuple(seeds), np.repeat(self.matrix[:1], k, 0),
                      None if self.whole is None else np.repeat(self.whole[:1], k))

    def at(self, seeds) -> "Values":
        pos = [self.seeds.index(s) for s in seeds]
        return Values(tuple(seeds), self.matrix[pos], None if self.whole is None else self.whole[pos])


def values(records: pd.DataFrame, metric: str, method: str, role: str, kind: str) -> Values | None:
    """:class:`Values` of ``method`` in ``records``; None when it has none."""
    sel = records[(records["role"] == role) & (records["kind"] == kind)
                  & (records["metric"] == metric) & (records["method"] == method)]
    if sel.empty:
        return None
    kid = METRICS[metric].summary == "kid"
    rows = sel[sel["unit"] == (RESAMPLE if kid else IMAGE)]
    table = rows.pivot(index="seed", columns="index", values="value").sort_index()
    whole = sel[sel["unit"] == WHOLE].set_index("seed")["value"].loc[table.index].to_numpy() if kid else None
    return Values(tuple(int(s) for s in table.index), table.to_numpy(dtype=float), whole)


def seed_pairs(records: pd.DataFrame, metric: str, a: str, b: str, role: str,
               kind: str, fixed: tuple[str, ...] = ()) -> SeedPairs | None:
    """:class:`SeedPairs` of ``metric`` for methods ``a`` and ``b`` on the seeds and images both
    have; None when either lacks them. A method in ``fixed`` has no training randomness (the grey
    fill, a classical method): its values pair with every seed of the other."""
    va, vb = (values(records, metric, m, role, kind) for m in (a, b))
    if va is None or vb is None:
        return None
    n = None
    if METRICS[metric].summary == "kid":
        n = int(records.loc[(records["role"] == role) & (records["kind"] == kind)
                            & (records["unit"] == IMAGE), "index"].nunique())
    return pair_values(metric, va, vb, a in fixed, b in fixed, n)


def pair_values(metric: str, va: Values, vb: Values, a_fixed: bool = False, b_fixed: bool = False,
                n_images: int | None = None) -> SeedPairs | None:
    """:class:`SeedPairs` from two methods' :class:`Values` (the array core of :func:`seed_pairs`;
    ``n_images``: the test images behind KID's resamples)."""
    if a_fixed and not b_fixed:
        va = va.broadcast(vb.seeds)
    elif b_fixed and not a_fixed:
        vb = vb.broadcast(va.seeds)
    seeds = sorted(set(va.seeds) & set(vb.seeds))
    if not seeds:
        return None
    va, vb = va.at(seeds), vb.at(seeds)
    spec = METRICS[metric]
    sign = 1.0 if spec.higher else -1.0
    ma, mb = va.matrix, vb.matrix
    if spec.summary == "kid":
        boot = np.nanmean(sign * (ma - mb), axis=0)
        return SeedPairs(metric, tuple(seeds), sign * (va.whole - vb.whole),
                         float(np.nanvar(boot, ddof=1)), n_images or 0, float(va.whole.mean()),
                         float(vb.whole.mean()))
    keep = ~(np.isnan(ma).any(0) | np.isnan(mb).any(0))
    ma, mb = ma[:, keep], mb[:, keep]
    n = ma.shape[1]
    if n < 2:
        return None
    if spec.summary == "psnr":   # 10 log10 of the ratio of mean MSEs (relative MSE: 10^(-PSNR/10))
        ea, eb = 10.0 ** (-ma / 10.0), 10.0 ** (-mb / 10.0)
        sa, sb = ea.sum(1, keepdims=True), eb.sum(1, keepdims=True)
        d = 10.0 * np.log10(sb / sa)[:, 0]
        # leave-one-image-out means over seeds: the delta method's variance was 5-10 % liberal
        # at n = 192 in the calibration (tests/test_decision_calibration.py), the jackknife's not
        left_out = (10.0 * np.log10((sb - eb) / (sa - ea))).mean(0)
        a_value, b_value = (float(-10.0 * np.log10(e.mean())) for e in (ea, eb))
        # a few hard images set an MSE summary's variance: df of the effective number of images
        w = (ea / ea.mean(1, keepdims=True) + eb / eb.mean(1, keepdims=True)).mean(0)
        image_df = max((w @ w) ** 2 / (w**4).sum() - 1.0, 1.0)
    else:
        diffs = sign * (ma - mb)
        d = diffs.mean(1)
        left_out = (diffs.sum(1, keepdims=True) - diffs).mean(0) / (n - 1)
        a_value, b_value = float(ma.mean()), float(mb.mean())
        image_df = None
    v_image = float((n - 1) / n * ((left_out - left_out.mean()) ** 2).sum())
    return SeedPairs(metric, tuple(seeds), d, v_image, n, a_value, b_value, image_df)


# ------------------------------------------------------------------------------ a study's export
def machine() -> dict:
    """The CPU and kernels this process computes with (a run's records are made on the machine
    that trained it: ``train --all`` trains seed by seed within one session)."""
    import torch
    from ..runtime import device_name
    return {"cpu": device_name(torch.device("cpu")),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__}


def planned_rows(profile) -> dict[str, tuple[str, str, int, object]]:
    """Run key -> (role, row name, seed, spec) of every row of the study's tables (notebook 06's
    names: the names the plan uses), at every planned seed."""
    from ..experiments import Plan
    rows = {}
    for row in Plan(profile).table("06_evaluation"):
        for seed, spec in zip(row.seeds, row.runs):
            rows.setdefault(spec.key, (row.role, row.name, seed, spec))
    return rows


def record_run(profile, folder: str | Path, role: str, name: str, seed: int, spec,
               generator: str | Path | None = None, progress: bool = False) -> Path:
    """Evaluate one generator of the finished run ``spec`` (its ``generator.pt``, or ``generator``:
    a generator the run kept on the way, ``<run>/curve/``) and write its records to ``folder``
    (``train_seconds``: the whole run's)."""
    from ..models import load_inpainter
    from ..training.records import read_result
    from ..training.runs import GENERATOR_FILE, run_folder
    from .preregistration import STUDY_PLAN
    seconds = [read_result(run_folder(s), run_folder(s) / GENERATOR_FILE).seconds if s else 0.0
               for s in (spec, spec.init)]
    model = load_inpainter(generator or run_folder(spec) / GENERATOR_FILE, "cpu")
    frame = run_records(model, profile, role, STUDY_PLAN.kid_resamples,
                        STUDY_PLAN.kid_resample_seed, progress=progress)
    facts = {"role": role, "method": name, "seed": int(seed), "key": spec.key,
             "generator": spec.profile.model.generator, "train_seconds": round(seconds[0], 1),
             "init_seconds": round(seconds[1], 1), "threads": spec.profile.train.threads,
             "precision": "float32", **machine()}
    return write_run(folder, facts, frame)


def export(profile, folder: str | Path, progress: bool = False, log=print) -> int:
    """Evaluate every finished, planned run of ``profile`` that ``folder``'s records lack and write
    its records (warm starts are not rows of any table); returns how many were written."""
    from ..training.runs import is_finished, run_folder
    from .preregistration import check
    check(folder)
    done = set(read_index(folder)["key"].astype(str))
    written = 0
    for key, (role, name, seed, spec) in planned_rows(profile).items():
        if key in done or not is_finished(run_folder(spec)):
            continue
        path = record_run(profile, folder, role, name, seed, spec, progress=progress)
        written += 1
        log(f"records of {role}: {name} (seed {seed}, run {key}): {path}")
    return written


def main(argv=None) -> int:
    import argparse
    from ..profiles import get_profile
    parser = argparse.ArgumentParser(prog="python -m inpainting.evaluation.records",
                                     description="per-image records of a study's finished runs")
    parser.add_argument("command", choices=["export", "check"])
    parser.add_argument("--profile", default="study")
    parser.add_argument("--to", default=None, help="folder (default references/<profile>)")
    args = parser.parse_args(argv)
    from ..disk import REPO_ROOT
    folder = Path(args.to) if args.to else REPO_ROOT / "references" / args.profile
    if args.command == "export":
        n = export(get_profile(args.profile), folder)
        print(f"{n} run(s) recorded in {folder / RECORDS}")
    else:
        records = load(folder)
        print(f"{records[['role', 'method', 'seed']].drop_duplicates().shape[0]} runs, "
              f"{len(records)} values: every file matches the index")
    return 0


# ------------------------------------------------------------------ registered kinds (inpainting.stored)
def _example_run(folder: Path, variant: int) -> tuple[Path, dict]:
    frame = pd.DataFrame({"kind": ["centre", "centre"], "unit": [IMAGE, IMAGE], "index": [0, 1],
                          "metric": ["psnr_hole", "psnr_hole"], "value": [20.5 + variant, 21.25]})
    data = _csv_gz(frame)
    path = Path(folder) / RECORDS / "faces" / f"lite-{variant:012d}.csv.gz"
    atomic_write(path, lambda p: p.write_bytes(data))
    return path, {"sha256": sha256(data), "rows": 2}


def _example_index(folder: Path, variant: int) -> tuple[Path, dict]:
    row = {**{k: "x" for k in INDEX_COLUMNS}, "seed": variant, "key": f"{variant:012d}",
           "file": f"faces/lite-{variant:012d}.csv.gz", "sha256": "a" * 64, "rows": 2,
           "train_seconds": 12.5, "init_seconds": 3.5, "threads": 1}
    path = Path(folder) / RECORDS / INDEX
    atomic_write(path, lambda p: pd.DataFrame([row]).to_csv(p, index=False))
    return path, {}


def _register() -> None:
    from ..stored import Kind, register
    no_network = {"foreign_network": "a table of records holds no network"}
    register(Kind("run records", "csv", read_run_file, _example_run, fields=RUN_COLUMNS,
                  undetectable=no_network))
    register(Kind("records index", "csv", read_index_file, _example_index, fields=INDEX_COLUMNS,
                  undetectable={**no_network,
                                "other_run": "one index per study; each file it lists is checked by "
                                             "its sha256 when read (read_run_file)"}))


_register()


if __name__ == "__main__":
    raise SystemExit(main())
