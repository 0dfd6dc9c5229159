"""On-disk cache of baseline times, to spot a noisy machine; never a substitute for interleaved timing.

Every candidate is still timed interleaved with its baseline, and fitness divides by that interleaved
time. This cache only keeps, per (task file, shape, input dtypes, device, torch, triton, baseline kind),
the last few interleaved baseline medians, so an evaluation whose baseline strays far from the usual
value is flagged `noisy_measurement` (the numbers themselves stay as measured).

The file is JSON: {"version": 1, "entries": {key: {"fields": {...}, "samples_ms": [...]}}}. Writers take
an exclusive lock on `<file>.lock`, re-read the file, merge their samples in, write a temporary file in the
same directory and rename it over the cache, so two evaluators never lose each other's samples and a reader
(which takes no lock) always sees a whole file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import statistics
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from kernelevolve.core.types import EvalResult
from kernelevolve.tasks.spec import Task

logger = logging.getLogger(__name__)

VERSION = 1
MAX_SAMPLES = 32  # most recent baseline medians kept per key
MIN_SAMPLES = 3  # fewer cached samples than this: no drift verdict (one earlier run is no "usual value")


@dataclasses.dataclass(frozen=True, kw_only=True)
class BaselineKey:
    """What a baseline time depends on; `text` is the JSON key."""

    task_sha256: str
    shape: str
    dtypes: tuple[str, ...]
    device: str
    torch: str
    triton: str
    kind: str

    @property
    def text(self) -> str:
        """Returns the stable string form used as the cache key."""
        return "|".join((self.task_sha256, self.shape, ",".join(self.dtypes), self.device, self.torch,
                         self.triton, self.kind))

    def fields(self) -> dict[str, Any]:
        """Returns the key as a JSON-ready dict."""
        return dict(dataclasses.asdict(self), dtypes=list(self.dtypes))


def file_sha256(path: Path) -> str:
    """Returns the hex sha256 of a file's bytes (a task file edit gives new baselines)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def input_dtypes(task: Task, shape: str) -> tuple[str, ...]:
    """Returns the dtype names of a shape's tensor inputs: from meta tensors where the task's inputs can be
    built there (no memory, no random draws: a full-size KernelBench input is 6 GB and ~12 s of host RNG),
    else from seed-0 CPU inputs (tasks that draw from a seeded generator, which the meta device has not)."""
    try:
        values = task.make_inputs(shape, 0, device=torch.device("meta"))
    except (RuntimeError, NotImplementedError, TypeError):
        values = task.make_inputs(shape, 0)
    return tuple(str(x.dtype).removeprefix("torch.") for x in values if hasattr(x, "dtype"))


class ShapeKeys:
    """The cache keys of a task's timed shapes: their input dtypes learned once (`learn`: from meta tensors, or for a
    task that draws from a seeded generator from full-size CPU inputs, 2.2 s for interformer_pffn on the H100
    host, so the evaluator learns them while a starting worker imports), the rest from the worker that timed."""

    def __init__(self, task: Task, shapes: list[str], kind: str) -> None:
        self.task, self.shapes, self.kind = task, list(shapes), kind
        self.sha = file_sha256(task.path)
        self.dtypes: dict[str, tuple[str, ...]] = {}

    def learn(self) -> None:
        """Learns the input dtypes of every shape not yet known."""
        for shape in self.shapes:
            if shape not in self.dtypes:
                self.dtypes[shape] = input_dtypes(self.task, shape)

    def keys(self, device: str, torch_version: str, triton_version: str) -> dict[str, BaselineKey]:
        """Returns every shape's key for baselines timed on `device` with these versions."""
        self.learn()
        return {shape: BaselineKey(task_sha256=self.sha, shape=shape, dtypes=self.dtypes[shape], device=device,
                                   torch=torch_version, triton=triton_version, kind=self.kind)
                for shape in self.shapes}


@dataclasses.dataclass(frozen=True, kw_only=True)
class CachedBaseline:
    """The cached samples of one key."""

    samples_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        """Returns the median of the cached samples, milliseconds."""
        return statistics.median(self.samples_ms)


class BaselineCache:
    """The JSON file of baseline samples; safe with several writers on one machine (flock + rename)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()

    def load(self) -> dict[str, CachedBaseline]:
        """Returns every cached entry by key text ({} when the file is missing or unreadable)."""
        return {k: CachedBaseline(samples_ms=tuple(v["samples_ms"])) for k, v in self._read()["entries"].items()}

    def get(self, key: BaselineKey) -> CachedBaseline | None:
        """Returns the cached samples of one key, or None."""
        return self.load().get(key.text)

    def record(self, samples: Mapping[BaselineKey, float]) -> None:
        """Appends one baseline median (ms) per key, keeping the newest MAX_SAMPLES, merged under the lock."""
        if not samples:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            data = self._read()
            for key, ms in samples.items():
                if not (ms > 0):  # also drops NaN
                    continue
                entry = data["entries"].setdefault(key.text, {"fields": key.fields(), "samples_ms": []})
                entry["samples_ms"] = (list(entry["samples_ms"]) + [float(ms)])[-MAX_SAMPLES:]
            self._write(data)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.path.with_name(self.path.name + ".lock")
        with open(lock, "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"version": VERSION, "entries": {}}
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable baseline cache %s: %s", self.path, exc)
            return {"version": VERSION, "entries": {}}
        if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("entries"), dict):
            logger.warning("ignoring baseline cache %s of unknown layout", self.path)
            return {"version": VERSION, "entries": {}}
        return data

    def _write(self, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def drift(measured_ms: float, cached: CachedBaseline | None) -> float | None:
    """Returns measured / cached median - 1 (signed), or None with fewer than MIN_SAMPLES cached samples."""
    if cached is None or len(cached.samples_ms) < MIN_SAMPLES or cached.median_ms <= 0:
        return None
    return measured_ms / cached.median_ms - 1.0


def check_result(result: EvalResult, keys: Mapping[str, BaselineKey], cache: BaselineCache,
                 tolerance: float) -> tuple[EvalResult, dict[str, dict[str, Any]]]:
    """Compares a verdict's interleaved baselines with the cache, then records them.

    Returns the verdict with `baseline_drift.<shape>` metrics (for every shape with enough cached samples)
    and, when any |drift| exceeds `tolerance`, a `noisy_measurement` = 1 metric and a note in the reason;
    fitness and timings are untouched. Also returns, per shape, what the cache held before this run.
    """
    entries = cache.load()
    metrics = dict(result.metrics)
    notes: list[str] = []
    view: dict[str, dict[str, Any]] = {}
    fresh: dict[BaselineKey, float] = {}
    for timing in result.timings:
        key = keys.get(timing.shape)
        if key is None or timing.baseline_ms is None:
            continue
        cached = entries.get(key.text)
        found = drift(timing.baseline_ms, cached)
        view[timing.shape] = {**key.fields(), "measured_ms": timing.baseline_ms,
                              "cached_median_ms": cached.median_ms if cached else None,
                              "cached_samples": len(cached.samples_ms) if cached else 0, "drift": found}
        fresh[key] = timing.baseline_ms
        if found is None or cached is None:
            continue
        metrics[f"baseline_drift.{timing.shape}"] = found
        if abs(found) > tolerance:
            notes.append(f"{timing.shape} {found:+.0%} ({timing.baseline_ms:.4g} ms vs cached median "
                         f"{cached.median_ms:.4g} ms)")
    reason = result.reason
    if notes:
        metrics["noisy_measurement"] = 1.0
        reason += f"; noisy measurement: baseline drifted beyond {tolerance:.0%} of its cached median: " + \
            ", ".join(notes)
    cache.record(fresh)
    return dataclasses.replace(result, metrics=metrics, reason=reason), view
