"""Atomic checkpoints: pointer, pruning, fall-back on a corrupt pointer target, no partial files."""
from __future__ import annotations

import pytest
import torch

from inpainting import checkpoint
from inpainting.runtime import atomic_write


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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (CPU mapping of a "
                    "generator file is tested in test_training)")
def test_cuda_tensors_load_on_cpu(tmp_path):
    checkpoint.save_checkpoint({"w": torch.ones(2, device="cuda")}, tmp_path, 1)
    assert checkpoint.load_latest(tmp_path, map_location="cpu")["w"].device.type == "cpu"
