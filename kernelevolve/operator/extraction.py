"""Code extraction: turns a model's answer into a whole candidate file, or says why it cannot.

Accepted answers, tried in this order:
1. SEARCH/REPLACE edits of the parent (`<<<<<<< SEARCH` / `=======` / `>>>>>>> REPLACE`), each
   SEARCH text found exactly once (exactly, or else ignoring trailing whitespace);
2. a unified diff of the parent (in a ```diff block or bare, with `@@` hunks), applied hunk by hunk;
3. a whole file: the last fenced code block that defines ModelNew (or TritonModel), or an unfenced
   answer that parses and defines it.
A syntax error in extracted code is not rejected here: the judge reports it as a compile error,
which the next expansion sees. An answer with no usable code raises ExtractionError with the reason.
"""

from __future__ import annotations

import ast
import dataclasses
import re

from kernelevolve.core.errors import ExtractionError

_SR_BLOCK = re.compile(r"<{5,9} ?SEARCH[^\n]*\n(.*?)\n?={5,9}\n(.*?)\n?>{5,9} ?REPLACE", re.S)
_FENCE = re.compile(r"```([\w+-]*)[^\n]*\n(.*?)```", re.S)
_HUNK = re.compile(r"^@@ [^@]* @@.*$", re.M)
_MODEL_CLASS = re.compile(r"^class\s+(ModelNew|TritonModel)\b", re.M)
_CHANGE = re.compile(r"^\s*(?:\*\*)?change(?:\*\*)?\s*:\s*(.+)$", re.I | re.M)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Extracted:
    """A candidate file recovered from an answer, and how."""

    source: str
    how: str  # "search/replace (2 edits)", "unified diff (1 hunk)", "whole file"
    note: str  # the answer's one-line "CHANGE:" summary, or `how`


def extract_source(response: str, parent_source: str) -> Extracted:
    """Returns the candidate file an answer describes; raises ExtractionError when there is none."""
    if not response.strip():
        raise ExtractionError("the response is empty")
    change = _CHANGE.search(_FENCE.sub("", response))
    if _SR_BLOCK.search(response):
        source, how = apply_search_replace(parent_source, response), "search/replace"
    elif _HUNK.search(response):
        source, how = apply_unified_diff(parent_source, _diff_text(response)), "unified diff"
    else:
        source, how = _whole_file(response), "whole file"
    if source.strip() == parent_source.strip():
        raise ExtractionError(f"the {how} leaves the parent unchanged")
    note = change.group(1).strip()[:200] if change else how
    return Extracted(source=source if source.endswith("\n") else source + "\n", how=how, note=note)


def apply_search_replace(parent: str, response: str) -> str:
    """Returns the parent with every SEARCH/REPLACE block of the response applied in order."""
    out = parent
    for number, (search, replace) in enumerate(_SR_BLOCK.findall(response), start=1):
        out = _replace_once(out, search, replace, f"SEARCH block {number}")
    return out


def apply_unified_diff(parent: str, diff: str) -> str:
    """Returns the parent with a unified diff's hunks applied by their context (line numbers ignored)."""
    out = parent
    hunks = _HUNK.split(diff)[1:]
    if not hunks:
        raise ExtractionError("the diff has no @@ hunks")
    for number, hunk in enumerate(hunks, start=1):
        old, new = [], []
        for line in hunk.split("\n"):
            if line.startswith(("---", "+++")) or line.startswith("\\"):
                continue
            tag, body = (line[:1], line[1:]) if line[:1] in "+- " and line else (" ", line)
            if tag in " -":
                old.append(body)
            if tag in " +":
                new.append(body)
        while old and new and not old[-1].strip() and not new[-1].strip():  # blank tail between hunks
            old.pop()
            new.pop()
        if not "".join(old).strip():
            raise ExtractionError(f"diff hunk {number} has no context or removed lines to locate it")
        out = _replace_once(out, "\n".join(old), "\n".join(new), f"diff hunk {number}")
    return out


def _replace_once(text: str, search: str, replace: str, label: str) -> str:
    count = text.count(search) if search else 0
    if count == 1:
        return text.replace(search, replace, 1)
    if count > 1:
        raise ExtractionError(f"{label} matches the parent {count} times; it must match exactly once")
    loose = _loose_find(text, search)
    if loose is None:
        first = next((ln.strip() for ln in search.splitlines() if ln.strip()), "")
        raise ExtractionError(f"{label} does not match the parent (first line: {first!r})")
    start, end = loose
    return text[:start] + replace + text[end:]


def _loose_find(text: str, search: str) -> tuple[int, int] | None:
    """Returns the span of the unique run of lines equal to `search`'s lines up to trailing whitespace."""
    want = [ln.rstrip() for ln in search.strip("\n").splitlines()]
    lines = text.splitlines(keepends=True)
    starts = [i for i in range(len(lines) - len(want) + 1)
              if [ln.rstrip() for ln in lines[i:i + len(want)]] == want]
    if len(starts) != 1 or not want:
        return None
    begin = sum(len(ln) for ln in lines[:starts[0]])
    end = begin + sum(len(ln) for ln in lines[starts[0]:starts[0] + len(want)])
    return begin, end - (1 if lines[starts[0] + len(want) - 1].endswith("\n") else 0)


def _diff_text(response: str) -> str:
    fenced = [body for lang, body in _FENCE.findall(response) if lang in ("diff", "patch") or _HUNK.search(body)]
    return fenced[-1] if fenced else response


def _whole_file(response: str) -> str:
    blocks = [body for lang, body in _FENCE.findall(response) if lang.lower() in ("", "python", "py", "python3")]
    with_model = [b for b in blocks if _MODEL_CLASS.search(b)]
    if with_model:
        return with_model[-1]
    if blocks:
        raise ExtractionError(f"{len(blocks)} code block(s) but none defines `class ModelNew`; answer with the "
                              "whole file or with SEARCH/REPLACE edits of the parent")
    if _MODEL_CLASS.search(response):
        try:
            ast.parse(response)
        except SyntaxError as exc:
            raise ExtractionError(f"unfenced answer mixes prose and code (line {exc.lineno}: {exc.msg})") from exc
        return response
    raise ExtractionError("no code in the response: no fenced block, no SEARCH/REPLACE edit, no diff")
