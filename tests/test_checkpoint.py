"""Atomic checkpoints: pointer, pruning, fall-back on a corrupt pointer target, no partial files."""
from __future__ import annotations

import pytest
import torch

from inpainting.training import checkpoint
from inpainting.disk import atomic_write


def _state(step: int) -> dict:
    return {"step": step, "weights": torch.full((3,), float(step))}


def test_save_writes_pointer_and_prunes(tmp_path):
    for step in range(1, 6):
        checkpoint.save_checkpoint(_state(step), tmp_path, step, keep=3)
    names = [p.name for p in checkpoint.list_checkpoints(tmp_path)]
    assert names == ["step_00000003.pt", "step_00000004.pt", "step_00000005.pt"]
    assert (tmp_path / "latest").read_text() == "step_00000005.pt"
    assert checkpoint.load_latest(tmp_path)["step"] == 5


def test_load_latest_empty_dir_is_none(tmp_path):
    assert checkpoint.load_latest(tmp_path / "missing") is None
    assert checkpoint.load_latest(tmp_path) is None


def test_corrupt_or_missing_pointer_target_falls_back(tmp_path):
    for step in (1, 2):
        checkpoint.save_checkpoint(_state(step), tmp_path, step)
    (tmp_path / "step_00000002.pt").write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="unreadable"):
        assert checkpoint.load_latest(tmp_path)["step"] == 1
    (tmp_path / "latest").write_text("step_00000009.pt")
    with pytest.warns(UserWarning, match="missing"):
        assert checkpoint.load_latest(tmp_path)["step"] == 1


def test_failed_write_leaves_no_partial_file(tmp_path):
    checkpoint.save_checkpoint(_state(1), tmp_path, 1)

    def crash(tmp):
        torch.save(_state(2), tmp)
        raise KeyboardInterrupt("killed mid-write")

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / checkpoint.checkpoint_name(2), crash)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "step_00000001.pt"]
    assert checkpoint.load_latest(tmp_path)["step"] == 1


def test_leftover_temp_files_are_ignored(tmp_path):
    checkpoint.save_checkpoint(_state(1), tmp_path, 1)
    (tmp_path / ".step_00000002.pt.abc.tmp").write_bytes(b"half")
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path)] == ["step_00000001.pt"]
    assert checkpoint.load_latest(tmp_path)["step"] == 1


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (CPU mapping of a "
                    "generator file is tested in test_training)")
def test_cuda_tensors_load_on_cpu(tmp_path):
    checkpoint.save_checkpoint({"w": torch.ones(2, device="cuda")}, tmp_path, 1)
    assert checkpoint.load_latest(tmp_path, map_location="cpu")["w"].device.type == "cpu"


# --- damaged checkpoints (issue 10): fall back loudly, never restart silently ----------------------
KEYS = ("step", "profile", "G")


def _full(step: int) -> dict:
    return {"step": step, "profile": {"name": "smoke"}, "G": {"w": torch.full((2,), float(step))}}


def _two(tmp_path):
    for step in (1, 2):
        checkpoint.save_checkpoint(_full(step), tmp_path, step)
    return tmp_path / "step_00000001.pt", tmp_path / "step_00000002.pt"


@pytest.mark.parametrize("content, reason", [
    ([1, 2], "holds a list, not a checkpoint"),
    ({"step": 2}, "lacks 'profile', 'G'"),
])
def test_wrong_content_falls_back_naming_the_file(tmp_path, content, reason):
    _, newest = _two(tmp_path)
    torch.save(content, newest)
    with pytest.warns(UserWarning, match=f"{newest.name}.*{reason}.*resuming from step_00000001.pt"):
        assert checkpoint.load_latest(tmp_path, required=KEYS)["step"] == 1


def test_truncated_checkpoint_falls_back_naming_the_file(tmp_path):
    _, newest = _two(tmp_path)
    newest.write_bytes(newest.read_bytes()[:100])
    with pytest.warns(UserWarning, match=f"{newest.name}.*(unreadable|truncated)"):
        assert checkpoint.load_latest(tmp_path, required=KEYS)["step"] == 1


@pytest.mark.parametrize("pointer", [b"\xff\xfe\x00garbage", b"../../etc/passwd", b"", b"x" * 5000])
def test_damaged_pointer_falls_back_to_newest_intact(tmp_path, pointer):
    _two(tmp_path)
    (tmp_path / "latest").write_bytes(pointer)
    with pytest.warns(UserWarning, match="pointer .*latest.*resuming from step_00000002.pt"):
        assert checkpoint.load_latest(tmp_path, required=KEYS)["step"] == 2


def test_all_damaged_raises_naming_every_file_and_the_safe_action(tmp_path):
    first, newest = _two(tmp_path)
    first.write_bytes(b"truncated")
    torch.save({"step": 2}, newest)
    with pytest.raises(checkpoint.CheckpointError) as info:
        checkpoint.load_latest(tmp_path, required=KEYS)
    message = str(info.value)
    assert first.name in message and newest.name in message and "lacks 'profile', 'G'" in message
    assert f"mv {tmp_path} {tmp_path}.damaged" in message and "delete" not in message
    assert isinstance(info.value, RuntimeError)
    assert set(info.value.damaged) == {first, newest}


def test_pointer_without_any_checkpoint_is_an_error_not_a_fresh_run(tmp_path):
    _two(tmp_path)
    for path in checkpoint.list_checkpoints(tmp_path):
        path.unlink()
    with pytest.raises(checkpoint.CheckpointError, match="step_00000002.pt.*missing"):
        checkpoint.load_latest(tmp_path)


def test_only_temp_files_is_a_fresh_run(tmp_path):
    (tmp_path / ".step_00000001.pt.abc.tmp").write_bytes(b"half")
    assert checkpoint.load_latest(tmp_path, required=KEYS) is None


def test_verify_file(tmp_path):
    good, bad = tmp_path / "generator.pt", tmp_path / "bad.pt"
    torch.save({"model": {}, "state_dict": {}}, good)
    assert checkpoint.verify_file(good, ("model", "state_dict"))["model"] == {}
    bad.write_bytes(good.read_bytes()[:40])
    for path, match in [(bad, "bad.pt.*unreadable"), (tmp_path / "none.pt", "none.pt.*missing")]:
        with pytest.raises(checkpoint.CheckpointError, match=match):
            checkpoint.verify_file(path)
    with pytest.raises(checkpoint.CheckpointError, match="generator.pt.*lacks 'image_size'"):
        checkpoint.verify_file(good, ("model", "image_size"))
