"""benchmarks/bench_ops.py reads a run's export and sizes the floor right (its timing needs a GPU: not here)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sqlite3
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_ops", ROOT / "benchmarks" / "bench_ops.py")
bench_ops = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_ops)


def _run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "r1"
    (run / "export").mkdir(parents=True)
    db = sqlite3.connect(run / "meta.db")
    db.execute("CREATE TABLE runs (id TEXT, task TEXT)")
    db.execute("INSERT INTO runs VALUES ('r1', 'conv1d')")
    db.commit()
    choices = [{"shape": "b2048_fp16", "signature": "s", "node_id": 7, "speedup": 1.4, "why": "fastest"},
               {"shape": "b2048_fp32", "signature": "t", "node_id": None, "speedup": 0.3, "why": "fallback"}]
    (run / "export" / "dispatch.json").write_text(json.dumps({"run_id": "r1", "platform": "cuda", "choices": choices}))
    return run


def test_a_run_contributes_its_dispatched_kernel_per_shape_and_best_kernel_where_it_fell_back(tmp_path):
    run = _run_dir(tmp_path)
    args = argparse.Namespace(run=[str(run)], kernel=["conv1d=/k/seed.py"], shapes="b2048_fp16,b2048_fp32")
    plan = bench_ops._plan(args)
    kernels, choice = plan[("conv1d", "b2048_fp16")]
    assert kernels == {"r1:kernel_node7": run / "export" / "kernel_node7.py", "seed": Path("/k/seed.py")}
    assert choice["node_id"] == 7 and choice["run_id"] == "r1"
    kernels, choice = plan[("conv1d", "b2048_fp32")]
    assert kernels["r1:best_kernel"] == run / "best_kernel.py" and choice["why"] == "fallback"
    assert set(plan) == {("conv1d", "b2048_fp16"), ("conv1d", "b2048_fp32")}  # b256_fp16 filtered out


def test_floor_is_every_input_read_and_output_written_once_or_the_flops_at_peak():
    x = torch.zeros(2048, 96, 200, dtype=torch.float16)
    w = torch.zeros(96, 96, 3, dtype=torch.float16)
    b = torch.zeros(96, dtype=torch.float16)
    task = bench_ops.load_task("conv1d")
    floor = bench_ops._floor(task, "b2048_fp16", [x, w, b], (torch.zeros_like(x),), bandwidth=3e12)
    assert floor["bytes"] == 2 * x.numel() * 2 + w.numel() * 2 + b.numel() * 2
    assert abs(floor["bytes_ms"] - floor["bytes"] / 3e12 * 1e3) < 1e-12
    assert floor["flops"] == 2 * 2048 * 96 * 200 * 96 * 3
    assert floor["floor_ms"] == max(floor["bytes_ms"], floor["flops_ms"])


def test_host_time_per_call_counts_the_calls_issued_between_two_syncs(monkeypatch):
    clock, calls, syncs = [100.0], [], []
    monkeypatch.setattr(bench_ops.time, "perf_counter", lambda: clock[0])

    def call(x):  # holds the host 2 ms by the fake clock
        calls.append(x)
        clock[0] += 0.002

    us = bench_ops.host_us_per_call(call, (1,), calls=5, sync=lambda: syncs.append(len(calls)))
    assert calls == [1] * 5 and syncs == [0, 5]  # one sync before the first call, one after the last
    assert abs(us - 2000.0) < 1e-6
