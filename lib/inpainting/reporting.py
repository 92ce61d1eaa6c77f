"""Outputs of the notebooks: figures (PNG), tables (CSV) and ``summary.md``.

Every figure or table a notebook produces goes through :class:`Report`, which writes the file
atomically under ``results/<profile>/figures`` or ``tables``, records one line on how it was made
(profile, data, perceptual weights real or fallback, metric convention) in ``outputs.json``, and
rewrites ``results/<profile>/summary.md`` so the summary always lists every output made so far.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .runtime import atomic_write_text, results_dir, save_figure, save_table

SUMMARY_HEADER = """# Results summary: profile `{profile}`

Made by the kit's notebooks (`notebooks/`), see run.json for versions, device, seed and timings.
No number here is the paper's: the paper's tables are not available to this kit (docs/method.md).
Metric convention (canonical): composited output, RGB uint8, per-image mean; PSNR data_range 255;
SSIM Wang et al. (Gaussian sigma 1.5, population covariance); "hole" columns on the hole only
(SSIM on the hole's bounding box); L1/L2 % Context-Encoder style on the hole, [0, 1] scale.
"""


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


class Report:
    """Writes one notebook's outputs for ``profile_name``; ``notebook`` names the source."""

    def __init__(self, profile_name: str, notebook: str):
        self.profile = profile_name
        self.notebook = notebook
        self.root = results_dir(profile_name)

    def figure(self, fig, name: str, how: str) -> Path:
        """Save ``fig`` as ``figures/<name>.png`` and record ``how`` it was made."""
        path = save_figure(fig, results_dir(self.profile, "figures") / f"{name}.png")
        self._record(name, "figure", path, how)
        return path

    def table(self, df: pd.DataFrame, name: str, how: str) -> Path:
        """Save ``df`` as ``tables/<name>.csv`` and record ``how`` it was made."""
        path = save_table(df, results_dir(self.profile, "tables") / f"{name}.csv")
        self._record(name, "table", path, how)
        return path

    def _record(self, name: str, kind: str, path: Path, how: str) -> None:
        registry = self.root / "outputs.json"
        entries = json.loads(registry.read_text()) if registry.exists() else {}
        entries[f"{self.notebook}/{name}"] = {"kind": kind, "notebook": self.notebook,
                                             "path": str(path.relative_to(self.root)), "how": how}
        atomic_write_text(registry, json.dumps(entries, indent=2, sort_keys=True))
        write_summary(self.profile)


def write_summary(profile_name: str) -> Path:
    """Rebuild ``summary.md`` from ``outputs.json``: tables inline, figures as images."""
    root = results_dir(profile_name)
    registry = root / "outputs.json"
    entries = json.loads(registry.read_text()) if registry.exists() else {}
    run = json.loads((root / "run.json").read_text()) if (root / "run.json").exists() else {}
    lines = [SUMMARY_HEADER.format(profile=profile_name)]
    for warning in (run.get("warnings") or {}).values():
        lines.append(f"> **WARNING:** {warning}\n")
    for notebook in sorted({e["notebook"] for e in entries.values()}):
        lines.append(f"## {notebook}\n")
        for key in sorted(k for k, e in entries.items() if e["notebook"] == notebook):
            e = entries[key]
            lines.append(f"### {key.split('/', 1)[1]}\n\n{e['how']}\n")
            if e["kind"] == "table":
                df = pd.read_csv(root / e["path"])
                lines.append(markdown_table(df) + f"\n\n([CSV]({e['path']}))\n")
            else:
                lines.append(f"![{key}]({e['path']})\n")
    return atomic_write_text(root / "summary.md", "\n".join(lines))
