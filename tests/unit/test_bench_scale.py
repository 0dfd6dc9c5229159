"""benchmarks/bench_scale.py's arithmetic: medians, ranges and speed-ups per GPU count, verdict agreement (its
runs need several GPUs: `--smoke` checks them on a CPU, outside the test suite)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "benchmarks" / "bench_scale.py")
bench_scale = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_scale)


def _row(gpus: int, per_min: float, busy_min: float, best: float) -> dict:
    return {"gpus": gpus, "per_min": per_min, "busy_min": busy_min, "best_fitness": best}


def test_the_summary_takes_medians_per_gpu_count_and_the_speedup_of_the_medians():
    rows = [_row(1, 10.0, 0.6, 1.2), _row(4, 33.0, 0.55, 1.4), _row(1, 12.0, 0.7, 1.0),
            _row(4, 41.0, 0.4, 1.3), _row(1, 11.0, 0.65, 1.1), _row(4, 36.0, 0.52, 1.5)]
    one, four = bench_scale.summarize(rows)
    assert (one["gpus"], one["runs"], one["per_min_median"], one["per_min_range"]) == (1, 3, 11.0, "10.00-12.00")
    assert (four["per_min_median"], four["per_min_range"], four["busy_min"]) == (36.0, "33.00-41.00", 0.4)
    assert (one["speedup"], four["speedup"]) == (1.0, round(36.0 / 11.0, 2))
    assert four["best_fitness_median"] == 1.4


def test_verdicts_agree_only_where_the_same_candidate_got_the_same_status():
    rows = [{}, {}]
    first = {"a": "ok", "b": "incorrect", "c": "ok"}
    other = {"a": "ok", "b": "ok", "d": "ok"}  # b disagrees; c and d are not shared
    bench_scale._agreement(rows, [first, other])
    assert (rows[0]["shared_with_first"], rows[0]["same_verdict"]) == (3, 3)
    assert (rows[1]["shared_with_first"], rows[1]["same_verdict"]) == (2, 1)
