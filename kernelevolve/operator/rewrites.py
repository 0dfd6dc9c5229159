"""Structural rewrites for the offline operator: source-to-source changes that keep a kernel correct.

Each rewrite edits the text of one `@triton.jit` function (comments outside the edited span are
kept) and returns None when its pattern is absent:
- swap_loop_order: `for a: <pure assignments>; for b: body` -> `for b: for a: <assignments>; body`,
  only when b's range does not depend on a or the assignments, and the assignments have no side
  effects (only the order of a commutative accumulation changes, within rounding).
- toggle_eviction_policy / toggle_cache_modifier: add or remove a hint on one `tl.load` (hints
  never change values).
- toggle_swizzle: remap (pid_m, pid_n) with `tl.swizzle2d` (a bijection of the grid, grouping
  programs for L2 reuse), change its group size, or remove it.
The judge catches any rewrite that still breaks a kernel.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

import numpy as np

EVICTION_POLICIES = ("evict_last", "evict_first")
CACHE_MODIFIERS = (".ca", ".cg")
SWIZZLE_GROUPS = (4, 8, 16)  # programs per group along axis 0
_SIDE_EFFECTS = frozenset({"store", "atomic_add", "atomic_max", "atomic_min", "atomic_cas", "atomic_xchg",
                           "atomic_and", "atomic_or", "atomic_xor", "debug_barrier", "device_print"})

Rewrite = Callable[[str, np.random.Generator], "tuple[str, str] | None"]  # -> (new source, note) or None


def _jit_functions(tree: ast.Module) -> list[ast.FunctionDef]:
    def is_jit(dec: ast.expr) -> bool:
        target = dec.func if isinstance(dec, ast.Call) else dec
        return isinstance(target, ast.Attribute) and target.attr == "jit"

    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and any(is_jit(d) for d in n.decorator_list)]


def _names(node: ast.AST, ctx: type = ast.Load) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}


def _replace_span(source: str, node: ast.expr, text: str) -> str:
    """Returns the source with `node`'s exact span replaced by `text` (offsets are UTF-8 bytes)."""
    lines = source.splitlines(keepends=True)
    assert node.end_lineno is not None and node.end_col_offset is not None
    head = "".join(lines[:node.lineno - 1]).encode() + lines[node.lineno - 1].encode()[:node.col_offset]
    tail = lines[node.end_lineno - 1].encode()[node.end_col_offset:] + "".join(lines[node.end_lineno:]).encode()
    return (head + text.encode() + tail).decode()


def _shift(line: str, delta: int) -> str:
    if delta >= 0:
        return " " * delta + line if line.strip() else line
    strip = min(-delta, len(line) - len(line.lstrip(" ")))
    return line[strip:]


def _swappable(outer: ast.For) -> bool:
    """Returns True when the loop nest `for a: [assignments]; for b: ...` may be interchanged."""
    if outer.orelse or not outer.body or not isinstance(outer.body[-1], ast.For):
        return False
    inner, pre = outer.body[-1], outer.body[:-1]
    if inner.orelse or not all(isinstance(s, ast.Assign) for s in pre):
        return False
    calls = [c for s in pre for c in ast.walk(s) if isinstance(c, ast.Call)]
    if any(isinstance(c.func, ast.Attribute) and c.func.attr in _SIDE_EFFECTS for c in calls):
        return False
    pre_defined = set().union(*(_names(s, ast.Store) for s in pre)) if pre else set()
    body_defined = set().union(*(_names(s, ast.Store) for s in inner.body))
    outer_vars, inner_vars = _names(outer.target, ast.Store), _names(inner.target, ast.Store)
    pre_reads = set().union(*(_names(s) for s in pre)) if pre else set()
    return (not _names(inner.iter) & (outer_vars | pre_defined)
            and not _names(outer.iter) & (pre_defined | body_defined | inner_vars)
            and not pre_reads & inner_vars)


def swap_loop_order(source: str, rng: np.random.Generator) -> tuple[str, str] | None:
    """Returns the source with one interchangeable loop nest swapped, or None."""
    tree = ast.parse(source)
    nests = [n for f in _jit_functions(tree) for n in ast.walk(f) if isinstance(n, ast.For) and _swappable(n)]
    if not nests:
        return None
    outer = nests[int(rng.integers(len(nests)))]
    inner = outer.body[-1]
    assert isinstance(inner, ast.For) and inner.end_lineno is not None
    lines = source.splitlines(keepends=True)
    indent = lambda ln: len(ln) - len(ln.lstrip(" "))  # noqa: E731
    delta = indent(lines[inner.lineno - 1]) - indent(lines[outer.lineno - 1])
    outer_head = lines[outer.lineno - 1:outer.body[0].lineno - 1]
    pre = lines[outer.body[0].lineno - 1:inner.lineno - 1]
    inner_head = lines[inner.lineno - 1:inner.body[0].lineno - 1]
    body = lines[inner.body[0].lineno - 1:inner.end_lineno]
    block = ([_shift(ln, -delta) for ln in inner_head] + [_shift(ln, delta) for ln in outer_head]
             + [_shift(ln, delta) for ln in pre] + body)
    new = "".join(lines[:outer.lineno - 1] + block + lines[inner.end_lineno:])
    note = f"rewrite: loop order {ast.unparse(inner.target)} outside {ast.unparse(outer.target)}"
    return new, note


def _loads(source: str) -> list[ast.Call]:
    tree = ast.parse(source)
    return [c for f in _jit_functions(tree) for c in ast.walk(f) if isinstance(c, ast.Call)
            and isinstance(c.func, ast.Attribute) and c.func.attr == "load"]


def _toggle_load_kwarg(source: str, rng: np.random.Generator, kwarg: str,
                       choices: tuple[str, ...]) -> tuple[str, str] | None:
    loads = _loads(source)
    if not loads:
        return None
    call = loads[int(rng.integers(len(loads)))]
    current = next((k for k in call.keywords if k.arg == kwarg), None)
    options = [c for c in choices if not (current and isinstance(current.value, ast.Constant)
                                          and current.value.value == c)]
    if current is not None and rng.random() < 0.5:
        call.keywords.remove(current)
        note = f"rewrite: drop {kwarg} on load at line {call.lineno}"
    else:
        value = options[int(rng.integers(len(options)))]
        call.keywords = [k for k in call.keywords if k.arg != kwarg] + [ast.keyword(arg=kwarg, value=ast.Constant(value))]
        note = f"rewrite: {kwarg}={value!r} on load at line {call.lineno}"
    return _replace_span(source, call, ast.unparse(call)), note


def toggle_eviction_policy(source: str, rng: np.random.Generator) -> tuple[str, str] | None:
    """Returns the source with an eviction policy added, changed or removed on one tl.load, or None."""
    return _toggle_load_kwarg(source, rng, "eviction_policy", EVICTION_POLICIES)


def toggle_cache_modifier(source: str, rng: np.random.Generator) -> tuple[str, str] | None:
    """Returns the source with a cache modifier added, changed or removed on one tl.load, or None."""
    return _toggle_load_kwarg(source, rng, "cache_modifier", CACHE_MODIFIERS)


def _program_ids(func: ast.FunctionDef) -> tuple[ast.Assign, ast.Assign] | None:
    found: dict[int, ast.Assign] = {}
    for stmt in func.body:
        if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Attribute)
                and stmt.value.func.attr == "program_id" and stmt.value.args
                and isinstance(stmt.value.args[0], ast.Constant)):
            found.setdefault(int(stmt.value.args[0].value), stmt)
    return (found[0], found[1]) if 0 in found and 1 in found else None


def toggle_swizzle(source: str, rng: np.random.Generator) -> tuple[str, str] | None:
    """Returns the source with grouped program-id order added, regrouped or removed, or None."""
    tree = ast.parse(source)
    for func in _jit_functions(tree):
        existing = [s for s in func.body if isinstance(s, ast.Assign) and "swizzle2d" in ast.unparse(s.value)]
        lines = source.splitlines(keepends=True)
        if existing:
            stmt = existing[0]
            assert stmt.end_lineno is not None
            if rng.random() < 0.5:
                return "".join(lines[:stmt.lineno - 1] + lines[stmt.end_lineno:]), "rewrite: drop program-id swizzle"
            call = stmt.value
            assert isinstance(call, ast.Call)
            old = call.args[-1].value if isinstance(call.args[-1], ast.Constant) else None
            group = int(rng.choice([g for g in SWIZZLE_GROUPS if g != old]))
            call.args[-1] = ast.Constant(group)
            return _replace_span(source, call, ast.unparse(call)), f"rewrite: swizzle group {old} -> {group}"
        pids = _program_ids(func)
        if pids is None:
            continue
        a, b = (ast.unparse(p.targets[0]) for p in pids)
        last = max(pids, key=lambda s: s.lineno)
        assert last.end_lineno is not None
        pad = " " * last.col_offset
        group = int(rng.choice(SWIZZLE_GROUPS))
        line = (f"{pad}{a}, {b} = tl.swizzle2d({a}, {b}, tl.num_programs(0), tl.num_programs(1), {group})"
                "  # grouped program order: neighbours share tiles in L2\n")
        return "".join(lines[:last.end_lineno] + [line] + lines[last.end_lineno:]), f"rewrite: swizzle group {group}"
    return None


REWRITES: tuple[Rewrite, ...] = (swap_loop_order, toggle_eviction_policy, toggle_cache_modifier, toggle_swizzle)
