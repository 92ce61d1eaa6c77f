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
recomputed from the stored weights match the run's to that tolerance.

**Never stale.** A reference is offered only while its run key is the key the current code gives
its (profile, variant, role, seed): :func:`stale_references` lists the others, and
``tests/test_reference_models.py`` fails on any, so a change of the study profile or of the
training code that changes a key cannot leave old weights shown as current.

Commands::

    python -m inpainting.references export --profile study --wall-time "1 h 35 min"
    python -m inpainting.references check                   # keys current, files intact
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection

import pandas as pd
import torch

from .experiments import FoundModel
from .profiles import Profile, get_profile
from .runtime import atomic_write, atomic_write_text, device_name, now_iso, results_dir
from .training.records import LOG_FILE
from .training.runs import GENERATOR_FILE, IDENTITY_FILE, RECORD_FILE, is_finished, run_folder, run_key

ROOT = Path(__file__).resolve().parents[2] / "references"   # <repository>/references
MANIFEST = "manifest.json"
STORED_GENERATORS = ("lite",)   # the claims' rows; the baselines are retrained by notebook 06
RUN_FILES = (RECORD_FILE, IDENTITY_FILE, LOG_FILE)
STORAGE = torch.float16
CHECK_IMAGES = 4   # per-image hole PSNRs of the first images recorded for the load test
# the profile's results copied beside the models (tables/ and figures/ names, without extension)
SHARED_RESULTS = ("claim_verdicts", "claims_ledger", "learning_curves_faces", "loss_ablation",
                  "loss_ablation_grid_centre", "loss_ablation_grid_eye", "perceptual_levels",
                  "faces_all_methods", "facades_all_methods", "faces_grid_eye", "generator_size",
                  "term_balance_full", "term_balance_rows", "training_runs")


def reference_root(profile_name: str, root: Path | None = None) -> Path:
    return (root or ROOT) / profile_name


def read_manifest(profile_name: str, root: Path | None = None) -> dict | None:
    """The manifest of the references of ``profile_name``, None when there are none."""
    path = reference_root(profile_name, root) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None


def stored_runs(profile: Profile) -> list[tuple[str, str, int, Any]]:
    """``(role, variant, seed, spec)`` of every run of ``profile`` a reference folder keeps: the
    runs the notebooks train (:data:`inpainting.experiments.NOTEBOOK_VARIANTS`, each once, under
    its first name, as ``python -m inpainting.train --list`` names them), not the warm starts, whose
    generator is in :data:`STORED_GENERATORS`."""
    from .experiments import NOTEBOOK_VARIANTS, seeds, variant_spec, variants_for
    out, seen = [], set()
    for entries in NOTEBOOK_VARIANTS.values():
        for role, variants in entries:
            for name, overrides in variants_for(profile, variants, role).items():
                for seed in seeds(profile):
                    spec = variant_spec(profile, overrides, role, seed)
                    key = run_key(spec)
                    if key in seen or spec.init is None or \
                            spec.profile.model.generator not in STORED_GENERATORS:
                        continue
                    seen.add(key)
                    out.append((role, name, seed, spec))
    return out


def current_keys(profile_name: str) -> dict[tuple[str, str, int], str]:
    """``(role, variant, seed) -> run key`` that today's code gives every stored run of preset
    ``profile_name`` (no overrides)."""
    return {(role, name, seed): run_key(spec)
            for role, name, seed, spec in stored_runs(get_profile(profile_name))}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _store_generator(source: Path, dest: Path, meta: dict) -> int:
    from .models.loading import read_generator
    blob = read_generator(source)
    blob["state_dict"] = {k: v.to(STORAGE) if v.is_floating_point() else v
                          for k, v in blob["state_dict"].items()}
    blob["meta"] = {**blob.get("meta", {}), **meta, "storage": str(STORAGE).replace("torch.", "")}
    atomic_write(dest, lambda tmp: torch.save(blob, tmp))
    return sum(v.numel() for v in blob["state_dict"].values() if v.is_floating_point())


def _per_image(model_path: Path, test_set) -> "Any":
    from .evaluation.runner import evaluate
    from .models import load_inpainter
    per_image, _ = evaluate({"m": load_inpainter(model_path, "cpu")}, test_set, progress=False)
    return per_image.sort_values(["kind", "sample"]).reset_index(drop=True)


def export(profile: Profile, wall_time: str, command: str, root: Path | None = None) -> Path:
    """Write the references of ``profile`` from its finished local runs (every run of
    :func:`stored_runs` must be finished) and copy its tables and figures; returns the folder.
    The old folder is replaced only once the new one is complete."""
    from .data.test_sets import fixed_test_set
    runs = stored_runs(profile)
    missing = [f"{role}: {variant} (seed {seed})" for role, variant, seed, spec in runs
               if not is_finished(run_folder(spec))]
    if missing:
        raise RuntimeError(f"{len(missing)} run(s) of profile {profile.name} are not finished: "
                           f"{'; '.join(missing)}; train them first (python -m inpainting.train "
                           f"--profile {profile.name} --all)")
    final = reference_root(profile.name, root)
    work = final.with_name(final.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    entries, test_sets = [], {}
    for role, variant, seed, spec in runs:
        source = run_folder(spec)
        folder = work / "runs" / role / source.name
        folder.mkdir(parents=True)
        for name in RUN_FILES:
            if (source / name).is_file():
                shutil.copy2(source / name, folder / name)
        params = _store_generator(source / GENERATOR_FILE, folder / GENERATOR_FILE,
                                  {"variant": variant, "seed": seed, "reference_of": profile.name})
        test_set = test_sets.setdefault(role, fixed_test_set(profile, role))
        full, half = (_per_image(p, test_set) for p in (source / GENERATOR_FILE, folder / GENERATOR_FILE))
        diff = {m: float((full[m] - half[m]).abs().max()) for m in ("psnr_hole", "ssim_hole")}
        first = half[half["kind"] == "centre"].head(CHECK_IMAGES)
        record = json.loads((source / RECORD_FILE).read_text())
        entries.append({
            "role": role, "variant": variant, "seed": seed, "key": run_key(spec),
            "generator": spec.profile.model.generator, "params": params,
            "file": str((folder / GENERATOR_FILE).relative_to(work)),
            "sha256": _sha256(folder / GENERATOR_FILE), "train_seconds": record.get("seconds"),
            "steps": {k: getattr(spec.profile.train, k) for k in ("steps_g", "steps_d", "steps_joint")},
            "fp16_check": {"max_abs_diff": diff, "test_images": len(full),
                           "centre_samples": first["sample"].astype(int).tolist(),
                           "centre_psnr_hole": first["psnr_hole"].round(6).tolist()}})
        print(f"{role}: {variant} (seed {seed}) -> {folder.name}: float16 vs float32, max |d hole "
              f"PSNR| {diff['psnr_hole']:.4f} dB, max |d hole SSIM| {diff['ssim_hole']:.5f}", flush=True)
    copied = _copy_results(profile, work)
    manifest = {
        "profile": profile.name, "made": now_iso(), "command": command, "wall_time": wall_time,
        "machine": {"cpu": device_name(torch.device("cpu")),
                    "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                    "cores": torch.get_num_threads()},
        "precision": "float32 training and evaluation; weights stored in float16",
        "torch": torch.__version__, "storage": str(STORAGE).replace("torch.", ""),
        "models": entries, "results": copied}
    atomic_write_text(work / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    if (final / "README.md").is_file():   # the folder's hand-written description is kept
        shutil.copy2(final / "README.md", work / "README.md")
    if final.exists():
        shutil.rmtree(final)
    work.rename(final)
    return final


def _copy_results(profile: Profile, work: Path) -> list[str]:
    copied = []
    for sub, ext in (("tables", ".csv"), ("figures", ".png")):
        for name in SHARED_RESULTS:
            source = results_dir(profile.name, sub) / f"{name}{ext}"
            if source.is_file():
                (work / sub).mkdir(exist_ok=True)
                shutil.copy2(source, work / sub / source.name)
                copied.append(f"{sub}/{source.name}")
    summary = results_dir(profile.name) / "summary.md"
    if summary.is_file():
        shutil.copy2(summary, work / "summary.md")
        copied.append("summary.md")
    return copied


def stale_references(root: Path | None = None) -> list[str]:
    """One line per committed reference model whose stored key is not the key today's code gives
    its (profile, variant, role, seed), or whose file is missing or altered (sha256)."""
    problems = []
    for folder in sorted(p for p in (root or ROOT).iterdir() if (p / MANIFEST).is_file()) \
            if (root or ROOT).is_dir() else []:
        manifest = read_manifest(folder.name, root)
        keys = current_keys(manifest["profile"])
        for e in manifest["models"]:
            what = f"{folder.name}/{e['role']}: {e['variant']} (seed {e['seed']})"
            now = keys.get((e["role"], e["variant"], e["seed"]))
            if now is None:
                problems.append(f"{what}: no longer a stored run of profile {manifest['profile']}")
            elif now != e["key"]:
                problems.append(f"{what}: stored key {e['key']}, the profile's key is now {now}")
            path = folder / e["file"]
            if not path.is_file():
                problems.append(f"{what}: {path} is missing")
            elif _sha256(path) != e["sha256"]:
                problems.append(f"{what}: {path} is not the committed file (sha256)")
    return problems


def reference_models(profile: Profile, role: str, root: Path | None = None,
                     seeds: Collection[int] | None = None) -> list[FoundModel]:
    """The committed reference models trained on ``role`` that fit ``profile`` (same image size),
    with a training seed in ``seeds`` (None: all), each labelled with the profile that trained it
    and its seed; only current ones (keys match, :func:`stale_references`). Nothing is loaded."""
    from .training.records import read_result
    out = []
    base = root or ROOT
    for folder in sorted(p for p in base.iterdir() if (p / MANIFEST).is_file()) if base.is_dir() else []:
        manifest = read_manifest(folder.name, root)
        ref_profile = get_profile(manifest["profile"])
        if getattr(ref_profile, role).image_size != getattr(profile, role).image_size:
            continue
        keys = current_keys(manifest["profile"])
        for e in manifest["models"]:
            if e["role"] != role or (seeds is not None and e["seed"] not in seeds):
                continue
            if keys.get((role, e["variant"], e["seed"])) != e["key"]:
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
        return pd.read_csv(self.folder / "tables" / f"{name}.csv")

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
    manifest = read_manifest(profile_name, root)
    if manifest is None or any(line.startswith(f"{profile_name}/") for line in stale_references(root)):
        return None
    return CommittedResults(reference_root(profile_name, root), manifest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpainting.references",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="write references/<profile>/ from the finished local runs")
    ex.add_argument("--profile", default="study")
    ex.add_argument("--wall-time", required=True, help="the training's wall time, as measured")
    ex.add_argument("--command-line", default=None, help="the command that trained the runs "
                    "(default: python -m inpainting.train --profile <profile> --all)")
    sub.add_parser("check", help="list stale or altered reference models (exit 1 if any)")
    args = parser.parse_args(argv)
    if args.command == "export":
        profile = get_profile(args.profile)
        command = args.command_line or f"python -m inpainting.train --profile {profile.name} --all"
        print(export(profile, args.wall_time, command))
        return 0
    problems = stale_references()
    print("\n".join(problems) if problems else "every reference model is current and intact")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
