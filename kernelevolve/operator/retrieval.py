"""Deep search over the knowledge base: BM25 over document sections, filtered by platform and task.

The knowledge base (knowledge_base/) is a tree of markdown documents and sample kernels. Each
markdown file is split on its headings; each section becomes one retrievable unit whose indexed
text holds the document title, the section heading (twice: headings are dense with the words a
diagnosis uses), the "when it helps" line that index.md gives the document, and the body.
Metadata comes from a first-line comment `<!-- platforms: nvidia; tasks: conv1d -->`; without one,
hardware/<vendor>/ implies that platform and samples/<task>/ implies that task. Sample .py files
are indexed whole (their docstring carries the memory-traffic model).

`DeepSearch` merges several retrievers (this one, code search, ...) under one token budget and
follows file references the top snippets contain. Tokens are approximated as len(text) / 4.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kernelevolve.core.errors import ConfigError
from kernelevolve.operator.protocols import Embedder, ReferenceFollower, Retriever, Snippet
from kernelevolve.paths import knowledge_base_root

logger = logging.getLogger(__name__)

PLATFORMS = ("nvidia", "amd", "mtia", "cpu")
_MAX_PER_DOC = 2  # sections of one document in one answer: keeps answers diverse
_REF_MARK = "referenced by "  # title prefix of a snippet that DeepSearch added by following a reference
_MIN_TEXT_CHARS = 80  # a snippet cut shorter than this is dropped rather than shown
_STOPWORDS = frozenset(
    "a an and are as at be but by can do does for from has have how i if in into is it its my "
    "no not of on or so than that the then there these this to too use used using was we what "
    "when where which while who why will with you your".split()
)
_WORD = re.compile(r"[a-z0-9_]+")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_META = re.compile(r"<!--\s*(.*?)\s*-->", re.S)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s#]+)(?:#[^)]*)?\)")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
_INDEX_LINE = re.compile(r"^\s*[-*]\s*\[([^\]]+)\]\(([^)\s#]+)\)\s*(?:[—–:-]+\s*)?(.*)$")


def approx_tokens(text: str) -> int:
    """Returns the approximate token count of `text` (characters / 4, rounded up)."""
    return math.ceil(len(text) / 4)


def snippet_tokens(snippet: Snippet) -> int:
    """Returns the tokens a snippet costs against a budget: source, title and text together."""
    return approx_tokens(snippet.source) + approx_tokens(snippet.title) + approx_tokens(snippet.text)


_SUFFIXES = (("ations", "at"), ("ation", "at"), ("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""))


def _stem(word: str) -> str:
    """Returns a crude stem (tile/tiles/tiling -> til): common suffixes, then a final 'e', removed."""
    if len(word) < 4 or not word.isalpha() or word.endswith("ss"):
        return word
    for suffix, repl in _SUFFIXES if len(word) > 4 else ():
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + repl
            break
    return word[:-1] if word.endswith("e") and len(word) >= 4 else word


def tokenize(text: str) -> list[str]:
    """Returns lowercase stemmed word tokens; `num_warps` also yields `num` and `warp`."""
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        parts = [p for p in word.split("_") if p]
        for token in ([word] if len(parts) > 1 else []) + parts:
            if len(token) >= 2 and token not in _STOPWORDS:
                out.append(_stem(token))
    return out


def trim_text(text: str, max_chars: int) -> str:
    """Returns `text` cut to at most `max_chars` characters, at a line or word end, marked with '…'."""
    if len(text) <= max_chars:
        return text
    cut = text[: max(0, max_chars - 1)]
    for sep in ("\n", " "):
        pos = cut.rfind(sep)
        if pos >= 0.6 * len(cut):
            cut = cut[:pos]
            break
    return cut.rstrip() + "…"


def fit_budget(snippets: Sequence[Snippet], *, k: int, token_budget: int) -> list[Snippet]:
    """Returns at most `k` of `snippets` (in order), texts cut so all together fit `token_budget`.

    Water-filling: short snippets keep their whole text; the long ones share the rest equally.
    """
    chosen = list(snippets[: max(0, k)])
    while chosen:
        overheads = [approx_tokens(s.source) + approx_tokens(s.title) for s in chosen]
        sizes = [approx_tokens(s.text) for s in chosen]
        cap = _water_level(sizes, token_budget - sum(overheads))
        if cap * 4 >= _MIN_TEXT_CHARS or cap >= max(sizes):
            break
        chosen.pop()  # too many snippets for the budget: drop the weakest and retry
    out = [dataclasses.replace(s, text=trim_text(s.text, cap * 4)) for s in chosen] if chosen else []
    return [s for s in out if s.text]


def _water_level(sizes: list[int], budget: int) -> int:
    """Returns the largest cap c with sum(min(size, c)) <= budget (0 when budget <= 0)."""
    if budget <= 0:
        return 0
    remaining, ordered = budget, sorted(sizes)
    for i, size in enumerate(ordered):
        share = remaining // (len(ordered) - i)
        if size > share:
            return share
        remaining -= size
    return ordered[-1]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Section:
    """One retrievable unit: a heading's body within a knowledge-base document.

    Attributes:
        path: document path relative to the KB root, '/'-separated.
        heading: the section heading ('' for text before the first heading of a sample file).
        title: the document title (its first heading, else the file name).
        text: the section body.
        summary: the document's "when it helps" line from index.md ('' if not listed).
        platforms: platforms the document is for; empty means platform-agnostic.
        tasks: tasks the document is for; empty means any task.
    """

    path: str
    heading: str
    title: str
    text: str
    summary: str = ""
    platforms: frozenset[str] = frozenset()
    tasks: frozenset[str] = frozenset()

    @property
    def source(self) -> str:
        """Returns 'path#heading' (the citation a snippet carries)."""
        return f"{self.path}#{self.heading}" if self.heading else self.path

    def eligible(self, platform: str | None, task: str | None) -> bool:
        """Returns whether the section may be shown for this platform and task."""
        if platform and self.platforms and platform not in self.platforms:
            return False
        return not (task and self.tasks and task not in self.tasks)


def parse_metadata(text: str) -> dict[str, frozenset[str]]:
    """Returns the `key: a, b; key2: c` pairs of the first HTML comment in a document's first lines."""
    head = "\n".join(text.splitlines()[:3])
    match = _META.search(head)
    meta: dict[str, frozenset[str]] = {}
    if match:
        for field in match.group(1).split(";"):
            key, sep, values = field.partition(":")
            if sep:
                meta[key.strip().lower()] = frozenset(v.strip().lower() for v in values.split(",") if v.strip())
    return meta


def doc_links(path: Path) -> list[Path]:
    """Returns the local files a markdown document links to, resolved (existing or not)."""
    text = _CODE.sub("", path.read_text(encoding="utf-8"))  # links shown as code are examples, not links
    return [(path.parent / t).resolve() for t in _LINK.findall(text) if "://" not in t and not t.startswith("mailto:")]


def read_index(kb_root: Path) -> dict[str, str]:
    """Returns {document path relative to the KB root: its "when it helps" line} from index.md."""
    index = kb_root / "index.md"
    if not index.is_file():
        return {}
    out: dict[str, str] = {}
    for line in index.read_text(encoding="utf-8").splitlines():
        match = _INDEX_LINE.match(line)
        if match and "://" not in match.group(2):
            rel = (kb_root / match.group(2)).resolve().relative_to(kb_root.resolve()).as_posix()
            out[rel] = f"{match.group(1)}: {match.group(3)}".strip()
    return out


def _implied_metadata(rel: str) -> dict[str, frozenset[str]]:
    """Returns metadata implied by a document's place in the tree."""
    parts = rel.split("/")
    if len(parts) >= 3 and parts[0] == "hardware" and parts[1] in PLATFORMS:
        return {"platforms": frozenset({parts[1]})}
    if len(parts) >= 3 and parts[0] == "samples" and parts[1] != "worked":
        return {"tasks": frozenset({parts[1]})}
    return {}


def split_sections(rel: str, text: str, summary: str = "") -> list[Section]:
    """Returns the sections of one document (markdown split on headings; code files whole)."""
    meta = {**_implied_metadata(rel), **parse_metadata(text)}
    common = {"summary": summary, "platforms": meta.get("platforms", frozenset()), "tasks": meta.get("tasks", frozenset())}
    common["platforms"] = common["platforms"] - {"any", "all"}
    if not rel.endswith(".md"):
        return [Section(path=rel, heading="", title=Path(rel).name, text=text.strip(), **common)]
    chunks: list[tuple[str, list[str]]] = [("", [])]
    title, in_fence = "", False
    for line in text.splitlines():
        in_fence ^= line.lstrip().startswith("```")
        match = None if in_fence else _HEADING.match(line)
        if match:
            title = title or match.group(2)
            chunks.append((match.group(2), []))
        else:
            chunks[-1][1].append(line)
    title = title or Path(rel).stem
    sections = []
    for heading, lines in chunks:
        body = _META.sub("", "\n".join(lines)).strip()
        if body:
            sections.append(Section(path=rel, heading=heading, title=title, text=body, **common))
    return sections


def load_sections(kb_root: Path) -> list[Section]:
    """Returns the sections of every .md document (but index.md) and every samples/**/*.py file."""
    if not kb_root.is_dir():
        raise ConfigError(f"knowledge base root {kb_root} is not a directory; pass an existing KB root")
    summaries = read_index(kb_root)
    files = sorted(p for p in kb_root.rglob("*.md") if p.name != "index.md" or p.parent != kb_root)
    files += sorted((kb_root / "samples").rglob("*.py")) if (kb_root / "samples").is_dir() else []
    sections: list[Section] = []
    for path in files:
        if any(part.startswith((".", "__")) for part in path.relative_to(kb_root).parts):
            continue
        rel = path.relative_to(kb_root).as_posix()
        sections.extend(split_sections(rel, path.read_text(encoding="utf-8"), summaries.get(rel, "")))
    return sections


class KnowledgeRetriever:
    """BM25 (optionally hybrid with embeddings) over knowledge-base sections; a `Retriever`."""

    def __init__(self, sections: Sequence[Section], *, embedder: Embedder | None = None,
                 embedding_weight: float = 0.5) -> None:
        self._sections = list(sections)
        if not self._sections:
            raise ConfigError("KnowledgeRetriever needs at least one section; the knowledge base is empty")
        docs = [tokenize(_indexed_text(s)) for s in self._sections]
        import bm25s  # imported when a retriever is built: offline runs never need it

        self._bm25 = bm25s.BM25()
        self._bm25.index(docs, show_progress=False)
        self._embedder = embedder
        self._embedding_weight = embedding_weight
        self._vectors = _unit_rows(embedder.embed([_indexed_text(s) for s in self._sections])) if embedder else None

    @classmethod
    def from_root(cls, kb_root: Path | None = None, *, embedder: Embedder | None = None) -> KnowledgeRetriever:
        """Returns a retriever over the KB at `kb_root` (default: the repository's knowledge_base/)."""
        root = (kb_root or knowledge_base_root()).resolve()
        sections = load_sections(root)
        logger.info("indexed knowledge base root=%s sections=%d", root, len(sections))
        return cls(sections, embedder=embedder)

    @property
    def sections(self) -> list[Section]:
        """Returns the indexed sections (a copy)."""
        return list(self._sections)

    def scores(self, query: str, *, platform: str | None = None, task: str | None = None) -> np.ndarray:
        """Returns one relevance score per section; ineligible sections get -inf."""
        tokens = tokenize(query)
        raw = np.asarray(self._bm25.get_scores(tokens), dtype=np.float64) if tokens else np.zeros(len(self._sections))
        if self._vectors is not None and self._embedder is not None:
            peak = raw.max()
            query_vec = _unit_rows(self._embedder.embed([query]))[0]
            raw = (raw / peak if peak > 0 else raw) + self._embedding_weight * (self._vectors @ query_vec)
        mask = np.array([s.eligible(platform, task) for s in self._sections])
        boost = np.array([1.25 if task and task in s.tasks else 1.0 for s in self._sections])
        return np.where(mask, raw * boost, -np.inf)

    def search(self, query: str, *, platform: str | None = None, task: str | None = None,
               k: int = 4, token_budget: int = 1500) -> list[Snippet]:
        """Returns the best sections for `query` as cited snippets within `token_budget`."""
        scores = self.scores(query, platform=platform, task=task)
        picked: list[Snippet] = []
        per_doc: dict[str, int] = {}
        for i in np.argsort(-scores, kind="stable"):
            if len(picked) >= k or not np.isfinite(scores[i]) or scores[i] <= 0:
                break
            sec = self._sections[i]
            if per_doc.get(sec.path, 0) >= _MAX_PER_DOC:
                continue
            per_doc[sec.path] = per_doc.get(sec.path, 0) + 1
            title = f"{sec.title} > {sec.heading}" if sec.heading and sec.heading != sec.title else sec.title
            picked.append(Snippet(source=sec.source, title=title, text=sec.text, score=float(scores[i])))
        return fit_budget(picked, k=k, token_budget=token_budget)


def _indexed_text(sec: Section) -> str:
    """Returns the text BM25 sees: title and heading twice, summary, body (code files: the prose)."""
    body = _code_prose(sec.text) if sec.path.endswith(".py") else sec.text
    return "\n".join((sec.title, sec.title, sec.heading, sec.heading, sec.summary, body))


def _code_prose(source: str) -> str:
    """Returns the docstrings and comments of a code file: the 'why' text worth matching on."""
    prose = re.findall(r'"""(.*?)"""', source, re.S)
    prose += [line.split("#", 1)[1] for line in source.splitlines() if "#" in line]
    return "\n".join(prose)


def _unit_rows(vectors: list[list[float]]) -> np.ndarray:
    """Returns the vectors as rows scaled to unit length (zero rows stay zero)."""
    arr = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.where(norms > 0, norms, 1.0)


class DeepSearch:
    """Merges several retrievers into one answer under one token budget; itself a `Retriever`.

    Each retriever's scores are divided by its own best score, then all snippets are ranked
    together (ties keep retriever order). When a follower is given, files referenced by the top
    snippets (e.g. "see samples/conv1d/seed.py") are added right after the snippet citing them.
    """

    def __init__(self, retrievers: Sequence[Retriever], *, follower: ReferenceFollower | None = None,
                 max_references: int = 1) -> None:
        if not retrievers:
            raise ConfigError("DeepSearch needs at least one retriever")
        self._retrievers = list(retrievers)
        self._follower = follower
        self._max_references = max_references

    def search(self, query: str, *, platform: str | None = None, task: str | None = None,
               k: int = 4, token_budget: int = 1500) -> list[Snippet]:
        """Returns the merged best snippets for `query`, cut to fit `token_budget`."""
        merged: list[tuple[float, int, Snippet]] = []
        for rank, retriever in enumerate(self._retrievers):
            found = retriever.search(query, platform=platform, task=task, k=k, token_budget=10**7)
            best = max((s.score for s in found), default=0.0)
            merged += [(s.score / best if best > 0 else 0.0, rank, s) for s in found]
        merged.sort(key=lambda item: (-item[0], item[1]))
        ordered: list[Snippet] = []
        seen: set[str] = set()
        for norm, _, snippet in merged:
            if snippet.source in seen:
                continue
            seen.add(snippet.source)
            ordered.append(dataclasses.replace(snippet, score=norm))
            budget_left = self._max_references - sum(1 for s in ordered if s.title.startswith(_REF_MARK))
            ordered += self._references(snippet, norm, seen, budget_left)
        return fit_budget(ordered, k=k, token_budget=token_budget)

    def _references(self, snippet: Snippet, norm: float, seen: set[str], limit: int) -> list[Snippet]:
        """Returns up to `limit` snippets of files the given snippet refers to, not shown yet."""
        if self._follower is None or limit <= 0:
            return []
        out = []
        for ref in self._follower.follow_references(snippet.text, limit=limit):
            if ref.source.split("#")[0] not in {s.split("#")[0] for s in seen}:
                seen.add(ref.source)
                title = f"{_REF_MARK}{snippet.source}: {ref.title}"
                out.append(dataclasses.replace(ref, title=title, score=norm * 0.99))
        return out
