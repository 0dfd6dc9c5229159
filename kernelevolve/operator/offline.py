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

import ast
import dataclasses
import hashlib
import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kernelevolve.core.errors import ConfigError, ExtractionError
from kernelevolve.core.types import Candidate, Node
from kernelevolve.operator.expansion import Expansion, ExpansionRequest
from kernelevolve.operator.rewrites import REWRITES

logger = logging.getLogger(__name__)

# CPython 3.11's ast module is not thread-safe ("SystemError: AST constructor recursion depth mismatch" when two
# threads parse at once); expansions run on the controller's expansion threads and verdicts arrive on another.
_AST_LOCK = threading.Lock()
MAX_TRIES = 32  # draws before giving up on finding an unseen mutation
NEIGHBOUR_PROB = 0.7  # chance of moving one step in the value list instead of jumping anywhere


def source_hash(source: str) -> str:
    """Returns the sha256 hex digest identifying a source, its layout normalized: line endings, trailing blanks on
    a line and blank lines at either end do not count (comments do: they are part of what an LLM operator reads)."""
    lines = [line.rstrip() for line in source.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return hashlib.sha256("\n".join(lines).strip("\n").encode()).hexdigest()


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


def _tunable_diff(before: str, after: str, space: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, int]]:
    """Returns {tunable: (old, new)} for the tunables of `space` whose value differs between two sources, both
    values in the space; {} when either source exposes no tunables or a different set of them."""
    try:
        (s1, v1), (s2, v2) = read_tunables(before), read_tunables(after)
    except ExtractionError:
        return {}
    if set(s1) != set(s2) or set(s2) != set(space):
        return {}  # another algorithm: its tunables mean something else
    return {k: (v1[k], v2[k]) for k in space if v1[k] != v2[k] and v1[k] in space[k] and v2[k] in space[k]}


def _step_beyond(options: tuple[int, ...], old: int, new: int, steps: int = 1) -> int | None:
    """Returns the value `steps` steps past `new` in the direction old -> new within `options`, or None past the end."""
    i, j = options.index(old), options.index(new)
    k = j + steps * (1 if j > i else -1)
    return options[k] if 0 <= k < len(options) else None


def _nearest(options: tuple[int, ...], value: int) -> int:
    return min(range(len(options)), key=lambda i: (abs(options[i] - value), i))


def _note(current: dict[str, int], changes: dict[str, int]) -> str:
    return ", ".join(f"{k} {current[k]}->{v}" for k, v in changes.items())


def _climb_and_combine(request: ExpansionRequest, space: dict[str, tuple[int, ...]],
                       current: dict[str, int]) -> list[tuple[str, str]]:
    """Returns the climb and combine moves of `OfflineOperator.ranked_moves` (none without a correct grandparent)."""
    parent, gp, moves = request.parent, request.grandparent, []
    if gp is None or gp.result is None or not gp.result.ok:
        return moves
    base, source = gp.score, parent.candidate.source
    jumps: list[tuple[str, str]] = []
    if parent.score > base:
        diff = _tunable_diff(gp.candidate.source, source, space)
        why = f" (climb: the change before raised fitness {base:.4g} -> {parent.score:.4g})"
        for distance in range(1, max((len(space[k]) for k in diff), default=1)):
            steps = {k: v for k, (old, new) in diff.items()
                     if (v := _step_beyond(space[k], old, new, distance)) is not None}
            found = [({k: v}, why) for k, v in steps.items()]
            if len(steps) > 1:
                found.insert(0, (steps, why))
            # one step along the improving direction first; the longer jumps come after the combine moves, for the
            # concurrent expansions of a parent (each takes the move of its rank: a line search in parallel)
            (moves if distance == 1 else jumps).extend((rewrite_tunables(source, c), _note(current, c) + w)
                                                       for c, w in found)
    siblings = [n for n in request.parent_siblings if n.id != parent.id and n.result is not None]
    for sib in sorted(siblings, key=lambda n: (-n.score, n.id)):
        if sib.score <= base:
            continue
        diff = _tunable_diff(gp.candidate.source, sib.candidate.source, space)
        changes = {k: new for k, (_, new) in diff.items() if current[k] != new}
        if changes:
            moves.append((rewrite_tunables(source, changes),
                          _note(current, changes) + f" (combine: node {sib.id} raised fitness with it)"))
    return moves + jumps


def _neighbours(source: str, space: dict[str, tuple[int, ...]], current: dict[str, int],
                stats: MoveStats) -> list[tuple[str, str]]:
    """Returns every tunable one step down and up its value list: the steps that raised fitness elsewhere in the
    search first (largest gain first), then the untried ones (pipeline stages, then warps, then the others in
    TUNABLE_SPACE order), then those that lowered it or failed."""
    ranked = []
    for name in sorted(space, key=lambda k: 0 if "STAGES" in k else 1 if "WARPS" in k else 2):
        options = space[name]
        inside = current[name] in options
        idx = options.index(current[name]) if inside else _nearest(options, current[name])
        for j in (idx - 1, idx + 1) if inside else (idx,):
            if 0 <= j < len(options):
                change = {name: options[j]}
                gain = stats.expected(name, current[name], options[j])
                note = _note(current, change) + ("" if gain is None else f" (this step's gain so far: {gain:+.1%})")
                tier = 1 if gain is None else 0 if gain > 0 else 2
                ranked.append(((tier, -(gain or 0.0), len(ranked)), (rewrite_tunables(source, change), note)))
    return [move for _, move in sorted(ranked, key=lambda r: r[0])]


@dataclasses.dataclass(frozen=True)
class _Verdict:
    """What the operator remembers of an evaluated node: its parent, tunables (None: none exposed) and fitness."""

    parent_id: int | None
    tunables: dict[str, int] | None
    score: float
    ok: bool


class MoveStats:
    """What single-tunable steps did to fitness in this search: the relative fitness change of every parent -> child
    edge that changed one tunable alone (-1 for a child that failed), per exact step and per direction."""

    def __init__(self) -> None:
        self._exact: dict[tuple[str, int, int], list[float]] = {}
        self._direction: dict[tuple[str, bool], list[float]] = {}

    def add_edge(self, parent: _Verdict, child: _Verdict) -> None:
        """Records one edge when the parent was correct and the two differ in exactly one shared tunable."""
        if not parent.ok or parent.score <= 0 or parent.tunables is None or child.tunables is None:
            return
        if set(parent.tunables) != set(child.tunables):
            return
        changed = [k for k in parent.tunables if parent.tunables[k] != child.tunables[k]]
        if len(changed) != 1:
            return
        name = changed[0]
        a, b = parent.tunables[name], child.tunables[name]
        gain = child.score / parent.score - 1.0 if child.ok else -1.0
        self._exact.setdefault((name, a, b), []).append(gain)
        self._direction.setdefault((name, b > a), []).append(gain)

    def expected(self, name: str, a: int, b: int) -> float | None:
        """Returns the mean gain of the step a -> b of `name`, else half the mean gain of steps of `name` in that
        direction, else None (never tried)."""
        if exact := self._exact.get((name, a, b)):
            return sum(exact) / len(exact)
        if same_way := self._direction.get((name, b > a)):
            return 0.5 * sum(same_way) / len(same_way)
        return None


def _verdict(node: Node) -> _Verdict:
    try:
        _, tunables = read_tunables(node.candidate.source)
    except ExtractionError:
        tunables = None
    return _Verdict(parent_id=node.parent_id, tunables=tunables, score=node.score,
                    ok=node.result is not None and node.result.ok)


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
        self._verdicts: dict[int, _Verdict] = {}  # evaluated nodes the controller showed (observe), by id

    def observe(self, node: Node) -> None:
        """Remembers an evaluated node's tunables and fitness: what each step did ranks the neighbour moves. (A
        resumed run shows every stored verdict again; expanders that are not shown verdicts rank from the
        request's parent, grandparent and siblings alone.)"""
        with _AST_LOCK:
            self._verdicts[node.id] = _verdict(node)

    def _stats(self, request: ExpansionRequest) -> MoveStats:
        """Returns the step statistics of every remembered edge plus the request's grandparent -> sibling edges."""
        known = dict(self._verdicts)  # expand holds _AST_LOCK, which observe takes too
        gp = request.grandparent
        if gp is not None and gp.result is not None:
            known.setdefault(gp.id, _verdict(gp))
            for sib in request.parent_siblings:
                if sib.result is not None:
                    known.setdefault(sib.id, _verdict(sib))
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
        view (parent, grandparent, its siblings, seen sources) and the verdicts observed, never of its seed, so
        concurrent expansions of one parent that saw the same verdicts rank the same list.

        1. at a root, each untried alternative seed (another algorithm is worth one evaluation first);
        2. climb: when the parent beat its own parent by changing tunables, the next value in the same direction;
        3. combine: the changes that made the parent's siblings beat their parent, applied to the parent; then the
           climb's longer jumps (2, 3, ... values on in the same direction);
        4. every tunable one step down and up its value list: the steps that raised fitness elsewhere in this
           search first (`MoveStats`, from the verdicts observed and the request's siblings), then untried ones
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
            proposals += _climb_and_combine(request, space, current)
            proposals += _neighbours(parent.candidate.source, space, current, self._stats(request))
        for source, note in proposals:
            key = source_hash(source)
            if key not in keys:
                keys.add(key)
                moves.append((source, note))
        return moves

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
