"""Reference models: a profile's trained lite generators, committed to the repository under
``references/<profile>/``, so that a learner sees trained completions without training anything,
and a reader can check the README's figures against the weights that made them.

What a reference folder holds::

    references/study/
      manifest.json   what made the models (command, machine, CPU kind, precision, wall time,
                      torch) and one entry per model: variant, role, seed, run key, file, sha256,
                      parameters, and the float16 check (below)
      runs/<role>/<generator>-<key>/
                      generator.pt (the generator.pt format, weights stored in float16),
                      train_config.json, identity.json, log.csv: the run's own records
      tables/, figures/   the profile's ledger, learning curves and tables, copied from its results

Only the lite generators are kept (the claims' rows; the baselines' networks are 2-13x larger and
are retrained by notebook 06). **float16 storage** halves the files; every model is evaluated on
the profile's fixed test set from its float32 run and from the stored float16 weights, and the
largest per-image difference of hole PSNR and SSIM is recorded (``fp16_check``): the tables
recomputed from the stored weights match the run's to that tolerance. This module reads and checks
the folders; :mod:`inpainting.reference_export` writes them.

**Never stale.** A reference is offered only while its run key is the key the current code gives
its (profile, variant, role, seed): :func:`stale_references` lists the others, and
``tests/test_reference_models.py`` fails on any, so a change of the study profile or of the
training code that changes a key cannot leave old weights shown as current.

Commands (:mod:`inpainting.reference_export`, ``inpainting-references``)::

    python -m inpainting.reference_export export --profile study --wall-time "1 h 35 min"
    python -m inpainting.reference_export check                   # keys current, files intact
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection

import pandas as pd

from .experiments import FoundModel
from .profiles import Profile, get_profile
from .disk import (DamagedFileError, atomic_write, atomic_write_text, file_sha256,
                   warn_loudly)
from .training.records import LOG_FILE
from .training.runs import GENERATOR_FILE, IDENTITY_FILE, RECORD_FILE, run_key

ROOT = Path(__file__).resolve().parents[2] / "references"   # <repository>/references
MANIFEST = "manifest.json"
STORED_GENERATORS = ("lite",)   # the claims' rows; the baselines are retrained by notebook 06
RUN_FILES = (RECORD_FILE, IDENTITY_FILE, LOG_FILE)


def reference_root(profile_name: str, root: Path | None = None) -> Path:
    return (root or ROOT) / profile_name


MANIFEST_FIELDS = ("profile", "made", "command", "wall_time", "machine", "precision", "torch",
                   "storage", "models", "results")
ENTRY_FIELDS = ("role", "variant", "seed", "key", "generator", "params", "file", "sha256")
REFERENCE_FIX = ("restore the committed references with `git checkout -- references/` (or a fresh "
                 "clone), or write them again with python -m inpainting.reference_export export")


def read_manifest_file(path: Path, profile_name: str | None = None) -> dict:
    """A reference folder's ``manifest.json``, checked: a JSON object with every field of
    :data:`MANIFEST_FIELDS`, of the profile its folder is named after, listing at least one model,
    each entry with :data:`ENTRY_FIELDS`, a 64-digit sha256 and a file inside the folder;
    :class:`DamagedFileError` naming the file and the fix otherwise."""
    from .stored import damaged, read_json_object
    manifest = read_json_object(path, REFERENCE_FIX, MANIFEST_FIELDS)
    profile_name = profile_name or Path(path).parent.name
    if manifest["profile"] != profile_name:
        raise damaged(path, f"is the manifest of profile {manifest['profile']!r}, not of "
                            f"{profile_name!r} whose folder it lies in (copied from another "
                            "folder?)", REFERENCE_FIX)
    models = manifest["models"]
    if not isinstance(models, list) or not models:
        raise damaged(path, "lists no model ('models' is empty or not a list)", REFERENCE_FIX)
    for i, entry in enumerate(models):
        problem = _entry_problem(entry)
        if problem:
            raise damaged(path, f"model entry {i}: {problem}", REFERENCE_FIX)
    return manifest


def _entry_problem(entry: Any) -> str:
    if not isinstance(entry, dict):
        return f"is a {type(entry).__name__}, not an object"
    lacking = [k for k in ENTRY_FIELDS if k not in entry]
    if lacking:
        return "lacks " + ", ".join(map(repr, lacking))
    digest = entry["sha256"]
    if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
        return f"sha256 {digest!r} is not 64 hex digits"
    file = Path(str(entry["file"]))
    if file.is_absolute() or ".." in file.parts:
        return f"file {entry['file']!r} lies outside the reference folder"
    return ""


def read_manifest(profile_name: str, root: Path | None = None) -> dict | None:
    """The checked manifest of the references of ``profile_name`` (:func:`read_manifest_file`),
    None when the folder has none."""
    path = reference_root(profile_name, root) / MANIFEST
    return read_manifest_file(path, profile_name) if path.exists() else None


def read_reference_model(path: Path, sha256: str) -> dict:
    """A committed reference generator: the very file its manifest records (sha256), then the
    checks of every ``generator.pt`` (:func:`inpainting.models.read_generator`)."""
    from .models.loading import read_generator
    from .stored import check_sha256, require_file
    check_sha256(require_file(path, REFERENCE_FIX), sha256, REFERENCE_FIX)
    return read_generator(path)


def read_committed_table(path: Path, sha256: str | None = None) -> pd.DataFrame:
    """A committed CSV table: the recorded file (sha256, when the manifest records it) and a
    complete CSV table (:func:`inpainting.stored.read_csv_table`)."""
    from .stored import check_sha256, read_csv_table, require_file
    check_sha256(require_file(path, REFERENCE_FIX), sha256, REFERENCE_FIX)
    return read_csv_table(path, REFERENCE_FIX)


def stored_runs(profile: Profile) -> list[tuple[str, str, int, Any]]:
    """``(role, variant, seed, spec)`` of every run of ``profile`` a reference folder keeps: seed 0
    of the rows of the experiment plan (:class:`inpainting.experiments.Plan`, each run once,
    under its first name, as ``python -m inpainting.train --list`` names them), not the warm
    starts, whose generator is in :data:`STORED_GENERATORS`. The other seeds are kept as per-image
    records (:mod:`inpainting.evaluation.records`): what a learner sees needs one model per row."""
    from .experiments import Plan
    out, seen = [], set()
    for row in Plan(profile).rows:
        seed, spec = row.seeds[0], row.runs[0]
        if spec.key in seen or spec.init is None or \
                spec.profile.model.generator not in STORED_GENERATORS:
            continue
        seen.add(spec.key)
        out.append((row.role, row.name, seed, spec))
    return out


def current_keys(profile_name: str) -> dict[tuple[str, str, int], str]:
    """``(role, variant, seed) -> run key`` that today's code gives every stored run of preset
    ``profile_name`` (no overrides)."""
    return {(role, name, seed): run_key(spec)
            for role, name, seed, spec in stored_runs(get_profile(profile_name))}


def reference_folders(root: Path | None = None) -> list[Path]:
    """Every folder of ``root`` (default ``references/``) that is a profile's reference folder:
    each one with a manifest, and each one without (a damaged folder, reported by the readers)."""
    base = root or ROOT
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if base.is_dir() else []


def stale_references(root: Path | None = None) -> list[str]:
    """One line per problem of the committed references: no reference folder at all, a manifest
    that is missing or damaged (:func:`read_manifest_file`), a model whose stored key is not the
    key today's code gives its (profile, variant, role, seed), a model file that is missing,
    altered (sha256) or damaged, a damaged run log or committed table."""
    base = root or ROOT
    folders = reference_folders(root)
    if not folders:
        return [f"{base}: no reference folder (references/<profile>/manifest.json) to check; "
                f"{REFERENCE_FIX}"]
    problems = []
    for folder in folders:
        try:
            manifest = read_manifest_file(folder / MANIFEST, folder.name)
        except DamagedFileError as exc:
            problems.append(f"{folder.name}: {exc}")
            continue
        keys = current_keys(manifest["profile"])
        for e in manifest["models"]:
            what = f"{folder.name}/{e['role']}: {e['variant']} (seed {e['seed']})"
            now = keys.get((e["role"], e["variant"], e["seed"]))
            if now is None:
                problems.append(f"{what}: no longer a stored run of profile {manifest['profile']}")
            elif now != e["key"]:
                problems.append(f"{what}: stored key {e['key']}, the profile's key is now {now}")
            problem = _model_problem(folder, e)
            if problem:
                problems.append(f"{what}: {problem}")
        problems += [f"{folder.name}: {p}" for p in _table_problems(folder, manifest)]
    return problems


def _model_problem(folder: Path, entry: dict) -> str:
    """Why the model of a manifest entry cannot be offered (its file or its run log), or ``""``."""
    from .training.records import read_log
    path = folder / entry["file"]
    try:
        read_reference_model(path, entry["sha256"])
        if (path.parent / LOG_FILE).exists():
            read_log(path.parent / LOG_FILE)
    except DamagedFileError as exc:
        return str(exc)
    return ""


def _table_problems(folder: Path, manifest: dict) -> list[str]:
    digests = manifest.get("results_sha256") or {}
    problems = []
    for name in manifest["results"]:
        if not str(name).endswith(".csv"):
            continue
        try:
            read_committed_table(folder / name, digests.get(name))
        except DamagedFileError as exc:
            problems.append(str(exc))
    return problems


def reference_models(profile: Profile, role: str, root: Path | None = None,
                     seeds: Collection[int] | None = None) -> list[FoundModel]:
    """The committed reference models trained on ``role`` that fit ``profile`` (same image size),
    with a training seed in ``seeds`` (None: all), each labelled with the profile that trained it
    and its seed; only current ones (keys match, :func:`stale_references`). Nothing is loaded."""
    from .training.records import read_result
    out = []
    for folder in reference_folders(root):
        try:
            manifest = read_manifest_file(folder / MANIFEST, folder.name)
        except DamagedFileError as exc:   # the demo goes on with the references that are sound
            warn_loudly(f"the reference models of {folder} are not offered: {exc}")
            continue
        ref_profile = get_profile(manifest["profile"])
        if getattr(ref_profile, role).image_size != getattr(profile, role).image_size:
            continue
        keys = current_keys(manifest["profile"])
        for e in manifest["models"]:
            if e["role"] != role or (seeds is not None and e["seed"] not in seeds):
                continue
            if keys.get((role, e["variant"], e["seed"])) != e["key"]:
                continue
            problem = _model_problem(folder, e)
            if problem:   # never offered: a damaged model would complete images as if sound
                warn_loudly(f"reference {e['variant']} (seed {e['seed']}) is not offered: {problem}")
                continue
            run = (folder / e["file"]).parent
            m = FoundModel(f"{e['variant']} [reference: {manifest['profile']}, seed {e['seed']}]",
                           role, run)
            m.result = read_result(run, run / GENERATOR_FILE)
            out.append(m)
    return out


@dataclass(frozen=True)
class CommittedResults:
    """The tables and figures committed with the references of one profile (notebook 06 shows
    them before anything is trained): :meth:`table` reads ``tables/<name>.csv``."""

    folder: Path
    manifest: dict

    def table(self, name: str) -> pd.DataFrame:
        """``tables/<name>.csv``, checked (:func:`read_committed_table`)."""
        rel = f"tables/{name}.csv"
        return read_committed_table(self.folder / rel, (self.manifest.get("results_sha256") or {}).get(rel))

    def figure_path(self, name: str) -> Path:
        return self.folder / "figures" / f"{name}.png"

    def describe(self) -> str:
        m = self.manifest
        machine = m["machine"]
        return (f"the committed {m['profile']} run ({self.folder.relative_to(self.folder.parents[1])}/): "
                f"{len(m['models'])} lite generators; trained by `{m['command']}` in {m['wall_time']} "
                f"on {machine['cpu']} ({machine['cpu_capability']}), {m['precision']}; torch "
                f"{m['torch']}; made {m['made'][:10]}")


def committed_results(profile_name: str = "study", root: Path | None = None) -> CommittedResults | None:
    """The committed results of ``profile_name``, None when the repository has none or when a
    model of them is stale (:func:`stale_references`: their figures would no longer be the
    profile's)."""
    try:
        manifest = read_manifest(profile_name, root)
    except DamagedFileError as exc:   # notebook 06 goes on without them, saying why
        warn_loudly(f"the committed results of {profile_name} are not shown: {exc}")
        return None
    if manifest is None or any(line.startswith((f"{profile_name}/", f"{profile_name}:"))
                               for line in stale_references(root)):
        return None
    return CommittedResults(reference_root(profile_name, root), manifest)


# ------------------------------------------------------------------ registered kinds (inpainting.stored)
def _example_manifest(folder: Path, variant: int) -> tuple[Path, dict]:
    profile = ("study", "demo")[variant]
    entry = {"role": "faces", "variant": "v", "seed": variant, "key": "ab" * 6, "generator": "lite",
             "params": 10, "file": "runs/faces/lite-abababababab/generator.pt", "sha256": "0" * 64}
    manifest = {"profile": profile, "made": "2026-01-01", "command": "c", "wall_time": "1 s",
                "machine": {"cores": 2}, "precision": "float32", "torch": "2", "storage": "float16",
                "models": [entry], "results": []}
    path = Path(folder) / profile / MANIFEST
    atomic_write_text(path, json.dumps(manifest, indent=1) + "\n")
    return path, {}


def _example_model(folder: Path, variant: int) -> tuple[Path, dict]:
    from .models.loading import _example
    path, _ = _example(Path(folder) / "runs" / "faces", variant)
    return path, {"sha256": file_sha256(path)}


def _example_table(folder: Path, variant: int) -> tuple[Path, dict]:
    path = Path(folder) / "tables" / "loss_ablation.csv"
    table = pd.DataFrame({"method": ["a", "b"], "psnr_hole": [20.5 + variant, 21.25]})
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    return path, {"sha256": file_sha256(path)}


def _register() -> None:
    from .models.loading import _foreign
    from .stored import Kind, register
    no_network = {"foreign_network": "a JSON record or a table holds no network"}
    register(Kind("reference manifest", "json", read_manifest_file, _example_manifest,
                  fields=MANIFEST_FIELDS, undetectable={
                      **no_network, "zeroed": "no number of a manifest is forbidden to be 0; the "
                      "files it lists are checked by their sha256"}))
    register(Kind("reference model", "torch", read_reference_model, _example_model,
                  fields=("state_dict",), foreign=_foreign))
    register(Kind("committed table", "csv", read_committed_table, _example_table,
                  fields=("method",), undetectable=no_network))


_register()

