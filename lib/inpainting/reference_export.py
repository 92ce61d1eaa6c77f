"""Writing a profile's reference folder (``references/<profile>/``, read by
:mod:`inpainting.references`) from its finished local runs: the lite generators in float16 with the
float16 check, their run files, the profile's tables and figures and the manifest, made complete in
a temporary folder and published through the kit's one writer
(``python -m inpainting.reference_export export``; ``check`` lists stale or altered reference
models)."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from .profiles import Profile, get_profile
from .references import (MANIFEST, RUN_FILES, read_manifest_file, reference_root, stale_references,
                         stored_runs)
from .runtime import device_name
from .disk import (DamagedFileError, OutputError, atomic_write, atomic_write_text, check_output,
                   file_sha256, kit_wrote, ledger_entry, now_iso, results_dir, write_output)
from .training.runs import GENERATOR_FILE, RECORD_FILE, is_finished, read_record, run_folder, run_key

STORAGE = torch.float16
CHECK_IMAGES = 4   # per-image hole PSNRs of the first images recorded for the load test
# the profile's results copied beside the models (tables/ and figures/ names, without extension);
# the claims ledger is not among them: it is computed from the study's records alone
# (python -m inpainting.evaluation.claims --from references/<profile> --write)
SHARED_RESULTS = ("learning_curves_faces", "loss_ablation",
                  "loss_ablation_grid_centre", "loss_ablation_grid_eye", "perceptual_levels",
                  "faces_all_methods", "facades_all_methods", "faces_grid_eye", "generator_size",
                  "term_balance_full", "term_balance_rows", "training_runs")


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


def export(profile: Profile, wall_time: str, command: str, root: Path | None = None,
           replace: bool = False) -> Path:
    """Write the references of ``profile`` from its finished local runs (every run of
    :func:`inpainting.references.stored_runs` must be finished) and copy its tables and figures;
    returns the folder. The export is made complete in a temporary folder first, then published
    (:func:`publish`):
    files the user added to the folder are kept, and a file of the folder the kit did not write
    stops the export before anything changes (``replace``: write over it)."""
    from .data.test_sets import fixed_test_set
    runs = stored_runs(profile)
    missing = [f"{role}: {variant} (seed {seed})" for role, variant, seed, spec in runs
               if not is_finished(run_folder(spec))]
    if missing:
        raise RuntimeError(f"{len(missing)} run(s) of profile {profile.name} are not finished: "
                           f"{'; '.join(missing)}; train them first (python -m inpainting.train "
                           f"--profile {profile.name} --all)")
    final = reference_root(profile.name, root)
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
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
        record = read_record(source / RECORD_FILE, run_key(spec))
        entries.append({
            "role": role, "variant": variant, "seed": seed, "key": run_key(spec),
            "generator": spec.profile.model.generator, "params": params,
            "file": str((folder / GENERATOR_FILE).relative_to(work)),
            "sha256": file_sha256(folder / GENERATOR_FILE), "train_seconds": record.get("seconds"),
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
        "models": entries, "results": copied,
        "results_sha256": {name: file_sha256(work / name) for name in copied}}
    atomic_write_text(work / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    try:
        publish(work, final, replace)
    finally:
        shutil.rmtree(work, ignore_errors=True)   # the kit's own temporary folder
    return final


def previous_export(final: Path) -> set[Path]:
    """The files the previous export wrote into ``final``, as its manifest lists them (the
    models, their run files, the copied results, the manifest): the kit's own files in a folder
    exported before the ledger of :func:`inpainting.disk.write_output` existed."""
    try:
        manifest = read_manifest_file(final / MANIFEST, final.name)
    except DamagedFileError:
        return set()
    files = {final / MANIFEST} | {final / name for name in manifest["results"]}
    for entry in manifest["models"]:
        run = (final / entry["file"]).parent
        files |= {run / GENERATOR_FILE} | {run / name for name in RUN_FILES}
    return {f.resolve() for f in files}


def publish(work: Path, final: Path, replace: bool = False) -> None:
    """Move the new export in ``work`` into ``final`` through the one writer
    (:func:`inpainting.disk.write_output`): every file checked first (a file there that the
    kit did not write stops the export before anything changes, unless ``replace``), then written
    atomically; files of the previous export that the new one no longer makes are removed; every
    other file (a README, a plan, notes) is kept."""
    ours = previous_export(final)

    def owned(path: Path) -> bool:   # listed by the old manifest, and never recorded otherwise
        return path.resolve() in ours and ledger_entry(path, final) is None
    new = sorted(p.relative_to(work) for p in work.rglob("*") if p.is_file())
    for rel in new:
        check_output(final / rel, replace=replace, root=final, owned=owned, flag="--replace")
    for rel in new:
        write_output(final / rel, lambda tmp, rel=rel: shutil.copyfile(work / rel, tmp),
                     replace=True, root=final)
    made = {(final / rel).resolve() for rel in new}
    for path in sorted(ours - made):
        if kit_wrote(path, final):   # the previous export's file, unchanged and superseded
            path.unlink()
        elif path.is_file():
            print(f"kept {path}: made by an earlier export but not recorded as unchanged; move "
                  "it aside by hand if it is no longer wanted", flush=True)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpainting.reference_export",
                                     description="Write or check a profile's committed reference folder.")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="write references/<profile>/ from the finished local runs")
    ex.add_argument("--profile", default="study")
    ex.add_argument("--wall-time", required=True, help="the training's wall time, as measured")
    ex.add_argument("--replace", action="store_true", help="write over files of the folder that "
                    "the kit did not write (default: stop, naming them)")
    ex.add_argument("--command-line", default=None, help="the command that trained the runs "
                    "(default: python -m inpainting.train --profile <profile> --all)")
    sub.add_parser("check", help="list stale or altered reference models (exit 1 if any)")
    args = parser.parse_args(argv)
    if args.command == "export":
        profile = get_profile(args.profile)
        command = args.command_line or f"python -m inpainting.train --profile {profile.name} --all"
        try:
            print(export(profile, args.wall_time, command, replace=args.replace))
        except OutputError as exc:
            parser.error(str(exc))
        return 0
    problems = stale_references()
    print("\n".join(problems) if problems else "every reference model is current and intact")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
