"""The offline operator: mutates a kernel's exposed tunables, so a fresh install searches with no LLM.

A kernel exposes tunables as module-level integer assignments plus a TUNABLE_SPACE dict literal
naming the allowed values (see knowledge_base/samples/conv1d/seed.py). Moves are ranked from what the graph
says (`OfflineOperator.ranked_moves`): an untried alternative seed at a root, then continuing a tunable change
that raised fitness (hill-climb), then the changes that raised fitness beside the parent, then each tunable one
step down and up (pipeline stages and warps first). An expansion takes the move of its rank among the concurrent
expansions of the same parent, so these propose different sources; past the end of the list it changes one or
two tunables at random. It never proposes a source already in the graph.
With probability `rewrite_prob` an expansion first tries a structural rewrite (operator/rewrites.py:
loop order, load eviction/cache hints, program-id swizzle, a tile reshape that keeps the tile's area,
or a switch to another seed of the task); rewrites are also the fallback when no unseen tunable mutation
is left.

Alternative seeds are the structural starting points beside the seed (samples/<task>/seed_*.py: another
algorithm, e.g. conv1d as a per-sample implicit GEMM): tunables can only move within one algorithm, so
expanding a root node proposes each untried alternative first, and from any other node a switch carries
the parent's tunable values over wherever the alternative has a tunable of that name and value.

Sources are compared by `source_hash`, which ignores line endings and trailing blanks: a copy that differs only
there is the same kernel and is not judged again.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kernelevolve.core.errors import ConfigError, ExtractionError
from kernelevolve.core.types import Candidate
from kernelevolve.operator.expansion import Expansion, ExpansionRequest
from kernelevolve.operator.moves import MoveStats, climb_and_combine, neighbours, verdict_of
from kernelevolve.operator.rewrites import REWRITES
from kernelevolve.operator.tunables import read_limits, read_tunables, rewrite_tunables, within_limits

__all__ = ["OfflineOperator", "alternative_seeds", "read_tunables", "reshape_tile", "rewrite_tunables", "source_hash"]

logger = logging.getLogger(__name__)

# CPython 3.11's ast module is not thread-safe ("SystemError: AST constructor recursion depth mismatch" when two
# threads parse at once); expansions run on the controller's expansion threads.
_AST_LOCK = threading.Lock()
MAX_TRIES = 32  # draws before giving up on finding an unseen mutation
NEIGHBOUR_PROB = 0.7  # chance of moving one step in the value list instead of jumping anywhere


def source_hash(source: str) -> str:
    """Returns the sha256 hex digest identifying a source, its layout normalized: line endings, trailing blanks on
    a line and blank lines at either end do not count (comments do: they are part of what an LLM operator reads)."""
    lines = [line.rstrip() for line in source.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return hashlib.sha256("\n".join(lines).strip("\n").encode()).hexdigest()


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


class OfflineOperator:
    """Tunes a seed kernel's exposed parameters; needs no network, key or model."""

    name = "offline"

    def __init__(self, seed_path: Path, *, rewrite_prob: float = 0.0, alternatives: Sequence[Path] = ()) -> None:
        self._rewrite_prob = rewrite_prob
        self._seed_path = Path(seed_path)
        self._alternatives = {Path(p).name: Path(p).read_text() for p in alternatives}

    @staticmethod
    def _stats(request: ExpansionRequest) -> MoveStats:
        """Returns the step statistics of the request's lineage and relatives (every edge whose both ends it holds)."""
        known = {n.id: verdict_of(n) for n in (request.parent, *request.ancestors, *request.relatives)
                 if n.result is not None}
        stats = MoveStats()
        for verdict in known.values():
            if verdict.parent_id is not None and verdict.parent_id in known:
                stats.add_edge(known[verdict.parent_id], verdict)
        return stats

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
        """Returns the parent with a structural rewrite or tunables changed, or why neither is new.

        The expansion takes the `request.rank`-th unseen move of the parent's ranked list (`ranked_moves`), so
        concurrent expansions of one parent, which saw the same graph, propose different sources. With
        probability `rewrite_prob` it first tries a random structural rewrite instead (never in place of an
        untried alternative seed of a root); past the end of the list it draws one or two random tunable changes.
        """
        with _AST_LOCK:
            return self._expand(request)

    def _expand(self, request: ExpansionRequest) -> Expansion:
        rng = np.random.default_rng(request.seed)
        moves = self.ranked_moves(request)
        untried_first = request.parent.parent_id is None and request.rank < len(self._untried(request.seen_sources))
        if not untried_first and self._rewrite_prob > 0 and rng.random() < self._rewrite_prob:
            rewritten = self._rewrite(request, rng)
            if rewritten is not None:
                return rewritten
        if request.rank < len(moves):
            source, note = moves[request.rank]
            return Expansion(candidate=Candidate(source=source, parent_id=request.parent.id, origin=self.name,
                                                 note=note))
        tuned = self._tune(request, rng)
        if tuned.candidate is None:
            return self._rewrite(request, rng) or tuned
        return tuned

    def ranked_moves(self, request: ExpansionRequest) -> list[tuple[str, str]]:
        """Returns the parent's unseen moves, best bet first, as (source, note); a function of the request's graph
        view alone (parent, ancestors, relatives, seen sources), never of its seed or of operator memory, so
        concurrent expansions of one parent rank the same list, on one operator or several Ray expanders.

        1. at a root, each untried alternative seed (another algorithm is worth one evaluation first);
        2. climb: when the parent beat its own parent by changing tunables, the next value in the same direction;
        3. combine: the changes that made the parent's siblings beat their parent, applied to the parent; then the
           climb's longer jumps (2, 3, ... values on in the same direction);
        4. every tunable one step down and up its value list: the steps that raised fitness elsewhere in this
           search first (`MoveStats`, from the request's lineage and relatives), then untried ones
           (pipeline stages and warps first, then the others in TUNABLE_SPACE order), then steps that lowered it.
        """
        parent, moves, keys = request.parent, [], set(request.seen_sources)
        proposals: list[tuple[str, str]] = []
        if parent.parent_id is None:
            proposals += [(self._alternatives[name], f"rewrite: switch algorithm to {name}")
                          for name in self._untried(request.seen_sources)]
        try:
            space, current = read_tunables(parent.candidate.source)
        except ExtractionError:
            space, current = {}, {}
        if space:
            proposals += climb_and_combine(request, space, current)
            proposals += neighbours(parent.candidate.source, space, current, self._stats(request))
        limits = _limits(parent.candidate.source) if proposals else {}
        for source, note in proposals:
            key = source_hash(source)
            if key not in keys and _allowed(source, limits):
                keys.add(key)
                moves.append((source, note))
        return moves

    def _tune(self, request: ExpansionRequest, rng: np.random.Generator) -> Expansion:
        parent = request.parent
        try:
            space, current = read_tunables(parent.candidate.source)
        except ExtractionError as exc:
            return Expansion(candidate=None, failure=str(exc))
        limits = _limits(parent.candidate.source)
        for _ in range(MAX_TRIES):
            changes = self._draw_changes(space, current, rng)
            if not within_limits({**current, **changes}, limits):
                continue
            source = rewrite_tunables(parent.candidate.source, changes)
            if source_hash(source) not in request.seen_sources:
                note = ", ".join(f"{k} {current[k]}->{v}" for k, v in changes.items())
                return Expansion(candidate=Candidate(source=source, parent_id=parent.id, origin=self.name, note=note))
        return Expansion(candidate=None, failure=f"no unseen mutation of node {parent.id} in {MAX_TRIES} draws")

    def _rewrite(self, request: ExpansionRequest, rng: np.random.Generator) -> Expansion | None:
        """Returns an unseen structural rewrite of the parent (rewrites tried in random order), or None."""
        parent = request.parent
        limits = _limits(parent.candidate.source)
        moves = [*REWRITES, reshape_tile, None]  # None: switch to an untried alternative seed
        for index in rng.permutation(len(moves)):
            move = moves[int(index)]
            if move is None:
                if parent.parent_id is None:
                    continue  # a root's switches are its ranked moves, one per concurrent expansion
                untried = self._untried(request.seen_sources)
                if untried:
                    return self._switched(request, untried[int(rng.integers(len(untried)))], carry=True)
                continue
            try:
                found = move(parent.candidate.source, rng)
            except SyntaxError:
                return None
            if found is not None and source_hash(found[0]) not in request.seen_sources and _allowed(found[0], limits):
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
            if source_hash(carried) not in request.seen_sources and _allowed(carried, _limits(source)):
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


def _limits(source: str) -> dict[tuple[str, str], float]:
    """The kernel's TUNABLE_MAX_RATIO, or none when it has none or a malformed one (logged: the tunables still
    work)."""
    try:
        return read_limits(source)
    except ExtractionError as exc:
        logger.warning("ignoring the kernel's tunable limits: %s", exc)
        return {}


def _allowed(source: str, limits: dict[tuple[str, str], float]) -> bool:
    """True when the source's tunables are within `limits` (or it has no tunables to check)."""
    if not limits:
        return True
    try:
        _, values = read_tunables(source)
    except ExtractionError:
        return True
    return within_limits(values, limits)
