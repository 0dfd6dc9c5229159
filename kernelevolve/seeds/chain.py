"""The seed chain: where a search's root kernel comes from, tried in order, the origin kept on the root node.

1. `sample`: a hand-written kernel (operator.seed_path, default knowledge_base/samples/<task>/seed.py);
2. `inductor`: the Triton code torch.compile generates for the reference, wrapped (capture.py, wrap.py),
   read from a capture file (operator.capture_path) or captured live when the platform is a GPU;
3. `llm`: a first draft by the configured model (only when one is configured).
When every step fails, ConfigError says why, one line per step.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kernelevolve.core.errors import ConfigError
from kernelevolve.core.types import Candidate, Node
from kernelevolve.operator.expansion import Expansion, ExpansionRequest
from kernelevolve.operator.protocols import NodeObserver, Operator
from kernelevolve.seeds.capture import Capture, CaptureError, capture_task
from kernelevolve.seeds.inductor_code import UnsupportedCode
from kernelevolve.seeds.protocols import Drafter, RootOutcome
from kernelevolve.seeds.wrap import kernel_count, wrap_capture
from kernelevolve.tasks import Task

logger = logging.getLogger(__name__)

ORIGIN_SAMPLE = "seed"  # the hand-written sample keeps the name roots always had
ORIGIN_INDUCTOR = "seed:inductor"
DRAFT_ATTEMPTS = 2  # drafts asked for (each recorded and charged) before the root is a failed node


def draft_root(drafter: Drafter, attempts: int = DRAFT_ATTEMPTS) -> RootOutcome:
    """Returns the model's first draft as the root; after `attempts` failed drafts, a failed root with the reason."""
    calls: list[dict[str, Any]] = []
    failure = "no attempt"
    for attempt in range(attempts):
        drafted = drafter.draft(seed=attempt)  # another seed: a cached answer is not asked for twice
        calls += drafted.llm_calls
        if drafted.candidate is not None:
            return RootOutcome(candidate=drafted.candidate, llm_calls=calls)
        failure = drafted.failure or "the model drafted no kernel"
    answered = [c for c in calls if c.get("response")]
    model = calls[-1]["model"] if calls else "llm"
    return RootOutcome(candidate=Candidate(source=answered[-1]["response"] if answered else "", parent_id=None,
                                           origin=f"llm:{model}", note="failed first draft"),
                       llm_calls=calls, failure=f"the first draft failed {attempts} times; last: {failure}")


def sample_seed(path: Path) -> Candidate:
    """Returns the hand-written seed at path; raises ConfigError when there is none."""
    if not path.is_file():
        raise ConfigError(f"no hand-written seed at {path}")
    return Candidate(source=path.read_text(), parent_id=None, origin=ORIGIN_SAMPLE, note=f"seed kernel {path.name}")


def find_capture(task: Task, capture_path: str | None) -> Path | None:
    """Returns the capture file for the task: capture_path itself, or <capture_path>/<task>.json; None if absent."""
    if not capture_path:
        return None
    path = Path(capture_path)
    found = path / f"{task.name}.json" if path.is_dir() else path
    return found if found.is_file() else None


def inductor_seed(task: Task, capture_path: str | None, platform: str) -> Candidate:
    """Returns Inductor's Triton for the task, wrapped; raises CaptureError/UnsupportedCode saying why not."""
    found = find_capture(task, capture_path)
    if found is not None:
        capture, where = Capture.from_json(found.read_text()), f"capture {found}"
    elif platform in ("cuda", "rocm"):
        capture, where = capture_task(task), "captured live"
    else:
        raise CaptureError(f"no capture file ({'operator.capture_path unset' if not capture_path else capture_path + ' has no ' + task.name + '.json'}) "
                           f"and platform {platform} has no GPU for Inductor to emit Triton; run "
                           "`kernelevolve seed capture TASK --out DIR` on a GPU and set operator.capture_path=DIR")
    source = wrap_capture(capture, task.path.read_text(), task.model_class.__name__)
    kernels = kernel_count(capture)
    return Candidate(source=source, parent_id=None, origin=ORIGIN_INDUCTOR,
                     note=f"torch.compile's Triton ({kernels} kernels, {where}, {capture.device})")


def resolve_seed(task: Task, *, sample: Path, capture_path: str | None, platform: str,
                 draft: Callable[[], RootOutcome] | None) -> RootOutcome:
    """Returns the first root the chain finds; raises ConfigError with one line per failed step."""
    reasons: list[str] = []
    try:
        return RootOutcome(candidate=sample_seed(sample))
    except ConfigError as exc:
        reasons.append(f"sample: {exc}")
    try:
        candidate = inductor_seed(task, capture_path, platform)
        logger.info("seed for task=%s from %s", task.name, candidate.note)
        return RootOutcome(candidate=candidate)
    except (CaptureError, UnsupportedCode) as exc:
        reasons.append(f"inductor: {exc}")
    if draft is None:
        reasons.append("llm: no model configured (llm=offline); set llm=openai (or another backend) to draft a seed")
        raise ConfigError(f"no seed kernel for task {task.name}:\n  " + "\n  ".join(reasons))
    logger.info("no sample or Inductor seed for task=%s (%s); the model drafts one", task.name, "; ".join(reasons))
    return draft()


@dataclasses.dataclass(kw_only=True)
class SeededOperator:
    """An operator whose seed comes from the chain; expansions (and everything else) are the inner operator's."""

    inner: Operator
    root: Callable[[], RootOutcome]

    @property
    def name(self) -> str:
        """Returns the inner operator's name."""
        return self.inner.name

    def seed(self) -> Candidate:
        """Returns the chain's seed."""
        return self.root().candidate

    def root_outcome(self) -> RootOutcome:
        """Returns the chain's root with the LLM calls it cost."""
        return self.root()

    def expand(self, request: ExpansionRequest) -> Expansion:
        """Returns the inner operator's expansion."""
        return self.inner.expand(request)

    def observe(self, node: Node) -> None:
        """Passes a verdict on to an inner operator that learns from them."""
        if isinstance(self.inner, NodeObserver):
            self.inner.observe(node)

    def __getattr__(self, attr: str) -> Any:  # `client` (bandit restore) and other attributes of the inner operator
        if attr in ("inner", "root"):
            raise AttributeError(attr)
        return getattr(self.inner, attr)


def seeded(operator: Operator, task: Task, *, sample: Path, capture_path: str | None, platform: str,
           eager: bool = True) -> SeededOperator:
    """Returns the operator with the chain's root. Without a model and with `eager`, the root is resolved now (a
    task with no seed fails before a run exists); otherwise when the controller first asks for it."""
    draft = (lambda: draft_root(operator)) if isinstance(operator, Drafter) else None
    if draft is None and eager:
        found = resolve_seed(task, sample=sample, capture_path=capture_path, platform=platform, draft=None)
        return SeededOperator(inner=operator, root=lambda: found)

    def root() -> RootOutcome:
        return resolve_seed(task, sample=sample, capture_path=capture_path, platform=platform, draft=draft)

    return SeededOperator(inner=operator, root=root)
