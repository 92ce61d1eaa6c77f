"""The headless notebook runner: its kernel client recovers from a missed socket wake-up."""
import asyncio
from queue import Empty

import pytest

from inpainting.teaching import notebook_runner
from inpainting.teaching.notebook_runner import KitKernelClient, KitKernelManager, PolledChannel


class MissedWakeUpSocket:
    """A socket whose message has arrived, but whose unbounded asyncio poll never wakes (the bug);
    a bounded poll finds the message when its time is up, as pyzmq's final real poll does."""

    def __init__(self, has_message: bool = True):
        self.has_message = has_message
        self.polls = []

    async def poll(self, timeout_ms=None):
        self.polls.append(timeout_ms)
        if timeout_ms is None:
            await asyncio.Event().wait()          # never returns
        await asyncio.sleep(timeout_ms / 1000)
        return int(self.has_message)


def _channel(socket) -> PolledChannel:
    channel = PolledChannel.__new__(PolledChannel)   # no real zmq socket or session needed
    channel.socket = socket

    async def _recv():
        return {"msg_type": "execute_reply"}
    channel._recv = _recv
    return channel


def test_unbounded_wait_survives_missed_wake_up(monkeypatch):
    monkeypatch.setattr(notebook_runner, "POLL_SLICE_S", 0.05)
    socket = MissedWakeUpSocket()
    msg = asyncio.run(asyncio.wait_for(_channel(socket).get_msg(timeout=None), 5))
    assert msg["msg_type"] == "execute_reply"
    assert None not in socket.polls and all(ms <= 50 for ms in socket.polls)


def test_bounded_wait_still_times_out(monkeypatch):
    monkeypatch.setattr(notebook_runner, "POLL_SLICE_S", 0.05)
    socket = MissedWakeUpSocket(has_message=False)
    with pytest.raises(Empty):
        asyncio.run(asyncio.wait_for(_channel(socket).get_msg(timeout=0.2), 5))
    assert len(socket.polls) <= 8 and socket.polls.count(0) <= 1   # slices, no busy loop of 0 ms polls


def test_kernel_manager_hands_out_the_polled_client():
    client = KitKernelManager(kernel_name=notebook_runner.KERNEL_NAME).client()
    assert isinstance(client, KitKernelClient)
    assert client.shell_channel_class is PolledChannel and client.iopub_channel_class is PolledChannel


def test_cli_rejects_a_missing_notebook(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        notebook_runner.main([str(tmp_path / "nope.ipynb"), str(tmp_path / "out.ipynb"), "--profile", "smoke"])
    assert exit_info.value.code == 2
    assert "nope.ipynb: is missing" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--profile", "huge"], "huge"),
    (["--profile", "smoke", "--overrides", '{"train.nope": 1}'], "train.nope"),
    (["--profile", "smoke", "--overrides", "{bad"], "not valid JSON"),
    (["--profile", "smoke", "--overrides", "[1]"], "JSON object"),
])
def test_cli_rejects_bad_profile_or_overrides_before_starting_a_kernel(tmp_path, capsys, args, message):
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        notebook_runner.main([str(notebook), str(tmp_path / "out.ipynb"), *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_kernel_uses_ipc_and_logs_no_unencrypted_tcp_warning(tmp_path):
    """Headless logs carry no ipykernel "running over TCP without encryption" warning: the runner's
    kernel manager starts the kernel on the IPC transport (issue 19, item 6)."""
    import json
    import subprocess
    import sys

    import nbformat
    assert KitKernelManager(kernel_name=notebook_runner.KERNEL_NAME).transport == "ipc"
    nb = nbformat.v4.new_notebook()
    nb.metadata.update(kernelspec={"name": notebook_runner.KERNEL_NAME, "language": "python",
                                   "display_name": "Python (inpainting-kit)"},
                       language_info={"name": "python"})
    params = nbformat.v4.new_code_cell("profile = 'smoke'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("print('ran', profile)")]
    nbformat.write(nb, tmp_path / "nb.ipynb")
    done = subprocess.run([sys.executable, "-m", "inpainting.teaching.notebook_runner", str(tmp_path / "nb.ipynb"),
                           str(tmp_path / "out.ipynb"), "--profile", "smoke"],
                          capture_output=True, text=True, timeout=300)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "without encryption" not in log, log
    outputs = json.loads((tmp_path / "out.ipynb").read_text())["cells"][-1]["outputs"]
    assert "ran smoke" in "".join(outputs[0]["text"])
