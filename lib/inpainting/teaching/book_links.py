"""Cross-references of the book's pages as links: ``docs/method.md §5.4`` to the section, notebook
names to their pages, links to repository files outside the book as plain text naming the file
(:func:`link_references`; pure functions over Markdown text, code blocks left alone)."""
from __future__ import annotations

import os
import re
from pathlib import Path

DOCS = ("docs/method.md", "docs/teaching.md")   # the reference pages, in the table of contents' order
RESULTS_PAGE = "REPRODUCTION.md"                  # the verdict table (python -m inpainting.reporting.reproduction)
METHOD_TARGET = "method-s{}"                      # the label of docs/method.md's section 5.4: method-s5-4
HEADING = re.compile(r"^(#{1,6})[ \t]+(\d+(?:\.\d+)*)\.?[ \t]", re.M)
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
TOKENS = re.compile(
    r"(?P<link>!?\[(?P<text>[^\]\n]*)\]\((?P<url>[^)\s]+)\))"
    r"|(?P<section>(?:(?P<tick>`)?" + re.escape(DOCS[0]) + r"`?\s*|(?<![\w`/]))§\s?(?P<number>\d+(?:\.\d+)*)"
    r"(?(tick)`?))"
    r"|(?P<notebook>(?<![\w./])`?(?:notebooks/)?(?P<nbname>\d\d_[a-z_]+)(?:\.ipynb)?`?)"
    r"|(?P<mention>\b[Nn]otebook (?P<nbnumber>\d\d)\b)"
    r"|(?P<code>`[^`\n]+`)")


def method_sections(text: str) -> set[str]:
    """The numbers of ``docs/method.md``'s numbered headings (``5``, ``5.4``, ``8.3.1``)."""
    return {m.group(2) for m in HEADING.finditer(text)}


def add_section_targets(text: str) -> str:
    """``docs/method.md`` with a MyST target ``(method-s5-4)=`` before each numbered heading."""
    return HEADING.sub(lambda m: f"({METHOD_TARGET.format(m.group(2).replace('.', '-'))})=\n"
                                 + m.group(0), text)


def link_references(text: str, page: str, pages: dict[str, str], sections: set[str]) -> str:
    """Markdown ``text`` of the book page ``page`` (its repository path) with cross-references
    made links: ``docs/method.md §5.4`` (and a bare ``§5.4`` inside the method) to the section,
    notebook names (``04_loss_ablation``, ``notebooks/04_loss_ablation.ipynb``, ``notebook 04``)
    to their pages; links to repository files outside the book become plain text naming the file.
    ``pages`` maps a notebook's two-digit number to its repository path; code blocks are left
    alone."""
    by_name = {Path(p).stem: p for p in pages.values()}
    here = Path(page).parent

    def doc(path: str) -> str:   # a {doc} target: the page's path from the book's root
        return "/" + str(Path(path).with_suffix(""))

    def token(m: re.Match) -> str:
        if m.group("link"):
            url = m.group("url")
            if m.group(0).startswith("!") or re.match(r"^[a-z]+:|^#", url):
                return m.group(0)
            path, _, anchor = url.partition("#")
            target = os.path.normpath(here / path)
            if target in pages.values() or target in DOCS or target == RESULTS_PAGE:
                return m.group(0)   # the book keeps the repository's layout: the link resolves
            name = m.group("text")
            return name if target in name else f"{name} (`{target}` in the repository)"
        if m.group("section"):
            number = m.group("number")
            if number not in sections or (page != DOCS[0] and DOCS[0] not in m.group(0)):
                return m.group(0)
            label = m.group(0).replace("`", "")
            return f"{{ref}}`{label} <{METHOD_TARGET.format(number.replace('.', '-'))}>`"
        if m.group("notebook"):
            path = by_name.get(m.group("nbname"))
            return f"{{doc}}`{m.group(0).strip('`')} <{doc(path)}>`" if path else m.group(0)
        if m.group("mention"):
            path = pages.get(m.group("nbnumber"))
            return f"{{doc}}`{m.group(0)} <{doc(path)}>`" if path else m.group(0)
        return m.group(0)   # other inline code

    out, last = [], 0
    for fence in FENCE.finditer(text):
        out += [TOKENS.sub(token, text[last:fence.start()]), fence.group(0)]
        last = fence.end()
    out.append(TOKENS.sub(token, text[last:]))
    return "".join(out)
