"""Parsers of hardware profiler output into per-kernel `KernelStats`, and their flat summary metrics.

Formats: `ncu --csv --metrics ...` (one row per kernel launch and metric, program output and "==PROF=="
lines before the header, thousands separators in values); Proton's .hatchet JSON tree; rocprofv3's
`--kernel-trace` CSV (and legacy rocprof's results.csv).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

_NCU_FIELDS = {"dram__throughput.avg.pct_of_peak_sustained_elapsed": "dram_pct",
               "sm__throughput.avg.pct_of_peak_sustained_elapsed": "sm_pct",
               "sm__warps_active.avg.pct_of_peak_sustained_active": "occupancy_pct"}  # achieved occupancy
_TIME_UNITS_NS = {"ns": 1.0, "nsecond": 1.0, "us": 1e3, "usecond": 1e3, "ms": 1e6, "msecond": 1e6,
                  "s": 1e9, "second": 1e9}
_PCT_FIELDS = ("dram_pct", "sm_pct", "occupancy_pct")


@dataclasses.dataclass(frozen=True, kw_only=True)
class KernelStats:
    """One kernel (by name) over a profiled stretch: launches, summed device time, counter averages.

    Percentages are time-weighted means over the kernel's launches (None where the tool has no such counter).
    """

    name: str
    calls: int
    time_ns: float
    dram_pct: float | None = None
    sm_pct: float | None = None
    occupancy_pct: float | None = None
    registers: int | None = None


def _number(text: str) -> float | None:
    """Returns ncu's value as a float ("52,064" -> 52064.0), or None for "n/a" and empty cells."""
    try:
        return float(text.replace(",", "").strip())
    except ValueError:
        return None


def _table(text: str, first_column: str) -> list[dict[str, str]]:
    """Returns the CSV rows from the header naming `first_column` on, skipping tool and program lines."""
    lines = [ln.strip() for ln in text.splitlines()]
    start = next((i for i, ln in enumerate(lines) if ln.startswith((f'"{first_column}",', f"{first_column},"))), None)
    if start is None:
        return []
    quoted = lines[start].startswith('"')  # ncu quotes every cell: then anything unquoted is not the table
    body = [lines[start]] + [ln for ln in lines[start + 1:]
                             if (ln.startswith('"') if quoted else "," in ln and not ln.startswith("=="))]
    return list(csv.DictReader(io.StringIO("\n".join(body))))


def parse_ncu_csv(text: str) -> list[KernelStats]:
    """Returns per-kernel stats from `ncu --csv --metrics ...` output (one row per launch and metric)."""
    launches: dict[tuple[str, str], dict[str, Any]] = {}
    for row in _table(text, "ID"):
        launch = launches.setdefault((row.get("Process ID", ""), row["ID"]), {"name": row["Kernel Name"]})
        value = _number(row.get("Metric Value", ""))
        metric = row.get("Metric Name", "")
        if value is None:
            continue
        if metric == "gpu__time_duration.sum":
            launch["time_ns"] = value * _TIME_UNITS_NS.get(row.get("Metric Unit", "ns").strip(), 1.0)
        elif metric == "launch__registers_per_thread":
            launch["registers"] = int(value)
        elif metric in _NCU_FIELDS:
            launch[_NCU_FIELDS[metric]] = value
    return _aggregate(launches.values())


def _aggregate(launches: Iterable[dict[str, Any]]) -> list[KernelStats]:
    """Returns one KernelStats per kernel name (first-seen order) from per-launch dicts."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for launch in launches:
        by_name.setdefault(launch["name"], []).append(launch)
    found = []
    for name, group in by_name.items():
        regs = [g["registers"] for g in group if "registers" in g]
        pcts = {f: _weighted([(g[f], g.get("time_ns", 0.0)) for g in group if f in g]) for f in _PCT_FIELDS}
        found.append(KernelStats(name=name, calls=sum(int(g.get("calls", 1)) for g in group),
                                 time_ns=sum(g.get("time_ns", 0.0) for g in group),
                                 registers=max(regs) if regs else None, **pcts))
    return found


def _weighted(pairs: Sequence[tuple[float, float]]) -> float | None:
    """Returns the weight-averaged value of (value, weight) pairs; the plain mean when all weights are 0."""
    if not pairs:
        return None
    total = sum(w for _, w in pairs)
    if total > 0:
        return sum(v * w for v, w in pairs) / total
    return sum(v for v, _ in pairs) / len(pairs)


def parse_proton_hatchet(data: str | list[Any]) -> list[KernelStats]:
    """Returns per-kernel stats from a Proton .hatchet tree: its leaf frames that ran on a device.

    Inner frames (ROOT, scopes) carry inclusive sums of their children, so only leaves are kernels.
    """
    tree = json.loads(data) if isinstance(data, str) else data
    launches: list[dict[str, Any]] = []
    stack = [node for node in tree if isinstance(node, dict) and "frame" in node]
    while stack:
        node = stack.pop()
        children = node.get("children") or []
        stack.extend(reversed(children))
        metrics = node.get("metrics", {})
        if children or not (metrics.get("count") or metrics.get("time (ns)")):
            continue
        launches.append({"name": node["frame"]["name"], "calls": int(metrics.get("count", 0)),
                         "time_ns": float(metrics.get("time (ns)", 0.0))})
    return _aggregate(launches)


def parse_rocprof_csv(text: str) -> list[KernelStats]:
    """Returns per-kernel stats from a rocprofv3 `--kernel-trace` CSV (legacy rocprof's results.csv too).

    Columns (rocprofiler-sdk docs): Kernel_Name, Start_Timestamp, End_Timestamp (ns), VGPR_Count;
    legacy rocprof: KernelName, BeginNs, EndNs, arch_vgpr. Unverified on ROCm hardware.
    """
    rows = _table(text, "Kind") or _table(text, "Index")
    launches = []
    for row in rows:
        name = row.get("Kernel_Name") or row.get("KernelName")
        start = _number(row.get("Start_Timestamp") or row.get("BeginNs") or "")
        end = _number(row.get("End_Timestamp") or row.get("EndNs") or "")
        if not name or start is None or end is None:
            continue
        launch: dict[str, Any] = {"name": name, "time_ns": max(end - start, 0.0)}
        vgpr = _number(row.get("VGPR_Count") or row.get("arch_vgpr") or "")
        if vgpr is not None:
            launch["registers"] = int(vgpr)
        launches.append(launch)
    return _aggregate(launches)


def is_triton_kernel(name: str, triton_names: Iterable[str]) -> bool:
    """Returns True when a profiled kernel name is one of the candidate's @triton.jit functions.

    Triton kernels keep their Python name (no mangling); a demangled "name(args)" form matches too.
    """
    names = set(triton_names)
    return name in names or name.split("(")[0].strip() in names


def summarize(kernels: Sequence[KernelStats], triton_names: Iterable[str], *, prefix: str,
              calls: int = 1) -> dict[str, float]:
    """Returns flat metrics "<prefix>.<name>" over kernels that cover `calls` candidate calls.

    Counter percentages and registers describe the candidate's Triton kernels only (time-weighted).
    """
    if calls < 1:
        raise ValueError(f"calls must be >= 1, got {calls}")
    names = set(triton_names)
    total = sum(k.time_ns for k in kernels)
    triton = [k for k in kernels if is_triton_kernel(k.name, names)]
    triton_ns = sum(k.time_ns for k in triton)
    out = {f"{prefix}.kernels": float(len(kernels)), f"{prefix}.triton_kernels": float(len(names)),
           f"{prefix}.launches_per_call": sum(k.calls for k in kernels) / calls,
           f"{prefix}.device_us_per_call": total / 1e3 / calls,
           f"{prefix}.triton_us_per_call": triton_ns / 1e3 / calls,
           f"{prefix}.triton_time_fraction": triton_ns / total if total > 0 else 0.0}
    for field in _PCT_FIELDS:
        value = _weighted([(getattr(k, field), k.time_ns) for k in triton if getattr(k, field) is not None])
        if value is not None:
            out[f"{prefix}.{field}"] = value
    regs = [k.registers for k in triton if k.registers is not None]
    if regs:
        out[f"{prefix}.registers_max"] = float(max(regs))
    return out




def merge_kernels(kernels: Iterable[KernelStats]) -> list[KernelStats]:
    """Returns one KernelStats per name from several (e.g. several shapes' runs), percentages time-weighted."""
    return _aggregate({"calls": k.calls, **{f.name: getattr(k, f.name) for f in dataclasses.fields(k)
                                            if getattr(k, f.name) is not None and f.name != "calls"}}
                      for k in kernels)
