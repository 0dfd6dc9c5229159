"""Paths and settings shared by the judge's tests (imported by name: the test dir is on sys.path)."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

from kernelevolve.eval.config import EvalConfig

HERE = Path(__file__).parent
REPO = HERE.parents[2]
SEED = REPO / "knowledge_base" / "samples" / "conv1d" / "seed.py"
TASKS = {"conv1d": "conv1d", "scale_shift": str(HERE / "tasks" / "scale_shift.py")}

FAST = EvalConfig(seeds=2, timeout_s=40.0, memory_limit_gb=4.0, interpreter_reps=1, worker_start_timeout_s=60.0)
SHORT = dataclasses.replace(FAST, timeout_s=3.0)  # for candidates expected to hang

_BASE = re.compile(r"^# BASE: (\S+)$", re.MULTILINE)
_PATCH = re.compile(r"^# PATCH: (.+?) => (.*)$", re.MULTILINE)


def candidate_source(path: Path) -> str:
    """Returns the candidate a fixture file stands for (see adversarial/README.md).

    A fixture without a `# BASE:` line is a whole candidate. With `# BASE: <repo path>` it is a patch:
    each `# PATCH: <old> => <new>` replaces the one occurrence of <old> in the base, then the fixture's
    own code is appended (so a `class ModelNew` there replaces the base's, and module-level code runs at
    import, after the base's definitions). A PATCH whose <old> is not in the base exactly once raises.
    """
    text = path.read_text()
    base = _BASE.search(text)
    if base is None:
        return text
    source = (REPO / base.group(1)).read_text()
    for old, new in _PATCH.findall(text):
        if source.count(old) != 1:
            raise LookupError(f"{path.name}: PATCH target {old!r} occurs {source.count(old)} times in "
                              f"{base.group(1)}, expected once; update the fixture to the base's new text.")
        source = source.replace(old, new)
    return f"{source}\n\n# ---- appended from the fixture {path.name} ----\n{text}"


class FakeDevice:
    """A stand-in for torch.cuda in timer and phase tests: events read `now` (device milliseconds), which the test
    or the timed functions advance; an event's synchronize raises `fault` once a test sets it (a sticky device
    error), else does nothing."""

    def __init__(self) -> None:
        self.now = 0.0
        self.fault: Exception | None = None
        device = self

        class Event:
            def __init__(self, enable_timing: bool = False) -> None:
                self.t = 0.0

            def record(self) -> None:
                self.t = device.now

            def synchronize(self) -> None:
                if device.fault is not None:
                    raise device.fault

            def elapsed_time(self, end: Event) -> float:
                return end.t - self.t

        self.Event = Event

    def synchronize(self) -> None:
        pass


def until(condition, what: str, limit_s: float = 20.0) -> None:  # noqa: ANN001
    """Waits for a state to be reached (a bound against hanging, not a timing assertion)."""
    end = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"never reached: {what}")
        time.sleep(0.005)
