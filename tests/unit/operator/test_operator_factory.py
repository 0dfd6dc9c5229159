"""build_operator: offline with no endpoint, the LLM operator for model backends."""

from __future__ import annotations

import logging

import pytest

from kernelevolve.llm.config import LLMBackend, LLMConfig, ReplayConfig, ReplayMatch
from kernelevolve.operator.config import OperatorConfig
from kernelevolve.operator.factory import build_operator
from kernelevolve.operator.llm_operator import LLMOperator
from kernelevolve.operator.offline import OfflineOperator
from kernelevolve.operator.protocols import Retriever
from kernelevolve.tasks import load_task


@pytest.fixture(scope="module")
def task():
    return load_task("conv1d")


def test_auto_without_key_is_offline_with_a_warning(task, monkeypatch, caplog):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with caplog.at_level(logging.WARNING):
        op = build_operator(LLMConfig(), OperatorConfig(), task)
    assert isinstance(op, OfflineOperator) and "offline" in caplog.text


def test_replay_backend_builds_the_llm_operator_with_deep_search(task, tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"response": "x"}\n')
    llm = LLMConfig(backend=LLMBackend.replay, replay=ReplayConfig(path=str(path), match=ReplayMatch.sequence))
    op = build_operator(llm, OperatorConfig(), task, platform="cuda")
    assert isinstance(op, LLMOperator) and op.name == "llm:replay"
    assert isinstance(op._retriever, Retriever)
    assert op._retriever.search("masks tails", platform="nvidia", task="conv1d", k=2)


def test_retrieval_can_be_turned_off(task, tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"response": "x"}\n')
    llm = LLMConfig(backend=LLMBackend.replay, replay=ReplayConfig(path=str(path)))
    assert build_operator(llm, OperatorConfig(retrieval=False), task)._retriever is None
