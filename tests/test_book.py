"""The book (``./run_all.sh book``, :mod:`inpainting.teaching.book`): its checks fail on a broken
link, a missing figure and a notebook page without outputs; cross-references become links; the
staged sources carry every page's provenance; a real Jupyter Book build of executed-looking
notebooks passes the checks offline."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from inpainting.teaching import book, book_links
from inpainting.teaching.book_check import BookCheckError, check_book, require_sound

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_PAGE = "notebooks/01_data.html"
SOUND = {
    "index.html": '<a href="notebooks/01_data.html#goals">01</a> <a href="https://arxiv.org/abs/1">x</a>'
                  '<script src="_static/mathjax/tex-chtml.js?v=1"></script>'
                  '<link rel="stylesheet" href="_static/theme.css">',
    NOTEBOOK_PAGE: '<h1 id="goals">Data</h1><a href="../index.html">home</a><a href="#goals">top</a>'
                   '<div class="cell_output docutils container"><img src="../_images/fig.png"></div>',
    "_static/mathjax/tex-chtml.js": "/* MathJax */",
    "_static/theme.css": "body {}",
    "_images/fig.png": "PNG",
}


def write_site(folder: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


def problems_with(tmp_path: Path, **changes: str | None) -> list[str]:
    files = {**SOUND}
    for rel, text in changes.items():
        rel = rel.replace("__", "/").replace("_DOT_", ".")
        if text is None:
            files.pop(rel)
        else:
            files[rel] = text
    return check_book(write_site(tmp_path / "html", files), [NOTEBOOK_PAGE])


def test_a_sound_book_passes(tmp_path):
    assert problems_with(tmp_path) == []
    require_sound(tmp_path / "html", [NOTEBOOK_PAGE])   # does not raise


def test_a_broken_link_fails(tmp_path):
    problems = problems_with(tmp_path, index_DOT_html='<a href="notebooks/02_missing.html">02</a>')
    assert len(problems) == 1 and "broken link notebooks/02_missing.html" in problems[0]
    with pytest.raises(BookCheckError, match="broken link"):
        require_sound(tmp_path / "html", [NOTEBOOK_PAGE])


def test_a_link_to_a_missing_anchor_fails(tmp_path):
    problems = problems_with(tmp_path, index_DOT_html='<a href="notebooks/01_data.html#nowhere">01</a>')
    assert len(problems) == 1 and "no anchor #nowhere" in problems[0]


def test_a_link_out_of_the_book_fails(tmp_path):
    problems = problems_with(tmp_path, index_DOT_html='<a href="../../README.md">readme</a>')
    assert len(problems) == 1 and "broken link ../../README.md" in problems[0]


def test_a_missing_figure_fails(tmp_path):
    problems = problems_with(tmp_path, **{"_images__fig_DOT_png": None})
    assert len(problems) == 1 and "figure ../_images/fig.png is missing" in problems[0]


def test_an_empty_figure_fails(tmp_path):
    problems = problems_with(tmp_path, **{"_images__fig_DOT_png": ""})
    assert len(problems) == 1 and "missing or empty" in problems[0]


def test_a_script_from_another_host_fails(tmp_path):
    page = SOUND["index.html"] + '<script src="https://cdn.example.org/mathjax.js"></script>'
    problems = problems_with(tmp_path, index_DOT_html=page)
    assert len(problems) == 1 and "from another host" in problems[0]


def test_a_notebook_page_without_outputs_fails(tmp_path):
    problems = problems_with(tmp_path, notebooks__01_data_DOT_html='<h1 id="goals">Data</h1>')
    assert len(problems) == 1 and "shows no outputs" in problems[0]


def test_a_notebook_page_with_a_traceback_fails(tmp_path):
    page = SOUND[NOTEBOOK_PAGE] + '<div class="cell_output"><pre class="output traceback">x</pre></div>'
    problems = problems_with(tmp_path, notebooks__01_data_DOT_html=page)
    assert len(problems) == 1 and "traceback" in problems[0]


def test_a_missing_notebook_page_fails(tmp_path):
    index = '<script src="_static/mathjax/tex-chtml.js"></script><link rel="stylesheet" href="_static/theme.css">'
    problems = problems_with(tmp_path, notebooks__01_data_DOT_html=None, index_DOT_html=index)
    assert problems == [f"{NOTEBOOK_PAGE}: the notebook's page is missing from the book"]


# ------------------------------------------------------------------------------ cross-references
PAGES = {"03": "notebooks/03_training.ipynb", "04": "notebooks/04_loss_ablation.ipynb"}
UNKNOWN = "docs/method.md §" + "99"   # a section that does not exist (built so the repository's
#                                         own reference check, tests/test_references.py, skips it)


def test_method_sections_become_links():
    text = ("see docs/method.md §5.4, and (`docs/method.md` §1); §5.4 alone; " + UNKNOWN + " unknown; "
            "(`docs/method.md §1` and so on)")
    out = book_links.link_references(text, "notebooks/03_training.ipynb", PAGES, {"1", "5.4"})
    assert out.endswith("({ref}`docs/method.md §1 <method-s1>` and so on)")   # no stray backtick
    assert "{ref}`docs/method.md §5.4 <method-s5-4>`" in out
    assert "{ref}`docs/method.md §1 <method-s1>`" in out
    assert "; §5.4 alone" in out   # outside the method a bare § names no document
    assert UNKNOWN + " unknown" in out


def test_bare_sections_link_inside_the_method():
    out = book_links.link_references("as §5.4 says; §8.3.1 too", "docs/method.md", PAGES, {"5.4", "8.3.1"})
    assert out == "as {ref}`§5.4 <method-s5-4>` says; {ref}`§8.3.1 <method-s8-3-1>` too"


def test_section_targets_precede_numbered_headings():
    text = "# Title\n\n## 5. The objective\n\n### 5.4 The kit's objective [INFERRED]\n\n## Labels\n"
    out = book_links.add_section_targets(text)
    assert "(method-s5)=\n## 5. The objective" in out
    assert "(method-s5-4)=\n### 5.4 The kit's objective" in out
    assert "\n## Labels" in out and "(method-s" not in out.split("## Labels")[1]
    assert book_links.method_sections(text) == {"5", "5.4"}


def test_notebook_names_become_links_and_files_outside_the_book_plain_text():
    text = ("run `04_loss_ablation`, then notebook 03 and notebooks/04_loss_ablation.ipynb; "
            "see [the method](method.md), [README](../README.md), [`lib/x.py`](../lib/x.py), "
            "[arXiv](https://arxiv.org/abs/1711.09345); notebook 09 and `05_unknown` stay")
    out = book_links.link_references(text, "docs/teaching.md", PAGES, set())
    assert "{doc}`04_loss_ablation </notebooks/04_loss_ablation>`" in out
    assert "{doc}`notebook 03 </notebooks/03_training>`" in out
    assert "{doc}`notebooks/04_loss_ablation.ipynb </notebooks/04_loss_ablation>`" in out
    assert "[the method](method.md)" in out                       # a page of the book
    assert "README (`README.md` in the repository)" in out
    assert "`lib/x.py`," in out and "../lib/x.py" not in out
    assert "[arXiv](https://arxiv.org/abs/1711.09345)" in out
    assert "notebook 09 and `05_unknown` stay" in out


def test_code_blocks_are_left_alone():
    text = "notebook 03\n```python\n# notebook 03, docs/method.md §5.4\n```\nnotebook 04"
    out = book_links.link_references(text, "docs/teaching.md", PAGES, {"5.4"})
    assert "```python\n# notebook 03, docs/method.md §5.4\n```" in out
    assert out.startswith("{doc}`notebook 03") and out.endswith("{doc}`notebook 04 </notebooks/04_loss_ablation>`")


# ------------------------------------------------------------------------------ staging, build
PROVENANCE = book.Provenance("smoke", "0123456789abcdef", "Test CPU (cpu, torch 2)",
                             "2026-12-07T10:00:00+00:00", "Made by the test.", {"a.b": 1})
FIGURE = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


def fake_executed(folder: Path) -> Path:
    """The source notebooks, each code cell given a text output and the first one a figure (what
    the checks look at; nothing is executed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in book.source_notebooks():
        nb = nbformat.read(source, as_version=4)
        for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"cell {i}\n")]
            if i == 0:
                cell.outputs.append(nbformat.v4.new_output("display_data", data={"image/png": FIGURE,
                                                                                 "text/plain": "<Figure>"}))
        nbformat.write(nb, folder / source.name)
    return folder


def test_stage_writes_every_page_with_its_provenance(tmp_path):
    from inpainting import runtime
    pages = book.stage(fake_executed(tmp_path / "executed"), PROVENANCE, tmp_path / "source")
    assert pages == [f"notebooks/{p.name}" for p in book.source_notebooks()] and len(pages) == 7
    note = PROVENANCE.note()
    for rel in pages:
        nb = nbformat.read(tmp_path / "source" / rel, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "markdown").source.split("\n")
        assert first[0].startswith("# ") and "\n".join(first[2:]).startswith(note), rel
    text_note = PROVENANCE.note(runtime.git_commit() or "unknown")
    assert text_note.startswith(":::{note}\n**This page** is the repository's text at commit")
    for rel in (*book.DOCS, book.RESULTS_PAGE, "index.md"):
        text = (tmp_path / "source" / rel).read_text()
        assert text_note in text and text.startswith("# "), rel
    assert "profile **smoke**" in note and "`0123456789abcdef`" in note and "Test CPU" in note
    toc = (tmp_path / "source" / "_toc.yml").read_text()
    order = [line.split("file: ")[1] for line in toc.splitlines() if "file: " in line]
    assert order == [p[:-len(".ipynb")] for p in pages] + ["docs/method", "docs/teaching", "REPRODUCTION"]
    config = json.loads((tmp_path / "source" / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert "sphinx-mathjax-offline" in config["sphinx"]["config"]["extensions"]
    assert "sphinx_thebe" not in config["sphinx"]["config"]["extensions"]


def test_stage_refuses_a_missing_executed_notebook(tmp_path):
    executed = fake_executed(tmp_path / "executed")
    (executed / "03_training.ipynb").unlink()
    with pytest.raises(FileNotFoundError, match="03_training.ipynb: the executed notebook is missing"):
        book.stage(executed, PROVENANCE, tmp_path / "source")


def test_a_profile_without_a_run_or_references_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"run ./run_all.sh demo first"):
        book.executed_notebooks("demo", tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("jupyter-book", path=str(Path(book.sys.executable).parent)) is None,
                    reason="jupyter-book is not installed (./run_all.sh setup installs environment.yml)")
def test_jupyter_book_builds_a_sound_offline_book(tmp_path):
    html = book.build_book(fake_executed(tmp_path / "executed"), PROVENANCE, tmp_path / "book")
    assert check_book(html, [f"notebooks/{p.stem}.html" for p in book.source_notebooks()]) == []
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()   # MathJax served locally
    page = (html / "notebooks" / "03_training.html").read_text()
    assert "mathjax/tex-chtml.js" in page and "cdn.jsdelivr.net" not in page
    method = (html / "docs" / "method.html").read_text()
    assert 'id="method-s5-4"' in method
    assert 'href="../docs/method.html#method-s5-4"' in page or 'href="../docs/method.html#method-s5-4' in page
    assert "Test CPU" in page and "0123456789ab" in page


def test_the_committed_runs_seed_the_cache_and_train_nothing(tmp_path, monkeypatch):
    """The study's book trains none of its rows: the committed generators are finished runs of the
    cache, reused without their warm start."""
    from inpainting.experiments import ABLATION_VARIANTS, FULL_MODEL, train_variant, variant_spec
    from inpainting.profiles import get_profile
    from inpainting.references import read_manifest
    from inpainting.training.runs import run_folder
    monkeypatch.setenv("INPAINTING_RESULTS", str(tmp_path))
    copied = book.seed_run_cache("study")
    manifest = read_manifest("study")
    assert sorted(copied) == sorted(f"{e['role']}/{e['generator']}-{e['key']}" for e in manifest["models"])
    study = get_profile("study")
    result = train_variant(study, ABLATION_VARIANTS[FULL_MODEL], "facades", 0)
    spec = variant_spec(study, ABLATION_VARIANTS[FULL_MODEL], "facades", 0)
    assert result.generator_path.parent == run_folder(spec)
    assert not run_folder(spec.init).exists(), "the warm start of a finished run is not trained"
    assert book.seed_run_cache("study") == copied   # a second call copies nothing over


def test_a_finished_profile_run_is_the_books_source(tmp_path, monkeypatch):
    """``./run_all.sh book --profile demo`` after ``./run_all.sh demo``: the run's executed notebooks
    and its run.json's commit and machine."""
    monkeypatch.setenv("INPAINTING_RESULTS", str(tmp_path / "results"))
    results = tmp_path / "results" / "demo"
    fake_executed(results / "notebooks")
    run = {"profile": "demo", "status": "running", "git_commit": "feedc0de", "device": "cpu",
           "device_name": "Some CPU", "packages": {"torch": "2.14.1"}, "finished": "2026-12-07T11:00"}
    (results / "run.json").write_text(json.dumps(run))
    with pytest.raises(FileNotFoundError, match="run ./run_all.sh demo first"):   # not finished
        book.executed_notebooks("demo", tmp_path / "book")
    (results / "run.json").write_text(json.dumps({**run, "status": "ok"}))
    notebooks, provenance = book.executed_notebooks("demo", tmp_path / "book")
    assert notebooks == results / "notebooks"
    assert provenance == book.Provenance("demo", "feedc0de", "Some CPU (cpu, torch 2.14.1)",
                                         "2026-12-07T11:00", provenance.source, {})
    assert "./run_all.sh demo" in provenance.source
    (results / "notebooks" / "05_perceptual_levels.ipynb").unlink()
    assert not book.finished_run(results)


def test_execute_runs_every_notebook_with_the_kits_runner_once_per_commit(tmp_path, monkeypatch):
    """The committed study's notebooks: executed in order with :data:`book.COMMITTED_ONLY` into the
    book's own results folder (recorded in its run.json), reused at the same clean commit, executed
    again on a changed tree; a failing notebook is recorded and raised."""
    from inpainting import runtime
    from inpainting.teaching import notebook_runner
    calls: list[tuple[str, str, dict]] = []

    def fake_runner(notebook, output, profile, overrides=None, **kwargs):
        calls.append((Path(notebook).name, profile, overrides))
        if Path(notebook).name == failing[0]:
            raise RuntimeError("a cell failed")
        shutil.copyfile(notebook, output)
    failing = [""]
    monkeypatch.setattr(notebook_runner, "run_notebook", fake_runner)
    monkeypatch.setattr(runtime, "git_commit", lambda: "c0ffee")
    names = [p.name for p in book.source_notebooks()]
    notebooks, provenance = book.execute("study", tmp_path / "results")
    assert calls == [(n, "study", book.COMMITTED_ONLY) for n in names]
    assert sorted(p.name for p in notebooks.glob("*.ipynb")) == names
    run = json.loads((tmp_path / "results" / "study" / "run.json").read_text())
    assert run["status"] == "ok" and sorted(run["notebooks"]) == names
    assert (provenance.profile, provenance.commit, provenance.overrides) == ("study", "c0ffee", book.COMMITTED_ONLY)
    assert (tmp_path / "results" / "study" / "runs" / "facades").is_dir()   # the committed runs
    assert book.execute("study", tmp_path / "results")[0] == notebooks and len(calls) == len(names)
    monkeypatch.setattr(runtime, "git_commit", lambda: "c0ffee-dirty")
    book.execute("study", tmp_path / "results")
    assert len(calls) == 2 * len(names)
    failing[0] = "03_training.ipynb"
    with pytest.raises(RuntimeError, match="a cell failed"):
        book.execute("study", tmp_path / "results")
    run = json.loads((tmp_path / "results" / "study" / "run.json").read_text())
    assert run["status"] == "failed: 03_training.ipynb" and sorted(run["notebooks"]) == names[:2]
    assert os.environ.get("INPAINTING_RESULTS") != str(tmp_path / "results")   # restored
