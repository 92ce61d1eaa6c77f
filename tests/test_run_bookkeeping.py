"""Issue 18, families 2 and 3: damaged bookkeeping never blocks or deletes work (it is set aside as
``*.damaged-<time>`` and rebuilt), no message advises deleting a readable file, a checkpoint is
understood where a generator is expected, every profile has its own results folder, and a file
of another run is never used as this run's (its stored key is checked against the folder's)."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from inpainting import disk
from inpainting.inference import complete
from inpainting.models import ModelFileError, load_inpainter, read_generator
from inpainting.models.loading import ForeignFileError
from inpainting.models.perceptual import OFFLINE_ENV
from inpainting.profiles import get_profile
from inpainting.reporting.report import Report, write_summary
from inpainting.training import RunSpec, Trainer, checkpoint
from inpainting.training.records import register_run
from inpainting.training.runs import IDENTITY_FILE, RECORD_FILE, run_folder

TINY = {"train.steps_g": 1, "train.steps_d": 1, "train.steps_joint": 1, "loss.w_per": 0.0,
        "train.checkpoint_every": 1}
LIB = Path(__file__).resolve().parents[1] / "lib" / "inpainting"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv(OFFLINE_ENV, "1")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished tiny smoke run (and a second of another configuration) in a module folder."""
    mp = pytest.MonkeyPatch()
    mp.setenv(disk.RESULTS_ENV, str(tmp_path_factory.mktemp("results")))
    mp.setenv(OFFLINE_ENV, "1")
    spec = RunSpec(get_profile("smoke", TINY), "faces")
    other = RunSpec(get_profile("smoke", {**TINY, "train.steps_joint": 2}), "faces")
    yield {"spec": spec, "run": Trainer(spec, progress=False).fit(),
           "other": Trainer(other, progress=False).fit()}
    mp.undo()


def _weights(path: Path) -> dict:
    return torch.load(path, weights_only=False)["state_dict"]


def _damaged(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".damaged-*"))


DAMAGE = {"truncated": '{"runs": {"a": {"se', "not JSON": "\x00\x01 garbage", "empty": "",
          "a list": "[1, 2]", "wrong types": '{"runs": [1, 2], "warnings": "x"}',
          "a runs entry of the wrong type": '{"runs": {"runs/faces/lite-1": 5}}'}


# --- family 2: damaged bookkeeping ----------------------------------------------------------

@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_run_json_is_set_aside_and_rebuilt(damage):
    path = disk.results_dir("smoke") / "run.json"
    path.write_text(DAMAGE[damage])
    with pytest.warns(UserWarning, match=r"run.json was damaged .*set aside as run.json.damaged-"):
        register_run("smoke", {"run": "runs/faces/lite-1", "precision": "float32"}, trained=True)
    assert json.loads(path.read_text())["runs"]["runs/faces/lite-1"]["trained_by"] == ["python"]
    assert [p.read_text() for p in _damaged(path)] == [DAMAGE[damage]]   # kept, not deleted
    write_summary("smoke")                                                # reads it again: fine
    disk.update_run_json("smoke", status="ok")


def test_a_damaged_outputs_json_is_set_aside_and_rebuilt():
    root = disk.results_dir("smoke")
    (root / "outputs.json").write_text('{"03_training/t": {"kind": "table"')
    with pytest.warns(UserWarning, match="outputs.json was damaged"):
        Report("smoke", "03_training").table(pd.DataFrame({"a": [1]}), "t", "how")
    assert "03_training/t" in json.loads((root / "outputs.json").read_text())
    assert len(_damaged(root / "outputs.json")) == 1
    (root / "outputs.json").write_text('{"x": 3}')                      # an entry of wrong type
    with pytest.warns(UserWarning, match="entry 'x' is not an object"):
        Report("smoke", "03_training").table(pd.DataFrame({"a": [1]}), "t", "how")


@pytest.mark.parametrize("name", [IDENTITY_FILE, RECORD_FILE])
def test_half_written_bookkeeping_beside_an_intact_run_is_rebuilt_not_retrained(finished, name):
    run, spec = finished["run"], finished["spec"]
    path = run.out_dir / name
    good = path.read_text()
    path.write_text(good[: len(good) // 2])
    weights = _weights(run.generator_path)
    with pytest.warns(UserWarning, match=f"{name} was damaged"):
        again = Trainer(spec, progress=False).fit()
    assert len(again.history) == len(run.history) and json.loads(path.read_text())
    assert _damaged(path)                                               # kept, not deleted
    assert read_generator(again.generator_path)["meta"]["key"] == spec.key
    assert all(torch.equal(v, weights[k]) for k, v in _weights(again.generator_path).items())


def test_a_damaged_record_with_only_the_generator_left_is_rebuilt_from_it(tmp_path, monkeypatch):
    monkeypatch.setenv(disk.RESULTS_ENV, str(tmp_path))
    spec = RunSpec(get_profile("smoke", TINY), "faces")
    run = Trainer(spec, progress=False).fit()
    shutil.move(run.out_dir / "checkpoints", tmp_path / "kept-checkpoints")   # no checkpoint
    (run.out_dir / RECORD_FILE).write_text("{")
    before = run.generator_path.read_bytes()
    with pytest.warns(UserWarning, match="rebuilt from its intact generator.pt"):
        Trainer(spec, progress=False).fit()
    assert run.generator_path.read_bytes() == before                       # not retrained
    assert json.loads((run.out_dir / RECORD_FILE).read_text())["status"] == "finished"


def test_a_checkpoint_given_as_the_model_or_as_init_generator_is_understood(finished):
    run = finished["run"]
    ckpt = checkpoint.list_checkpoints(run.out_dir / "checkpoints")[-1]
    images = torch.zeros(2, 3, 32, 32)
    masks = torch.zeros(2, 1, 32, 32)
    masks[:, :, 8:24, 8:24] = 1
    assert torch.equal(complete(str(ckpt), images, masks, device="cpu"),
                       complete(str(run.generator_path), images, masks, device="cpu"))
    warm = get_profile("smoke", {**TINY, "train.init_generator": str(ckpt)})
    Trainer(RunSpec(warm, "faces"), progress=False).fit()                  # loads its G weights
    (Path(ckpt).parent / "not_a_model.pt").write_bytes(b"")
    torch.save({"weights": 1}, Path(ckpt).parent / "other.pt")
    with pytest.raises(ModelFileError, match=r"neither a generator file .* nor a training "
                                             r"checkpoint.*pass the generator.pt of a finished"):
        read_generator(Path(ckpt).parent / "other.pt")


def test_no_message_advises_deleting_work():
    """Every message of lib/ that says delete / remove / rm names a file that is not readable
    work (a derived export, a link, an image the user chose), never a generator or checkpoint."""
    allowed = ("remove it or download it again", "or remove the link", "remove them or add the",
               "or remove it", "the full-size images, or remove", "delete them", "delete it and export")
    found = []
    for path in LIB.rglob("*.py"):
        for line in path.read_text().splitlines():
            if re.search(r"f?\"[^\"]*\b(delete|remove|rm) ", line) and not line.strip().startswith("#"):
                if not any(a in line for a in allowed) and '"""' not in line:
                    found.append(f"{path.relative_to(LIB)}: {line.strip()}")
    assert not found, found


def test_every_profile_has_its_own_results_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(disk.RESULTS_ENV, str(tmp_path))
    disk.update_run_json("smoke", status="smoke run")
    disk.update_run_json("demo", status="demo run")
    assert disk.results_dir("smoke") == tmp_path / "smoke"
    assert json.loads((tmp_path / "smoke" / "run.json").read_text())["status"] == "smoke run"
    assert json.loads((tmp_path / "demo" / "run.json").read_text())["status"] == "demo run"
    text = (Path(__file__).resolve().parents[1] / "run_all.sh").read_text()
    assert 'OUT=$INPAINTING_RESULTS/$PROFILE' in text


# --- family 3: a file of another run --------------------------------------------------------

def test_a_generator_copied_from_another_run_is_refused_or_replaced(finished, tmp_path):
    run, other, spec = finished["run"], finished["other"], finished["spec"]
    mine = run.generator_path.read_bytes()
    shutil.copy(other.generator_path, run.generator_path)               # another profile's file
    with pytest.raises(ForeignFileError, match=f"belongs to run {other.key}, not to run {spec.key}"):
        load_inpainter(run.generator_path, "cpu")
    with pytest.warns(UserWarning, match=f"belongs to run {other.key}.*set aside as generator.pt.foreign-"):
        Trainer(spec, progress=False).fit()                             # rewritten from its own
    assert read_generator(run.generator_path)["meta"]["key"] == spec.key
    mine = torch.load(__import__("io").BytesIO(mine), weights_only=False)["state_dict"]
    assert all(torch.equal(v, mine[k]) for k, v in _weights(run.generator_path).items())
    assert list(run.out_dir.glob("generator.pt.foreign-*"))             # kept, never deleted
    standalone = tmp_path / "model.pt"                                  # outside any run folder
    shutil.copy(other.generator_path, standalone)
    load_inpainter(standalone, "cpu")


def test_a_foreign_newest_checkpoint_falls_back_to_the_own_one(tmp_path):
    own = {"step": 1, "identity": {"a": 1}, "key": "aaaaaaaaaaaa"}
    theirs = {"step": 5, "identity": {"a": 2}, "key": "bbbbbbbbbbbb"}
    torch.save(own, tmp_path / "step_00000001.pt")
    torch.save(theirs, tmp_path / "step_00000005.pt")                   # e.g. another architecture
    (tmp_path / "latest").write_text("step_00000005.pt")
    with pytest.warns(UserWarning, match=r"belongs to run bbbbbbbbbbbb, not to this run "
                                         r"aaaaaaaaaaaa \(set aside as step_00000005.pt.foreign-"):
        state = checkpoint.load_latest(tmp_path, own_key="aaaaaaaaaaaa")
    assert state["step"] == 1 and (tmp_path / "latest").read_text() == "step_00000001.pt"
    assert list(tmp_path.glob("step_00000005.pt.foreign-*"))


def test_only_foreign_checkpoints_are_refused_naming_both_keys(tmp_path):
    torch.save({"step": 5, "identity": {"a": 2}, "key": "bbbbbbbbbbbb"}, tmp_path / "step_00000005.pt")
    with pytest.raises(checkpoint.CheckpointError, match=r"(?s)belong to another run, not to this run "
                                                         r"aaaaaaaaaaaa.*bbbbbbbbbbbb.*nothing was "
                                                         r"changed"):
        checkpoint.load_latest(tmp_path, own_key="aaaaaaaaaaaa")
    assert (tmp_path / "step_00000005.pt").exists()


def test_a_foreign_checkpoint_in_a_run_folder_is_skipped_by_the_trainer(finished):
    run, other, spec = finished["run"], finished["other"], finished["spec"]
    ckpts = run.out_dir / "checkpoints"
    theirs = checkpoint.list_checkpoints(other.out_dir / "checkpoints")[-1]
    shutil.copy(theirs, ckpts / "step_00000099.pt")
    (ckpts / "latest").write_text("step_00000099.pt")
    (run.out_dir / RECORD_FILE).write_text("{")                          # so it is resumed
    with pytest.warns(UserWarning, match=f"belongs to run {other.key}, not to this run {spec.key}"):
        again = Trainer(spec, progress=False).fit()
    assert again.key == spec.key and len(again.history) == len(run.history)


def test_a_generator_without_a_stored_key_loads_unchecked(finished, tmp_path):
    """An older-format file (no ``meta.key``): load_inpainter loads it (nothing to compare);
    the trainer reuses it in its run folder with a warning that it cannot be checked."""
    run, spec = finished["run"], finished["spec"]
    blob = torch.load(run.generator_path, weights_only=False)
    blob["meta"] = {}
    torch.save(blob, run.generator_path)
    load_inpainter(run.generator_path, "cpu")
    with pytest.warns(UserWarning, match="records no run key .*reused as it is"):
        Trainer(spec, progress=False).fit()
    assert run_folder(spec) == run.out_dir
