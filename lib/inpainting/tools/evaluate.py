"""``python -m inpainting.tools.evaluate``: score a folder of completions of the kit's benchmark
(``python -m inpainting.tools.export_test_set``) under the kit's canonical protocol.

    python -m inpainting.tools.evaluate --profile demo --role faces --completions done/ --name "my method"

``--completions`` holds one ``<id>.png`` (or JPEG) per entry of the export, of the image's size.
Scoring is :func:`inpainting.comparison.compare`, the code behind notebook 06, with the folder as
one method beside every trained method of notebook 06 that is finished in this results folder
(``results/<profile>/runs/``, all their seeds) and the grey-fill floor:

* the known pixels of every completion are **pasted back from the ground truth** before any metric
  (:mod:`inpainting.evaluation`), so all error lies in the hole; the table's note says so;
* every metric of the comparison tables (:data:`inpainting.metrics.METRIC_COLUMNS`) per mask kind,
  with bootstrap intervals over test images, KID (with its interval) and FID against the real test
  images of each mask kind (:mod:`inpainting.evaluation.realism`; the table's note gives the n and
  FID's bias), and on procedural data the semantic scores of the semantic test set
  (:mod:`inpainting.semantic`);
* paired findings of the folder against each trained method (:meth:`Comparison.findings`, the
  folder as reference); without trained methods the findings say so and compare it with the
  grey fill only.

Outputs, through :class:`inpainting.reporting.Report` (notebook label ``evaluate``), under
``results/<profile>/``: ``tables/evaluate_<role>_<name>.csv`` and ``texts/evaluate_<role>_<name>
_findings.txt``, listed in ``summary.md``. The table's ``ms_per_image`` of the folder's row is
the time to look a completion up, not the method's.

A missing, extra, unreadable or wrongly sized completion is an error naming the file (exit 2),
found before anything is scored.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Sequence

import torch

from .common import UsageError, add_profile_arguments, fail, image_files, profile_from_args
from .export_test_set import entries, test_sets

NOTEBOOK = "evaluate"
TRAINED_BY = "06_evaluation"   # the notebook whose trained methods the folder is compared with
SHOWN = ("method", "kind", "psnr", "psnr_hole", "psnr_hole_lo", "psnr_hole_hi", "ssim_hole",
         "l1_hole_pct", "kid_x1000", "kid_x1000_lo", "kid_x1000_hi", "fid", "n_images")


def _key(masked: torch.Tensor, mask: torch.Tensor) -> bytes:
    """What a method sees of one entry (masked input in uint8, mask), as a lookup key."""
    from ..data.images import to_uint8
    digest = hashlib.sha256(to_uint8(masked).tobytes())
    digest.update((mask.numpy() > 0.5).tobytes())
    return digest.digest()


class FolderMethod:
    """The completions of a folder as a method of :mod:`inpainting.evaluation`: it is called with
    the masked inputs and masks of the test sets, and returns the completion of each entry, found
    by what it was given (never by the hole's content)."""

    def __init__(self, name: str, sets: dict, completions: dict):
        from ..models.generator import masked
        self.name = self.__name__ = name
        self._by_key = {}
        for entry in entries(sets):
            ts = sets[entry.set]
            image, mask = ts.images[entry.position], ts.masks[entry.position]
            self._by_key.setdefault(_key(masked(image, mask), mask), completions[entry.id])

    def __call__(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        out = []
        for image, mask in zip(images.cpu(), masks.cpu()):
            found = self._by_key.get(_key(image, mask))
            if found is None:
                raise RuntimeError("an input of the test set has no completion: the test set "
                                   "changed since the folder's completions were checked")
            out.append(found)
        return torch.stack(out).to(images.device)


def read_completions(folder: str, sets: dict) -> dict[str, torch.Tensor]:
    """Entry id -> completion in model space ``(3, S, S)``; :class:`UsageError` for a missing,
    extra, unreadable or wrongly sized file."""
    from ..data.images import ImageReadError, load_rgb, to_model_tensor
    path = Path(folder)
    if not path.is_dir():
        raise UsageError(f"--completions {path} is not a folder (one <id>.png per exported entry)")
    files = image_files(path, "completions")
    wanted = entries(sets)
    ids = {e.id for e in wanted}
    missing = [e.id for e in wanted if e.id not in files]
    extra = sorted(stem for stem in files if stem not in ids)
    if missing:
        raise UsageError(f"--completions {path} lacks {len(missing)} of {len(wanted)} entries, e.g. "
                         f"{', '.join(m + '.png' for m in missing[:5])}; complete every image of the "
                         "export (python -m inpainting.tools.export_test_set with the same profile and "
                         "role)")
    if extra:
        raise UsageError(f"--completions {path} holds files that are no entry of this export: "
                         f"{', '.join(files[s].name for s in extra[:5])}; is it the export of "
                         "another profile or role?")
    size = next(iter(sets.values())).images.shape[-1]
    out = {}
    for entry in wanted:
        try:
            pixels = load_rgb(files[entry.id])
        except ImageReadError as exc:
            raise UsageError(f"completion {exc}") from None
        if pixels.shape[:2] != (size, size):
            raise UsageError(f"completion {files[entry.id]} is {pixels.shape[1]}x{pixels.shape[0]} "
                             f"px; the entries of this export are {size}x{size}")
        out[entry.id] = to_model_tensor(pixels)
    return out


def trained_methods(profile, role: str) -> dict[str, list]:
    """Name -> finished runs (``TrainResult``, one per seed) of notebook 06's methods of ``role``
    found in this results folder; nothing is trained."""
    from ..experiments import Plan
    from ..training.records import read_result
    from ..training.runs import GENERATOR_FILE, is_finished, run_folder
    found: dict[str, list] = {}
    for row in Plan(profile).table(TRAINED_BY, role):
        for spec in row.runs:
            folder = run_folder(spec)
            if is_finished(folder):
                found.setdefault(row.name, []).append(read_result(folder, folder / GENERATOR_FILE))
    return found


def slug(name: str) -> str:
    """The file-name part of a method's outputs: one per name, never shared
    (:func:`inpainting.disk.file_stem`: "my method" and "my/method" get two files)."""
    from ..disk import file_stem
    return file_stem(name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inpainting.tools.evaluate",
        description="Score a folder of completions of the kit's exported test set under the kit's "
                    "protocol, beside the kit's trained methods.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See `python -m pydoc inpainting.tools.evaluate`.")
    add_profile_arguments(parser)
    parser.add_argument("--completions", required=True, help="folder of <id>.png completions")
    parser.add_argument("--name", required=True, help="the method's name in the table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ..evaluation.comparison import GREY_FILL, compare
    from ..reporting.findings import findings_text
    from ..reporting.report import Report
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        profile, _ = profile_from_args(args)
        name = args.name.strip()
        if not name:
            raise UsageError("--name is empty; give the method's name")
        if name == GREY_FILL:
            raise UsageError(f"--name {name!r} is the reference row the kit adds; choose another")
        if not Path(args.completions).is_dir():
            raise UsageError(f"--completions {args.completions} is not a folder")
        sets = test_sets(profile, args.role)
        completions = read_completions(args.completions, sets)
        trained = trained_methods(profile, args.role)
        if name in trained:
            raise UsageError(f"--name {name!r} is a trained method of the kit; choose another")
    except UsageError as exc:
        fail(parser, exc)
    method = FolderMethod(name, sets, completions)
    comparison = compare({name: method, **trained}, profile, args.role)
    table = comparison.table()
    dataset = comparison.test_set.description
    report = Report(profile.name, NOTEBOOK)
    trained_text = (f"beside the kit's trained methods found in this results folder "
                    f"({', '.join(trained)})" if trained else
                    "; no trained method of the kit was found in this results folder, so it is "
                    "compared with the grey fill only (train them with python -m inpainting.train "
                    f"--profile {profile.name} --all, or run notebook 06)")
    base = f"{NOTEBOOK}_{args.role}_{slug(name)}"
    table_path = report.table(
        table, f"{base}", f"{name!r}: completions read from {args.completions} on {dataset}, "
        f"{trained_text}. The known pixels of every completion were pasted back from the ground "
        f"truth before scoring (all error lies in the hole); {name!r}'s ms_per_image is the time "
        f"to look its completions up, not its inference time; {profile.describe()}.",
        runs=comparison)
    findings = findings_text(comparison, reference=name)
    if not trained:
        findings = (f"No trained method of the kit found in this results folder (profile "
                    f"{profile.name}, role {args.role}): {name!r} is compared with the grey fill "
                    "only.\n" + findings)
    text_path = report.text(findings, f"{base}_findings",
                            f"Paired-bootstrap findings, reference {name!r}.", runs=comparison)
    import pandas as pd
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(table[[c for c in SHOWN if c in table]].to_string(index=False))
    if comparison.realism_attrs:
        print(f"({comparison.realism_attrs['realism_note']})")
    print("\n" + findings)
    print(f"\nwrote {table_path}\nwrote {text_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
