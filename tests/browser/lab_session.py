"""A private JupyterLab server and a headless Chromium page for the browser tests.

The server listens on 127.0.0.1 only, with a random token and its own config, runtime, settings and
workspaces folders under the test's temporary folder, so it neither reads nor changes the user's
Jupyter set-up. Chromium is the system's (``$INPAINTING_CHROMIUM``, default ``/usr/bin/chromium``),
driven by Playwright (``playwright install`` is never needed).
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = os.environ.get("INPAINTING_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# JupyterLab settings that keep the page off the network (news, update checks) and quiet.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
}
# No announcements feed, no update check (both would reach the internet).
SERVER_CONFIG = {"LabApp": {"news_url": None, "check_for_updates_class":
                            "jupyterlab.handlers.announcements.NeverCheckForUpdate"}}


def missing_browser() -> str | None:
    """Why the browser tests cannot run here (no Chromium, no Playwright), or None."""
    if not os.access(CHROMIUM, os.X_OK):
        return (f"no Chromium at {CHROMIUM} (Debian/Ubuntu: apt-get install chromium, or set "
                "INPAINTING_CHROMIUM)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (./run_all.sh setup)"
    return None


def require_browser() -> None:
    """Skip the calling test without a browser, or fail it where CI requires one
    (``INPAINTING_REQUIRE_BROWSER=1``, set by .ci/run)."""
    import pytest
    missing = missing_browser()
    if missing and os.environ.get("INPAINTING_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test required (INPAINTING_REQUIRE_BROWSER=1) but {missing}")
    if missing:
        pytest.skip(f"browser test skipped: {missing}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """``with LabServer(root, env) as lab:`` a JupyterLab on ``root``; ``lab.url(path)``."""

    def __init__(self, root: Path, workdir: Path, env: dict[str, str] | None = None,
                 start_timeout: float = 180):
        self.root, self.workdir = Path(root), Path(workdir)
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.start_timeout = start_timeout
        self.env = {**os.environ, **(env or {})}
        for name in ("config", "runtime", "settings", "workspaces"):
            (self.workdir / name).mkdir(parents=True, exist_ok=True)
        self.env.update(JUPYTER_CONFIG_DIR=str(self.workdir / "config"),
                        JUPYTER_RUNTIME_DIR=str(self.workdir / "runtime"),
                        JUPYTERLAB_SETTINGS_DIR=str(self.workdir / "settings"),
                        JUPYTERLAB_WORKSPACES_DIR=str(self.workdir / "workspaces"))
        (self.workdir / "config" / "jupyter_server_config.json").write_text(json.dumps(SERVER_CONFIG))
        for name, values in LAB_SETTINGS.items():
            path = self.workdir / "settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "jupyterlab.log"
        self.started_in = float("nan")

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path}{sep}token={self.token}"

    def __enter__(self) -> "LabServer":
        cmd = [sys.executable, "-m", "jupyter", "lab", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--ServerApp.open_browser=False"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        t0 = time.monotonic()
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = t0 + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as response:
                    if response.status == 200:
                        self.started_in = time.monotonic() - t0
                        return self
            except OSError:
                time.sleep(0.5)
        self.__exit__(None, None, None)
        raise TimeoutError(f"JupyterLab did not answer in {self.start_timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""

    def __exit__(self, *exc) -> None:
        if self.proc is None:
            return
        try:   # a clean stop shuts the kernels down too
            request = urllib.request.Request(self.url("api/shutdown"), method="POST")
            urllib.request.urlopen(request, timeout=10).close()
            self.proc.wait(timeout=30)
        except Exception:
            pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)
        self._log.close()
        self.proc = None
