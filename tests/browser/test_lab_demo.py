"""Notebook 07 in a real browser: JupyterLab + headless Chromium, widgets used with the mouse.

It starts a private JupyterLab on 127.0.0.1 (token, own config/runtime/settings/workspaces folders,
``--allow-root`` as root), opens a copy of ``notebooks/07_interactive_demo.ipynb`` whose parameters
cell says ``profile = "smoke"``, runs all cells from the Run menu, then drags the image slider and
draws a stroke on the canvas, and checks that the completion tiles and the hole change and that the
browser console shows no error. ``$INPAINTING_RESULTS`` points into the test's temporary folder, so
``results/`` is never touched. Skipped (with the reason) when Chromium or Playwright is missing,
unless ``INPAINTING_REQUIRE_BROWSER=1`` (what ``.ci/run`` sets), which makes that a failure.
"""
from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from lab_session import CHROMIUM, CHROMIUM_ARGS, LabServer, require_browser

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "07_interactive_demo.ipynb"
KERNEL_IDLE = "Python (inpainting-kit) | Idle"
RUN_ALL_TIMEOUT_MS = 900_000     # the notebook trains a tiny smoke model when none exists
UPDATE_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def requirements():
    require_browser()


def _smoke_copy(folder: Path) -> Path:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    params[0].source = 'profile = "smoke"\noverrides = {}'
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / NOTEBOOK.name
    nbformat.write(nb, path)
    return path


def _wait_changed(grab, before, what: str, timeout: float = UPDATE_TIMEOUT_S, every: bool = False):
    """Poll ``grab()`` until it differs from ``before`` (``every``: each item of the list differs
    from its old value, since the tiles are redrawn one after another); return the new value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = grab()
        if (len(now) == len(before) and all(a != b for a, b in zip(now, before))) if every \
                else now != before:
            return now
        time.sleep(0.25)
    pytest.fail(f"{what} did not change within {timeout} s")


@pytest.mark.slow
def test_notebook_07_widgets_work_in_jupyterlab(requirements, tmp_path):
    from playwright.sync_api import sync_playwright

    notebook = _smoke_copy(tmp_path / "notebooks")
    results = tmp_path / "results"
    env = {"INPAINTING_RESULTS": str(results), "INPAINTING_OFFLINE": "1"}
    timings: dict[str, float] = {}
    problems: list[str] = []
    t_start = time.monotonic()
    with LabServer(notebook.parent, tmp_path / "lab", env) as lab, sync_playwright() as pw:
        timings["server start"] = lab.started_in
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(120_000)
            page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}")
                    if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            try:
                _drive(page, lab, timings)
            except BaseException:
                page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                print(f"screenshot: {tmp_path / 'failure.png'}\nJupyterLab log:\n{lab.log()}")
                raise
        finally:
            browser.close()
    timings["total"] = time.monotonic() - t_start
    print("browser test timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    assert not problems, "browser console errors:\n" + "\n".join(problems)
    assert (results / "smoke" / "figures" / "demo_left_eye.png").is_file()   # <results>/<profile>
    assert (results / "smoke" / "figures" / "demo_free_hand.png").is_file()


def _drive(page, lab: LabServer, timings: dict[str, float]) -> None:
    t = time.monotonic()
    page.goto(lab.url(f"lab/tree/{NOTEBOOK.name}") + "&reset")
    # The status bar names the kernel once it exists; the toolbar circle is "idle" before that.
    page.get_by_text(KERNEL_IDLE).wait_for(timeout=240_000)
    timings["page + kernel ready"] = time.monotonic() - t

    t = time.monotonic()
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()
    page.wait_for_function(
        """() => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
                   return p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }""",
        timeout=RUN_ALL_TIMEOUT_MS, polling=1000)
    timings["run all cells"] = time.monotonic() - t
    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    text = "\n".join(outputs)
    assert "Traceback" not in text, text[-3000:]
    assert text.count("correct") >= 2, "both check cells pass"

    demo = page.locator(".inpainting-demo").first
    demo.scroll_into_view_if_needed()
    tiles = demo.locator(".inpainting-demo-completion")
    assert tiles.count() >= 2, "biharmonic and at least one trained model"
    canvas = demo.locator("canvas.inpainting-demo-canvas")
    hole = demo.locator(".inpainting-demo-hole")

    def completions():
        return [tiles.nth(i).screenshot() for i in range(tiles.count())]

    before_tiles, before_canvas, before_hole = completions(), canvas.screenshot(), hole.inner_text()

    # Drag the image slider's handle one step to the right.
    t = time.monotonic()
    handle = demo.locator(".inpainting-demo-index .noUi-handle")
    start = int(float(handle.get_attribute("aria-valuenow")))
    track = demo.locator(".inpainting-demo-index .noUi-base").bounding_box()
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    step = track["width"] / float(handle.get_attribute("aria-valuemax"))
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + step, y, steps=5)
    page.mouse.up()
    assert int(float(handle.get_attribute("aria-valuenow"))) == start + 1
    after_tiles = _wait_changed(completions, before_tiles, "every completion after the slider moved",
                                every=True)
    timings["slider -> new completions"] = time.monotonic() - t
    assert all(a != b for a, b in zip(after_tiles, before_tiles)), "every tile shows the new image"
    assert hole.inner_text() == before_hole, "a new image, the same hole"
    after_canvas = canvas.screenshot()
    assert after_canvas != before_canvas

    # Draw a stroke across the canvas.
    t = time.monotonic()
    c = canvas.bounding_box()
    page.mouse.move(c["x"] + 0.25 * c["width"], c["y"] + 0.75 * c["height"])
    page.mouse.down()
    page.mouse.move(c["x"] + 0.75 * c["width"], c["y"] + 0.8 * c["height"], steps=12)
    page.mouse.up()
    new_hole = _wait_changed(hole.inner_text, before_hole, "the hole size after the stroke")
    timings["stroke -> new hole"] = time.monotonic() - t
    _wait_changed(completions, after_tiles, "every completion after the stroke", every=True)
    timings["stroke -> new completions"] = time.monotonic() - t
    assert int(new_hole.split()[1]) > int(before_hole.split()[1]), (before_hole, new_hole)
    assert canvas.screenshot() != after_canvas
