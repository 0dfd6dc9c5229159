"""Reads the module Inductor generates: its Triton kernels (with launch metadata) and its `call(args)` body.

The module holds `name = async_compile.triton('name', '''<kernel module>''', device_str='cuda')` per kernel
and one `def call(args)` that allocates buffers and launches kernels with `name.run(*args, stream=s)`.
Everything that is not a Triton kernel launched that way (extern_kernels.mm, aten fallbacks, C++
kernels) is reported by op name, so the seed chain can say why this step does not apply.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Any

from kernelevolve.core.errors import KernelEvolveError

EXTERN_ROOTS = frozenset({"extern_kernels", "aten", "torch.ops", "prims"})  # calls that are not Triton kernels
# Why a graph with such a call gives no seed (appended to the message that names the calls). The judge counts only
# the candidate's own Triton kernels: on a GPU (eval.profile) at least eval.min_triton_fraction (default 0.5) of a
# candidate's device time must be in them, so a seed running its GEMM, convolution or RNN through cuBLAS/cuDNN
# next to a few Triton epilogues would be an integrity violation ("a PyTorch fallback in disguise").
NOT_TRITON_WHY = ("; the wrapper copies only Triton kernels (library calls such as cuBLAS/cuDNN would hold most of "
                  "the seed's device time, and the judge wants at least eval.min_triton_fraction of it in the "
                  "candidate's own Triton kernels)")


class UnsupportedCode(KernelEvolveError):
    """The generated module has parts that are not Triton kernels (named in the message)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Kernel:
    """One generated Triton kernel.

    Attributes:
        name: the kernel's function name (also the name `call` launches it by).
        kind: Inductor's heuristic: pointwise, reduction, persistent_reduction, template, ...
        source: the `def` of the @triton.jit function (decorators removed), comments kept.
        params: the function's parameters in order; `constexpr` names those annotated tl.constexpr.
        constexpr: the constexpr parameters.
        grid_type: Inductor's grid rule (Grid1D, Grid2D, Grid3D, FixedGrid, ...).
        extra_launcher_args: trailing `run` arguments that are not kernel arguments (FixedGrid's grid).
        constants: triton_meta's constants (parameter -> value) the launcher passes as keywords.
        decorator_warps: num_warps/num_stages given in the decorator (templates), when any.
        helper_imports: import lines of the kernel module whose names the kernel body uses.
    """

    name: str
    kind: str
    source: str
    params: list[str]
    constexpr: list[str]
    grid_type: str
    extra_launcher_args: list[str]
    constants: dict[str, Any]
    decorator_warps: dict[str, int]
    helper_imports: list[str]


@dataclasses.dataclass(frozen=True, kw_only=True)
class GeneratedModule:
    """The kernels of one generated module and its `call` function (an ast.FunctionDef)."""

    kernels: dict[str, Kernel]
    call: ast.FunctionDef


def parse_module(code: str) -> GeneratedModule:
    """Returns the kernels and `call` of an Inductor output module; raises UnsupportedCode naming what is not Triton."""
    tree = ast.parse(code)
    kernels: dict[str, Kernel] = {}
    others: list[str] = []
    call: ast.FunctionDef | None = None
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "call":
            call = stmt
        compiled = _async_compile(stmt)
        if compiled is None:
            continue
        method, name, source = compiled
        if method == "triton" and source is not None:
            kernels[name] = parse_kernel(name, source)
        else:
            others.append(f"{name} (async_compile.{method})")
    if call is None:
        raise UnsupportedCode("the generated module has no `call(args)` function")
    extern = extern_ops(call)
    if others or extern:
        raise UnsupportedCode("Inductor emitted no Triton for: " + ", ".join(sorted(set(extern)) + others)
                              + NOT_TRITON_WHY)
    return GeneratedModule(kernels=kernels, call=call)


def _async_compile(stmt: ast.stmt) -> tuple[str, str, str | None] | None:
    """Returns (method, kernel name, source) for `name = async_compile.<method>('name', '''src''', ...)`."""
    if not (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)):
        return None
    func = stmt.value.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "async_compile"):
        return None
    target = stmt.targets[0]
    name = target.id if isinstance(target, ast.Name) else ast.unparse(target)
    args = stmt.value.args
    source = args[1].value if len(args) > 1 and isinstance(args[1], ast.Constant) else None
    return func.attr, name, source if isinstance(source, str) else None


def extern_ops(call: ast.FunctionDef) -> list[str]:
    """Returns the non-Triton ops `call` runs (extern_kernels.mm, aten.xxx, torch.ops.xxx), in order."""
    found = []
    for node in ast.walk(call):
        if isinstance(node, ast.Call):
            dotted = _dotted(node.func)
            if dotted and any(dotted == r or dotted.startswith(r + ".") for r in EXTERN_ROOTS):
                found.append(dotted)
    return found


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def parse_kernel(name: str, source: str) -> Kernel:
    """Returns one kernel's definition and launch metadata from its `async_compile.triton` source."""
    tree = ast.parse(source)
    fn = next((s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == name), None)
    if fn is None:
        raise UnsupportedCode(f"kernel {name}: its source defines no function {name}")
    kind, keywords = "jit", {}
    for deco in fn.decorator_list:
        if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) and _dotted(deco.func.value) == "triton_heuristics":
            kind, keywords = deco.func.attr, {k.arg: k.value for k in deco.keywords if k.arg}
    triton_meta = _dict_entries(keywords.get("triton_meta"))
    inductor_meta = _dict_entries(keywords.get("inductor_meta"))
    lines = source.splitlines()
    body = "\n".join(lines[fn.lineno - 1:fn.end_lineno])
    params = [a.arg for a in fn.args.args]
    constexpr = [a.arg for a in fn.args.args if a.annotation is not None and "constexpr" in ast.unparse(a.annotation)]
    body_nodes = [n for stmt in fn.body for n in ast.walk(stmt)]  # not the decorators: their names are not needed
    used = {n.id for n in body_nodes if isinstance(n, ast.Name)}
    decorator_warps = {k: int(ast.literal_eval(keywords[k])) for k in ("num_warps", "num_stages") if k in keywords}
    return Kernel(name=name, kind=kind, source=body, params=params, constexpr=constexpr,
                  grid_type=str(inductor_meta.get("grid_type", "Grid1D")),
                  extra_launcher_args=list(inductor_meta.get("extra_launcher_args", [])),
                  constants=dict(triton_meta.get("constants", {}) or {}), decorator_warps=decorator_warps,
                  helper_imports=_helper_imports(tree, used))


def _dict_entries(node: ast.expr | None) -> dict[str, Any]:
    """Returns the literal entries of a dict display (entries that are not literals, like DeviceProperties, skipped)."""
    if not isinstance(node, ast.Dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in zip(node.keys, node.values, strict=True):
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            try:
                out[key.value] = ast.literal_eval(value)
            except ValueError:
                continue
    return out


def _helper_imports(tree: ast.Module, used: set[str]) -> list[str]:
    """Returns the kernel module's import lines that bind a name the kernel uses (triton_helpers, libdevice, ...)."""
    out = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            names = [a for a in stmt.names if (a.asname or a.name.split(".")[0]) in {u.split(".")[0] for u in used}]
            if names and not (isinstance(stmt, ast.ImportFrom) and stmt.module in ("triton", None)):
                kept = ast.ImportFrom(module=stmt.module, names=names, level=0) if isinstance(stmt, ast.ImportFrom) \
                    else ast.Import(names=names)
                out.append(ast.unparse(kept))
    return [line for line in out if line not in ("import triton", "import triton.language as tl")]
