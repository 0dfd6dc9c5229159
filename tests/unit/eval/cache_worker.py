"""A stand-in worker for the kernel-cache tests: it compiles as Triton and Inductor do, with files only.

Run by WorkerProcess (`module=`), it speaks the worker protocol (nonce-framed messages on the job and verdict
fds) and uses the cache dirs its environment names, exactly as a real worker's Triton and Inductor would:
- hello with `baseline`: "autotunes" the baseline (writes its result under $TORCHINDUCTOR_CACHE_DIR) unless a
  result is already there; the ready message says which (`autotuned`), its cwd and its HOME, TMPDIR and
  cache dirs (`paths`).
- job with `source`: each `KERNEL <name>` line of the source is a kernel whose cache entry is
  $TRITON_CACHE_DIR/<sha256 of the name>/kernel.cubin (like Triton, the key depends on the kernel, not on the
  rest of the candidate); an entry found is loaded, a missing one is "compiled" (`compiled <name>`). The
  result lists what each kernel loaded and which were compiled. A `PLANT <name> <text>` line first writes
  <text> into that kernel's entry (a hostile candidate poisoning a kernel another candidate will look up).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

from kernelevolve.eval.wire.channel import ChannelClosed, recv_message, send_message


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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--job-fd", type=int, required=True)
    parser.add_argument("--verdict-fd", type=int, required=True)
    args, _ = parser.parse_known_args()
    hello = recv_message(args.job_fd)
    autotuned = False
    if hello.get("baseline"):
        result = Path(os.environ["TORCHINDUCTOR_CACHE_DIR"]) / "fxgraph" / "baseline.best_config"
        if not result.exists():
            result.parent.mkdir(parents=True, exist_ok=True)
            result.write_text("autotuned")
            autotuned = True
    paths = {name: os.environ[name] for name in ("HOME", "TMPDIR", "TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR")}
    send_message(args.verdict_fd, {"kind": "ready", "nonce": hello.get("nonce"), "autotuned": autotuned,
                                   "paths": paths, "cwd": os.getcwd()})
    while True:
        try:
            job = recv_message(args.job_fd)
        except ChannelClosed:
            return 0
        if job.get("kind") != "job":
            return 0
        send_message(args.verdict_fd, {"kind": "result", "nonce": job["nonce"], **_job(str(job.get("source", "")))})


if __name__ == "__main__":
    sys.exit(main())
