"""Checks of a built book (``./run_all.sh book``): a broken book fails its build.

:func:`check_book` reads every HTML page of the built folder and returns one line per problem:

* a link to a page or file of the book that does not exist, or to an anchor (``page.html#x``)
  that the page does not define;
* a figure (``<img src>``) whose file is missing or empty;
* a script, style sheet or image fetched from another host (the book must render with no
  network: MathJax and the theme's files are served from the folder itself);
* a notebook page without outputs, or with an error's traceback among them.

Links to other sites (``<a href="https://...">``, the paper on arXiv) are what a reader follows on
purpose and are not checked. Only the standard library is used, so the checks run anywhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

# The elements a notebook page's outputs are rendered in by MyST-NB, and those of a traceback.
OUTPUT_CLASS = "cell_output"
ERROR_CLASSES = ("traceback", "output_error")
# Where a page fetches what it needs to render (attribute by element).
# Folders of the theme's and Sphinx's own files (templates, sources), not pages of the book.
SUPPORT_FOLDERS = ("_static", "_sources")
RESOURCE_ATTRIBUTES = {"script": "src", "img": "src", "link": "href", "source": "src"}


class BookCheckError(RuntimeError):
    """A built book failed :func:`check_book`; the message lists every problem."""


@dataclass
class Page:
    """What :func:`read_page` finds in one HTML page."""

    ids: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)        # <a href>
    resources: list[tuple[str, str]] = field(default_factory=list)   # (element, url) it loads
    figures: list[str] = field(default_factory=list)      # <img src>
    outputs: int = 0                                      # elements of class cell_output
    errors: int = 0                                       # tracebacks among the outputs


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for key in ("id", "name"):
            if a.get(key):
                self.page.ids.add(a[key])
        classes = a.get("class", "").split()
        self.page.outputs += OUTPUT_CLASS in classes
        self.page.errors += any(c in classes for c in ERROR_CLASSES)
        if tag == "a" and a.get("href"):
            self.page.links.append(a["href"])
        attribute = RESOURCE_ATTRIBUTES.get(tag)
        if attribute and a.get(attribute):
            if tag != "link" or a.get("rel", "") in ("stylesheet", "preload", "icon", "modulepreload"):
                self.page.resources.append((tag, a[attribute]))
            if tag == "img":
                self.page.figures.append(a[attribute])

    handle_startendtag = handle_starttag


def read_page(path: Path) -> Page:
    reader = _Reader()
    reader.feed(Path(path).read_text(encoding="utf-8", errors="replace"))
    return reader.page


def _external(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme and parts.scheme not in ("file",)) or url.startswith("//")


def _target(page: Path, url: str) -> tuple[Path, str]:
    """The file and the anchor a relative ``url`` of ``page`` points at."""
    parts = urlsplit(url)
    file = page if not parts.path else (page.parent / unquote(parts.path))
    if file.is_dir():
        file = file / "index.html"
    return file.resolve(), unquote(parts.fragment)


def check_book(folder: str | Path, notebook_pages: list[str]) -> list[str]:
    """Every problem of the built book in ``folder`` (empty when it is sound);
    ``notebook_pages`` are the pages (relative paths: ``notebooks/<name>.html``) that must
    show a notebook's outputs."""
    folder = Path(folder).resolve()
    pages = {p.resolve(): read_page(p) for p in sorted(folder.rglob("*.html"))
             if not p.relative_to(folder).parts[0] in SUPPORT_FOLDERS}
    problems: list[str] = []
    if not pages:
        return [f"{folder}: no HTML page; build the book with ./run_all.sh book"]
    for path, page in pages.items():
        name = path.relative_to(folder)
        for tag, url in page.resources:
            if url.startswith("data:"):
                continue
            if _external(url):
                problems.append(f"{name}: <{tag}> loads {url} from another host (the book must "
                                "render offline: serve the file from the book's _static/)")
                continue
            file, _ = _target(path, url)
            if not file.is_file() or file.stat().st_size == 0:
                what = "figure" if tag == "img" else f"<{tag}> file"
                problems.append(f"{name}: {what} {url} is missing or empty ({file})")
        for url in page.links:
            if _external(url) or url.startswith(("mailto:", "javascript:", "data:")):
                continue
            file, anchor = _target(path, url)
            if not file.is_relative_to(folder) or not file.exists():
                problems.append(f"{name}: broken link {url} (no file {file})")
            elif anchor and file.suffix == ".html" and anchor not in pages[file].ids:
                problems.append(f"{name}: broken link {url} (no anchor #{anchor} in "
                                f"{file.relative_to(folder)})")
    for rel in notebook_pages:
        page = pages.get((folder / rel).resolve())
        if page is None:
            problems.append(f"{rel}: the notebook's page is missing from the book")
        elif page.outputs == 0:
            problems.append(f"{rel}: the notebook's page shows no outputs (was it executed? the "
                            "book takes executed notebooks: ./run_all.sh book --profile <profile>)")
        elif page.errors:
            problems.append(f"{rel}: {page.errors} output(s) show an error's traceback; fix the "
                            "notebook's failing cell and build the book again")
    return problems


def require_sound(folder: str | Path, notebook_pages: list[str]) -> None:
    """:func:`check_book`, raising :class:`BookCheckError` with every problem when there is one."""
    problems = check_book(folder, notebook_pages)
    if problems:
        raise BookCheckError(f"the book in {folder} has {len(problems)} problem(s):\n  "
                             + "\n  ".join(problems))
