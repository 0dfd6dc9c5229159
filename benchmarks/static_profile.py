"""Compile a kernel file's Triton kernels for an NVIDIA target without a GPU and report what ptxas says.

    python3 benchmarks/static_profile.py conv1d knowledge_base/samples/conv1d/seed_implicit_gemm.py \
        --shape b2048_fp16 [--arch 90] [--set NUM_WARPS=8 --set BLOCK_L=256]

The kernel's own launcher runs on CPU tensors of the shape (built on the meta device, so nothing is allocated)
with every `@triton.jit` launch intercepted: the launch's arguments are turned into a signature (pointer dtypes,
16-divisible integers marked as Triton specializes them at run time, constexprs as given) and compiled with
triton.compile for `cuda:<arch>`; ptxas -v (bundled with Triton) gives registers and spill bytes. Per kernel:
shared memory, registers a thread, spill bytes, and the count of wgmma / mma.sync / cp.async / TMA
(cp.async.bulk.tensor) instructions in the PTX (tensor-core path and software pipelining), of plain ld.global (loads the pipeliner could not make
asynchronous: misaligned, gathered or scalar ones) and of atom./red. instructions (global atomics). No timing: a spill or a missing cp.async is a reason to look,
not a measured slowdown; it catches what the CPU interpreter cannot (a kernel that does not compile for the GPU).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.runtime.jit import mangle_type
from triton.tools.tensor_descriptor import TensorDescriptor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernelevolve.tasks import load_task  # noqa: E402

PTXAS = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
_TYPES = {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32", torch.int64: "i64",
          torch.int32: "i32", torch.int8: "i8", torch.bool: "i1"}


def _signature(fn, args: tuple, kwargs: dict) -> tuple[dict, dict, dict]:
    """Returns (signature, constexprs, attrs) of one launch, as Triton's runtime would specialize it."""
    values = dict(zip(fn.arg_names, args, strict=False)) | {k: v for k, v in kwargs.items() if k in fn.arg_names}
    constexprs = {n: values[n] for n in fn.arg_names if fn.params[fn.arg_names.index(n)].is_constexpr}
    signature, attrs = {}, {}
    for i, name in enumerate(fn.arg_names):
        value = values[name]
        if name in constexprs:
            signature[name] = "constexpr"
        elif value is None:  # Triton specializes a None argument as a constexpr
            signature[name], constexprs[name] = "constexpr", None
        elif isinstance(value, TensorDescriptor):  # host-side TMA descriptor: tensordesc<dtype[block]>
            signature[name] = mangle_type(value)
        elif isinstance(value, torch.Tensor):
            signature[name] = "*" + _TYPES[value.dtype]
            attrs[(i,)] = [["tt.divisibility", 16]]  # torch allocations are 16-byte aligned
        elif isinstance(value, bool):
            signature[name] = "i1"
        elif isinstance(value, int):
            signature[name] = "i64" if abs(value) >= 2**31 else "i32"
            if value % 16 == 0:
                attrs[(i,)] = [["tt.divisibility", 16]]
        else:
            signature[name] = "fp32"
    return signature, constexprs, attrs


def _ptxas(ptx: str, arch: int) -> dict[str, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".ptx", delete=False) as f:
        f.write(ptx)
    try:
        out = subprocess.run([str(PTXAS), f"-arch=sm_{arch}a", "-v", f.name, "-o", os.devnull],
                             capture_output=True, text=True, check=True).stderr
    finally:
        os.unlink(f.name)
    regs = re.findall(r"Used (\d+) registers", out)
    spills = re.findall(r"(\d+) bytes spill stores", out)
    return {"registers": int(regs[-1]) if regs else -1, "spill_bytes": int(spills[-1]) if spills else 0}


def profile(task_name: str, path: Path, shape: str, overrides: dict[str, int], arch: int = 90,
            dump: Path | None = None) -> list[dict]:
    """Returns one dict per kernel launch the file's ModelNew makes on `shape` (compiled, never run)."""
    spec = importlib.util.spec_from_file_location(f"static_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for key, value in overrides.items():
        setattr(module, key, value)
    task = load_task(task_name)
    inputs = [t.to("meta") if isinstance(t, torch.Tensor) else t for t in task.make_inputs(shape, 0)]
    launches: list[tuple] = []

    def intercept(fn):
        class _Grid:
            def __getitem__(self, grid):
                return lambda *a, **kw: launches.append((fn, a, kw))
        return _Grid()

    jitted = {name: obj for name, obj in vars(module).items() if isinstance(obj, triton.runtime.JITFunction)}
    for name, fn in jitted.items():
        setattr(module, name, intercept(fn))
    try:
        module.ModelNew(*task.make_init_inputs(shape))(*inputs)
    finally:  # kernels call other @triton.jit helpers of the module: compile against the real ones
        for name, fn in jitted.items():
            setattr(module, name, fn)
    rows = []
    for fn, args, kwargs in launches:
        signature, constexprs, attrs = _signature(fn, args, kwargs)
        options = {k: kwargs[k] for k in ("num_warps", "num_stages") if k in kwargs}
        kernel = triton.compile(ASTSource(fn, signature, constexprs, attrs), target=GPUTarget("cuda", arch, 32),
                                options=options)
        ptx = kernel.asm["ptx"]
        if dump:  # what the counts come from: the PTX and the layouts Triton chose (TTGIR)
            dump.mkdir(parents=True, exist_ok=True)
            for ext in ("ptx", "ttgir"):
                (dump / f"{fn.__name__}.{ext}").write_text(kernel.asm[ext])
        rows.append({"kernel": fn.__name__, "shared_bytes": kernel.metadata.shared, **_ptxas(ptx, arch),
                     "wgmma": ptx.count("wgmma.mma_async"), "mma_sync": ptx.count("mma.sync"),
                     "cp_async": len(re.findall(r"cp\.async\.c[ag]", ptx)),
                     "tma": ptx.count("cp.async.bulk.tensor"),
                     "ld_global": len(re.findall(r"ld\.global", ptx)),
                     "atomics": len(re.findall(r"\b(?:atom|red)\.", ptx)), **options})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task")
    parser.add_argument("kernel", type=Path)
    parser.add_argument("--shape", required=True)
    parser.add_argument("--arch", type=int, default=90, help="compute capability, e.g. 90 for H100")
    parser.add_argument("--dump", type=Path, help="write each kernel's PTX and TTGIR into this folder")
    parser.add_argument("--set", action="append", default=[], help="NAME=INT tunable override (repeatable)")
    args = parser.parse_args()
    overrides = {k: int(v) for k, _, v in (s.partition("=") for s in args.set)}
    for row in profile(args.task, args.kernel, args.shape, overrides, args.arch, args.dump):
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
