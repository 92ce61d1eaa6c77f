"""Execute one kit notebook headlessly with papermill: what ``run_all.sh`` and the tests call.

    python -m inpainting.teaching.notebook_runner notebooks/03_training.ipynb results/demo/notebooks/03_training.ipynb \
        --profile demo [--overrides '{"train.steps_g": 10}'] [--timeout SECONDS]

It is papermill with the kit's kernel and one fix. Waiting for a kernel message, jupyter_client's
asyncio channel polls the socket with no time limit, and pyzmq's asyncio poller can miss the wake-up
for a message that has already arrived (edge-triggered socket events; seen with pyzmq 26.4 and
27.3, ipykernel 6.31 and 7.4). The cell has finished in the kernel, yet the run waits forever. On
this machine the widget cell of notebook 07 stalled in 2 of 12 in-process runs under CPU load, and it
hung the CI run of 2026-11-25. :class:`PolledChannel` polls in slices of :data:`POLL_SLICE_S`;
each slice ends with a real (non-asyncio) poll, so a missed wake-up costs at most one slice.

The kernel talks to the runner over IPC (Unix domain sockets beside the kernel's connection file,
:attr:`KitKernelManager.transport`), not TCP on 127.0.0.1: nothing outside this machine's user can
connect, and ipykernel's "Kernel is running over TCP without encryption" warning (printed by every
kernel started over TCP without CurveZMQ keys) does not clutter headless logs.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from queue import Empty

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from traitlets import CaselessStrEnum, Type

from inpainting.profiles import get_profile
from inpainting.runtime import NOTEBOOK_ENV
from inpainting.disk import check_output, write_output

KERNEL_NAME = "inpainting-kit"
POLL_SLICE_S = 1.0


class PolledChannel(AsyncZMQSocketChannel):
    """A kernel channel whose ``get_msg`` never waits on a single unbounded asyncio poll."""

    async def get_msg(self, timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SLICE_S if deadline is None else min(POLL_SLICE_S, max(deadline - time.monotonic(), 0.0))
            if await self.socket.poll(math.ceil(left * 1000)):   # ceil: never a busy loop of 0 ms polls
                return await self._recv()
            if deadline is not None and time.monotonic() >= deadline:
                raise Empty


class KitKernelClient(AsyncKernelClient):
    shell_channel_class = Type(PolledChannel)
    iopub_channel_class = Type(PolledChannel)


class KitKernelManager(AsyncKernelManager):
    client_factory = Type(KitKernelClient)   # what ``client()`` builds; nbclient calls it
    # IPC, not TCP: local-only sockets, and no "running over TCP without encryption" warning
    transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)


def run_notebook(notebook: str | Path, output: str | Path, profile: str, overrides: dict | None = None,
                 cwd: str | Path | None = None, timeout: float | None = None, progress: bool = False) -> None:
    """Execute ``notebook`` into ``output`` with ``profile`` and ``overrides`` injected as parameters.

    ``cwd`` defaults to the notebook's folder; ``timeout`` (seconds per cell) defaults to none, since
    a paper-profile training cell runs for hours. Raises papermill's ``PapermillExecutionError``
    (naming the cell and the exception) when a cell fails; the executed copy at ``output`` keeps the
    traceback.
    """
    import papermill as pm

    notebook = Path(notebook)
    parameters = {"profile": profile}
    if overrides:
        parameters["overrides"] = dict(overrides)
    previous = os.environ.get(NOTEBOOK_ENV)
    os.environ[NOTEBOOK_ENV] = notebook.stem   # the kernel inherits it: runs record who trained them
    try:
        pm.execute_notebook(str(notebook), str(output), parameters=parameters,
                            kernel_name=KERNEL_NAME, cwd=str(cwd or notebook.parent),
                            progress_bar=progress, execution_timeout=timeout,
                            kernel_manager_class=KitKernelManager)
    finally:
        if previous is None:
            os.environ.pop(NOTEBOOK_ENV, None)
        else:
            os.environ[NOTEBOOK_ENV] = previous


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc}); example: '{{\"train.steps_g\": 10}}'")
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object of parameter names, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpainting.teaching.notebook_runner", description=__doc__.split("\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--profile", required=True, help="smoke, demo or paper")
    parser.add_argument("--overrides", type=_json_object, default=None,
                        help='JSON object of dotted parameter names, e.g. \'{"train.steps_g": 10}\'')
    parser.add_argument("--timeout", type=_seconds, default=None, help="seconds per cell (default: none)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing output file that is not an executed notebook")
    args = parser.parse_args(argv)
    try:   # every argument is checked here, before a kernel starts
        get_profile(args.profile, args.overrides)
        read_notebook(args.notebook)
        check_output(args.output, inputs=(args.notebook,), replace=args.force, owned=executed)
    except (ValueError, OSError) as exc:   # OutputError, DamagedFileError, a bad profile
        parser.error(str(exc))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    run_to(args.notebook, args.output, args.force,
           lambda out: run_notebook(args.notebook, out, args.profile, args.overrides,
                                    timeout=args.timeout))
    return 0


def _seconds(text: str) -> float:
    """``--timeout``: a finite number of seconds > 0 (not ``nan``, ``inf`` or 0)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number of seconds > 0, or "
                                         "leave --timeout out for no limit")
    return value


NOTEBOOK_FIX = "give a Jupyter notebook (.ipynb, nbformat 4 JSON)"


def read_notebook(path: Path) -> dict:
    """A notebook file, checked (a JSON object with ``cells``, :mod:`inpainting.stored`);
    :class:`~inpainting.disk.DamagedFileError` naming the file otherwise (a text file named
    ``.ipynb``, a folder, a missing file)."""
    from inpainting.stored import read_json_object
    return read_json_object(path, NOTEBOOK_FIX, ("cells",), finite=False)


def executed(path: Path) -> bool:
    """True for a notebook papermill executed (what this command writes): the kit may replace it."""
    try:
        return "papermill" in read_notebook(path).get("metadata", {})
    except (ValueError, OSError, AttributeError):
        return False


def run_to(notebook: Path, output: Path, force: bool, execute) -> None:
    """Let ``execute(path)`` write the executed copy to a temporary file beside ``output``, then
    publish it through the one writer (:func:`inpainting.disk.write_output`), also when a cell
    failed (the copy keeps the traceback)."""
    import shutil
    import tempfile
    with tempfile.TemporaryDirectory(prefix=".notebook-", dir=output.parent) as tmp:
        made = Path(tmp) / output.name
        try:
            execute(made)
        finally:
            if made.is_file():
                write_output(output, lambda dest: shutil.copyfile(made, dest), inputs=(notebook,),
                             replace=force, owned=executed)


if __name__ == "__main__":
    sys.exit(main())
