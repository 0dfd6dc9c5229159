"""KnowledgeRetriever, budgeting and DeepSearch on small knowledge bases built in tmp dirs."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pytest

from kernelevolve.core.errors import ConfigError
from kernelevolve.operator import commands
from kernelevolve.operator.codesearch import CodeSearcher
from kernelevolve.operator.protocols import Embedder, Retriever, Snippet
from kernelevolve.operator.retrieval import (
    DeepSearch,
    KnowledgeRetriever,
    fit_budget,
    load_sections,
    parse_metadata,
    snippet_tokens,
    split_sections,
    tokenize,
    trim_text,
)

_DOCS = {
    "index.md": "# Index\n- [Masks](guidance/masks.md) — tail blocks and boundary masks for partial tiles\n",
    "guidance/masks.md": "<!-- platforms: any -->\n# Masks\n## Tail blocks\nUse a mask `offs < n` on the "
                         "last partial block; see samples/conv1d/seed.py for a full kernel.\n"
                         "## Other value\nPick other=0 for sums and -inf for max.\n",
    "hardware/nvidia/h100.md": "# H100\n## Shared memory\nThe H100 has 228 KB shared memory per SM.\n",
    "hardware/amd/mi300.md": "# MI300X\n## LDS\nThe MI300X has 64 KiB LDS shared memory per CU.\n",
    "guidance/conv.md": "<!-- platforms: any; tasks: conv1d -->\n# Conv tips\n## Halo\nLoad the halo of "
                        "the shared memory tile once per tap.\n",
    "samples/conv1d/seed.py": '"""Seed conv1d: implicit GEMM with halo masks."""\nBLOCK_M = 64  # rows\n',
    "samples/mapid/seed.py": '"""Seed mapid: binary search over a sorted table with halo."""\n',
}


@pytest.fixture()
def kb(tmp_path: Path) -> Path:
    for rel, text in _DOCS.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def test_tokenize_splits_identifiers_stems_and_drops_stopwords() -> None:
    assert tokenize("The num_warps of tiles") == ["num_warps", "num", "warp", "til"]
    assert tokenize("tiling tile tiles")[0] == tokenize("tile")[0] == "til"
    assert tokenize("int64 H100") == ["int64", "h100"]


def test_split_sections_ignores_headings_inside_code_fences() -> None:
    text = "# Title\nintro\n## Real\nbody\n```\n# not a heading\n```\n"
    sections = split_sections("d.md", text)
    assert [s.heading for s in sections] == ["Title", "Real"]
    assert "# not a heading" in sections[1].text and all(s.title == "Title" for s in sections)


def test_metadata_header_and_implied_tags(kb: Path) -> None:
    assert parse_metadata("<!-- platforms: nvidia, amd; tasks: conv1d -->\n# x") == {
        "platforms": frozenset({"nvidia", "amd"}), "tasks": frozenset({"conv1d"})}
    by_path = {s.path: s for s in load_sections(kb)}
    assert by_path["hardware/amd/mi300.md"].platforms == {"amd"}
    assert by_path["samples/mapid/seed.py"].tasks == {"mapid"}
    assert by_path["guidance/masks.md"].platforms == frozenset()  # "any" means agnostic
    assert by_path["guidance/masks.md"].summary.startswith("Masks: tail blocks")
    assert "index.md" not in by_path


def test_platform_filter_excludes_other_vendors_but_keeps_agnostic_docs(kb: Path) -> None:
    retriever = KnowledgeRetriever.from_root(kb)
    q = "shared memory per SM CU LDS"
    nvidia = {s.source.split("#")[0] for s in retriever.search(q, platform="nvidia", k=10)}
    amd = {s.source.split("#")[0] for s in retriever.search(q, platform="amd", k=10)}
    cpu = {s.source.split("#")[0] for s in retriever.search(q, platform="cpu", k=10)}
    everything = {s.source.split("#")[0] for s in retriever.search(q, k=10)}
    assert "hardware/nvidia/h100.md" in nvidia and "hardware/amd/mi300.md" not in nvidia
    assert "hardware/amd/mi300.md" in amd and "hardware/nvidia/h100.md" not in amd
    assert not any(p.startswith("hardware/") for p in cpu)
    assert "guidance/conv.md" in cpu  # agnostic docs stay eligible
    assert {"hardware/nvidia/h100.md", "hardware/amd/mi300.md"} <= everything


def test_task_filter_drops_other_tasks_material(kb: Path) -> None:
    retriever = KnowledgeRetriever.from_root(kb)
    found = {s.source for s in retriever.search("halo", task="conv1d", k=10)}
    assert "samples/conv1d/seed.py" in found and "guidance/conv.md#Halo" in found
    assert "samples/mapid/seed.py" not in found
    assert "guidance/conv.md#Halo" not in {s.source for s in retriever.search("halo", task="mapid", k=10)}


def test_search_returns_cited_snippets_best_first(kb: Path) -> None:
    retriever = KnowledgeRetriever.from_root(kb)
    assert isinstance(retriever, Retriever)
    top = retriever.search("partial last block mask", k=2)
    assert top[0].source == "guidance/masks.md#Tail blocks"
    assert top[0].title == "Masks > Tail blocks"
    assert all(a.score >= b.score for a, b in zip(top, top[1:], strict=False))
    assert retriever.search("zzzz unknownword", k=3) == [] and retriever.search("", k=3) == []


def test_missing_or_empty_root_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        KnowledgeRetriever.from_root(tmp_path / "nope")
    with pytest.raises(ConfigError):
        KnowledgeRetriever.from_root(tmp_path)


def _snip(source: str, text: str, score: float = 1.0) -> Snippet:
    return Snippet(source=source, title="t", text=text, score=score)


@pytest.mark.parametrize("budget", [60, 150, 400, 2000])
def test_fit_budget_respects_budget_and_k(budget: int) -> None:
    snippets = [_snip(f"d{i}.md#h", ("word " * 300) if i % 2 else "short text " * 3) for i in range(6)]
    out = fit_budget(snippets, k=4, token_budget=budget)
    assert len(out) <= 4
    assert sum(snippet_tokens(s) for s in out) <= budget
    assert [s.source for s in out] == [s.source for s in snippets[: len(out)]]  # order kept


def test_fit_budget_keeps_short_snippets_whole_and_cuts_long_ones() -> None:
    short, long = _snip("a#h", "tiny but complete"), _snip("b#h", "x " * 2000)
    out = fit_budget([long, short], k=2, token_budget=300)
    assert out[1].text == "tiny but complete"
    assert out[0].text.endswith("…") and len(out[0].text) < len(long.text)
    assert fit_budget([long], k=1, token_budget=5) == []  # no room for any text: nothing, not garbage


def test_trim_text_cuts_at_line_end() -> None:
    assert trim_text("line one\nline two\nline three", 20) == "line one\nline two…"
    assert trim_text("abc", 10) == "abc"


class _Fixed:
    """A retriever returning canned snippets (to test merging)."""

    def __init__(self, snippets: list[Snippet]) -> None:
        self.snippets = snippets

    def search(self, query: str, *, platform: str | None = None, task: str | None = None,
               k: int = 4, token_budget: int = 1500) -> list[Snippet]:
        return self.snippets[:k]


def test_deep_search_normalizes_scores_and_applies_one_budget() -> None:
    a = _Fixed([_snip("a1", "alpha " * 50, 10.0), _snip("a2", "alpha two", 5.0)])
    b = _Fixed([_snip("b1", "beta " * 50, 0.9), _snip("b2", "beta two", 0.1), _snip("a1", "dup", 0.05)])
    deep = DeepSearch([a, b])
    out = deep.search("q", k=4, token_budget=120)
    assert [s.source for s in out][:2] == ["a1", "b1"]  # both best-of-their-retriever score 1.0
    assert len({s.source for s in out}) == len(out)  # duplicates dropped
    assert sum(snippet_tokens(s) for s in out) <= 120
    with pytest.raises(ConfigError):
        DeepSearch([])


def test_deep_search_follows_file_references_from_kb_docs(kb: Path) -> None:
    deep = DeepSearch([KnowledgeRetriever.from_root(kb)], follower=CodeSearcher([kb]))
    out = deep.search("tail blocks mask partial", k=3, token_budget=800)
    sources = [s.source for s in out]
    assert sources[0] == "guidance/masks.md#Tail blocks"
    assert sources[1] == "samples/conv1d/seed.py#L1"  # the file the top doc cites, right after it
    assert out[1].title.startswith("referenced by guidance/masks.md")
    assert "implicit GEMM" in out[1].text


class _KeywordEmbedder:
    """Embeds texts as a 2-d indicator of the words 'halo' and 'sums' (a deterministic fake)."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[float("halo" in t.lower()), float("sums" in t.lower())] for t in texts]


def test_embedding_hook_changes_ranking(kb: Path) -> None:
    plain = KnowledgeRetriever.from_root(kb)
    hybrid = KnowledgeRetriever.from_root(kb, embedder=_KeywordEmbedder())
    assert isinstance(_KeywordEmbedder(), Embedder)
    query = "sums shared memory"
    assert plain.search(query, k=1)[0].source != "guidance/masks.md#Other value"
    assert hybrid.search(query, k=1)[0].source == "guidance/masks.md#Other value"


def test_kb_search_command_prints_snippets(kb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["kb", "search", "partial block mask", "--kb-root", str(kb), "-k", "2"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "[1] guidance/masks.md#Tail blocks" in printed and "snippet(s)" in printed
    args = parser.parse_args(["kb", "search", "qqqq", "--kb-root", str(kb)])
    assert args.func(args) == 1
