"""What a training run *is*: its identity, its folder, its lock, and whether it is finished.

One rule decides when two requests are the same run, and every part of the kit asks it: the
notebooks' run cache (:mod:`inpainting.experiments`), the trainer when it resumes, and the training
command (``python -m inpainting.train``).

**Identity** (:func:`run_identity`). A run is defined by what its training computes:

* every profile field, except the ones declared neutral where they are defined
  (:func:`inpainting.profiles.neutral`, with the reason each one cannot change a trained weight;
  collected in :data:`NEUTRAL_FIELDS`);
* only the data configuration of the run's own role (a faces run does not depend on the facades);
* fields of a switched-off term are dropped (with ``loss.w_per = 0`` the perceptual layer does not
  matter; with ``loss.w_adv = 0`` neither does the discriminator's loss, its learning rate or its
  stage), so runs that compute the same thing share one folder;
* what the profile only names is resolved: the **precision** actually used (``float32`` /
  ``bfloat16`` / ``float16``, :func:`inpainting.runtime.precision`), the **kind of perceptual
  weights** (``imagenet``, ``vgg16-hed``, ``random`` or the sha256 of a weights file, beside
  ``loss.per_network``; :attr:`RunSpec.perceptual_weights`: only a user's file is read, so a key
  computation never downloads or converts), and the **warm start**: the key of the run whose generator
  starts this one (:class:`RunSpec` ``init``), or the sha256 of a user-given
  ``train.init_generator`` file — never its path;
* :data:`FORMAT`, raised whenever the trainer's computation changes, so old runs are not reused.

The **key** is a short hash of the identity; the run folder is
``results/<profile>/runs/<role>/<generator>-<key>``, and ``identity.json`` in it holds the identity
in full. Resuming a run whose stored identity differs is an error naming each differing field
(:func:`identity_differences`). A longer ``train.steps_joint`` is a different run, not an extension:
the learning rate decays over the second half of the joint stage, so a run extended from a shorter
one would not equal a straight run of the longer length.

The number of processes (``torchrun``) is not part of the identity: BatchNorm is synchronised over
the whole global batch on every device and the reconstruction loss is normalised by the global hole
area, so W processes compute the one-process run up to rounding
(:mod:`inpainting.training.distributed`).
"""
from __future__ import annotations

import copy
import dataclasses
import errno
import functools
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models.perceptual_weights import weights_kind
from ..profiles import NEUTRAL, ROLES, Profile, neutral_fields
from ..runtime import precision, select_device
from ..disk import file_sha256, read_record_json, results_dir, sha256

FORMAT = 3   # bump when the trainer computes something different for the same profile
RUNS = "runs"   # results/<profile>/runs/<role>/<generator>-<key>

# Every field declared neutral in inpainting.profiles (with its reason), and the one rule by role.
NEUTRAL_FIELDS: dict[str, str] = {
    **neutral_fields(),
    "<other roles>.*": "a run trains on the data of its own role only",
}


@dataclass(frozen=True)
class RunSpec:
    """One training run: ``profile`` trained on the dataset of ``role``, its generator started
    from the generator of run ``init`` (the experiments' shared warm start) when given."""

    profile: Profile
    role: str = "faces"
    init: "RunSpec | None" = None

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"role={self.role!r}; valid roles: {', '.join(ROLES)}")
        if self.init is not None and self.profile.train.init_generator:
            raise ValueError("a run starts from either a warm-start run (init) or a file "
                             "(train.init_generator), not both")

    @functools.cached_property
    def perceptual_weights(self) -> str | None:
        """The kind of perceptual weights the run loads (``imagenet``, ``vgg16-hed``, ``random`` or
        ``sha256:<hash>``; ``None`` without L_per), resolved once
        (:func:`inpainting.models.perceptual_weights.weights_kind`): computing a key never
        downloads or converts."""
        loss = self.profile.loss
        if loss.w_per <= 0:
            return None
        return weights_kind(loss.per_network, loss.per_weights)

    @property
    def key(self) -> str:
        return run_key(self)

    @property
    def dir(self) -> Path:
        return run_dir(self)


def _identity_fields(obj: Any) -> dict[str, Any]:
    """The fields of a configuration dataclass not declared neutral (nested ones as dicts, those
    left empty dropped), values copied as :func:`dataclasses.asdict` copies them."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if NEUTRAL in f.metadata:
            continue
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            value = _identity_fields(value)
            if not value:
                continue
        else:
            value = copy.deepcopy(value)
        out[f.name] = value
    return out


def _canonical_profile(profile: Profile, role: str) -> dict[str, Any]:
    """The profile fields that change what a run of ``role`` computes: every field not declared
    neutral, the data of ``role`` only, without the fields of a switched-off term."""
    config = _identity_fields(profile)
    for other in set(ROLES) - {role}:
        config.pop(other)
    loss, model, train = config["loss"], config["model"], config["train"]
    if loss["w_per"] == 0:
        for field in ("per_network", "per_layers", "per_layer_weights", "per_distance"):
            loss.pop(field)
    if loss["w_adv"] == 0 or model["generator"] == "context_encoder":
        model.pop("d_width")   # no global+local discriminator is built
    if loss["w_adv"] == 0:
        model.pop("adversarial")
        loss.pop("gp_weight")
        train.pop("lr_d")
        train.pop("steps_d")
    elif model["adversarial"] != "wgan-gp":
        loss.pop("gp_weight")
    if train["steps_joint"] == 0:
        train.pop("lr_decay")
    return config


def run_identity(spec: RunSpec) -> dict[str, Any]:
    """Everything that defines the run of ``spec`` (JSON-able); see the module docstring."""
    profile = spec.profile
    identity: dict[str, Any] = {"format": FORMAT, "role": spec.role,
                                "profile": _canonical_profile(profile, spec.role)}
    device = select_device(profile.train.device)
    identity["precision"] = precision(profile.train.amp, device)
    if profile.train.channels_last:   # other convolution kernels: other float32 sums
        identity["memory_format"] = "channels_last"
    if spec.perceptual_weights is not None:
        identity["perceptual_weights"] = spec.perceptual_weights
    if spec.init is not None:
        identity["init"] = f"run:{run_key(spec.init)}"
    elif profile.train.init_generator:
        path = Path(profile.train.init_generator)
        if not path.is_file():
            raise FileNotFoundError(f"train.init_generator: {path} does not exist")
        identity["init"] = f"sha256:{file_sha256(path)[:16]}"
    return json.loads(json.dumps(identity, default=str))   # tuples -> lists, as stored on disk


def key_of(identity: dict[str, Any]) -> str:
    blob = json.dumps(identity, sort_keys=True, default=str)
    return sha256(blob)[:12]


def run_key(spec: RunSpec) -> str:
    """A 12-hex-digit hash of :func:`run_identity`."""
    return key_of(run_identity(spec))


def run_name(spec: RunSpec) -> str:
    """``<generator>-<key>``: the name of the run's folder."""
    return f"{spec.profile.model.generator}-{run_key(spec)}"


def runs_folder(profile: Profile, role: str) -> Path:
    """``results/<profile>/runs/<role>``: the folder of every run of ``role`` (created)."""
    return results_dir(profile.name, RUNS, role)


def run_folder(spec: RunSpec) -> Path:
    """``results/<profile>/runs/<role>/<generator>-<key>``, without creating it."""
    return results_dir(spec.profile.name) / RUNS / spec.role / run_name(spec)


def run_dir(spec: RunSpec) -> Path:
    """:func:`run_folder`, created."""
    folder = run_folder(spec)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix.rstrip("."): d}
    flat: dict[str, Any] = {}
    for key, value in d.items():
        flat.update(_flatten(value, f"{prefix}{key}."))
    return flat


def identity_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``"field: stored X vs now Y"`` for every field in which two identities differ (dotted
    names; profile fields without their ``profile.`` prefix)."""
    a, b = _flatten(stored), _flatten(current)
    diffs = []
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            name = key.removeprefix("profile.")
            diffs.append(f"{name}: stored {a.get(key, '<absent>')!r} vs now {b.get(key, '<absent>')!r}")
    return diffs


# ------------------------------------------------------------------------------------------ lock
class RunLockedError(RuntimeError):
    """Another live process holds the lock."""


class RunLock:
    """An exclusive lock on a folder (``<folder>/.lock``, ``fcntl.flock``), held while a run trains.

    A second process asking for it gets :class:`RunLockedError` naming the first one's PID. The
    lock dies with its process (even on SIGKILL), so a crashed run never leaves a stale lock."""

    def __init__(self, folder: str | os.PathLike, what: str = "run"):
        self.path = Path(folder) / ".lock"
        self.what = what
        self._fh = None

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                fh.close()
                raise
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise RunLockedError(
                f"the {self.what} in {self.path.parent} is in use by process {holder}; wait for "
                f"it to finish or stop it (kill {holder.split()[0]}), then run again") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()} {os.uname().nodename}\n")
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# ------------------------------------------------------------------------------ finished runs
IDENTITY_FILE = "identity.json"
RECORD_FILE = "train_config.json"
GENERATOR_FILE = "generator.pt"


IDENTITY_FIELDS = ("format", "role", "profile")   # what run_identity always writes
RECORD_FIELDS = ("status", "key")                 # what every train_config.json holds
RECORD_STATUS = ("running", "finished")
RECORD_FIX = ("move it aside; the trainer rebuilds it from the run's intact files (its checkpoint "
              "or generator.pt) when the run is next used")


def read_identity(path: str | os.PathLike, expected_key: str | None = None) -> dict:
    """A run's ``identity.json``, checked: a JSON object with :data:`IDENTITY_FIELDS`, no NaN,
    and with ``expected_key`` the identity of that run (its hash is the key);
    :class:`~inpainting.disk.DamagedFileError` otherwise."""
    from ..stored import damaged, read_json_object
    identity = read_json_object(path, RECORD_FIX, IDENTITY_FIELDS)
    if expected_key is not None and key_of(identity) != expected_key:
        raise damaged(path, f"describes run {key_of(identity)}, not run {expected_key}",
                      RECORD_FIX)
    return identity


def read_record(path: str | os.PathLike, expected_key: str | None = None) -> dict:
    """A run's ``train_config.json``, checked: a JSON object with :data:`RECORD_FIELDS`, a known
    status, no NaN, and with ``expected_key`` recording that run;
    :class:`~inpainting.disk.DamagedFileError` otherwise."""
    from ..stored import damaged, read_json_object
    record = read_json_object(path, RECORD_FIX, RECORD_FIELDS)
    if record["status"] not in RECORD_STATUS:
        raise damaged(path, f"status {record['status']!r} is none of {RECORD_STATUS}", RECORD_FIX)
    if expected_key is not None and record["key"] != expected_key:
        raise damaged(path, f"records run {record['key']}, not run {expected_key}", RECORD_FIX)
    return record


_READERS = {IDENTITY_FILE: read_identity, RECORD_FILE: read_record}


def read_json(path: Path) -> dict | None:
    """A run folder's JSON file (``identity.json``, ``train_config.json``) as a dict, or ``None``
    when it is missing. A damaged one (:func:`read_identity` / :func:`read_record`: half-written,
    not JSON, not an object, a field missing, NaN) never blocks the run: it is set aside as
    ``<name>.damaged-<time>`` with a warning and ``None`` is returned, so the trainer rebuilds it
    from what is intact (the final checkpoint, or the generator file and the run's key)
    (:func:`inpainting.disk.read_record_json`)."""
    return read_record_json(path, rebuilt="it is rebuilt from the run's intact files (its "
                            "checkpoint or generator.pt) when the run is next used",
                            check=_READERS.get(Path(path).name))


def is_finished(folder: str | os.PathLike) -> bool:
    """True when the run in ``folder`` recorded itself finished and its generator file exists
    (:class:`~inpainting.training.Trainer` checks that the file is intact before reusing it)."""
    folder = Path(folder)
    record = read_json(folder / RECORD_FILE)
    return bool(record and record.get("status") == "finished" and (folder / GENERATOR_FILE).is_file())


# ------------------------------------------------------------------ registered kinds (inpainting.stored)
def _example_identity(folder: Path, variant: int) -> tuple[Path, dict]:
    from ..disk import atomic_write_text
    identity = {"format": FORMAT, "role": "faces", "profile": {"train": {"seed": variant, "lr": 0.5}}}
    path = Path(folder) / IDENTITY_FILE
    atomic_write_text(path, json.dumps(identity, indent=2, sort_keys=True))
    return path, {"expected_key": key_of(identity)}


def _example_record(folder: Path, variant: int) -> tuple[Path, dict]:
    from ..disk import atomic_write_text
    key = ("ab", "cd")[variant] * 6
    record = {"status": "finished", "key": key, "steps_done": 4, "seconds": 1.5}
    path = Path(folder) / RECORD_FILE
    atomic_write_text(path, json.dumps(record, indent=2))
    return path, {"expected_key": key}


def _register() -> None:
    from ..stored import Kind, register
    why = {"foreign_network": "a JSON record holds no network",
           "zeroed": "no number of the record is forbidden to be 0 (a seed, a step count)"}
    register(Kind("identity record", "json", read_identity, _example_identity,
                  fields=IDENTITY_FIELDS, undetectable=why))
    register(Kind("run record", "json", read_record, _example_record, fields=RECORD_FIELDS,
                  undetectable=why))


_register()
