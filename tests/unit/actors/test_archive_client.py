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


class LosesTheFirstReply:
    """Stands in for the archive actor over a real Archive: every call is executed (committed) by the archive,
    and the first reply of each method is lost as when the actor dies right after committing — ray.get raises
    ActorUnavailableError ("may or may not have been executed"); the client must call again."""

    def __init__(self, archive: Archive) -> None:
        self.archive, self.lost = archive, set()
        self.attempts: dict[str, int] = {}
        self.call = self

    def remote(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self.attempts[method] = self.attempts.get(method, 0) + 1
        answer = getattr(self.archive, method)(*args, **kwargs)
        if method not in self.lost:
            self.lost.add(method)
            return _Lost(method)
        return answer


class _Lost:
    def __init__(self, method: str) -> None:
        self.method = method


def _get(ref: Any) -> Any:
    from ray.exceptions import ActorUnavailableError

    if isinstance(ref, _Lost):
        raise ActorUnavailableError(f"The actor was restarted during {ref.method}. The task may or may not have "
                                    "been executed", None)
    return ref


def test_a_write_whose_reply_was_lost_is_sent_again_and_stored_once(tmp_path, monkeypatch):
    monkeypatch.setattr(actor_archive.ray, "get", _get)
    monkeypatch.setattr(actor_archive.time, "sleep", lambda _s: None)
    archive = Archive(tmp_path / "r", "r", task="fake", platform="fake")
    archive.start(config={}, versions={}, host="test")
    actor = LosesTheFirstReply(archive)
    client = ArchiveClient(actor, "r")
    root = Node(id=0, parent_id=None, candidate=Candidate(source="root = 0", parent_id=None, origin="seed"))
    child = Node(id=1, parent_id=0, candidate=Candidate(source="child = 1", parent_id=0, origin="test"))
    call = {"model": "m", "prompt": "p", "response": "r", "tokens_in": 3, "tokens_out": 4, "cost_usd": 0.5}
    client.add_roots([root])
    client.record_llm_calls(0, [call])
    client.begin_expansion(step=0, parent_id=0, seed=5, inspirations=[])
    client.finish_expansion(step=0, node=child, failure=None, llm_calls=[call], progress={"expanded": 1})
    client.record_evaluation(child, EvalResult(status=EvalStatus.INCORRECT, reason="off by one"), seq=1,
                             progress={"evaluated": 1})
    assert all(n == 2 for n in actor.attempts.values()), actor.attempts  # each write went twice
    count = {t: archive.meta.execute(f"SELECT COUNT(*) AS n FROM {t} WHERE run_id = 'r'")[0]["n"]  # noqa: S608
             for t in ("nodes", "expansions", "evaluations", "llm_calls")}
    assert count == {"nodes": 2, "expansions": 1, "evaluations": 1, "llm_calls": 2}
    (row,) = archive.meta.execute("SELECT status, child_id FROM expansions WHERE run_id = 'r'")
    assert row == {"status": "done", "child_id": 1}
    archive.close()


def test_an_error_that_is_not_a_restart_is_not_retried(monkeypatch):
    from kernelevolve.core.errors import StoreError

    def failing(ref: Any) -> Any:
        raise StoreError("disk full: /runs/r/meta.db")

    monkeypatch.setattr(actor_archive.ray, "get", failing)
    actor = RecordingActor()
    with pytest.raises(StoreError, match="disk full"):
        ArchiveClient(actor, "r").cancel_expansion(3)
    assert len(actor.calls) == 1


def test_a_restart_that_outlasts_the_timeout_raises(monkeypatch):
    from ray.exceptions import ActorUnavailableError

    def restarting(ref: Any) -> Any:
        raise ActorUnavailableError("restarting", None)

    monkeypatch.setattr(actor_archive.ray, "get", restarting)
    monkeypatch.setattr(actor_archive.time, "sleep", lambda _s: None)
    actor = RecordingActor()
    with pytest.raises(ActorUnavailableError):
        ArchiveClient(actor, "r", restart_timeout_s=0.0).cancel_expansion(3)
    assert len(actor.calls) == 1
