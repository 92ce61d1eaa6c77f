"""Every reference in the kit's notebooks, library, docs and README resolves inside the repository.

Checked:

* repository paths written in the text (``docs/x.md``, ``lib/inpainting/x.py``, ``notebooks/NN_x.ipynb``,
  ``tests/x.py``, ``.ci/run``) name an existing file or folder;
* relative markdown links in ``docs/*.md`` and ``README.md`` (``[text](path)``) resolve from the file;
* method-document anchors (``docs/method.md §5.4``, ``§2.3, 8.4``, ``§5.4 and 6.4``, ``§2-4``, and the
  bare ``§N.M`` cross-references inside docs/method.md) name a numbered heading of docs/method.md;
* nothing mentions the design notes the kit was built from, which are not part of the repository.

The checker is a plain function (:func:`find_problems`) so the last tests can plant bad references in
a scratch repository and check that they are caught.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METHOD = "docs/method.md"
# Names of documents outside the repository; spelled in pieces so this file does not mention them.
FORBIDDEN = ("PAPER" + "_SPEC", "KIT" + "_DESIGN", "PEER" + "_NOTES", "../" + "shared", "/work/" + "shared")
PATH_ROOTS = ("docs", "lib", "notebooks", "tests", ".ci")
SKIP_DIRS = {".git", ".venv", "results", "data", "__pycache__", ".ipynb_checkpoints", ".pytest_cache",
             "node_modules", "build", "dist", "student"}
TEXT_SUFFIXES = {".py", ".md", ".ipynb", ".sh", ".yml", ".yaml", ".toml", ".txt", ".cfg", ".ini", ""}

PATH_RE = re.compile(r"(?<![\w./<>{}$-])((?:%s)/[\w./-]*[\w/])" % "|".join(re.escape(r) for r in PATH_ROOTS))
NUMBER = r"\d+(?:\.\d+)*"
ANCHOR_RE = re.compile(r"method\.md\s*§\s*(%s(?:\s*(?:,|/|and|-|–)\s*%s)*)" % (NUMBER, NUMBER))
BARE_ANCHOR_RE = re.compile(r"§\s*(%s(?:\s*(?:,|/|and|-|–)\s*%s)*)" % (NUMBER, NUMBER))
HEADING_RE = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s", re.M)
LINK_RE = re.compile(r"\]\(([^)\s]+)\)")


def repository_files(root: Path) -> list[Path]:
    """Text files of the repository: git's tracked and not-ignored files, else a directory walk."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                             cwd=root, capture_output=True, text=True, check=True).stdout
        files = [root / line for line in out.splitlines() if line]
    except (OSError, subprocess.CalledProcessError):
        files = [p for p in root.rglob("*") if p.is_file()]
    keep = []
    for path in files:
        parts = path.relative_to(root).parts
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in parts[:-1]):
            continue
        if path.is_file() and path.suffix in TEXT_SUFFIXES:
            keep.append(path)
    return sorted(keep)


def text_of(path: Path) -> str:
    """The text a reader sees: for a notebook, its cells' sources (outputs are not committed)."""
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(raw)["cells"]
        except (ValueError, KeyError):
            return raw
        return "\n".join("".join(c.get("source", "")) for c in cells)
    return raw


def _path_references(text: str) -> set[str]:
    """Repository paths in ``text``; patterns (``notebooks/NN_*.ipynb``, ``results/<profile>``) are
    not references to one file and are skipped."""
    refs = set()
    for m in PATH_RE.finditer(text):
        following = text[m.end():m.end() + 1]
        if following and following in "*<>{}" or any(ch in m.group(1) for ch in "*<>{}"):
            continue
        refs.add(m.group(1))
    return refs


def _module_attribute(root: Path, target: str) -> bool:
    """``tests/fixtures.make_celeba``: a name inside an existing Python file."""
    stem, _, name = target.rpartition(".")
    return bool(stem) and name.isidentifier() and (root / f"{stem}.py").is_file()


def expand_anchors(group: str) -> list[str]:
    """``"2.3, 8.4"`` -> ["2.3", "8.4"]; ``"2-4"`` -> ["2", "3", "4"]; ``"5.4 and 6.4"`` -> both."""
    out = []
    for part in re.split(r"\s*(?:,|/|\band\b)\s*", group.strip()):
        m = re.fullmatch(r"(\d+)\s*[-–]\s*(\d+)", part)
        if m:
            out += [str(n) for n in range(int(m.group(1)), int(m.group(2)) + 1)]
        elif part:
            out += [p for p in re.split(r"\s*[-–]\s*", part) if p]
    return out


def method_sections(root: Path) -> set[str]:
    path = root / METHOD
    return set(HEADING_RE.findall(path.read_text(encoding="utf-8"))) if path.is_file() else set()


def _in_scope(rel: str) -> bool:
    """Files whose references must resolve: notebooks, lib/, docs/, README (and the tests' own
    citations of the method document)."""
    return (rel == "README.md" or rel.startswith(("lib/", "docs/", "notebooks/", "tests/"))) \
        and rel != "tests/test_references.py"


def find_problems(root: Path) -> list[str]:
    """One line per unresolved reference or forbidden mention, ``file: what``."""
    problems = []
    sections = method_sections(root)
    for path in repository_files(root):
        rel = path.relative_to(root).as_posix()
        text = text_of(path)
        if rel != "tests/test_references.py":
            for word in FORBIDDEN:
                if word in text:
                    problems.append(f"{rel}: mentions {word!r}, a document outside the repository")
        if not _in_scope(rel):
            continue
        if not rel.startswith("tests/"):
            for ref in sorted(_path_references(text)):
                target = ref.rstrip("/.")
                if not (root / target).exists() and not _module_attribute(root, target):
                    problems.append(f"{rel}: path {ref!r} does not exist")
            if path.suffix == ".md":
                for link in sorted(set(LINK_RE.findall(text))):
                    if re.match(r"[a-z]+:|#|/", link):
                        continue
                    target = link.split("#")[0]
                    if target and not (path.parent / target).exists():
                        problems.append(f"{rel}: link {link!r} does not resolve")
        anchors = [a for g in ANCHOR_RE.findall(text) for a in expand_anchors(g)]
        if rel == METHOD:
            anchors += [a for g in BARE_ANCHOR_RE.findall(text) for a in expand_anchors(g)]
        for anchor in sorted(set(anchors)):
            if anchor not in sections:
                problems.append(f"{rel}: {METHOD} §{anchor} has no such section heading")
    return problems


# ------------------------------------------------------------------------------------------ tests
def test_method_document_has_the_cited_sections():
    sections = method_sections(ROOT)
    expected = {str(n) for n in range(1, 11)} | {"2.2", "2.3", "2.4", "3.4", "4.2", "4.3", "5.2", "5.3",
                                                  "5.4", "6.2", "6.4", "7.2", "7.3", "8.2", "8.3", "8.4"}
    assert expected <= sections, f"missing headings: {sorted(expected - sections)}"


def test_every_reference_resolves():
    problems = find_problems(ROOT)
    assert not problems, "unresolved references:\n  " + "\n  ".join(problems)


def test_anchor_lists_are_parsed():
    text = ("docs/method.md §5.4 and 6.4; docs/method.md §2.3, 8.4. docs/method.md §2-4, "
            "docs/method.md §2.3 / 8.4 [PROTO]; docs/method.md §5.4, T3")
    found = [a for g in ANCHOR_RE.findall(text) for a in expand_anchors(g)]
    assert found == ["5.4", "6.4", "2.3", "8.4", "2", "3", "4", "2.3", "8.4", "5.4"]


def _scratch_repo(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "lib" / "pkg").mkdir(parents=True)
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "docs" / "method.md").write_text("# Method\n\n## 1. One\n\n### 1.2 Sub\n\nSee §1.2.\n")
    (tmp_path / "lib" / "pkg" / "good.py").write_text('"""docs/method.md §1.2 and lib/pkg/good.py."""\n')
    (tmp_path / "README.md").write_text("See [method](docs/method.md), `lib/pkg/good.py` and "
                                        "`lib/pkg/good.helper`.\n")
    return tmp_path


def test_a_clean_scratch_repository_passes(tmp_path):
    assert find_problems(_scratch_repo(tmp_path)) == []


@pytest.mark.parametrize("planted, expected", [
    ("`docs/missing.md`", "path 'docs/missing.md' does not exist"),
    ("lib/pkg/gone.py", "path 'lib/pkg/gone.py' does not exist"),
    ("lib/pkg/gone.helper", "path 'lib/pkg/gone.helper' does not exist"),
    ("notebooks/01_x.ipynb and notebooks/02_y.ipynb", "path 'notebooks/02_y.ipynb' does not exist"),
    ("docs/method.md §1.3", "§1.3 has no such section heading"),
    ("docs/method.md §1.2, 7", "§7 has no such section heading"),
    ("PAPER" + "_SPEC 5.4", "mentions 'PAPER" + "_SPEC'"),
    ("../" + "shared/docs/x.md", "mentions '../" + "shared'"),
])
def test_planted_bad_references_are_caught(tmp_path, planted, expected):
    repo = _scratch_repo(tmp_path)
    cell = {"cell_type": "markdown", "metadata": {}, "source": [f"Read {planted} first.\n"]}
    (repo / "notebooks" / "01_x.ipynb").write_text(json.dumps({"cells": [cell], "metadata": {},
                                                               "nbformat": 4, "nbformat_minor": 5}))
    problems = find_problems(repo)
    assert any(expected in p and p.startswith("notebooks/01_x.ipynb") for p in problems), problems


def test_a_broken_markdown_link_and_a_bad_internal_anchor_are_caught(tmp_path):
    repo = _scratch_repo(tmp_path)
    (repo / "docs" / "teaching.md").write_text("See [the README](../READ_ME.md).\n")
    (repo / "docs" / "method.md").write_text("## 1. One\n\nSee §4.\n")
    problems = find_problems(repo)
    assert any("link '../READ_ME.md'" in p for p in problems), problems
    assert any(p.startswith("docs/method.md") and "§4" in p for p in problems), problems
