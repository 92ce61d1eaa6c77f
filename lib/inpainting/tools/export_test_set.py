"""``python -m inpainting.tools.export_test_set``: the kit's benchmark as files, so another method can
complete exactly the kit's test inputs.

    python -m inpainting.tools.export_test_set --profile demo --role faces --out faces_test/

writes, into a folder that is new or empty (or holds this very export already)::

    images/<id>.png   the input: the test image with its hole at mid-grey (128, 128, 128)
    masks/<id>.png    its mask: white (255) = hole, black (0) = known
    manifest.csv      id, set, kind, index, source, image, mask (one row per entry)
    export.json       profile, role, overrides, test-set descriptions, conventions, fingerprint
    README.txt        how to complete and score the folder

Entries: the fixed test set of the role (:func:`inpainting.experiments.fixed_test_set`, one row
per mask kind and image, ids ``<kind>-<index>``, e.g. ``centre-0003``) and, on the procedural
datasets, the semantic test set (:func:`inpainting.experiments.semantic_test_set`: ``eye-0003`` /
``block-0003``). The ground truth is not exported: ``python -m inpainting.tools.evaluate`` rebuilds it
from the profile, as the kit's own evaluation does, and a method never sees the hole's content.

The folder is written in a temporary folder beside ``--out`` and renamed into place, so it is
either complete or absent. A non-empty ``--out`` that is not this export is refused (exit 2)
before anything is built.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .common import UsageError, add_profile_arguments, fail, profile_from_args, save_png

EXPORT_FILE = "export.json"
MANIFEST_FILE = "manifest.csv"
IMAGES, MASKS = "images", "masks"
MANIFEST_COLUMNS = ("id", "set", "kind", "index", "source", "image", "mask")
CONVENTIONS = ("images/<id>.png: RGB uint8 input, hole pixels mid-grey (128, 128, 128) = 0 in the "
               "kit's model space [-1, 1]; masks/<id>.png: greyscale, 255 = hole, 0 = known "
               "(python -m inpainting.tools.complete's default); completions: <id>.png of the image's "
               "size, RGB; known pixels are pasted back from the ground truth before scoring")


@dataclass
class Entry:
    """One exported (image, mask): its id, which test set (``fixed`` / ``semantic``) and where."""

    id: str
    set: str
    kind: str
    index: int
    position: int


def entry_id(kind: str, index: int) -> str:
    """``<kind>-<dataset index>``: unique, since each kind holds each test image once."""
    return f"{kind}-{int(index):04d}"


def test_sets(profile, role: str) -> dict:
    """``{"fixed": FixedTestSet, "semantic": FixedTestSet}`` (no semantic set on real data)."""
    from ..data.test_sets import fixed_test_set, semantic_test_set
    sets = {"fixed": fixed_test_set(profile, role)}
    semantic = semantic_test_set(profile, role)
    if semantic is not None:
        sets["semantic"] = semantic
    return sets


def entries(sets: dict) -> list[Entry]:
    """Every entry of :func:`test_sets`, in order; ids are checked to be unique."""
    out = [Entry(entry_id(kind, index), name, kind, int(index), position)
           for name, ts in sets.items()
           for position, (kind, index) in enumerate(zip(ts.kinds, ts.indices))]
    ids = [e.id for e in out]
    if len(set(ids)) != len(ids):
        raise RuntimeError("two exported entries share an id")   # a bug in entry_id
    return out


def fingerprint(sets: dict) -> str:
    """sha256 of every image and mask tensor of the test sets: same inputs, same fingerprint."""
    digest = hashlib.sha256()
    for name, ts in sets.items():
        digest.update(name.encode())
        digest.update(ts.images.contiguous().numpy().tobytes())
        digest.update(ts.masks.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def export_facts(profile, role: str, overrides: dict, sets: dict | None = None) -> dict:
    """The content of ``export.json`` (``sets=None``: only what the arguments fix)."""
    head = {"profile": profile.name, "role": role, "overrides": overrides,
            "dataset": getattr(profile, role).name}
    if sets is None:
        return head
    return {**head, "fingerprint": fingerprint(sets),
            "test_sets": {name: ts.description for name, ts in sets.items()},
            "n_entries": sum(len(ts) for ts in sets.values()), "conventions": CONVENTIONS,
            "evaluate": f"python -m inpainting.tools.evaluate --profile {profile.name} --role {role}"
                        + (f" --overrides '{json.dumps(overrides)}'" if overrides else "")
                        + " --completions DIR --name NAME"}


def check_out(out: Path, head: dict) -> bool:
    """True when ``out`` already holds an export made with the same arguments (checked again
    against the fingerprint after building); False when it is new or empty; :class:`UsageError`
    for a file or a non-empty folder that holds something else."""
    if not out.exists():
        return False
    if not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a new or empty folder")
    if not any(out.iterdir()):
        return False
    stored = None
    if (out / EXPORT_FILE).is_file():
        try:
            stored = json.loads((out / EXPORT_FILE).read_text())
        except json.JSONDecodeError:
            stored = None
    if not isinstance(stored, dict) or {k: stored.get(k) for k in head} != head:
        raise UsageError(f"--out {out} is not empty and does not hold this export (profile "
                         f"{head['profile']}, role {head['role']}); choose a new or empty folder "
                         "(nothing is overwritten)")
    return True


def write_export(out: Path, sets: dict, info: dict) -> Path:
    """Write the export into a temporary folder beside ``out``, then rename it to ``out``."""
    from ..data.images import to_uint8
    from ..models.generator import masked
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        (tmp / IMAGES).mkdir()
        (tmp / MASKS).mkdir()
        rows = []
        source = {name: ts.description.split(";")[0] for name, ts in sets.items()}
        for entry in entries(sets):
            ts = sets[entry.set]
            image, mask = ts.images[entry.position], ts.masks[entry.position]
            save_png(tmp / IMAGES / f"{entry.id}.png", to_uint8(masked(image, mask)))
            save_png(tmp / MASKS / f"{entry.id}.png",
                     (mask[0].numpy() > 0.5).astype(np.uint8) * 255)
            rows.append({"id": entry.id, "set": entry.set, "kind": entry.kind,
                         "index": entry.index,
                         "source": f"{source[entry.set]}, test image {entry.index}",
                         "image": f"{IMAGES}/{entry.id}.png", "mask": f"{MASKS}/{entry.id}.png"})
        pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).to_csv(tmp / MANIFEST_FILE, index=False)
        (tmp / EXPORT_FILE).write_text(json.dumps(info, indent=2) + "\n")
        (tmp / "README.txt").write_text(
            f"The kit's test inputs of profile {info['profile']}, role {info['role']} "
            f"({info['n_entries']} entries; manifest.csv lists them).\n{CONVENTIONS}.\n"
            "Complete them (one <id>.png per entry, same size), e.g.\n"
            f"  python -m inpainting.tools.complete --model RUN --images images --masks masks --out DIR\n"
            f"and score the folder:\n  {info['evaluate']}\n")
        if out.exists():
            out.rmdir()   # empty (check_out); a folder that filled up meanwhile stops here
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inpainting.tools.export_test_set",
        description="Write the kit's fixed (and semantic) test set as PNGs and a manifest.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See `python -m pydoc inpainting.tools.export_test_set` for the folder's layout.")
    add_profile_arguments(parser)
    parser.add_argument("--out", required=True, help="a new or empty folder")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        profile, overrides = profile_from_args(args)
        head = export_facts(profile, args.role, overrides)
        exists = check_out(out, head)
    except UsageError as exc:
        fail(parser, exc)
    sets = test_sets(profile, args.role)
    info = export_facts(profile, args.role, overrides, sets)
    if exists:
        stored = json.loads((out / EXPORT_FILE).read_text())
        if stored.get("fingerprint") != info["fingerprint"]:
            print(f"error: {out} holds an export of profile {profile.name}, role {args.role} with "
                  f"other test inputs (fingerprint {stored.get('fingerprint')} vs now "
                  f"{info['fingerprint']}: the kit or the data changed); delete it and export "
                  "again", file=sys.stderr)
            return 1
        print(f"{out} already holds this export ({info['n_entries']} entries); nothing written")
        return 0
    write_export(out, sets, info)
    print(f"exported {info['n_entries']} entries of profile {profile.name}, role {args.role} to "
          f"{out} (images/, masks/: white = hole, manifest.csv)\nnext: {info['evaluate']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
