"""The offline operator: mutates a kernel's exposed tunables, so a fresh install searches with no LLM.

A kernel exposes tunables as module-level integer assignments plus a TUNABLE_SPACE dict literal
naming the allowed values (see knowledge_base/samples/conv1d/seed.py). Each expansion changes one or
two of them, preferring a neighbouring value, and never proposes a source already in the graph.
With probability `rewrite_prob` an expansion first tries a structural rewrite (operator/rewrites.py:
loop order, load eviction/cache hints, program-id swizzle, a tile reshape that keeps the tile's area,
or a switch to another seed of the task); rewrites are also the fallback when no unseen tunable mutation
is left.

Alternative seeds are the structural starting points beside the seed (samples/<task>/seed_*.py: another
algorithm, e.g. conv1d as a per-sample implicit GEMM): tunables can only move within one algorithm, so
expanding a root node proposes each untried alternative first, and from any other node a switch carries
the parent's tunable values over wherever the alternative has a tunable of that name and value.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kernelevolve.core.errors import ConfigError, ExtractionError
from kernelevolve.core.types import Candidate
from kernelevolve.operator.expansion import Expansion, ExpansionRequest
from kernelevolve.operator.rewrites import REWRITES

logger = logging.getLogger(__name__)

MAX_TRIES = 32  # draws before giving up on finding an unseen mutation
NEIGHBOUR_PROB = 0.7  # chance of moving one step in the value list instead of jumping anywhere


def source_hash(source: str) -> str:
    """Returns the sha256 hex digest identifying a source."""
    return hashlib.sha256(source.encode()).hexdigest()


def read_tunables(source: str) -> tuple[dict[str, tuple[int, ...]], dict[str, int]]:
    """Returns (TUNABLE_SPACE, current values) parsed from a kernel source; raises ExtractionError."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ExtractionError(f"kernel source does not parse (line {exc.lineno}): {exc.msg}") from exc
    space: dict[str, tuple[int, ...]] | None = None
    values: dict[str, int] = {}
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            continue
        name = stmt.targets[0].id
        if name == "TUNABLE_SPACE":
            raw = ast.literal_eval(stmt.value)
            space = {str(k): tuple(int(v) for v in vals) for k, vals in raw.items()}
        elif isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, int):
            values[name] = int(stmt.value.value)
    if not space:
        raise ExtractionError("kernel exposes no TUNABLE_SPACE dict; the offline operator has nothing to tune.")
    missing = [k for k in space if k not in values]
    if missing:
        raise ExtractionError(f"TUNABLE_SPACE names {missing} but the module assigns no integer to them.")
    return space, {k: values[k] for k in space}


def alternative_seeds(seed_path: Path) -> list[Path]:
    """Returns the other seed files beside `seed_path` (seed.py and seed_*.py in its folder), sorted by name."""
    seed_path = Path(seed_path)
    if not seed_path.parent.is_dir():
        return []
    return [p for p in sorted(seed_path.parent.glob("seed*.py"))
            if p.resolve() != seed_path.resolve() and (p.name == "seed.py" or p.name.startswith("seed_"))]


def reshape_tile(source: str, rng: np.random.Generator) -> tuple[str, str] | None:
    """Returns the source with one BLOCK_* tunable doubled and another halved (the tile's area, hence its
    register and shared-memory footprint, stays the same), or None when no such pair is in the space."""
    try:
        space, current = read_tunables(source)
    except ExtractionError:
        return None
    pairs = [(a, b) for a in space for b in space if a != b and a.startswith("BLOCK_") and b.startswith("BLOCK_")
             and current[a] * 2 in space[a] and current[b] % 2 == 0 and current[b] // 2 in space[b]]
    if not pairs:
        return None
    grow, shrink = pairs[int(rng.integers(len(pairs)))]
    changes = {grow: current[grow] * 2, shrink: current[shrink] // 2}
    note = f"rewrite: reshape tile {grow} {current[grow]}->{changes[grow]}, {shrink} {current[shrink]}->{changes[shrink]}"
    return rewrite_tunables(source, changes), note


def rewrite_tunables(source: str, changes: dict[str, int]) -> str:
    """Returns the source with `NAME = <int>` assignments replaced, comments kept."""
    out = source
    for name, value in changes.items():
        pattern = re.compile(rf"^({re.escape(name)}\s*=\s*)-?\d+", re.MULTILINE)
        out, count = pattern.subn(rf"\g<1>{value}", out, count=1)
        if count != 1:
            raise ExtractionError(f"no top-level assignment `{name} = <int>` to rewrite")
    return out


class OfflineOperator:
    """Tunes a seed kernel's exposed parameters; needs no network, key or model."""

    name = "offline"

    def __init__(self, seed_path: Path, *, rewrite_prob: float = 0.0, alternatives: Sequence[Path] = ()) -> None:
        self._rewrite_prob = rewrite_prob
        self._seed_path = Path(seed_path)
        self._alternatives = {Path(p).name: Path(p).read_text() for p in alternatives}

    def seed(self) -> Candidate:
        """Returns the seed kernel file as the root candidate (launch's seed chain finds one when it is missing)."""
        if not self._seed_path.is_file():
            raise ConfigError(
                f"no seed kernel at {self._seed_path}: the offline operator starts from a correct seed; "
                "write one there (see knowledge_base/samples/conv1d/seed.py) or set operator.seed_path."
            )
        return Candidate(source=self._seed_path.read_text(), parent_id=None, origin="seed",
                         note=f"seed kernel {self._seed_path.name}")

    def expand(self, request: ExpansionRequest) -> Expansion:
        """Returns the parent with a structural rewrite or one or two tunables changed, or why neither is new."""
        rng = np.random.default_rng(request.seed)
        if request.parent.parent_id is None:  # a root: every untried algorithm is worth one evaluation first
            # Which expansion of the root tries which alternative follows from the request's seed alone (an
            # operator-instance memory would differ between one local operator and several Ray expanders):
            # each untried alternative and plain tuning are equally likely.
            untried = self._untried(request.seen_sources)
            pick = int(rng.integers(len(untried) + 1)) if untried else len(untried)
            if pick < len(untried):
                return self._switched(request, untried[pick], carry=False)
        if self._rewrite_prob > 0 and rng.random() < self._rewrite_prob:
            rewritten = self._rewrite(request, rng)
            if rewritten is not None:
                return rewritten
        tuned = self._tune(request, rng)
        if tuned.candidate is None:
            return self._rewrite(request, rng) or tuned
        return tuned

    def _tune(self, request: ExpansionRequest, rng: np.random.Generator) -> Expansion:
        parent = request.parent
        try:
            space, current = read_tunables(parent.candidate.source)
        except ExtractionError as exc:
            return Expansion(candidate=None, failure=str(exc))
        for _ in range(MAX_TRIES):
            changes = self._draw_changes(space, current, rng)
            source = rewrite_tunables(parent.candidate.source, changes)
            if source_hash(source) not in request.seen_sources:
                note = ", ".join(f"{k} {current[k]}->{v}" for k, v in changes.items())
                return Expansion(candidate=Candidate(source=source, parent_id=parent.id, origin=self.name, note=note))
        return Expansion(candidate=None, failure=f"no unseen mutation of node {parent.id} in {MAX_TRIES} draws")

    def _rewrite(self, request: ExpansionRequest, rng: np.random.Generator) -> Expansion | None:
        """Returns an unseen structural rewrite of the parent (rewrites tried in random order), or None."""
        parent = request.parent
        moves = [*REWRITES, reshape_tile, None]  # None: switch to an untried alternative seed
        for index in rng.permutation(len(moves)):
            move = moves[int(index)]
            if move is None:
                untried = self._untried(request.seen_sources)
                if untried:
                    return self._switched(request, untried[int(rng.integers(len(untried)))], carry=True)
                continue
            try:
                found = move(parent.candidate.source, rng)
            except SyntaxError:
                return None
            if found is not None and source_hash(found[0]) not in request.seen_sources:
                return Expansion(candidate=Candidate(source=found[0], parent_id=parent.id, origin=self.name,
                                                     note=found[1]))
        return None

    def _untried(self, seen: frozenset[str]) -> list[str]:
        """Returns the names of the alternative seeds whose pristine source is not in the graph yet."""
        return [name for name, source in self._alternatives.items() if source_hash(source) not in seen]

    def _switched(self, request: ExpansionRequest, name: str, *, carry: bool) -> Expansion:
        """Returns the alternative seed `name` as a child of the parent, with the parent's tunable values carried
        over where the alternative has that tunable and value (and the result is unseen)."""
        source, kept = self._alternatives[name], {}
        if carry:
            try:
                (space, _), (_, theirs) = read_tunables(source), read_tunables(request.parent.candidate.source)
            except ExtractionError:
                space, theirs = {}, {}
            kept = {k: v for k, v in theirs.items() if k in space and v in space[k]}
            carried = rewrite_tunables(source, kept)
            if source_hash(carried) not in request.seen_sources:
                source = carried
            else:
                kept = {}
        note = f"rewrite: switch algorithm to {name}" + (f" (kept {kept})" if kept else "")
        return Expansion(candidate=Candidate(source=source, parent_id=request.parent.id, origin=self.name, note=note))

    @staticmethod
    def _draw_changes(space: dict[str, tuple[int, ...]], current: dict[str, int],
                      rng: np.random.Generator) -> dict[str, int]:
        names = [k for k in space if len(space[k]) > 1]
        picked = rng.choice(names, size=min(len(names), int(rng.integers(1, 3))), replace=False)
        changes: dict[str, int] = {}
        for name in sorted(str(n) for n in picked):
            options = space[name]
            idx = options.index(current[name]) if current[name] in options else int(rng.integers(len(options)))
            if rng.random() < NEIGHBOUR_PROB:
                step = int(rng.choice([-1, 1]))
                new_idx = min(max(idx + step, 0), len(options) - 1)
                new_idx = new_idx if new_idx != idx else idx - step
            else:
                new_idx = int(rng.choice([i for i in range(len(options)) if i != idx]))
            changes[name] = options[new_idx]
        return changes
