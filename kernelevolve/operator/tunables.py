"""The tunables a kernel file exposes to the offline operator: module-level integer assignments plus a
TUNABLE_SPACE dict literal naming the allowed values (see knowledge_base/samples/conv1d/seed.py), and optionally
TUNABLE_MAX_RATIO, combinations the operator must not propose: {("BLOCK", "NUM_WARPS"): 1024} keeps
BLOCK / NUM_WARPS <= 1024 (32 elements a thread), as BLOCK 4096 on one warp made ptxas take two minutes for
map_id's unrolled search on the H100 while its neighbours compiled in seconds."""

from __future__ import annotations

import ast
import re

from kernelevolve.core.errors import ExtractionError


def _assignments(source: str) -> list[tuple[str, ast.expr]]:
    """Returns the source's top-level `NAME = value` statements, in order; raises ExtractionError."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ExtractionError(f"kernel source does not parse (line {exc.lineno}): {exc.msg}") from exc
    return [(stmt.targets[0].id, stmt.value) for stmt in tree.body
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)]


def read_tunables(source: str) -> tuple[dict[str, tuple[int, ...]], dict[str, int]]:
    """Returns (TUNABLE_SPACE, current values) parsed from a kernel source; raises ExtractionError."""
    space: dict[str, tuple[int, ...]] | None = None
    values: dict[str, int] = {}
    for name, value in _assignments(source):
        if name == "TUNABLE_SPACE":
            raw = ast.literal_eval(value)
            space = {str(k): tuple(int(v) for v in vals) for k, vals in raw.items()}
        elif isinstance(value, ast.Constant) and isinstance(value.value, int):
            values[name] = int(value.value)
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


def read_limits(source: str) -> dict[tuple[str, str], float]:
    """Returns TUNABLE_MAX_RATIO ({(numerator, denominator): most}) parsed from a kernel source, {} if it has none;
    raises ExtractionError for a malformed one or one naming a tunable TUNABLE_SPACE does not list."""
    assigned = dict(_assignments(source))  # the last assignment of each name
    if "TUNABLE_MAX_RATIO" not in assigned:
        return {}
    try:
        raw = ast.literal_eval(assigned["TUNABLE_MAX_RATIO"])
        limits = {(str(a), str(b)): float(most) for (a, b), most in raw.items()}
        names = set(ast.literal_eval(assigned["TUNABLE_SPACE"])) if "TUNABLE_SPACE" in assigned else set()
    except (ValueError, TypeError, AttributeError) as exc:
        raise ExtractionError("TUNABLE_MAX_RATIO must be a dict literal {(\"A\", \"B\"): most} "
                              f"(A / B <= most): {exc}") from exc
    unknown = sorted({name for pair in limits for name in pair} - names)
    if unknown:
        raise ExtractionError(f"TUNABLE_MAX_RATIO names {unknown}, which TUNABLE_SPACE does not list "
                              "(a misspelt name would turn its limit off)")
    return limits


def within_limits(values: dict[str, int], limits: dict[tuple[str, str], float]) -> bool:
    """True when every ratio in `limits` whose two tunables are in `values` is at most its bound."""
    return all(values[a] / values[b] <= most for (a, b), most in limits.items()
               if a in values and b in values and values[b] > 0)
