"""Code search (KernelEvolve §3.3): look through configured source trees by string, regex or file name.

A `CodeSearcher` walks one or more roots (a checkout of an organization's kernels, Triton's own
tutorials, the knowledge base itself) and answers three kinds of question:
- `grep(pattern, regex=...)`: lines that contain a string or match a regular expression;
- `find_files(glob)`: files whose name or relative path matches a glob;
- `follow_references(text)`: files that a piece of text names ("see samples/conv1d/seed.py").
As a `Retriever`, `search(query)` reads the query as `re:<regex>`, `file:<glob>`, `"exact text"`,
or plain keywords (files ranked by how many rare query words they contain), and returns code
windows cited as `path#L<line>` that fit the token budget. Code trees carry no platform tags, so
`platform` is ignored; `task` boosts files whose path names the task.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
import math
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from kernelevolve.core.errors import ConfigError
from kernelevolve.operator.protocols import Snippet
from kernelevolve.operator.retrieval import fit_budget, tokenize

logger = logging.getLogger(__name__)

DEFAULT_SUFFIXES = (".py", ".md", ".txt", ".yaml", ".yml", ".json", ".cu", ".cuh", ".cpp", ".h", ".mlir")
_SKIP_DIRS = frozenset({".git", "__pycache__", "node_modules", ".venv", "venv", "build", "dist"})
_REF = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)+[\w.-]+\.(?:py|md|txt|yaml|yml|json|cu|cpp|h))\b")


@dataclasses.dataclass(frozen=True, kw_only=True)
class CodeHit:
    """One matching line. `path` is relative to its root (prefixed by the root's name when several)."""

    path: str
    line: int  # 1-based
    text: str


class CodeSearcher:
    """Searches source trees by string, regex or file name; a `Retriever` too."""

    def __init__(self, roots: Sequence[Path], *, suffixes: Sequence[str] = DEFAULT_SUFFIXES,
                 max_file_bytes: int = 1_000_000, context_lines: int = 12) -> None:
        self._roots = [Path(r).resolve() for r in roots]
        missing = [str(r) for r in self._roots if not r.is_dir()]
        if missing:
            raise ConfigError(f"code search roots must be directories; not found: {', '.join(missing)}")
        self._suffixes = tuple(suffixes)
        self._max_file_bytes = max_file_bytes
        self._context = context_lines

    def _label(self, root: Path, path: Path) -> str:
        """Returns the citation path of a file: relative to its root, root name first if several."""
        rel = path.relative_to(root).as_posix()
        return f"{root.name}/{rel}" if len(self._roots) > 1 else rel

    def files(self) -> Iterator[tuple[str, Path]]:
        """Yields (citation path, absolute path) of every searchable file, in sorted order."""
        for root in self._roots:
            for path in sorted(root.rglob("*")):
                rel_parts = path.relative_to(root).parts
                if any(p in _SKIP_DIRS or p.startswith(".") for p in rel_parts[:-1]):
                    continue
                if path.is_file() and path.suffix in self._suffixes and path.stat().st_size <= self._max_file_bytes:
                    yield self._label(root, path), path

    def _lines(self, path: Path) -> list[str]:
        """Returns a file's lines (undecodable bytes replaced)."""
        return path.read_text(encoding="utf-8", errors="replace").splitlines()

    def grep(self, pattern: str, *, regex: bool = False, ignore_case: bool = True,
             max_hits: int = 50) -> list[CodeHit]:
        """Returns up to `max_hits` lines containing `pattern` (a literal, or a regex if `regex`)."""
        try:
            compiled = re.compile(pattern if regex else re.escape(pattern), re.I if ignore_case else 0)
        except re.error as exc:
            raise ConfigError(f"invalid code-search regex {pattern!r}: {exc}; escape it or search literally") from exc
        hits: list[CodeHit] = []
        for label, path in self.files():
            for number, line in enumerate(self._lines(path), start=1):
                if compiled.search(line):
                    hits.append(CodeHit(path=label, line=number, text=line))
                    if len(hits) >= max_hits:
                        return hits
        return hits

    def find_files(self, glob: str) -> list[str]:
        """Returns citation paths of files whose name or relative path matches `glob`."""
        return [label for label, path in self.files()
                if fnmatch.fnmatch(path.name, glob) or fnmatch.fnmatch(label, glob)]

    def window(self, label: str, line: int, *, before: int | None = None, after: int | None = None) -> Snippet:
        """Returns the lines around `line` (1-based) of the file cited as `label`, cited as label#L<line>."""
        path = self._resolve_label(label)
        lines = self._lines(path)
        before = self._context // 3 if before is None else before
        after = self._context if after is None else after
        start = max(1, line - before)
        text = "\n".join(lines[start - 1 : line + after])
        return Snippet(source=f"{label}#L{line}", title=Path(label).name, text=text, score=0.0)

    def _resolve_label(self, label: str) -> Path:
        """Returns the absolute path of a citation path produced by `files()`."""
        for cited, path in self.files():
            if cited == label:
                return path
        raise ConfigError(f"no searchable file {label!r} under roots {[str(r) for r in self._roots]}")

    def follow_references(self, text: str, *, limit: int = 2) -> list[Snippet]:
        """Returns the heads of up to `limit` existing files that `text` names, in order of mention."""
        out: list[Snippet] = []
        for ref in dict.fromkeys(m.group(1) for m in _REF.finditer(text)):
            path = self._find_reference(ref)
            if path is not None:
                label = next(lab for lab, p in self.files() if p == path)
                out.append(dataclasses.replace(self.window(label, 1, before=0, after=3 * self._context), score=1.0))
                if len(out) >= limit:
                    break
        return out

    def _find_reference(self, ref: str) -> Path | None:
        """Returns the file a reference names: relative to a root, or with a leading root-name dir."""
        for root in self._roots:
            candidates = [root / ref]
            first, _, rest = ref.partition("/")
            if first == root.name and rest:
                candidates.append(root / rest)
            for cand in candidates:
                cand = cand.resolve()
                if cand.is_file() and cand.is_relative_to(root) and cand.suffix in self._suffixes:
                    return cand
        return None

    def search(self, query: str, *, platform: str | None = None, task: str | None = None,
               k: int = 4, token_budget: int = 1500) -> list[Snippet]:
        """Returns code windows answering `query` (re:, file:, "quoted" or keywords) within the budget."""
        del platform  # code trees carry no platform tags
        query = query.strip()
        if query.startswith("file:"):
            found = [dataclasses.replace(self.window(lab, 1, before=0), score=1.0)
                     for lab in self.find_files(query[5:].strip())[:k]]
        elif query.startswith("re:") or (len(query) > 2 and query[0] == query[-1] == '"'):
            is_regex = query.startswith("re:")
            found = self._grep_snippets(query[3:] if is_regex else query[1:-1], regex=is_regex, k=k)
        else:
            found = self._keyword_snippets(query, task=task, k=k)
        return fit_budget(found, k=k, token_budget=token_budget)

    def _grep_snippets(self, pattern: str, *, regex: bool, k: int) -> list[Snippet]:
        """Returns windows around the first hit in each of the first `k` matching files."""
        out: list[Snippet] = []
        for hit in self.grep(pattern, regex=regex, max_hits=10_000):
            if all(not s.source.startswith(hit.path + "#") for s in out):
                out.append(dataclasses.replace(self.window(hit.path, hit.line), score=1.0))
                if len(out) >= k:
                    break
        return out

    def _keyword_snippets(self, query: str, *, task: str | None, k: int) -> list[Snippet]:
        """Returns windows of the files sharing the most (idf-weighted) query words, best first."""
        words = sorted(set(tokenize(query)))
        if not words:
            return []
        per_file: list[tuple[str, list[list[str]]]] = []
        for label, path in self.files():
            per_file.append((label, [tokenize(line) for line in self._lines(path)]))
        doc_freq = {w: sum(any(w in toks for toks in lines) for _, lines in per_file) for w in words}
        idf = {w: math.log(1 + len(per_file) / df) for w, df in doc_freq.items() if df}
        ranked: list[tuple[float, str, int]] = []
        for label, lines in per_file:
            present = {w for toks in lines for w in toks if w in idf}
            if not present:
                continue
            score = sum(idf[w] for w in present) * (1.5 if task and task in label else 1.0)
            best_line = max(range(len(lines)), key=lambda i: len(present & set(lines[i])))
            ranked.append((score, label, best_line + 1))
        ranked.sort(key=lambda item: (-item[0], item[1]))
        return [dataclasses.replace(self.window(label, line), score=score) for score, label, line in ranked[:k]]
