"""Replay answers by prompt hash or in sequence; record writes a file replay can read back."""

from __future__ import annotations

import json

import pytest

from kernelevolve.core.errors import ConfigError, NonRetryableLLMError
from kernelevolve.llm.config import ReplayMatch
from kernelevolve.llm.protocols import Completion, LLMClient, LLMRequest
from kernelevolve.llm.replay import RecordingClient, ReplayClient, prompt_hash
from tests.unit.llm.test_cache import CountingClient

A, B = LLMRequest(system="s", prompt="a"), LLMRequest(system="s", prompt="b")


def _write(path, entries):
    path.write_text("\n".join(json.dumps(e) for e in entries) + "\n")
    return path


def test_answers_by_prompt_hash_cycling_through_several(tmp_path):
    path = _write(tmp_path / "r.jsonl", [{"key": prompt_hash(A), "response": "a1", "tokens_in": 5},
                                         {"key": prompt_hash(B), "response": "b1"},
                                         {"key": prompt_hash(A), "response": "a2"}])
    client = ReplayClient(path)
    assert isinstance(client, LLMClient)
    assert [client.complete(A).text, client.complete(B).text, client.complete(A).text, client.complete(A).text] \
        == ["a1", "b1", "a2", "a1"]


def test_unrecorded_prompt_is_a_non_retryable_error_with_the_fix(tmp_path):
    client = ReplayClient(_write(tmp_path / "r.jsonl", [{"key": prompt_hash(A), "response": "a"}]))
    with pytest.raises(NonRetryableLLMError, match="mode=record"):
        client.complete(B)


def test_sequence_mode_ignores_the_prompt(tmp_path):
    client = ReplayClient(_write(tmp_path / "r.jsonl", [{"response": "1"}, {"response": "2"}]),
                          match=ReplayMatch.sequence)
    assert [client.complete(A).text, client.complete(B).text, client.complete(A).text] == ["1", "2", "1"]


def test_bad_line_is_reported_with_its_number(tmp_path):
    (tmp_path / "r.jsonl").write_text('{"response": "ok"}\n{"no_response": 1}\n')
    with pytest.raises(ConfigError, match="r.jsonl:2"):
        ReplayClient(tmp_path / "r.jsonl")


def test_recording_then_replaying_gives_the_same_answers(tmp_path):
    path = tmp_path / "rec.jsonl"
    recorder = RecordingClient(CountingClient(), path)
    live = [recorder.complete(A), recorder.complete(B)]
    replay = ReplayClient(path)
    again = [replay.complete(A), replay.complete(B)]
    assert [c.text for c in again] == [c.text for c in live]
    assert isinstance(again[0], Completion) and again[0].tokens_in == 100 and again[0].cost_usd == 0.5


def test_the_demo_recording_parses_and_holds_code(tmp_path):
    from pathlib import Path

    demo = Path(__file__).resolve().parents[2] / "assets" / "llm" / "conv1d_demo.jsonl"
    client = ReplayClient(demo, match=ReplayMatch.sequence)
    assert "SEARCH" in client.complete(A).text
