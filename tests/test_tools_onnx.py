"""python -m inpainting.tools.export_onnx (issue 19, item 5) and the TensorBoard events of a run (item 4)."""
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import torch

from inpainting.experiments import ABLATION_VARIANTS, train_variant
from inpainting.models import load_inpainter
from inpainting.profiles import get_profile
from inpainting.tools import export_onnx
from inpainting.training import tensorboard

import onnxruntime  # noqa: F401  (environment.yml pins it: the parity test must run, never skip)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One trained smoke run with a discriminator (losses of every stage), shared by this module."""
    mp = pytest.MonkeyPatch()
    mp.setenv("INPAINTING_RESULTS", str(tmp_path_factory.mktemp("results")))
    mp.setenv("INPAINTING_OFFLINE", "1")
    result = train_variant(get_profile("smoke"), ABLATION_VARIANTS["L_rec + L_adv"])
    tensorboard.close_all()
    yield result
    mp.undo()


@pytest.fixture(scope="module")
def onnx_file(run, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "lite.onnx"
    assert export_onnx.main([str(run.out_dir), str(path)]) == 0
    return path


def test_onnxruntime_matches_torch_with_dynamic_batch_and_size(run, onnx_file):
    """Parity on the CPU within PARITY_ATOL (export_onnx states why: two libraries' float32
    kernels sum in different orders) at batch sizes and image sizes other than the export's."""
    model = load_inpainter(run.generator_path, "cpu")
    session = export_onnx.session(onnx_file)
    for k, (b, h, w) in enumerate([(1, 32, 32), (5, 32, 32), (2, 48, 64), (3, 64, 40)]):
        image, mask = export_onnx.example_inputs(b, h, w, seed=10 + k)
        with torch.no_grad():
            expected = model.complete(image, mask).numpy()
        got = session.run(None, {"image": image.numpy(), "mask": mask.numpy()})[0]
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= export_onnx.PARITY_ATOL
        keep = mask.numpy() == 0
        assert np.array_equal(np.broadcast_to(keep, got.shape) * got,
                              np.broadcast_to(keep, got.shape) * image.numpy()), "known pixels kept"


def test_parity_check_catches_a_wrong_model(run, onnx_file):
    other = load_inpainter(run.generator_path, "cpu")
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(1.5)
    assert export_onnx.parity(other, onnx_file, [(2, 32, 32)]) > 100 * export_onnx.PARITY_ATOL


def test_bench_rows_for_torch_and_onnxruntime(run, onnx_file):
    rows = export_onnx.bench_rows(load_inpainter(run.generator_path, "cpu"), onnx_file, 32,
                                  batch=2, reps=2)
    assert [r["option"] for r in rows] == ["torch eager", "onnxruntime (CPU)"]
    assert all(r["images_per_s"] > 0 for r in rows)


def test_bench_gets_an_onnxruntime_option(run):
    model = load_inpainter(run.generator_path, "cpu")
    image, mask = export_onnx.example_inputs(1, 32, 32)
    options = export_onnx.onnxruntime_options(model, image, mask)
    with torch.no_grad():
        expected = model.complete(image, mask)
    assert (options["onnxruntime (CPU)"]() - expected).abs().max() <= export_onnx.PARITY_ATOL


def test_usage_errors(run, tmp_path, capsys):
    for argv, message in (([str(run.out_dir), str(tmp_path / "x.txt")], "must end in .onnx"),
                          ([str(tmp_path / "nope"), str(tmp_path / "x.onnx")], "does not exist"),
                          ([str(tmp_path), str(tmp_path / "x.onnx")], "has no generator.pt")):
        with pytest.raises(SystemExit) as info:
            export_onnx.main(argv)
        assert info.value.code == 2 and message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    proc = subprocess.run([sys.executable, "-m", "inpainting.tools.export_onnx", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--bench" in proc.stdout


# ------------------------------------------------------------------------------------ TensorBoard
def test_run_writes_losses_learning_rates_and_sample_grids(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(run.out_dir / tensorboard.FOLDER))
    events.Reload()
    tags = events.Tags()
    assert {"loss/rec", "loss/d", "loss/adv_g", "lr/g", "lr/d"} <= set(tags["scalars"])
    steps = len(run.history)
    assert [e.step for e in events.Scalars("lr/g")] == list(range(1, steps + 1)), "every step"
    rec = run.history.dropna(subset=["rec"])
    assert [e.value for e in events.Scalars("loss/rec")] == pytest.approx(rec["rec"].tolist())
    assert tags["images"] == ["samples"] and events.Images("samples")[-1].step == steps


def test_without_the_package_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(tensorboard, "available", lambda: False)
    tensorboard.log_steps(tmp_path, [{"step": 0, "rec": 1.0}])
    tensorboard.log_samples(tmp_path, 1, np.zeros((4, 4, 3), np.uint8))
    assert not list(tmp_path.iterdir())


def test_tensorboard_serves_the_results_on_localhost(run, tmp_path):
    """What ./run_all.sh tensorboard starts (python -m tensorboard.main --host 127.0.0.1), on a
    free port, stopped again."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir",
                             str(run.out_dir.parents[2]), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=5) as r:
                    body = r.read().decode()
                if "tensorboard" in body:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "TensorBoard did not serve"
            time.sleep(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_run_all_accepts_tensorboard_and_checks_its_folder(tmp_path):
    from pathlib import Path
    script = str(Path(__file__).resolve().parents[1] / "run_all.sh")
    proc = subprocess.run([script, "tensorboard", str(tmp_path / "missing")], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2 and "tensorboard: '" in proc.stderr and "is not a folder" in proc.stderr
    assert proc.stdout == "", "stopped before the environment set-up"
