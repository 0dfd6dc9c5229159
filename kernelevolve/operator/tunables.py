"""The tunables a kernel file exposes to the offline operator: module-level integer assignments plus a
TUNABLE_SPACE dict literal naming the allowed values (see knowledge_base/samples/conv1d/seed.py)."""

from __future__ import annotations

import ast
import re

from kernelevolve.core.errors import ExtractionError


def read_tunables(source: str) -> tuple[dict[str, tuple[int, ...]], dict[str, int]]:
    """Returns (TUNABLE_SPACE, current values) parsed from a kernel source; raises ExtractionError."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ExtractionError(f"kernel source does not parse (line {exc.lineno}): {exc.msg}") from exc
    space: dict[str, tuple[int, ...]] | None = None
    values: dict[str, int] = {}
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            continue
        name = stmt.targets[0].id
        if name == "TUNABLE_SPACE":
            raw = ast.literal_eval(stmt.value)
            space = {str(k): tuple(int(v) for v in vals) for k, vals in raw.items()}
        elif isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, int):
            values[name] = int(stmt.value.value)
    if not space:
        raise ExtractionError("kernel exposes no TUNABLE_SPACE dict; the offline operator has nothing to tune.")
    missing = [k for k in space if k not in values]
    if missing:
        raise ExtractionError(f"TUNABLE_SPACE names {missing} but the module assigns no integer to them.")
    return space, {k: values[k] for k in space}


def rewrite_tunables(source: str, changes: dict[str, int]) -> str:
    """Returns the source with `NAME = <int>` assignments replaced, comments kept."""
    out = source
    for name, value in changes.items():
        pattern = re.compile(rf"^({re.escape(name)}\s*=\s*)-?\d+", re.MULTILINE)
        out, count = pattern.subn(rf"\g<1>{value}", out, count=1)
        if count != 1:
            raise ExtractionError(f"no top-level assignment `{name} = <int>` to rewrite")
    return out
