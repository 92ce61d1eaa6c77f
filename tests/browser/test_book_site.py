"""The book (``./run_all.sh book``) in a real browser: headless Chromium opens the study's book
from a server on 127.0.0.1, follows the table of contents page by page, checks that an equation is
typeset and a figure is shown, that nothing is fetched from another host and that the console
shows no error, and takes screenshots of a notebook page and of the results page.

The book is built as ``./run_all.sh book`` builds it (``build/book/study/``: the notebooks executed
from the committed references and kept with them in ``references/study/book/``), in about a minute. The screenshots go to the test's temporary folder, and to ``docs/screenshots/`` with
``INPAINTING_BOOK_SCREENSHOTS=1`` (how the committed ones were made). Skipped (with the reason)
when Chromium or Playwright is missing, unless ``INPAINTING_REQUIRE_BROWSER=1`` (``.ci/run``).
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from inpainting.teaching import book
from lab_session import CHROMIUM, CHROMIUM_ARGS, require_browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
NOTEBOOK_SHOT = "03_training"      # equations, a figure and outputs on one page
TOC = [f"notebooks/{p.stem}" for p in book.source_notebooks()] + \
      [str(Path(p).with_suffix("")) for p in (*book.DOCS, book.RESULTS_PAGE)]


@pytest.fixture(scope="module")
def site():
    require_browser()
    html = book.build("study")
    httpd = book.server(html)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.slow
def test_the_book_reads_offline_in_a_browser(site, tmp_path):
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    elsewhere: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}")
                    if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))

            def offline(route):   # the book must need nothing from another host
                if urlsplit(route.request.url).hostname == "127.0.0.1":
                    return route.continue_()
                elsewhere.append(route.request.url)
                return route.abort()
            page.route("**/*", offline)
            _drive(page, site, tmp_path)
        finally:
            browser.close()
    assert not elsewhere, "the book fetched from other hosts:\n" + "\n".join(elsewhere)
    assert not problems, "browser console errors:\n" + "\n".join(problems)
    if os.environ.get("INPAINTING_BOOK_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in ("book_notebook.png", "book_results.png"):
            shutil.copyfile(tmp_path / shot, SCREENSHOTS / shot)


TOC_LINKS = "nav.bd-docs-nav a.reference.internal"


def _toc(page, site: str) -> list[str]:
    """The pages the table of contents links to, in its order (the root page left out)."""
    hrefs = page.locator(TOC_LINKS).evaluate_all("links => links.map(a => a.href.split('#')[0])")
    return [h.removeprefix(site).removesuffix(".html") for h in hrefs]


def _drive(page, site: str, shots: Path) -> None:
    page.goto(site + "index.html")
    page.wait_for_load_state("load")
    pages = [p for p in _toc(page, site) if p != "index"]
    assert pages == TOC, f"table of contents {pages}, expected the notebooks' order then {TOC[-3:]}"
    for expected in TOC:   # follow the table of contents, one click per page
        page.locator(TOC_LINKS).nth(_toc(page, site).index(expected)).click()
        page.wait_for_load_state("load")
        assert page.url.split("#")[0] == f"{site}{expected}.html", (page.url, expected)
        assert page.locator("article h1").count() >= 1, f"{expected}: no title"
        note = "Outputs on this page:" if expected.startswith("notebooks/") else "outputs in this book:"
        assert page.get_by_text(note).count() >= 1, f"{expected}: no provenance note"
        if expected.startswith("notebooks/"):
            assert page.locator(".cell_output").count() > 0, f"{expected}: no outputs"
        if expected == f"notebooks/{NOTEBOOK_SHOT}":
            _check_equation_and_figure(page)
            page.evaluate("document.querySelector('mjx-container[display=\"true\"]')"
                          ".scrollIntoView({block: 'center'})")
            page.screenshot(path=str(shots / "book_notebook.png"))
        if expected == "REPRODUCTION":
            assert page.locator("article table").count() >= 1, "the results page shows no table"
            page.evaluate("document.querySelector('section#results').scrollIntoView()")
            page.screenshot(path=str(shots / "book_results.png"))


def _check_equation_and_figure(page) -> None:
    """MathJax typeset the page's display equation (an ``mjx-container`` with a size) and a figure
    of the outputs loaded (its natural width > 0)."""
    page.wait_for_function("() => document.querySelectorAll('mjx-container[display=\"true\"]').length > 0")
    box = page.locator('mjx-container[display="true"]').first.bounding_box()
    assert box and box["width"] > 50 and box["height"] > 10, f"equation not typeset: {box}"
    figure = page.locator(".cell_output img").first
    figure.scroll_into_view_if_needed()
    width = figure.evaluate("img => img.complete ? img.naturalWidth : 0")
    assert width > 100, f"the first figure did not load (natural width {width})"
