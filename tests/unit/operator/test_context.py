"""Context memory: lineage best/worst, sibling failures, trimmed errors, inspirations."""

from __future__ import annotations

from kernelevolve.core.types import Candidate, EvalResult, EvalStatus, Node, NodeState
from kernelevolve.operator.context import ContextLimits, NodeHistory, build_context, trim_error
from kernelevolve.operator.expansion import ExpansionRequest


def _node(i, parent, fitness=None, status=EvalStatus.OK, note="", error=None):
    result = None if fitness is None else EvalResult(status=status, fitness=fitness, reason=f"r{i}", error=error)
    return Node(id=i, parent_id=parent, candidate=Candidate(source=f"# kernel {i}\n", parent_id=parent, origin="t",
                                                            note=note), state=NodeState.EVALUATED, result=result,
                created_at=float(i))


def _history(*nodes):
    history = NodeHistory()
    for n in nodes:
        history.add(n)
    return history


def test_lineage_best_worst_and_recent_sibling_failures():
    root, mid = _node(0, None, 1.0), _node(1, 0, 2.0, note="bigger tiles")
    bad = _node(2, 0, 0.0, status=EvalStatus.COMPILE_ERROR)
    parent = _node(3, 1, 1.5)
    kids = [_node(10 + k, 3, 0.0, status=EvalStatus.INCORRECT, note=f"try {k}") for k in range(5)]
    good_kid = _node(20, 3, 3.0)
    history = _history(root, mid, bad, parent, *kids, good_kid)
    request = ExpansionRequest(parent=parent, inspirations=[mid, parent], seen_sources=frozenset(), seed=0)
    ctx = build_context(request, history, task="t", description="d", platform="cuda", shapes={},
                        limits=ContextLimits(siblings=3))
    assert [n.id for n in ctx.lineage] == [1, 0]
    assert ctx.lineage_best.id == 1 and ctx.lineage_worst.id == 0
    assert [n.id for n in ctx.sibling_failures] == [12, 13, 14]  # the three most recent failures only
    assert [n.id for n in ctx.inspirations] == [1] and ctx.inspirations[0].source == "# kernel 1\n"


def test_history_keeps_the_evaluated_copy_and_survives_cycles():
    history = NodeHistory()
    evaluated = _node(1, 2, 1.0)
    history.add(evaluated)
    history.add(_node(1, 2))  # a stale, unevaluated copy must not replace it
    history.add(_node(2, 1, 1.0))  # a corrupt cycle 1 -> 2 -> 1
    assert history.get(1).result is not None
    assert [n.id for n in history.ancestors(evaluated, 10)] == [2]


def test_trim_error_drops_library_frames_and_keeps_the_tail():
    text = ('Traceback:\n  File "/usr/lib/python3.11/site-packages/torch/x.py", line 3, in f\n    lib_code()\n'
            '  File "/tmp/kernel.py", line 9, in g\n    y = bad\nNameError: bad')
    out = trim_error(text, 1000)
    assert "lib_code" not in out and "kernel.py" in out and out.endswith("NameError: bad")
    assert trim_error("x" * 50 + "END", 10).endswith("END") and len(trim_error("x" * 50, 10)) < 20
