"""What keeps a run folder honest: the training data it was trained on, and the files in it that
are not its own.

* **Training data.** A run records the fingerprint of its training split
  (:meth:`inpainting.data.files.FileDataset.fingerprint`: every file's path and size) in each
  checkpoint and in its generator's ``meta``. Resuming on a data folder whose training split
  changed (a file added, removed, truncated or re-encoded) is **refused** (:class:`DataChangedError`)
  rather than given a new run key: the pinned keys of every profile stay as they are, a key is
  computed without reading 200,000 files (``python -m inpainting.train --list`` runs where the data
  is not), and a half-trained run is never silently continued on other images. A finished run
  whose data changed since is reused with a warning (its generator is what it is; the test set is
  keyed by the files it is drawn from, :func:`inpainting.data.test_sets.fixed_test_set`).
  Procedural data has no fingerprint (``None``): nothing is recorded or compared.
* **Files of another run.** A ``generator.pt`` or checkpoint records the key of the run that wrote
  it; one that records another key lies in the wrong folder (copied by hand, or left by another
  configuration): it is set aside (``<name>.foreign-<time>``, never deleted) and the run falls back
  to its own intact files, or stops with a message naming both keys.

:class:`RunFolder` holds these checks for one run, from explicit inputs (the trainer calls it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data import REAL_DATASETS, build_dataset
from ..models import ModelFileError, read_generator
from ..models.loading import ForeignFileError, stored_key
from ..disk import folder_key, set_aside, warn_loudly
from . import records
from .checkpoint import CheckpointError, load_latest
from .runs import GENERATOR_FILE, IDENTITY_FILE, identity_differences, key_of, read_json


STATE_KEYS = ("step", "identity", "G", "history", "rng")   # what a checkpoint must hold


class DataChangedError(ValueError):
    """The training data of a run changed since the run started."""


def fingerprint_summary(fingerprint: dict | None) -> str:
    if not fingerprint:
        return "no record"
    return f"{fingerprint.get('files', '?')} files, fingerprint {fingerprint.get('sha256', '?')}"


def check_resume_data(stored: dict | None, now: dict | None, run_dir: Path, step: int,
                      data_root: Any) -> None:
    """:class:`DataChangedError` when a checkpoint's data fingerprint differs from the data now;
    a warning when the checkpoint predates the record (nothing can be compared)."""
    if now is None:
        return
    if stored is None:
        warn_loudly(f"{run_dir}: its checkpoint (step {step}) does not record the training data "
                    "(written before the kit recorded it), so a change of the data folder since "
                    "cannot be detected; resuming")
        return
    if stored.get("sha256") == now.get("sha256") and stored.get("files") == now.get("files"):
        return
    raise DataChangedError(
        f"the training data of the run in {run_dir} changed since it started: it trained "
        f"{step} steps on {fingerprint_summary(stored)}; {data_root} now gives {fingerprint_summary(now)} (files were "
        "added, removed, truncated or replaced). A run is never resumed on other data (nothing "
        "was changed). To continue it, restore the data folder as it was (a re-downloaded file of "
        f"the same size counts as unchanged); to train on the data as it is now, move the run "
        f"folder aside (mv {run_dir} {run_dir}.old-data) and run again.")


def warn_reused_data(stored: dict | None, now: dict | None, run_dir: Path) -> None:
    """A finished run reused although its training data changed since: say so."""
    if now is None or stored is None or stored.get("sha256") == now.get("sha256"):
        return
    warn_loudly(f"{run_dir} was trained on {fingerprint_summary(stored)}; its data folder now gives "
                f"{fingerprint_summary(now)}. The finished generator is reused as it is; to train it on the "
                f"data as it is now, move the run folder aside (mv {run_dir} {run_dir}.old-data) "
                "and run again")


class RunFolder:
    """The checks of one run folder, given what the run is: its folder, key and identity, its
    step count ``total``, and whether this process writes (``is_main``: rank 0 under torchrun)."""

    def __init__(self, out_dir: Path, key: str, identity: dict, total: int, is_main: bool = True):
        self.out_dir, self.key, self.identity, self.total = Path(out_dir), key, identity, total
        self.is_main = is_main
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.generator_path = self.out_dir / GENERATOR_FILE

    def check_compatible(self, stored: dict, where: Path) -> None:
        """``ValueError`` listing the differences when ``stored`` is another run's identity."""
        diffs = identity_differences(stored, self.identity)
        if diffs:
            raise ValueError(
                f"the run in {where} was made with a different configuration:\n  "
                + "\n  ".join(diffs) + f"\nNothing was changed. Leave out_dir unset (each "
                f"configuration gets its own folder) or choose a new out_dir; to train this "
                f"configuration in {self.out_dir}, move that run aside first (mv {self.out_dir} "
                f"{self.out_dir}.other).")

    def check_identity(self) -> None:
        """The folder's ``identity.json`` against this run: in a folder named by this run's key a
        stale or foreign one is set aside and rewritten; in a folder chosen by the user
        (``out_dir``) another configuration is refused (:meth:`check_compatible`)."""
        stored = read_json(self.out_dir / IDENTITY_FILE)   # a damaged one: set aside, None
        if stored is None or not identity_differences(stored, self.identity):
            return
        if folder_key(self.out_dir) == self.key:
            if not self.is_main:
                return
            kept = set_aside(self.out_dir / IDENTITY_FILE, "foreign")
            warn_loudly(f"{self.out_dir / IDENTITY_FILE} describes run {key_of(stored)}, not this "
                        f"folder's run {self.key}; set aside as {kept.name} and written again")
            return
        self.check_compatible(stored, self.out_dir)

    def check_reused(self, blob: dict, data_cfg) -> None:
        """A finished run's intact generator: rebuild a missing identity.json, warn when the data
        (``data_cfg``, the run's training set) changed since it was trained."""
        if not (self.out_dir / IDENTITY_FILE).is_file():
            records.write_identity(self.out_dir, self.identity)
        if stored_key(blob) is None:
            warn_loudly(f"{self.generator_path} records no run key (an older format): it cannot "
                        f"be checked against this run {self.key}; reused as it is")
        if data_cfg.name in (REAL_DATASETS):
            now = build_dataset(data_cfg, "train").fingerprint()
            warn_reused_data((blob.get("meta") or {}).get("data"), now, self.out_dir)

    def final_state(self, damage: ModelFileError) -> dict:
        """The final checkpoint of a finished run whose ``generator.pt`` is not usable
        (``damage``), to write it again from; an error naming the smallest safe action when there
        is none. Never retrain silently."""
        try:
            state = load_latest(self.ckpt_dir, map_location="cpu", required=STATE_KEYS,
                                own_key=self.key)
        except CheckpointError as exc:
            raise ModelFileError(f"{damage}\nIts checkpoints cannot restore it either ({exc})."
                                 f"\nRestore {self.generator_path} from a backup, or move "
                                 f"{self.out_dir} aside (mv {self.out_dir} "
                                 f"{self.out_dir}.old) and run again to train it from "
                                 "scratch.", damage.damaged) from None
        if state is None or state["step"] < self.total:
            raise ModelFileError(f"{damage}\nNo final checkpoint of this run is left to "
                                 f"restore it from. Restore {self.generator_path} from a "
                                 f"backup, or move {self.out_dir} aside (mv {self.out_dir} "
                                 f"{self.out_dir}.old) and run again to train it from "
                                 "scratch.", damage.damaged)
        return state

    def set_aside_foreign(self, damage: ModelFileError) -> str:
        """Another run's ``generator.pt`` is set aside before this run's is written; the damage,
        described."""
        if isinstance(damage, ForeignFileError) and self.generator_path.is_file():
            kept = set_aside(self.generator_path, "foreign")
            return f"{damage} It was set aside as {kept.name}."
        return str(damage)

    def rebuild_finished(self) -> bool:
        """No checkpoint, but an intact generator.pt of this run that trained every step (its
        train_config.json was damaged and set aside, or lost): rebuild the record from it instead
        of training again. True when it did."""
        if not self.generator_path.is_file():
            return False
        try:
            blob = read_generator(self.generator_path, self.key)
        except ModelFileError:
            return False
        record = records.record_from_generator(blob, self.key, self.total)
        if record is None:
            return False
        records.write_identity(self.out_dir, self.identity)
        records.write_record(self.out_dir, record)
        warn_loudly(f"{self.out_dir}: the run record was missing or damaged; it was rebuilt from "
                    f"its intact {GENERATOR_FILE} (run {self.key}, {self.total} steps)")
        return True
