"""Executed notebooks kept with the references (:mod:`inpainting.teaching.book_store`): outputs move
into the current text only while the code is the same; a changed notebook, a damaged file or an
absent store sends the book back to executing; the committed study's store matches the notebooks
(so a fresh clone's book needs no execution)."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import nbformat
import pytest

from inpainting.stored import DamagedFileError
from inpainting.teaching import book, book_store


def executed_copy(source: Path) -> nbformat.NotebookNode:
    """``source`` as the runner leaves it: an injected parameters cell after the ``parameters``
    cell, and an output on every code cell."""
    nb = nbformat.read(source, as_version=4)
    cells = []
    for i, cell in enumerate(nb.cells):
        cells.append(cell)
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"out {i}\n")]
            cell.execution_count = i
            if "parameters" in cell.metadata.get("tags", []):
                injected = nbformat.v4.new_code_cell('profile = "study"\n')
                injected.metadata["tags"] = [book_store.INJECTED]
                cells.append(injected)
    nb.cells = cells
    return nb


def test_outputs_move_into_the_current_text():
    source = book.source_notebooks()[2]
    current = nbformat.read(source, as_version=4)
    executed = executed_copy(source)
    first_md = next(c for c in current.cells if c.cell_type == "markdown")
    first_md.source += "\n\nA sentence added after the execution."
    merged = book_store.transplant(current, executed)
    assert merged is not None
    assert next(c for c in merged.cells if c.cell_type == "markdown").source.endswith("after the execution.")
    code = [c for c in merged.cells if c.cell_type == "code"
            and book_store.INJECTED not in c.metadata.get("tags", [])]
    assert code and all(c.outputs for c in code)
    tags = [c.metadata.get("tags", []) for c in merged.cells]
    at = next(i for i, t in enumerate(tags) if "parameters" in t)
    assert book_store.INJECTED in tags[at + 1]   # the runner's cell, where the runner put it
    assert len(merged.cells) == len(current.cells) + 1
    assert all(not c.outputs for c in current.cells if c.cell_type == "code")   # input unchanged


@pytest.mark.parametrize("change", ["edit", "add", "remove"])
def test_changed_code_refuses_the_kept_outputs(change):
    source = book.source_notebooks()[0]
    current = nbformat.read(source, as_version=4)
    executed = executed_copy(source)
    code = [c for c in current.cells if c.cell_type == "code"]
    if change == "edit":
        code[-1].source += "\nprint('new')"
    elif change == "add":
        current.cells.append(nbformat.v4.new_code_cell("1 + 1"))
    else:
        current.cells.remove(code[-1])
    assert book_store.transplant(current, executed) is None


def keep(tmp_path: Path, monkeypatch) -> tuple[Path, list[Path]]:
    """A store of every notebook under ``tmp_path``, as ``book --store`` writes it."""
    monkeypatch.setattr(book_store, "store_folder", lambda profile, root=None: tmp_path / "refs" / profile / "book")
    executed = tmp_path / "executed"
    executed.mkdir()
    sources = book.source_notebooks()
    for source in sources:
        nbformat.write(executed_copy(source), executed / source.name)
    manifest = book_store.save("study", executed, {"commit": "c0ffee" * 7, "machine": "Test CPU",
                                                   "finished": "2026-12-07", "overrides": {"a": 1}},
                               sources)
    return manifest, sources


def test_kept_notebooks_come_back_with_their_provenance(tmp_path, monkeypatch):
    manifest_path, sources = keep(tmp_path, monkeypatch)
    manifest = json.loads(manifest_path.read_text())
    assert sorted(manifest["notebooks"]) == [s.name for s in sources]
    assert all((manifest_path.parent / e["file"]).name.endswith(".ipynb.gz")
               for e in manifest["notebooks"].values())
    loaded, why = book_store.load("study", sources, tmp_path / "out")
    assert why == "" and loaded["commit"] == "c0ffee" * 7
    for source in sources:
        nb = nbformat.read(tmp_path / "out" / source.name, as_version=4)
        assert all(c.outputs for c in nb.cells if c.cell_type == "code"
                   and book_store.INJECTED not in c.metadata.get("tags", [])), source.name
    # the book reads them instead of executing (no finished profile run in the results folder)
    monkeypatch.setenv("INPAINTING_RESULTS", str(tmp_path / "results"))
    monkeypatch.setattr(book, "execute", lambda *a: pytest.fail("executed although kept"))
    folder, provenance = book.executed_notebooks("study", tmp_path / "book")
    assert folder == tmp_path / "book" / "stored"
    assert (provenance.commit, provenance.machine, provenance.overrides) == ("c0ffee" * 7, "Test CPU", {"a": 1})
    assert "kept with the references" in provenance.source


def test_a_changed_notebook_sends_the_book_back_to_executing(tmp_path, monkeypatch):
    _, sources = keep(tmp_path, monkeypatch)
    changed = tmp_path / "src"
    changed.mkdir()
    for s in sources:
        nb = nbformat.read(s, as_version=4)
        if s.name.startswith("04"):
            next(c for c in nb.cells if c.cell_type == "code").source += "\nx = 1"
        nbformat.write(nb, changed / s.name)
    loaded, why = book_store.load("study", sorted(changed.glob("*.ipynb")), tmp_path / "out")
    assert loaded is None and "the code of 04_" in why and "changed since" in why
    executed = []
    monkeypatch.setenv("INPAINTING_RESULTS", str(tmp_path / "results"))
    monkeypatch.setattr(book, "source_notebooks", lambda: sorted(changed.glob("*.ipynb")))
    monkeypatch.setattr(book, "execute", lambda profile, root: executed.append(profile) or (root, None))
    book.executed_notebooks("study", tmp_path / "book")
    assert executed == ["study"]


def test_an_absent_store_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(book_store, "store_folder", lambda profile, root=None: tmp_path / "none")
    loaded, why = book_store.load("study", book.source_notebooks(), tmp_path / "out")
    assert loaded is None and "no executed notebooks are kept" in why


@pytest.mark.parametrize("damage", ["altered", "not_gzip"])
def test_a_damaged_kept_notebook_is_named(tmp_path, monkeypatch, damage):
    manifest_path, sources = keep(tmp_path, monkeypatch)
    target = manifest_path.parent / f"{sources[1].name}.gz"
    if damage == "altered":
        nb = json.loads(gzip.decompress(target.read_bytes()))
        nb["cells"][0]["source"] = "changed"
        target.write_bytes(gzip.compress(json.dumps(nb).encode()))
    else:   # bytes that are no gzip, recorded as if they were the kept file
        target.write_bytes(b"not a gzip file")
        manifest = json.loads(manifest_path.read_text())
        manifest["notebooks"][sources[1].name]["sha256"] = book_store.file_sha256(target)
        manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(DamagedFileError, match=sources[1].name):
        book_store.load("study", sources, tmp_path / "out")


def test_the_committed_study_keeps_every_current_notebook(tmp_path):
    """A fresh clone's ``./run_all.sh book`` executes nothing: the committed store holds every
    notebook with its current code. After editing a notebook's code, keep them again with
    ``./run_all.sh book --store`` (about half an hour on 2 cores)."""
    loaded, why = book_store.load("study", book.source_notebooks(), tmp_path / "out")
    assert loaded is not None, f"{why}: run ./run_all.sh book --store and commit references/study/book/"
    assert loaded["profile"] == "study" and not loaded["commit"].endswith("-dirty")


def test_store_refuses_a_profile_without_references_and_a_dirty_tree(monkeypatch):
    from inpainting import runtime
    with pytest.raises(SystemExit, match="no committed references"):
        book.store("demo")
    monkeypatch.setattr(runtime, "git_commit", lambda: "c0ffee-dirty")
    with pytest.raises(SystemExit, match="not a clean commit"):
        book.store("study")
