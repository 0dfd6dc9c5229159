"""How the offline operator ranks its tunable moves (operator/offline.py `OfflineOperator.ranked_moves`): climb along
a tunable change that raised fitness, combine the changes that raised it beside the parent, and order single steps
by what the same step did elsewhere in the search (`MoveStats`)."""

from __future__ import annotations

import dataclasses

from kernelevolve.core.errors import ExtractionError
from kernelevolve.core.types import Node
from kernelevolve.operator.expansion import ExpansionRequest
from kernelevolve.operator.tunables import read_tunables, rewrite_tunables


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


def climb_and_combine(request: ExpansionRequest, space: dict[str, tuple[int, ...]],
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


def neighbours(source: str, space: dict[str, tuple[int, ...]], current: dict[str, int],
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
class Verdict:
    """What the operator remembers of an evaluated node: its parent, tunables (None: none exposed) and fitness."""

    parent_id: int | None
    tunables: dict[str, int] | None
    score: float
    ok: bool


class MoveStats:
    """What single-tunable steps did to fitness in this search: the relative fitness change of every parent -> child
    edge that changed one tunable alone (-1 for a child that failed), per exact step and per direction (a correct
    child's change counts negated for the opposite direction too)."""

    def __init__(self) -> None:
        self._exact: dict[tuple[str, int, int], list[float]] = {}
        self._direction: dict[tuple[str, bool], list[float]] = {}

    def add_edge(self, parent: Verdict, child: Verdict) -> None:
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
        if child.ok:  # the way back most likely undoes it (a failure says nothing about the other way)
            self._direction.setdefault((name, not b > a), []).append(-gain)

    def expected(self, name: str, a: int, b: int) -> float | None:
        """Returns the mean gain of the step a -> b of `name`, else half the mean gain of steps of `name` in that
        direction, else None (never tried)."""
        if exact := self._exact.get((name, a, b)):
            return sum(exact) / len(exact)
        if same_way := self._direction.get((name, b > a)):
            return 0.5 * sum(same_way) / len(same_way)
        return None


def verdict_of(node: Node) -> Verdict:
    try:
        _, tunables = read_tunables(node.candidate.source)
    except ExtractionError:
        tunables = None
    return Verdict(parent_id=node.parent_id, tunables=tunables, score=node.score,
                    ok=node.result is not None and node.result.ok)
