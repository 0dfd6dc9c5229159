"""A stand-in worker for the kernel-cache tests: it compiles as Triton and Inductor do, with files only.

Run by WorkerProcess (`module=`), it speaks the worker protocol through the real serve loop (wire/serve.py) and
uses the cache dirs its environment names, exactly as a real worker's Triton and Inductor would:
- hello with `baseline`: "autotunes" the baseline (writes its result under $TORCHINDUCTOR_CACHE_DIR) unless a
  result is already there.
- job with `info`: answers how it started (the ready message is the real, typed one): whether it autotuned
  (`autotuned`), its cwd and its HOME, TMPDIR and cache dirs (`paths`).
- job with `source`: each `KERNEL <name>` line of the source is a kernel whose cache entry is
  $TRITON_CACHE_DIR/<sha256 of the name>/kernel.cubin (like Triton, the key depends on the kernel, not on the
  rest of the candidate); an entry found is loaded, a missing one is "compiled" (`compiled <name>`). The
  result lists what each kernel loaded and which were compiled. A `PLANT <name> <text>` line first writes
  <text> into that kernel's entry (a hostile candidate poisoning a kernel another candidate will look up).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import sys
from pathlib import Path

from kernelevolve.eval.wire.messages import Hello, Ready
from kernelevolve.eval.wire.serve import Outcome, Session, Turn, result_sender, serve


def entry(cache: str, name: str) -> Path:
    """Returns the cache file of kernel `name` under the Triton cache dir `cache`."""
    return Path(cache) / hashlib.sha256(name.encode()).hexdigest() / "kernel.cubin"


def _job(source: str) -> dict:
    triton = os.environ["TRITON_CACHE_DIR"]
    for line in source.splitlines():
        if line.startswith("PLANT "):
            _, name, text = line.split(" ", 2)
            entry(triton, name).parent.mkdir(parents=True, exist_ok=True)
            entry(triton, name).write_text(text)
    loaded, compiled = {}, []
    for name in (line.split()[1] for line in source.splitlines() if line.startswith("KERNEL ")):
        path = entry(triton, name)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"compiled {name}")
            compiled.append(name)
        loaded[name] = path.read_text()
    return {"loaded": loaded, "compiled": compiled}


def _open(args: argparse.Namespace, hello: Hello, turn: Turn) -> Session:
    autotuned = False
    if hello.baseline:
        result = Path(os.environ["TORCHINDUCTOR_CACHE_DIR"]) / "fxgraph" / "baseline.best_config"
        if not result.exists():
            result.parent.mkdir(parents=True, exist_ok=True)
            result.write_text("autotuned")
            autotuned = True
    paths = {name: os.environ[name] for name in ("HOME", "TMPDIR", "TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR")}
    info = {"autotuned": autotuned, "paths": paths, "cwd": os.getcwd()}
    return Session(ready=Ready(), handle=lambda job, turn: Outcome(info if job.get("info") else _job(str(job.get("source", "")))),
                   send=result_sender(args.verdict_fd))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--job-fd", type=int, required=True)
    parser.add_argument("--verdict-fd", type=int, required=True)
    args, _ = parser.parse_known_args()
    return serve(args, functools.partial(_open, args))


if __name__ == "__main__":
    sys.exit(main())
