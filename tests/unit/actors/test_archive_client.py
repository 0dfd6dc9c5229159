"""The archive contract (store/protocols.ArchiveWriter): exactly what the controller calls, met by the local
Archive and by the Ray-side ArchiveClient, which forwards each call unchanged (no cluster is started)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import actors.archive as actor_archive
import kernelevolve.controller as controller_module
from actors.archive import ArchiveClient
from kernelevolve.core.types import Candidate, EvalResult, EvalStatus, Node
from kernelevolve.store.archive import Archive
from kernelevolve.store.protocols import ArchiveWriter

WRITER_METHODS = sorted(name for name, member in vars(ArchiveWriter).items()
                        if inspect.isfunction(member) and not name.startswith("_"))


def test_the_protocol_is_exactly_what_the_controller_calls_on_its_archive():
    called = set(re.findall(r"self\.archive\.(\w+)\(", Path(controller_module.__file__).read_text()))
    assert called == set(WRITER_METHODS)


@pytest.mark.parametrize("implementation", [Archive, ArchiveClient])
@pytest.mark.parametrize("method", WRITER_METHODS)
def test_each_archive_defines_every_writer_method_with_the_protocols_signature(implementation, method):
    defined = vars(implementation).get(method)  # a real method, not one conjured by __getattr__
    assert inspect.isfunction(defined), f"{implementation.__name__} lacks {method}"
    assert inspect.signature(defined) == inspect.signature(getattr(ArchiveWriter, method))


class RecordingActor:
    """Stands in for the archive actor handle: `call.remote` records what would cross to the actor."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.call = self

    def remote(self, method: str, *args: Any, **kwargs: Any) -> str:
        self.calls.append((method, args, kwargs))
        return f"answer of {method}"


def test_the_client_forwards_each_call_with_its_arguments_and_returns_the_answer(monkeypatch):
    monkeypatch.setattr(actor_archive.ray, "get", lambda ref: ref)
    actor = RecordingActor()
    client = ArchiveClient(actor, "run-1")
    assert isinstance(client, ArchiveWriter)
    node = Node(id=3, parent_id=0, candidate=Candidate(source="x = 1", parent_id=0, origin="test"))
    result = EvalResult(status=EvalStatus.INCORRECT, reason="mismatch")
    client.begin_expansion(step=4, parent_id=0, seed=-7, inspirations=[1, 2])
    client.record_evaluation(node, result, seq=9, progress={"evaluated": 1})
    client.cancel_expansion(5)
    assert client.trailing_expansion_failures() == "answer of trailing_expansion_failures"
    assert actor.calls == [
        ("begin_expansion", (), {"step": 4, "parent_id": 0, "seed": -7, "inspirations": [1, 2]}),
        ("record_evaluation", (node, result), {"seq": 9, "progress": {"evaluated": 1}}),
        ("cancel_expansion", (5,), {}),
        ("trailing_expansion_failures", (), {}),
    ]
