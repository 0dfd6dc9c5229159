"""The `kernelevolve kb ...` commands: show what deep search over the knowledge base returns."""

from __future__ import annotations

import argparse
from pathlib import Path

from kernelevolve.operator.codesearch import CodeSearcher
from kernelevolve.operator.protocols import Retriever
from kernelevolve.operator.retrieval import (
    PLATFORMS,
    DeepSearch,
    KnowledgeRetriever,
    snippet_tokens,
)
from kernelevolve.paths import knowledge_base_root


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the `kb` command group (kb search) to the CLI's subparsers."""
    kb = subparsers.add_parser("kb", help="knowledge base: search what the operator would retrieve")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    search = kb_sub.add_parser("search", help='show the snippets deep search returns for "QUERY"')
    search.add_argument("query", help="a diagnosis or question, e.g. 'illegal memory access on the tail block'")
    search.add_argument("--platform", choices=PLATFORMS, default=None,
                        help="drop hardware documents of other platforms")
    search.add_argument("--task", default=None, help="drop documents written for other tasks (e.g. conv1d)")
    search.add_argument("-k", type=int, default=4, help="number of snippets (default 4)")
    search.add_argument("--budget", type=int, default=1500, help="token budget, tokens ~ chars/4 (default 1500)")
    search.add_argument("--kb-root", type=Path, default=None, help="knowledge base root (default: the repo's)")
    search.add_argument("--code-root", type=Path, action="append", default=[],
                        help="also search this source tree (repeatable); queries may use re:, file: or \"...\"")
    search.set_defaults(func=run_search)


def build_deep_search(kb_root: Path | None, code_roots: list[Path]) -> DeepSearch:
    """Returns deep search over the KB (plus code roots), following file references the KB cites."""
    root = (kb_root or knowledge_base_root()).resolve()
    retrievers: list[Retriever] = [KnowledgeRetriever.from_root(root)]
    if code_roots:
        retrievers.append(CodeSearcher(code_roots))
    return DeepSearch(retrievers, follower=CodeSearcher([root, *code_roots]))


def run_search(args: argparse.Namespace) -> int:
    """Prints the snippets for args.query; returns 0, or 1 when nothing matched."""
    deep = build_deep_search(args.kb_root, list(args.code_root))
    snippets = deep.search(args.query, platform=args.platform, task=args.task, k=args.k, token_budget=args.budget)
    if not snippets:
        print(f"no knowledge-base match for {args.query!r}")
        return 1
    total = 0
    for rank, snip in enumerate(snippets, start=1):
        total += snippet_tokens(snip)
        print(f"[{rank}] {snip.source}  (score {snip.score:.2f})")
        print(f"    {snip.title}")
        print("    " + snip.text.replace("\n", "\n    "))
        print()
    print(f"{len(snippets)} snippet(s), ~{total} tokens of {args.budget}")
    return 0
