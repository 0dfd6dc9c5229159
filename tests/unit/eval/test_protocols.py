"""The Judge contract (eval/protocols.py) is defined once and met, signature for signature, by every judge the
search can be handed: the Evaluator, its two wrappers, the Ray-side RemoteJudge and the tests' FakeJudge."""

from __future__ import annotations

import inspect

import pytest

from actors.pool import RemoteJudge
from kernelevolve.eval.evaluator import Evaluator
from kernelevolve.eval.judge_pool import JudgePool
from kernelevolve.eval.precompile_pool import EvalPipeline
from kernelevolve.eval.protocols import Judge
from tests.fakes import FakeJudge


@pytest.mark.parametrize("judge", [Evaluator, EvalPipeline, JudgePool, RemoteJudge, FakeJudge])
def test_every_judge_takes_a_source_and_a_candidate_id_and_returns_a_verdict(judge):
    assert inspect.signature(judge.evaluate) == inspect.signature(Judge.evaluate)


def test_the_judge_protocol_has_one_definition():
    import kernelevolve.controller
    import kernelevolve.eval.precompile_pool

    assert kernelevolve.controller.Judge is Judge and kernelevolve.eval.precompile_pool.Judge is Judge
