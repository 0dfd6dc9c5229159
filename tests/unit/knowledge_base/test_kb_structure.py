"""The knowledge base is a navigable, checkable tree: reachable from index.md, no broken links, sourced numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kernelevolve.operator.retrieval import doc_links, parse_metadata, read_index
from kernelevolve.paths import knowledge_base_root

KB = knowledge_base_root()
# Every number with one of these units in a hardware document must say where it comes from.
_HW_NUMBER = re.compile(r"\b\d[\d,.]*\s*(?:TB/s|GB/s|TFLOP/s|GB|MB|KB|KiB|MiB|GiB|SMs?\b|CUs?\b|flop per byte)")
_SOURCE = re.compile(r"measured here|datasheet|whitepaper|Guide|ROCm docs|GPU hardware specifications|"
                     r"TASKS\.md|paper|docstring|source|Triton 3\.\d|derived|Derived", re.I)


_CURATED = ("constraints", "guidance", "hardware", "samples/worked")  # seed dirs samples/<task>/ are the tasks'


def _own_documents() -> set[Path]:
    """Returns the curated documents: every file under the curated folders, and samples/README.md."""
    docs = {p.resolve() for d in _CURATED for p in (KB / d).rglob("*") if p.suffix in (".md", ".py")}
    return docs | {(KB / "samples" / "README.md").resolve()}


def test_every_document_is_reachable_from_index() -> None:
    seen: set[Path] = set()
    frontier = [(KB / "index.md").resolve()]
    while frontier:
        doc = frontier.pop()
        if doc in seen or not doc.is_file():
            continue
        seen.add(doc)
        if doc.suffix == ".md":
            frontier.extend(doc_links(doc))
    unreachable = sorted(str(p.relative_to(KB)) for p in _own_documents() - seen)
    assert not unreachable, f"not linked from index.md (directly or through a linked doc): {unreachable}"


def test_no_broken_links() -> None:
    broken = [f"{doc.relative_to(KB)} -> {target}" for doc in KB.rglob("*.md")
              for target in doc_links(doc) if not target.exists()]
    assert not broken, broken


def test_index_lists_each_document_with_when_it_helps() -> None:
    entries = read_index(KB)
    assert len(entries) >= 25
    for rel, line in entries.items():
        assert (KB / rel).is_file(), rel
        title, _, when = line.partition(": ")
        assert len(when.split()) >= 6, f"index line for {rel} needs a real 'when it helps' text: {line!r}"


@pytest.mark.parametrize("doc", sorted(p.relative_to(KB).as_posix() for p in _own_documents() if p.suffix == ".md"))
def test_markdown_documents_carry_platform_tags_and_reasonable_length(doc: str) -> None:
    text = (KB / doc).read_text(encoding="utf-8")
    platforms = parse_metadata(text).get("platforms")
    assert platforms, f"{doc}: first line must be <!-- platforms: ... -->"
    if doc.startswith("hardware/"):
        assert platforms == {doc.split("/")[1]}, f"{doc} is tagged {sorted(platforms)}"
    assert 25 <= len(text.splitlines()) <= 200, f"{doc}: {len(text.splitlines())} lines"


def test_hardware_numbers_name_their_source() -> None:
    unsourced = []
    for doc in sorted((KB / "hardware").rglob("*.md")):
        text = doc.read_text(encoding="utf-8")
        sourced_doc = bool(re.search(r"measured here", text.split("\n\n")[1] if "\n\n" in text else ""))
        for block in re.split(r"\n\s*\n", text):
            rows = block.splitlines() if block.lstrip().startswith("|") else [block]
            for row in rows:
                if _HW_NUMBER.search(row) and not _SOURCE.search(row) and not sourced_doc:
                    unsourced.append(f"{doc.relative_to(KB)}: {row.strip()[:90]}")
    assert not unsourced, "hardware numbers without a source:\n" + "\n".join(unsourced)


def test_mtia_documents_are_marked_as_plugin_descriptions() -> None:
    for doc in (KB / "hardware" / "mtia").glob("*.md"):
        assert "plug-in description" in doc.read_text(encoding="utf-8").lower(), doc.name
