"""Shared test isolation: no test reads the user's environment or writes to the repository's
``results/``.

* For the whole session ``INPAINTING_RESULTS`` points at a temporary folder and
  ``INPAINTING_PROFILE`` / ``INPAINTING_DEVICE`` are unset (so a developer's shell settings change no
  test).
* Each test additionally gets its own empty results folder, unless a module-scoped fixture pointed
  ``INPAINTING_RESULTS`` somewhere on purpose (a results folder shared by that module's tests): that
  choice is kept. ``INPAINTING_PROFILE`` / ``INPAINTING_DEVICE`` are unset again before every test,
  so one test that sets them without ``monkeypatch`` cannot leak into the next.

Subprocesses started by tests inherit this environment.
"""
from __future__ import annotations

import os

import pytest

from inpainting.profiles import PROFILE_ENV
from inpainting.runtime import DEVICE_ENV
from inpainting.disk import RESULTS_ENV

CLEARED = (PROFILE_ENV, DEVICE_ENV)


@pytest.fixture(scope="session", autouse=True)
def session_results(tmp_path_factory):
    """The session's results folder (``$INPAINTING_RESULTS`` while no test changes it)."""
    patch = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("session-results")
    patch.setenv(RESULTS_ENV, str(path))
    for name in CLEARED:
        patch.delenv(name, raising=False)
    yield path
    patch.undo()


@pytest.fixture(autouse=True)
def isolated_results(session_results, tmp_path_factory, monkeypatch):
    """A fresh ``$INPAINTING_RESULTS`` for this test (kept as a module fixture set it), and the
    profile / device variables unset. Returns the results folder in effect."""
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    if os.environ.get(RESULTS_ENV) in (None, str(session_results)):
        monkeypatch.setenv(RESULTS_ENV, str(tmp_path_factory.mktemp("results")))
    return os.environ[RESULTS_ENV]
