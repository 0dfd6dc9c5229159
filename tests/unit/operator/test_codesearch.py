"""CodeSearcher on a temporary source tree: grep, regex, file globs, keyword ranking, references, budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelevolve.core.errors import ConfigError
from kernelevolve.operator.codesearch import CodeSearcher
from kernelevolve.operator.protocols import ReferenceFollower, Retriever
from kernelevolve.operator.retrieval import snippet_tokens

_TREE = {
    "kernels/softmax.py": "import triton\n\n@triton.jit\ndef _softmax_kernel(x_ptr, BLOCK: tl.constexpr):\n"
                          "    row_max = tl.max(x, axis=0)  # subtract the max before exp\n",
    "kernels/conv1d/conv1d_fast.py": "# implicit GEMM conv1d with halo tile\ndef conv1d(x):\n    return x\n",
    "kernels/mapid.py": "def map_id(values, mapping):\n    # branch-free binary search over the sorted mapping\n"
                        "    return values\n",
    "docs/notes.md": "Tuning notes: num_warps=8 helps wide rows. See kernels/softmax.py for the row pattern.\n",
    ".git/config": "[core] softmax = secret\n",
    "kernels/__pycache__/softmax.cpython-311.py": "_softmax_kernel cached\n",
    "data/blob.bin": "softmax binary\n",
}


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "org_kernels"
    for rel, text in _TREE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_conforms_to_retriever_and_follower_protocols(tree: Path) -> None:
    searcher = CodeSearcher([tree])
    assert isinstance(searcher, Retriever) and isinstance(searcher, ReferenceFollower)


def test_files_skip_hidden_cache_dirs_and_unknown_suffixes(tree: Path) -> None:
    labels = [label for label, _ in CodeSearcher([tree]).files()]
    assert labels == ["docs/notes.md", "kernels/conv1d/conv1d_fast.py", "kernels/mapid.py", "kernels/softmax.py"]


def test_grep_literal_is_case_insensitive_and_reports_lines(tree: Path) -> None:
    hits = CodeSearcher([tree]).grep("SOFTMAX_KERNEL")
    assert [(h.path, h.line) for h in hits] == [("kernels/softmax.py", 4)]
    assert CodeSearcher([tree]).grep("SOFTMAX_KERNEL", ignore_case=False) == []
    assert CodeSearcher([tree]).grep("num_warps=8")[0].path == "docs/notes.md"  # '=' is literal, not regex


def test_grep_regex_and_invalid_regex(tree: Path) -> None:
    hits = CodeSearcher([tree]).grep(r"def \w+\(values", regex=True)
    assert [h.path for h in hits] == ["kernels/mapid.py"]
    with pytest.raises(ConfigError, match="invalid code-search regex"):
        CodeSearcher([tree]).grep("def (", regex=True)


def test_find_files_by_name_or_path_glob(tree: Path) -> None:
    searcher = CodeSearcher([tree])
    assert searcher.find_files("conv1d*.py") == ["kernels/conv1d/conv1d_fast.py"]
    assert searcher.find_files("kernels/*.py") == ["kernels/conv1d/conv1d_fast.py", "kernels/mapid.py",
                                                   "kernels/softmax.py"]
    assert searcher.find_files("*.rs") == []


def test_search_query_forms(tree: Path) -> None:
    searcher = CodeSearcher([tree])
    assert searcher.search("file:mapid.py")[0].source == "kernels/mapid.py#L1"
    regex = searcher.search(r"re:tl\.max\(")
    assert [s.source for s in regex] == ["kernels/softmax.py#L5"] and "row_max" in regex[0].text
    assert regex[0].text.startswith("import triton")  # the window shows context above the hit
    assert searcher.search('"binary search"')[0].source.startswith("kernels/mapid.py#")
    keywords = searcher.search("branch-free search over a sorted mapping", k=2)
    assert keywords[0].source.startswith("kernels/mapid.py#")
    assert searcher.search("nothingmatcheshere") == []


def test_keyword_search_boosts_the_task(tree: Path) -> None:
    searcher = CodeSearcher([tree])
    plain = searcher.search("halo tile row", k=3)
    boosted = searcher.search("halo tile row", task="conv1d", k=3)
    assert boosted[0].source.startswith("kernels/conv1d/conv1d_fast.py")
    assert {s.source for s in plain} == {s.source for s in boosted}


def test_search_fits_token_budget(tree: Path) -> None:
    (tree / "kernels" / "big.py").write_text("\n".join(f"x{i} = softmax_kernel_variant({i})" for i in range(500)))
    out = CodeSearcher([tree]).search("re:softmax", k=3, token_budget=100)
    assert out and sum(snippet_tokens(s) for s in out) <= 100


def test_follow_references_resolves_existing_files_in_order(tree: Path) -> None:
    searcher = CodeSearcher([tree])
    text = "see kernels/mapid.py, then missing/nothing.py, and org_kernels/kernels/softmax.py again kernels/mapid.py"
    refs = searcher.follow_references(text, limit=5)
    assert [r.source for r in refs] == ["kernels/mapid.py#L1", "kernels/softmax.py#L1"]
    assert searcher.follow_references(text, limit=1)[0].source == "kernels/mapid.py#L1"
    (tree.parent / "outside.md").write_text("not under the root")
    assert searcher.follow_references("../outside.md and ../../etc/passwd.txt") == []  # never escapes a root
    inside = searcher.follow_references("../org_kernels/docs/notes.md")  # resolves inside the root: fine
    assert [r.source for r in inside] == ["docs/notes.md#L1"]


def test_several_roots_prefix_the_root_name(tree: Path, tmp_path: Path) -> None:
    other = tmp_path / "tutorials"
    other.mkdir()
    (other / "matmul.py").write_text("# grouped ordering for L2 reuse\n")
    searcher = CodeSearcher([tree, other])
    assert searcher.find_files("matmul.py") == ["tutorials/matmul.py"]
    assert searcher.search("grouped ordering")[0].source == "tutorials/matmul.py#L1"
    with pytest.raises(ConfigError, match="must be directories"):
        CodeSearcher([tmp_path / "absent"])
