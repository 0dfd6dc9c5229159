"""Diagnoses whether the judge finds a compile-only worker's kernels, and a new worker the run's baselines.

Run on the GPU box: `PYTHONPATH=. python3 benchmarks/diag_precompile.py`. For two variants of the conv1d seed
it compiles each in a Precompiler (host inputs, as a search does), then judges it with an Evaluator sharing the
workdir, and prints the judge's JIT seconds and loads, the cache entries the judge added to the candidate's
bound dir (kernel_cache.py: each process has a private cache; kernels cross only bound to the candidate source
they were made for, and the judge publishes there what it compiled itself), and for each added entry the
metadata fields that differ from the precompile's entry of the same kernel name under the same source. Then a second Evaluator on the same
workdir (a new worker of the run) judges the seed: its worker start should find the torch.compile baselines in
the run's warm snapshot instead of autotuning them again (the first worker's start is printed beside it).
The workdir is relative (runs/diag_precompile_<pid>/eval under the current dir), as a search's is.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernelevolve.eval.config import EvalConfig  # noqa: E402
from kernelevolve.eval.evaluator import Evaluator  # noqa: E402
from kernelevolve.eval.kernel_cache import source_digest  # noqa: E402
from kernelevolve.eval.precompile_pool import Precompiler  # noqa: E402
from kernelevolve.tasks.loader import load_task  # noqa: E402

SEED = (ROOT / "knowledge_base" / "samples" / "conv1d" / "seed.py").read_text()


def _variant(**constants: int) -> str:
    source = SEED
    for name, value in constants.items():
        source = re.sub(rf"^{name} = \d+", f"{name} = {value}", source, flags=re.M)
    return source


def _entries(workdir: Path) -> dict[str, dict]:
    found = {}  # "<source digest>/<kernel key>/<file>" -> the kernel's metadata
    for meta in (workdir / "cache" / "by_source").glob("*/*/*.json"):
        if meta.name.startswith("__grp__"):
            continue
        try:
            found[f"{meta.parent.parent.name}/{meta.parent.name}/{meta.name}"] = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
    return found


def main() -> int:
    task = load_task("conv1d")
    config = EvalConfig(precompile_workers=1, profile=False)
    workdir = Path("runs") / f"diag_precompile_{os.getpid()}" / "eval"  # relative, as a search's is
    variants = {"m32": _variant(BLOCK_M=32), "n64w8": _variant(BLOCK_N=64, NUM_WARPS=8)}
    with Evaluator(task, platform="cuda", config=config, workdir=workdir) as judge:
        first = judge.evaluate(SEED, candidate_id="warm")  # worker start, baseline compiles
        print(f"first worker: start {first.metrics.get('phase.worker_start_s', 0):.2f} s, verdict "
              f"{first.metrics.get('eval_seconds', 0):.2f} s ({first.status})")
        for name, source in variants.items():
            pre = Precompiler(task, platform="cuda", config=config, workdir=workdir, workers=1)
            try:
                report = pre.submit(name, source).result(timeout=600)
            finally:
                pre.close()
            before = _entries(workdir)
            verdict = judge.evaluate(source, candidate_id=name)
            after = _entries(workdir)
            added = {k: v for k, v in after.items() if k not in before}
            m = verdict.metrics
            print(f"{name}: precompile {report.status} compiled={report.compiled} compile_s={report.compile_s:.2f}; "
                  f"judge {verdict.status} jit_s={m.get('phase.worker.jit_s', 0):.3f} "
                  f"loads={m.get('triton_jit_loads')} eval_s={m.get('eval_seconds', 0):.2f}; "
                  f"cache entries added by the judge: {len(added)}")
            digest = source_digest(source)
            mine = {k: v for k, v in before.items() if k.startswith(digest + "/")}  # what the precompile published
            print(f"  the precompile published {len(mine)} kernel(s) under this source's digest {digest[:12]}")
            for key, meta in added.items():
                kernel = key.split("/", 1)[1].split("/", 1)[1]
                twins = [v for k, v in mine.items() if k.endswith("/" + kernel)]
                print(f"  added {key}")
                for twin in twins[:3]:
                    diff = {f: (twin.get(f), meta.get(f)) for f in set(twin) | set(meta) if twin.get(f) != meta.get(f)}
                    print(f"    vs the precompiled {kernel}: {json.dumps(diff, default=str)[:1500]}")
    warm = sum(1 for p in (workdir / "cache" / "warm").rglob("*") if p.is_file())
    warm_mb = sum(p.stat().st_size for p in (workdir / "cache" / "warm").rglob("*") if p.is_file()) / 2**20
    with Evaluator(task, platform="cuda", config=config, workdir=workdir) as fresh:
        second = fresh.evaluate(SEED, candidate_id="warm_again")
    print(f"second worker (new Evaluator, same run; warm snapshot {warm} files, {warm_mb:.1f} MiB): start "
          f"{second.metrics.get('phase.worker_start_s', 0):.2f} s, verdict {second.metrics.get('eval_seconds', 0):.2f} s "
          f"({second.status}); first worker's start {first.metrics.get('phase.worker_start_s', 0):.2f} s")
    shutil.rmtree(workdir.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
