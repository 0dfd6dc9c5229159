"""Wraps a capture of Inductor's Triton code into an ordinary candidate file: plain @triton.jit kernels, one
launcher per kernel with its grid computed from module-level tunables, and a ModelNew that runs the captured
`call` sequence. Nothing of Inductor's runtime is used except its library of @triton.jit helpers
(triton_helpers, libdevice), which the kernels call.

Tunables (block sizes, num_warps, num_stages) are top-level integers named in TUNABLE_SPACE, the format the
offline operator mutates. A block size whose mask Inductor dropped (the numel was a multiple of every
block it considered) only takes values that divide that numel, so no mutation reads out of bounds.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from typing import Any

from kernelevolve.seeds.capture import Capture, ShapeCapture
from kernelevolve.seeds.helpers import TRITON_MODULES, inline_helpers, rename_helper_calls
from kernelevolve.seeds.inductor_code import Kernel, UnsupportedCode, parse_module
from kernelevolve.seeds.render import render_module

# Block-size constexprs -> (the numel they tile, the largest value Inductor itself uses: TRITON_MAX_BLOCK).
BLOCKS = {"XBLOCK": ("xnumel", 4096), "YBLOCK": ("ynumel", 1024), "ZBLOCK": ("znumel", 1024),
          "R0_BLOCK": ("r0_numel", 4096), "RBLOCK": ("rnumel", 4096)}
WARPS = (1, 2, 4, 8, 16)
STAGES = (1, 2, 3, 4, 5)
GRIDS = {  # grid rule -> grid expression over the launcher's names; {X} etc. are the tunables' names
    "Grid1D": "(triton.cdiv(xnumel, {XBLOCK}),)",
    "Grid2D": "(triton.cdiv(xnumel, {XBLOCK}), triton.cdiv(ynumel, {YBLOCK}))",
    "Grid3D": "(triton.cdiv(xnumel, {XBLOCK}), triton.cdiv(ynumel, {YBLOCK}), triton.cdiv(znumel, {ZBLOCK}))",
    # y blocks past the device's y-grid limit spill into z; the kernel folds program_id(2) back into its y offset
    "Grid2DWithYZOverflow": "(triton.cdiv(xnumel, {XBLOCK}), "
                            "triton.cdiv(triton.cdiv(ynumel, {YBLOCK}), _y_spill(ynumel, {YBLOCK})), "
                            "_y_spill(ynumel, {YBLOCK}))",
    "FixedGrid": "(_grid_0, _grid_1, _grid_2)",
}
_ALLOWED_NAMES = {"torch", "device", "args", "_reinterpret", "None", "True", "False"}


@dataclasses.dataclass(kw_only=True)
class _Rendered:
    tunables: list[str] = dataclasses.field(default_factory=list)  # `NAME = 64  # comment` lines
    space: dict[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    kernels: list[str] = dataclasses.field(default_factory=list)
    launchers: list[str] = dataclasses.field(default_factory=list)
    calls: list[str] = dataclasses.field(default_factory=list)
    imports: list[str] = dataclasses.field(default_factory=list)


def wrap_capture(capture: Capture, reference_source: str, model_name: str = "Model") -> str:
    """Returns the candidate source for a capture; raises UnsupportedCode when part of it is not Triton."""
    out = _Rendered()
    dispatch = []
    for index, shape in enumerate(capture.shapes):
        suffix = f"_s{index}" if len(capture.shapes) > 1 else ""
        call_name = _render_shape(shape, suffix, out)
        key = tuple((tuple(s[0]), s[1]) if isinstance(s, list) else s for s in shape.signature)
        dispatch.append(f"    {key!r}: {call_name},  # shape {shape.shape}")
    params = capture.shapes[0].param_names
    helpers = inline_helpers(out.kernels)
    imports = [*_triton_imports("\n".join([*helpers, *out.kernels])), *out.imports]
    return render_module(capture, out, dispatch, params, capture.shapes[0].returns_tuple, reference_source,
                         model_name, imports, (chr(10) * 3).join([*helpers, *out.kernels]))


def kernel_count(capture: Capture) -> int:
    """Returns how many Triton kernels the wrapped seed defines over all shapes (the capture's `configs` also
    hold the kernels max-autotune only benchmarked, so they overcount)."""
    return sum(len(parse_module(shape.code).kernels) for shape in capture.shapes)


def _render_shape(shape: ShapeCapture, suffix: str, out: _Rendered) -> str:
    module = parse_module(shape.code)
    rename = {name: f"{name}{suffix}" for name in module.kernels}
    launched: dict[str, list[ast.Call]] = {}
    for node in ast.walk(module.call):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "run" \
                and isinstance(node.func.value, ast.Name) and node.func.value.id in module.kernels:
            launched.setdefault(node.func.value.id, []).append(node)
    if not launched:
        raise UnsupportedCode(f"shape {shape.shape}: Inductor launched no Triton kernel (the graph has no compute "
                              "that Inductor lowers to Triton)")
    for number, name in enumerate(n for n in module.kernels if n in launched):
        prefix = f"S{suffix[2:]}K{number}_" if suffix else f"K{number}_"
        _render_kernel(module.kernels[name], rename[name], prefix, shape.configs.get(name), launched[name], out)
    call_name = f"_call{suffix}"
    out.calls.append(_render_call(module.call, call_name, rename))
    return call_name


def _numel_values(kernel: Kernel, calls: list[ast.Call]) -> dict[str, int]:
    """Returns numel parameter -> value when every launch passes the same literal (static shapes), or the body's."""
    out: dict[str, int] = {}
    for numel, _ in BLOCKS.values():
        found = re.search(rf"^\s+{numel} = (\d+)\s*$", kernel.source, re.MULTILINE)
        if found:
            out[numel] = int(found.group(1))
    return out


def _render_kernel(kernel: Kernel, name: str, prefix: str, config: dict[str, Any] | None, calls: list[ast.Call],
                   out: _Rendered) -> None:
    if kernel.grid_type not in GRIDS:
        raise UnsupportedCode(f"kernel {kernel.name}: grid rule {kernel.grid_type} is not supported by the wrapper")
    if config is None:
        if kernel.kind != "template":
            raise UnsupportedCode(f"kernel {kernel.name}: the capture recorded no autotuned config for it")
        config = {"kwargs": {}, "num_warps": kernel.decorator_warps.get("num_warps", 4),
                  "num_stages": kernel.decorator_warps.get("num_stages", 2)}
    kwargs = {**{k: v for k, v in kernel.constants.items() if k in kernel.params}, **config["kwargs"]}
    kwargs = {k: v for k, v in kwargs.items() if k in kernel.params}
    positional = [p for p in kernel.params if p not in kwargs]
    for call in calls:
        if len(call.args) != len(positional) + len(kernel.extra_launcher_args):
            raise UnsupportedCode(f"kernel {kernel.name}: launched with {len(call.args)} arguments, expected "
                                  f"{len(positional)} (+{len(kernel.extra_launcher_args)} grid)")
    numels = _numel_values(kernel, calls)
    names: dict[str, str] = {}
    tiles = _gemm_tiles(kernel, calls)
    if tiles is not None:
        kernel, grid_override = _expose_tiles(kernel, tiles, prefix, out)
        kwargs = {**kwargs, **{k: f"@{prefix}{k}" for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K")},
                  "EVEN_K": f"@({tiles['K']} % {prefix}BLOCK_K == 0)"}
    for key, value in kwargs.items():
        if key in BLOCKS and isinstance(value, int) and not isinstance(value, bool) and _tunable_block(kernel, key):
            names[key] = _add_tunable(out, f"{prefix}{key}", value, _block_space(kernel, key, value, numels),
                                      f"{kernel.name}: {key}")
    warps = _add_tunable(out, f"{prefix}NUM_WARPS", config["num_warps"], WARPS, f"{kernel.name}: warps per program")
    stages_space = STAGES if kernel.kind == "template" else (config["num_stages"],)
    stages = _add_tunable(out, f"{prefix}NUM_STAGES", config["num_stages"], stages_space,
                          f"{kernel.name}: software-pipelining stages")
    source = rename_helper_calls(re.sub(rf"^def {kernel.name}\(", f"def {name}(", kernel.source, count=1))
    out.kernels.append("@triton.jit\n" + source)
    out.imports += [i for i in kernel.helper_imports if i not in out.imports and not _is_inductor_import(i)]
    grid = GRIDS[kernel.grid_type].format(**{b: names.get(b, str(kwargs.get(b, 1))) for b in BLOCKS})
    if tiles is not None:
        grid = grid_override
    launch_kwargs = ", ".join([*(f"{k}={names.get(k, _literal(v))}" for k, v in kwargs.items()),
                               f"num_warps={warps}", f"num_stages={stages}"])
    signature = ", ".join([*positional, *kernel.extra_launcher_args])
    out.launchers.append(
        f"def _launch_{name}({signature}):\n"
        f"    grid = {grid}\n"
        f"    {name}[grid]({', '.join(positional)}, {launch_kwargs})\n")


def _literal(value: Any) -> str:
    """Returns a keyword's value as code: '@expr' is an expression over the tunables, anything else a literal."""
    return value[1:] if isinstance(value, str) and value.startswith("@") else repr(value)


_TILE_LINE = re.compile(r"^[ \t]+(BLOCK_M|BLOCK_N|BLOCK_K|EVEN_K)\s*:\s*tl\.constexpr\s*=\s*(\w+)[ \t]*\n", re.MULTILINE)
TILE_SPACE = {"BLOCK_M": (16, 32, 64, 128, 256), "BLOCK_N": (16, 32, 64, 128, 256), "BLOCK_K": (16, 32, 64, 128)}


def _gemm_tiles(kernel: Kernel, calls: list[ast.Call]) -> dict[str, int] | None:
    """Returns a GEMM template's tile sizes and M, N, K when its fixed grid is Inductor's mm grid
    (cdiv(M, BLOCK_M) * cdiv(N, BLOCK_N) programs on axis 0), so the tiles can be tuned; None otherwise."""
    if kernel.kind != "template" or kernel.grid_type != "FixedGrid":
        return None
    found = {name: value for name, value in _TILE_LINE.findall(kernel.source)}
    dims = {d: re.search(rf"^\s+{d} = (\d+)\s*$", kernel.source, re.MULTILINE) for d in ("M", "N", "K")}
    if set(found) != {"BLOCK_M", "BLOCK_N", "BLOCK_K", "EVEN_K"} or not all(dims.values()) \
            or "grid_m = (M + BLOCK_M - 1) // BLOCK_M" not in kernel.source:
        return None
    tiles = {k: int(v) for k, v in found.items() if k != "EVEN_K"} | {d: int(m.group(1)) for d, m in dims.items() if m}
    programs = -(-tiles["M"] // tiles["BLOCK_M"]) * -(-tiles["N"] // tiles["BLOCK_N"])
    for call in calls:
        grid = [a.value if isinstance(a, ast.Constant) else None for a in call.args[-3:]]
        if grid[0] != programs or grid[2] != 1:
            return None
    return tiles


def _expose_tiles(kernel: Kernel, tiles: dict[str, int], prefix: str, out: _Rendered) -> tuple[Kernel, str]:
    """Returns the template with its tile constexprs as parameters (tunables), and the launch grid over them."""
    source = _TILE_LINE.sub("", kernel.source)
    extra = "BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, EVEN_K: tl.constexpr"
    source = re.sub(rf"^def {kernel.name}\((.*?)\):", rf"def {kernel.name}(\1, {extra}):", source, count=1,
                    flags=re.DOTALL)
    k_masked = "a_mask" in kernel.source  # rendered with EVEN_K=True, the loads along K carry no mask
    for name, space in TILE_SPACE.items():
        options = {v for v in space if k_masked or name != "BLOCK_K" or tiles["K"] % v == 0} | {tiles[name]}
        _add_tunable(out, f"{prefix}{name}", tiles[name], tuple(sorted(options)), f"{kernel.name}: {name} (GEMM tile)")
    grid = f"(triton.cdiv({tiles['M']}, {prefix}BLOCK_M) * triton.cdiv({tiles['N']}, {prefix}BLOCK_N), _grid_1, _grid_2)"
    params = [*kernel.params, "BLOCK_M", "BLOCK_N", "BLOCK_K", "EVEN_K"]
    return dataclasses.replace(kernel, source=source, params=params), grid


def _is_inductor_import(line: str) -> bool:
    """Inductor's runtime helpers are copied in (helpers.py) and Triton's modules imported directly."""
    return "torch._inductor" in line


def _triton_imports(text: str) -> list[str]:
    """Returns the import lines of Triton modules (libdevice, tl_math) the kernels and helpers use."""
    return [line for name, line in TRITON_MODULES.items() if re.search(rf"\b{name}\.", text)]


def _tunable_block(kernel: Kernel, block: str) -> bool:
    """A persistent reduction's R0_BLOCK covers the whole reduction and is not free."""
    return not (kernel.kind == "persistent_reduction" and block.startswith("R"))


def _block_space(kernel: Kernel, block: str, value: int, numels: dict[str, int]) -> tuple[int, ...]:
    numel_name, limit = BLOCKS[block]
    low, high = max(1, value // 8), max(value, min(limit, value * 8))
    options = [1 << p for p in range(13) if low <= (1 << p) <= high] + [value]
    mask = numel_name.removesuffix("numel")  # xnumel -> x, r0_numel -> r0_
    unmasked = re.search(rf"\b{mask}mask = tl\.full\(", kernel.source) is not None
    if unmasked:  # no mask in the kernel: only blocks dividing the numel stay in bounds
        numel = numels.get(numel_name)
        options = [v for v in options if numel is not None and numel % v == 0] or [value]
    return tuple(sorted(set(options)))


def _add_tunable(out: _Rendered, name: str, value: int, space: tuple[int, ...], comment: str) -> str:
    out.tunables.append(f"{name} = {value}  # {comment}")
    if len(space) > 1:
        out.space[name] = tuple(space)
    return name


class _CallRewriter(ast.NodeTransformer):
    """Rewrites `call`'s body into plain torch + launcher calls on the inputs' device."""

    def __init__(self, rename: dict[str, str]) -> None:
        self.rename = rename

    def visit_With(self, node: ast.With) -> Any:  # `with torch.cuda._DeviceGuard(0):` -> its body
        return _flatten(self.visit(s) for s in node.body)

    def visit_Expr(self, node: ast.Expr) -> Any:
        dotted = ast.unparse(node.value.func) if isinstance(node.value, ast.Call) else ""
        if dotted in ("args.clear", "torch.cuda.set_device") or dotted.startswith(("assert_", "torch._C._cuda")):
            return None
        return self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> Any:
        if isinstance(node.value, ast.Call) and ast.unparse(node.value.func) == "get_raw_stream":
            return None
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> Any:
        self.generic_visit(node)
        func = ast.unparse(node.func)
        if func.startswith("empty_strided_"):  # (size, stride, dtype) on the generating device
            size, stride, dtype = node.args
            return ast.Call(func=ast.parse("torch.empty_strided", mode="eval").body, args=[size, stride],
                            keywords=[ast.keyword(arg="dtype", value=dtype),
                                      ast.keyword(arg="device", value=ast.Name(id="device", ctx=ast.Load()))])
        if func == "reinterpret_tensor":
            return ast.Call(func=ast.Name(id="_reinterpret", ctx=ast.Load()), args=node.args, keywords=[])
        if isinstance(node.func, ast.Attribute) and node.func.attr == "run" and func[:-4] in self.rename:
            return ast.Call(func=ast.Name(id=f"_launch_{self.rename[func[:-4]]}", ctx=ast.Load()),
                            args=node.args, keywords=[])
        return node


def _flatten(stmts: Any) -> list[ast.stmt]:
    """Returns the statements a transformer produced (None = removed, a list = spliced in), flat."""
    out: list[ast.stmt] = []
    for stmt in stmts:
        if isinstance(stmt, list):
            out.extend(_flatten(stmt))
        elif stmt is not None:
            out.append(stmt)
    return out


def _render_call(call: ast.FunctionDef, name: str, rename: dict[str, str]) -> str:
    rewriter = _CallRewriter(rename)
    flat = _flatten(rewriter.visit(stmt) for stmt in call.body)
    fn = ast.FunctionDef(name=name, args=ast.parse("def f(args, device): pass").body[0].args, body=flat,  # type: ignore[attr-defined]
                         decorator_list=[], returns=None, type_params=[])
    fn = ast.fix_missing_locations(fn)
    _check_names(fn, rename)
    return ast.unparse(fn)


def _check_names(fn: ast.FunctionDef, rename: dict[str, str]) -> None:
    """Raises UnsupportedCode naming any global the rewritten body still uses (an Inductor helper not handled)."""
    assigned = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store | ast.Del)}
    launchers = {f"_launch_{v}" for v in rename.values()}
    unknown = sorted({n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
                     - assigned - launchers - _ALLOWED_NAMES)
    if unknown:
        raise UnsupportedCode(f"the generated call uses {unknown}, which the wrapper does not translate")
