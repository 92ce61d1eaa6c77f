"""The kit as a book: a profile's executed notebooks, ``docs/method.md``, ``docs/teaching.md`` and the
reproduction report (``REPRODUCTION.md``, the results page) as a static HTML site, built offline
with Jupyter Book 1 (Sphinx, MyST-NB; pinned in ``environment.yml``).

    ./run_all.sh book                     # the committed study (profile study): trains no row
    ./run_all.sh book --profile demo      # after ./run_all.sh demo
    ./run_all.sh book --serve             # build, then serve it on 127.0.0.1 (Ctrl-C stops)
    ./run_all.sh book --store             # execute the notebooks again and keep them with the references

Where the executed notebooks come from (:func:`executed_notebooks`):

* ``results/<profile>/notebooks/`` when ``./run_all.sh <profile>`` finished there (its
  ``run.json`` says which commit and machine produced them);
* otherwise, for a profile with committed references (``references/<profile>/``, the study), the
  executions kept with them (``references/<profile>/book/``, :mod:`.book_store`) while every
  notebook's code is the same as when they were kept (their outputs in the current text); the
  build then takes about a minute. ``./run_all.sh book --store`` (re)makes that store;
* otherwise the kit's runner executes every notebook into the book's own results folder, whose run cache holds
  the committed trained generators (:func:`inpainting.references.reference_models`: current keys,
  intact files only), with :data:`COMMITTED_ONLY`: the rows the references hold (seed 0; the
  baselines are not committed). The only training left is the shared reconstruction warm start
  (notebook 03 shows it, and the rows start from it). Executed notebooks are reused while the
  commit is the same.

Every page opens with a note of the profile, overrides, commit and machine that produced the
outputs. Cross-references ``docs/method.md §5.4`` become links to that section, notebook names
(``04_loss_ablation``, ``notebook 04``) links to their pages, and links to repository files outside
the book plain text naming the file. The build is checked (:mod:`.book_check`): a broken link, a
missing figure or a notebook page without outputs fails it. Equations are typeset by a local copy of
MathJax (``sphinx-mathjax-offline``), widgets' JavaScript is not loaded: nothing is fetched from
the network when the book is built or read.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import book_store
from .book_check import require_sound
from .book_links import DOCS, RESULTS_PAGE, add_section_targets, link_references, method_sections

REPO_ROOT = Path(__file__).resolve().parents[3]
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
BOOK_ROOT = REPO_ROOT / "build" / "book"          # build/book/<profile>/ (git-ignored)
HTML = Path("_build") / "html"                    # the site, under the profile's book folder
# Overrides for a profile executed from its committed references: one seed, no baselines (only the
# lite rows' seed 0 are committed), 48 test images per mask kind (the pilot's, as the committed
# figures; the study's 192 take 4x the evaluation: its verdicts are REPRODUCTION.md's, computed
# from the committed per-image records), no learning curves (the committed runs keep no curve/
# generators; notebook 06 shows the committed curves' figure). None changes a run key.
COMMITTED_ONLY = {"experiments.seeds": 1, "experiments.faces_baselines": [],
                  "experiments.facades_baselines": [], "faces.n_test": 48, "facades.n_test": 48,
                  "train.curve_points": 0}
RUNNER = "python -m inpainting.teaching.notebook_runner"
COMMITTED_SOURCE = ("No finished `./run_all.sh {profile}` was found, so the notebooks were executed "
                    "from the committed references (`references/{profile}/`: seed 0 of each lite "
                    "row; the baselines are not committed and not shown); only the reconstruction "
                    "warm start that notebook 03 shows was trained.")
FAVICON = "favicon.svg"   # a square with a hole, the kit's task
FAVICON_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" '
               'height="16" fill="#2f6f9f"/><rect x="5" y="5" width="6" height="6" fill="#fff"/></svg>\n')


# ------------------------------------------------------------------------------ provenance
@dataclass(frozen=True)
class Provenance:
    """Who produced a book's outputs: one note on every page."""

    profile: str
    commit: str
    machine: str
    finished: str
    source: str                     # where the executed notebooks come from, in words
    overrides: dict = field(default_factory=dict)

    def note(self, text_commit: str | None = None) -> str:
        """The note atop a notebook page, or (``text_commit``: the commit of the page's text) atop
        a page of text, which names the notebooks' outputs it sits beside."""
        overrides = (f" with overrides `{json.dumps(self.overrides)}`" if self.overrides else "")
        what = ("**Outputs on this page:**" if text_commit is None else
                f"**This page** is the repository's text at commit `{text_commit}`. **The "
                "notebooks' outputs in this book:**")
        return (f":::{{note}}\n{what} profile **{self.profile}**{overrides}, "
                f"commit `{self.commit}`, machine: {self.machine}; executed {self.finished} by the "
                f"kit's runner (`{RUNNER}`). {self.source}\n:::\n")

    def footer(self) -> str:
        return (f"Outputs: profile {self.profile}, commit {self.commit[:12]}, machine "
                f"{self.machine}.")


def read_run_json(results: Path) -> dict:
    """``results/run.json``, checked (:mod:`inpainting.stored`: present, JSON, an object)."""
    from ..stored import read_json_object
    return read_json_object(results / "run.json", f"run ./run_all.sh {results.name} (or build the "
                            "book again) to write it anew", finite=False)


def read_provenance(results: Path, source: str, overrides: dict | None = None) -> Provenance:
    """The provenance of the executed notebooks in ``results`` (a profile's results folder), from
    its ``run.json`` (written by ``./run_all.sh <profile>`` or :func:`execute`)."""
    info = read_run_json(results)
    torch_version = (info.get("packages") or {}).get("torch", "?")
    machine = f"{info.get('device_name', '?')} ({info.get('device', '?')}, torch {torch_version})"
    return Provenance(info.get("profile", results.name), info.get("git_commit") or "unknown",
                      machine, str(info.get("finished") or info.get("started") or "?"), source,
                      overrides or info.get("book_overrides") or {})


# ------------------------------------------------------------------------ executed notebooks
def source_notebooks() -> list[Path]:
    return sorted((REPO_ROOT / "notebooks").glob(NOTEBOOK_GLOB))


def finished_run(results: Path) -> bool:
    """True when ``results`` (a profile's results folder) holds every notebook executed by a run
    that finished without a failure."""
    try:
        info = json.loads((results / "run.json").read_text())
    except (OSError, ValueError):
        return False
    return info.get("status") == "ok" and all((results / "notebooks" / nb.name).is_file()
                                              for nb in source_notebooks())


def executed_notebooks(profile: str, folder: Path, stored: bool = True) -> tuple[Path, Provenance]:
    """The folder of ``profile``'s executed notebooks and their provenance: a finished
    ``./run_all.sh <profile>``, else (a profile with committed references) the executions kept
    with them (:mod:`.book_store`, unless ``stored`` is False or a notebook's code changed since),
    else :func:`execute` into ``folder/results``."""
    from ..references import read_manifest
    from ..disk import results_dir
    results = results_dir(profile)
    if finished_run(results):
        return results / "notebooks", read_provenance(
            results, f"Executed by `./run_all.sh {profile}` into `results/{profile}/`.")
    if read_manifest(profile) is None:
        raise FileNotFoundError(
            f"no executed notebooks of profile {profile!r} in {results}/notebooks (and no committed "
            f"references of it to execute them from): run ./run_all.sh {profile} first, then "
            f"./run_all.sh book --profile {profile}")
    if stored:
        manifest, why = book_store.load(profile, source_notebooks(), folder / "stored")
        if manifest is not None:
            print(f"book: the notebooks executed at commit {manifest['commit'][:12]} kept in "
                  f"{book_store.store_folder(profile)} (their code is the current notebooks')",
                  flush=True)
            return folder / "stored", Provenance(
                profile, manifest["commit"], manifest["machine"], manifest["finished"],
                COMMITTED_SOURCE.format(profile=profile) + " The outputs were kept with the "
                "references; the text is the current notebooks'.", manifest["overrides"])
        print(f"book: {why}: executing every notebook (about half an hour on 2 cores)", flush=True)
    return execute(profile, folder / "results")


def store(profile: str, folder: Path | None = None) -> Path:
    """Execute ``profile``'s notebooks from its committed references (or reuse an execution at
    this clean commit) and keep them with the references (:func:`.book_store.save`)."""
    from ..references import read_manifest
    from ..runtime import git_commit
    if read_manifest(profile) is None:
        raise SystemExit(f"book --store: profile {profile!r} has no committed references "
                         f"(references/{profile}/) to keep executed notebooks with; its book is "
                         f"built from ./run_all.sh {profile}'s own notebooks")
    commit = git_commit() or "unknown"
    if commit == "unknown" or commit.endswith("-dirty"):
        raise SystemExit(f"book --store: the working tree is not a clean commit ({commit}); commit "
                         "first, since the kept notebooks name the commit that produced them")
    notebooks, provenance = executed_notebooks(profile, folder or BOOK_ROOT / profile, stored=False)
    seconds = read_run_json(notebooks.parent).get("notebooks", {})
    return book_store.save(profile, notebooks, {
        "commit": provenance.commit, "machine": provenance.machine,
        "finished": provenance.finished, "overrides": provenance.overrides}, source_notebooks(),
        seconds)


def seed_run_cache(profile: str) -> list[str]:
    """Copy the committed trained generators of ``profile`` (seed 0 of each row,
    :func:`inpainting.references.reference_models`: only current, intact ones) into its run cache
    (``results_dir(profile)/runs``), as the finished runs they are; returns their folder names."""
    from ..experiments import Plan
    from ..profiles import ROLES, get_profile
    from ..references import reference_models
    from ..disk import results_dir
    p = get_profile(profile)
    copied = []
    for role in ROLES:
        for model in reference_models(p, role, seeds=Plan(p).seeds[:1]):
            dest = results_dir(profile, "runs", role) / model.run_dir.name
            if not dest.exists():
                shutil.copytree(model.run_dir, dest)
            copied.append(f"{role}/{dest.name}")
    return copied


@contextlib.contextmanager
def results_root(root: Path):
    """``$INPAINTING_RESULTS`` set to ``root`` for the block: this process and the kernels it
    starts write there."""
    from ..disk import RESULTS_ENV
    previous = os.environ.get(RESULTS_ENV)
    os.environ[RESULTS_ENV] = str(root)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(RESULTS_ENV, None)
        else:
            os.environ[RESULTS_ENV] = previous


def execute(profile: str, root: Path) -> tuple[Path, Provenance]:
    """Execute every notebook of ``profile`` with the kit's runner into the results root ``root``
    (its run cache seeded by :func:`seed_run_cache`, :data:`COMMITTED_ONLY`); the executed
    notebooks of an earlier call are reused while the commit is the same (and clean)."""
    from ..runtime import environment_info, git_commit
    from ..disk import now_iso, update_run_json
    from .notebook_runner import run_notebook, run_to
    results = root / profile
    commit = git_commit() or "unknown"
    source = COMMITTED_SOURCE.format(profile=profile)
    if finished_run(results) and not commit.endswith("-dirty") and \
            read_run_json(results).get("git_commit") == commit:
        print(f"book: reusing the notebooks executed at commit {commit[:12]} in {results}", flush=True)
        return results / "notebooks", read_provenance(results, source, COMMITTED_ONLY)
    with results_root(root):
        seeded = seed_run_cache(profile)
        print(f"book: the run cache of {results} holds the committed runs {', '.join(seeded)}",
              flush=True)
        (results / "run.json").unlink(missing_ok=True)   # a new record, as run_all.sh starts one
        update_run_json(profile, profile=profile, started=now_iso(), finished=None,
                        status="running", notebooks={}, book_overrides=COMMITTED_ONLY,
                        **environment_info())
        out = results / "notebooks"
        out.mkdir(parents=True, exist_ok=True)
        for nb in source_notebooks():
            print(f"book: executing {nb.name} (profile {profile})", flush=True)
            start = time.monotonic()
            try:
                run_to(nb, out / nb.name, True,
                       lambda dest, nb=nb: run_notebook(nb, dest, profile, COMMITTED_ONLY))
            except Exception:
                update_run_json(profile, finished=now_iso(), status=f"failed: {nb.name}")
                raise
            seconds = round(time.monotonic() - start)   # as run_all.sh records them
            update_run_json(profile, notebooks={nb.name: seconds})
            print(f"book: done {nb.name} in {seconds} s", flush=True)
        update_run_json(profile, finished=now_iso(), status="ok")
    return out, read_provenance(results, source, COMMITTED_ONLY)


# ------------------------------------------------------------------------------ the sources
def _with_note(markdown: str, note: str) -> str:
    """``markdown`` with ``note`` after its first heading line (the page's title stays first)."""
    lines = markdown.split("\n")
    first = next((i for i, line in enumerate(lines) if line.startswith("# ")), -1)
    return "\n".join(lines[:first + 1] + ["", note] + lines[first + 1:])


def stage(notebooks: Path, provenance: Provenance, source: Path) -> list[str]:
    """Write the book's sources into ``source`` (the repository's layout: ``notebooks/``,
    ``docs/``, ``REPRODUCTION.md``, plus ``index.md``, ``_toc.yml``, ``_config.yml``); returns the
    notebook pages (repository paths) in order."""
    if source.exists():
        shutil.rmtree(source)   # the book's own staging folder, rebuilt from the sources each time
    (source / "notebooks").mkdir(parents=True)
    (source / "docs").mkdir()
    nb_pages = [f"notebooks/{nb.name}" for nb in source_notebooks()]
    pages = {Path(p).name[:2]: p for p in nb_pages}
    method = (REPO_ROOT / DOCS[0]).read_text()
    sections = method_sections(method)
    from ..runtime import git_commit
    note, text_note = provenance.note(), provenance.note(git_commit() or "unknown")
    for rel in nb_pages:
        executed = notebooks / Path(rel).name
        if not executed.is_file():
            raise FileNotFoundError(f"{executed}: the executed notebook is missing; run "
                                    f"./run_all.sh {provenance.profile} (or build the book again)")
        nb = nbformat.read(executed, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = link_references(cell.source, rel, pages, sections)
        title = next(c for c in nb.cells if c.cell_type == "markdown")
        title.source = _with_note(title.source, note)
        nbformat.write(nb, source / rel)
    for rel in (*DOCS, RESULTS_PAGE):
        text = (REPO_ROOT / rel).read_text()
        if rel == DOCS[0]:
            text = add_section_targets(text)
        (source / rel).write_text(_with_note(link_references(text, rel, pages, sections), text_note))
    (source / "index.md").write_text(_index(text_note))
    (source / "_toc.yml").write_text(_toc(nb_pages))
    (source / "_config.yml").write_text(_config(provenance))
    (source / FAVICON).write_text(FAVICON_SVG)
    return nb_pages


def _index(note: str) -> str:
    return f"""# Semantically consistent image completion: the kit as a book

{note}
A notebook-centred reproduction of Liu, Qi, He, Li, Lyu and King (2017), *Semantically Consistent
Image Completion with Fine-grained Details* ([arXiv:1711.09345](https://arxiv.org/abs/1711.09345)).
Only the paper's abstract is available: every design choice is labelled [PAPER], [PROTO],
[BASELINE-SRC] or [INFERRED] and explained in [the method](docs/method.md), and no number in this
book is the paper's.

Read the notebooks in order (01 to 07): each opens with its learning goals and ends with exercises.
[The method](docs/method.md) is the reference they cite (§ numbers), [teaching with the
kit](docs/teaching.md) the guide for a class, and [the reproduction report](REPRODUCTION.md) the
verdict on each of the abstract's claims. To run the notebooks yourself, clone the repository and
run `./run_all.sh lab`.

```{{tableofcontents}}
```
"""


def _toc(nb_pages: list[str]) -> str:
    chapters = lambda files: "".join(f"      - file: {Path(f).with_suffix('')}\n" for f in files)
    return ("format: jb-book\nroot: index\nparts:\n"
            f"  - caption: Notebooks\n    chapters:\n{chapters(nb_pages)}"
            f"  - caption: The method and the class\n    chapters:\n{chapters(DOCS)}"
            f"  - caption: Results\n    chapters:\n{chapters([RESULTS_PAGE])}")


def _config(provenance: Provenance) -> str:
    from jupyter_book.config import get_default_sphinx_config
    extensions = get_default_sphinx_config()["extensions"]
    config = {
        "title": "Image completion kit", "author": "the inpainting kit",
        "only_build_toc_files": True,
        "execute": {"execute_notebooks": "off"},   # executed by the kit's runner, never here
        "html": {"use_repository_button": False, "use_issues_button": False,
                 "use_edit_page_button": False, "extra_footer": provenance.footer(),
                 "favicon": FAVICON},   # else browsers ask for /favicon.ico: a 404 in the console
        "launch_buttons": {"notebook_interface": "classic", "binderhub_url": "", "colab_url": "",
                           "thebe": False},
        "sphinx": {
            "recursive_update": True,
            # Jupyter Book's extensions without sphinx_thebe (live code from a remote kernel; its
            # inline script is declared twice, a page error), with MathJax from the wheel's own
            # copy (served from _static/mathjax), not from a CDN
            "config": {"extensions": [e for e in extensions if e != "sphinx_thebe"]
                                     + ["sphinx-mathjax-offline"],
                       "nb_ipywidgets_js": {},   # widgets' JavaScript would come from a CDN
                       # a theme mode, else the theme logs "Got invalid theme mode" as an error
                       "html_context": {"default_mode": "light"},
                       "html_show_sourcelink": False,
                       "suppress_warnings": ["mystnb.unknown_mime_type"]}},
    }
    return json.dumps(config, indent=1) + "\n"   # JSON is YAML


# ------------------------------------------------------------------------------- build, serve
def build(profile: str, folder: Path | None = None) -> Path:
    """Build the book of ``profile`` into ``folder`` (default ``build/book/<profile>/``) from its
    executed notebooks (:func:`executed_notebooks`); returns the checked site's folder."""
    folder = folder or BOOK_ROOT / profile
    return build_book(*executed_notebooks(profile, folder), folder)


def build_book(notebooks: Path, provenance: Provenance, folder: Path) -> Path:
    """Stage the sources (:func:`stage`) in ``folder/source``, build them with Jupyter Book into
    ``folder/_build/html``, check the site (:func:`.book_check.require_sound`: a broken book
    raises) and return its folder."""
    source = folder / "source"
    nb_pages = stage(notebooks, provenance, source)
    html = folder / HTML
    if html.parent.exists():   # the previous build of this book, made by this function: an
        shutil.rmtree(html.parent)   # incremental build would declare sphinx-thebe's script twice
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(source),
               "--path-output", str(folder), "--builder", "html", "--keep-going", "--quiet"]
    done = subprocess.run(command)
    if done.returncode != 0:
        raise RuntimeError(f"jupyter-book failed (exit {done.returncode}) on {source}; its messages "
                           "are above")
    require_sound(html, [str(Path(p).with_suffix(".html")) for p in nb_pages])
    return html


def server(html: Path, port: int = 0) -> http.server.ThreadingHTTPServer:
    """A static file server of ``html`` on 127.0.0.1 (``port`` 0: a free one)."""
    handler = functools.partial(_QuietHandler, directory=str(html))
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:   # one line per request is noise in class
        pass


def serve(html: Path, port: int) -> None:
    """Serve ``html`` on 127.0.0.1:``port`` until Ctrl-C."""
    with server(html, port) as httpd:
        print(f"book: serving {html} at http://127.0.0.1:{httpd.server_address[1]}/ (Ctrl-C stops)",
              flush=True)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run_all.sh book", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="study",
                        help="whose executed notebooks (default: study, from its committed references)")
    parser.add_argument("--serve", action="store_true", help="serve the built book on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="port of --serve (default 8000)")
    parser.add_argument("--store", action="store_true",
                        help="execute the notebooks from the committed references and keep them "
                             "there (references/<profile>/book/), then build")
    args = parser.parse_args(argv)
    from ..profiles import get_profile
    try:
        get_profile(args.profile)
    except ValueError as exc:
        parser.error(str(exc))
    if args.store:
        print(f"book: kept {store(args.profile)}", flush=True)
    html = build(args.profile)
    print(f"book: {html / 'index.html'} (checked: links, figures, notebook outputs)", flush=True)
    if args.serve:
        serve(html, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
