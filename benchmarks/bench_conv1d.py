"""conv1d kernels vs F.conv1d, conv2d channels-last and torch.compile, side by side in one process.

    python3 benchmarks/bench_conv1d.py KERNEL.py [KERNEL.py ...] [--shapes b2048_fp16,b2048_fp32]

Each kernel file defines ModelNew (a search's best_kernel.py, or the seed). Every contender's error against
the fp32 reference (no TF32) is reported with whether it meets the task tolerance; times are triton.testing.do_bench medians
(L2 flushed before each call) with the 20th/80th percentiles as spread. JSON goes to $OUT/conv1d.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F
import triton
import triton.testing

from kernelevolve.tasks import load_task
from kernelevolve.tasks.reference import compile_baseline


def _load(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ModelNew()


def _conv2d_cl(x, w, b):
    # the paper's stronger baseline: conv2d on a channels-last (B, Cin, 1, L) view
    y = F.conv2d(x.unsqueeze(2).contiguous(memory_format=torch.channels_last), w.unsqueeze(2), b,
                 padding=(0, w.shape[-1] // 2))
    return y.squeeze(2)


def _time(fn, inputs) -> dict[str, float]:
    q20, med, q80 = triton.testing.do_bench(lambda: fn(*inputs), warmup=50, rep=300, quantiles=[0.2, 0.5, 0.8])
    return {"median_ms": med, "p20_ms": q20, "p80_ms": q80}


def _check(fn, task, inputs) -> tuple[float, bool]:
    """Returns (max abs error, within the task tolerance) against the fp32 reference computed without TF32."""
    torch.backends.cudnn.allow_tf32 = False
    ref = task.model_class()(*[t.float() for t in inputs])
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default, which the timed baselines run with
    out = fn(*inputs).float()
    tol = task.tolerance(out)
    return (out - ref).abs().max().item(), bool(torch.allclose(out, ref, atol=tol.atol, rtol=tol.rtol))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernels", nargs="+")
    parser.add_argument("--shapes", default="b2048_fp16,b256_fp16,b2048_fp32,ood_64x768x1024")
    args = parser.parse_args()
    task = load_task("conv1d")
    rows = []
    for shape in args.shapes.split(","):
        inputs = [t.cuda() for t in task.make_inputs(shape, seed=1234)]
        contenders = {"F.conv1d": task.model_class(), "conv2d-channels-last": _conv2d_cl,
                      "torch.compile": compile_baseline(task.model_class())}  # static at this shape
        contenders.update({Path(k).stem: _load(k) for k in args.kernels})
        for name, fn in contenders.items():
            err, within = _check(fn, task, inputs)
            rows.append({"shape": shape, "impl": name, "max_abs_err": err, "within_tol": within, **_time(fn, inputs)})
    base = {(r["shape"]): r["median_ms"] for r in rows if r["impl"] == "torch.compile"}
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}  triton {triton.__version__}")
    print("| shape | impl | median ms | p20-p80 ms | vs torch.compile | max abs err | within tol |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['shape']} | {r['impl']} | {r['median_ms']:.4f} | {r['p20_ms']:.4f}-{r['p80_ms']:.4f} |"
              f" {base[r['shape']] / r['median_ms']:.2f}x | {r['max_abs_err']:.2e} | {r['within_tol']} |")
    geo = {}
    for impl in {r["impl"] for r in rows}:
        ratios = [base[r["shape"]] / r["median_ms"] for r in rows if r["impl"] == impl]
        geo[impl] = statistics.geometric_mean(ratios)
    print("geomean vs torch.compile:", ", ".join(f"{k} {v:.2f}x" for k, v in sorted(geo.items())))
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "conv1d.json").write_text(json.dumps({"rows": rows, "torch": torch.__version__,
                                                                      "triton": triton.__version__,
                                                                      "device": torch.cuda.get_device_name()}))


if __name__ == "__main__":
    main()
