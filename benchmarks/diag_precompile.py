"""Diagnoses whether the judge finds a compile-only worker's kernels in the shared Triton cache.

Run on the GPU box: `PYTHONPATH=. python3 benchmarks/diag_precompile.py`. For two variants of the conv1d seed
it compiles each in a Precompiler (host inputs, as a search does), then judges it with an Evaluator sharing the
workdir, and prints the judge's JIT seconds and loads, the cache entries the judge added, and for each added
entry the metadata fields that differ from the precompile's entry of the same kernel.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernelevolve.eval.config import EvalConfig  # noqa: E402
from kernelevolve.eval.evaluator import Evaluator  # noqa: E402
from kernelevolve.eval.precompile_pool import Precompiler  # noqa: E402
from kernelevolve.tasks.loader import load_task  # noqa: E402

SEED = (ROOT / "knowledge_base" / "samples" / "conv1d" / "seed.py").read_text()


def _variant(**constants: int) -> str:
    source = SEED
    for name, value in constants.items():
        source = re.sub(rf"^{name} = \d+", f"{name} = {value}", source, flags=re.M)
    return source


def _entries(workdir: Path) -> dict[str, dict]:
    found = {}
    for meta in (workdir / "cache" / "triton").glob("*/*.json"):
        if meta.name.startswith("__grp__"):
            continue
        try:
            found[meta.parent.name + "/" + meta.name] = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
    return found


def main() -> int:
    task = load_task("conv1d")
    config = EvalConfig(precompile_workers=1, profile=False)
    workdir = Path(tempfile.mkdtemp(prefix="diag_precompile_"))
    variants = {"m32": _variant(BLOCK_M=32), "n64w8": _variant(BLOCK_N=64, NUM_WARPS=8)}
    with Evaluator(task, platform="cuda", config=config, workdir=workdir) as judge:
        judge.evaluate(SEED, candidate_id="warm")  # worker start, baseline compiles
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
            for key, meta in added.items():
                kernel = key.split("/")[1]
                twins = [v for k, v in before.items() if k.endswith("/" + kernel)]
                print(f"  added {key}")
                for twin in twins[:3]:
                    diff = {f: (twin.get(f), meta.get(f)) for f in set(twin) | set(meta) if twin.get(f) != meta.get(f)}
                    print(f"    vs a precompiled {kernel}: {json.dumps(diff, default=str)[:1500]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
