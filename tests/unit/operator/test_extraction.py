"""Code extraction: whole files, SEARCH/REPLACE edits, unified diffs; clear reasons for unusable answers."""

from __future__ import annotations

import pytest

from kernelevolve.core.errors import ExtractionError
from kernelevolve.operator.extraction import apply_unified_diff, extract_source

PARENT = "import triton\n\nBLOCK = 32  # rows\n\n\ndef f(x):\n    return x + 1\n\n\nclass ModelNew:\n    pass\n"


def test_search_replace_edits_apply_in_order_and_keep_the_rest():
    response = ("CHANGE: bigger block\n<<<<<<< SEARCH\nBLOCK = 32  # rows\n=======\nBLOCK = 64  # rows\n>>>>>>> REPLACE\n"
                "<<<<<<< SEARCH\n    return x + 1\n=======\n    return x + 2\n>>>>>>> REPLACE\n")
    out = extract_source(response, PARENT)
    assert out.source == PARENT.replace("32", "64").replace("x + 1", "x + 2")
    assert out.how == "search/replace" and out.note == "bigger block"


def test_search_text_is_matched_loosely_on_trailing_whitespace():
    response = "<<<<<<< SEARCH\nBLOCK = 32  # rows   \n=======\nBLOCK = 16\n>>>>>>> REPLACE"
    assert "BLOCK = 16\n" in extract_source(response, PARENT).source


def test_search_block_missing_from_the_parent_is_rejected_with_its_first_line():
    with pytest.raises(ExtractionError, match="SEARCH block 1 does not match.*BLOCK = 99"):
        extract_source("<<<<<<< SEARCH\nBLOCK = 99\n=======\nBLOCK = 1\n>>>>>>> REPLACE", PARENT)


def test_ambiguous_search_block_is_rejected():
    with pytest.raises(ExtractionError, match=r"matches the parent \d+ times"):
        extract_source("<<<<<<< SEARCH\n\n\n=======\nx\n>>>>>>> REPLACE", PARENT)


def test_unified_diff_applies_by_context():
    diff = "```diff\n--- a/k.py\n+++ b/k.py\n@@ -3,1 +3,1 @@\n-BLOCK = 32  # rows\n+BLOCK = 128  # rows\n```"
    assert "BLOCK = 128  # rows" in extract_source(diff, PARENT).source
    with pytest.raises(ExtractionError, match="hunk 1"):
        apply_unified_diff(PARENT, "@@ -1 +1 @@\n-nothing like this\n+x\n")


def test_whole_file_takes_the_last_block_defining_modelnew():
    response = ("Here:\n```python\nprint('scratch')\n```\nFinal:\n```python\nclass ModelNew:\n    v = 1\n```\n"
                "and again\n```python\nclass ModelNew:\n    v = 2\n```")
    out = extract_source(response, PARENT)
    assert out.source == "class ModelNew:\n    v = 2\n" and out.how == "whole file"


def test_code_with_a_syntax_error_is_passed_on_for_the_judge():
    out = extract_source("```python\nclass ModelNew(:\n    pass\n```", PARENT)
    assert "class ModelNew(:" in out.source


@pytest.mark.parametrize("response,reason", [
    ("", "empty"),
    ("I would make the block bigger.", "no code"),
    ("```python\ndef helper():\n    pass\n```", "none defines `class ModelNew`"),
    (f"```python\n{PARENT}```", "unchanged"),
])
def test_unusable_answers_are_rejected_with_a_reason(response, reason):
    with pytest.raises(ExtractionError, match=reason):
        extract_source(response, PARENT)


def test_unfenced_whole_file_is_accepted_when_it_parses():
    assert extract_source("class ModelNew:\n    w = 3\n", PARENT).source == "class ModelNew:\n    w = 3\n"
