"""Copies the @triton.jit helpers Inductor's kernels call (triton_helpers.maximum, max2, ...) into the seed.

A candidate may not import torch._inductor.runtime.triton_helpers: importing it compiles code under a
file name of the harness's libraries while candidate code is on the stack, which the judge's guard
refuses. So each helper a kernel uses, and the helpers those call, is copied into the seed as `_th_<name>`;
`libdevice` and `tl_math` come from Triton itself.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import re
import textwrap
from types import ModuleType

from kernelevolve.seeds.inductor_code import UnsupportedCode

PREFIX = "_th_"
TRITON_MODULES = {  # names the helpers and kernels use for Triton's own modules -> the seed's import lines
    # Triton's CPU interpreter implements no libdevice function; tl.math has the common ones (exp, log, erf, sqrt).
    "libdevice": ("if os.environ.get(\"TRITON_INTERPRET\") == \"1\":\n"
                  "    libdevice = tl.math  # the interpreter has no libdevice\n"
                  "else:\n"
                  "    from triton.language.extra import libdevice"),
    "tl_math": "from triton.language import math as tl_math",
}
_BUILTIN_NAMES = {"tl", "triton", "libdevice", "math", "tl_math"}
_HELPER_CALL = re.compile(r"\btriton_helpers\.(\w+)")


def _helpers_module() -> ModuleType:
    from torch._inductor.runtime import triton_helpers

    return triton_helpers


def rename_helper_calls(source: str) -> str:
    """Returns kernel source with `triton_helpers.X` written as the inlined `_th_X`."""
    return _HELPER_CALL.sub(rf"{PREFIX}\1", source)


def inline_helpers(kernel_sources: list[str]) -> list[str]:
    """Returns the definitions (decorated, renamed) of every helper the (renamed) kernels call, callees first."""
    module = _helpers_module()
    wanted = sorted({m for src in kernel_sources for m in re.findall(rf"\b{PREFIX}(\w+)\(", src)})
    done: dict[str, str] = {}
    order: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        done[name] = ""
        source, calls = _helper_source(module, name)
        for callee in calls:
            visit(callee)
        done[name] = source
        order.append(name)

    for name in wanted:
        visit(name)
    return [done[n] for n in order]


def _helper_source(module: ModuleType, name: str) -> tuple[str, list[str]]:
    """Returns (`@triton.jit def _th_<name>` source, helpers it calls) for one triton_helpers function."""
    obj = getattr(module, name, None)
    fn = getattr(obj, "fn", None)
    if fn is None:
        raise UnsupportedCode(f"triton_helpers.{name} is not a @triton.jit helper the wrapper can copy")
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    func = tree.body[0]
    assert isinstance(func, ast.FunctionDef)  # getsource of a function gives its def
    local = {a.arg for a in func.args.args} | {n.id for n in ast.walk(func)
                                                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    calls: list[str] = []
    for node in ast.walk(func):
        if not isinstance(node, ast.Name) or node.id in local or node.id in _BUILTIN_NAMES:
            continue
        target = getattr(module, node.id, None)
        if getattr(target, "fn", None) is not None:
            calls.append(node.id)
            node.id = PREFIX + node.id
        elif not hasattr(builtins, node.id):
            raise UnsupportedCode(f"triton_helpers.{name} uses {node.id}, which the wrapper cannot copy")
    for node in ast.walk(func):
        if isinstance(node, ast.Name) and node.id == "math":
            node.id = "tl_math"
    func.name = PREFIX + name
    func.decorator_list = [ast.parse("triton.jit", mode="eval").body]
    return ast.unparse(func), sorted(set(calls))
