"""./run_all.sh gpu-check (inpainting.bench.gpu_check, issue 29): on a CPU it says that no GPU is
present, runs its steps at tiny sizes (the CUDA tests collected, a short paper-profile training
with a bit-identical resume, the lite-vs-GLCIC rows) and exits 0; every CUDA-only test carries the
``cuda`` marker it selects them by."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

from inpainting.bench import gpu_check

TESTS = Path(__file__).parent


def _needs_cuda(decorator: ast.expr) -> bool:
    """A ``skipif`` that skips where CUDA (or a second GPU) is missing; not one that skips where
    it is present (a CPU-only check)."""
    if not (isinstance(decorator, ast.Call) and ast.unparse(decorator.func).endswith("skipif")):
        return False
    condition = ast.unparse(decorator.args[0]) if decorator.args else ""
    return "not torch.cuda" in condition or "torch.cuda.device_count()" in condition


def test_every_cuda_only_test_is_marked_cuda():
    """gpu-check runs ``pytest -m cuda``: a test that skips without a GPU and lacks the marker
    would never run there."""
    unmarked, marked = [], []
    for path in TESTS.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(map(_needs_cuda, node.decorator_list)):
                names = {ast.unparse(d) for d in node.decorator_list}
                (marked if "pytest.mark.cuda" in names else unmarked).append(f"{path.name}::{node.name}")
    assert not unmarked
    assert len(marked) >= 4
    assert {p.name for p in gpu_check.cuda_test_files()} >= {"test_checkpoint.py", "test_stream.py",
                                                             "test_training.py"}


@pytest.mark.slow
def test_the_cpu_path_checks_its_plumbing_and_exits_0(tmp_path, capsys):
    out = tmp_path / "gpu_check.json"
    assert gpu_check.main(["--dry-run", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    if not torch.cuda.is_available():
        assert "no GPU is present" in printed
    report = json.loads(out.read_text())
    assert report["failed"] == [] and report["machine"]["dry_run"] is True
    assert set(report["steps"]) == {"cuda_tests", "paper_training", "throughput"}
    collected = report["steps"]["cuda_tests"]["collected"]
    assert any("test_pinned_batches_are_the_same" in t for t in collected)
    faces = report["steps"]["paper_training"]["faces"]
    assert faces["weights_identical"] and faces["log_identical"] and faces["dataset"] == "celeba"
    assert faces["stopped_after_step"] < faces["steps"]
    assert report["steps"]["paper_training"]["facades"]["steps"] == faces["steps"]
    rows = report["steps"]["throughput"]
    assert {(r["generator"], r["benchmark"]) for r in rows} == {
        (g, b) for g in ("lite", "glcic") for b in ("full_step", "g_step")}
    assert all(r["images_per_s"] > 0 for r in rows)
    assert f"wrote {out}" in printed and "every step ok" in printed
