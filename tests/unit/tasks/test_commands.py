"""`kernelevolve task check|list` through the parser that the top-level CLI builds with register()."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from kernelevolve.tasks import builtin_task_names
from kernelevolve.tasks.commands import register

KERNELBENCH = Path(__file__).resolve().parents[2] / "assets" / "kernelbench"


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="kernelevolve")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_list_shows_every_builtin_with_a_description(capsys):
    assert _run("task", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == builtin_task_names()
    assert all(len(line.split()) > 3 for line in lines)
    assert {"conv1d", "wukong_fm", "interformer_pffn", "map_id", "mbdt", "batch_event_truncate",
            "rmsnorm_bwd"} <= set(builtin_task_names())


def test_check_json_on_a_builtin(capsys):
    assert _run("task", "check", "mbdt", "--platform", "cpu", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is True and result["name"] == "mbdt" and result["error"] is None
    fig16 = next(s for s in result["shapes"] if s["name"] == "fig16")
    assert fig16["outputs"][0]["dtype"] == "int64" and fig16["outputs"][0]["shape"] == [2, 3]
    assert {s["name"] for s in result["shapes"]} >= {"fig16", "ragged_135", "ragged_wide"}  # heldout too


def test_check_text_reports_shapes_dtypes_and_the_upcast_check(capsys):
    assert _run("task", "check", "wukong_fm", "--platform", "cpu") == 0
    out = capsys.readouterr().out
    assert "float16[2, 5, 16]" in out and "native vs fp32 reference, output 0: passes" in out
    assert out.rstrip().splitlines()[-1].startswith("wukong_fm: OK")


@pytest.mark.parametrize("level", ["level1", "level2", "level3"])
def test_check_kernelbench_files(capsys, level):
    for path in sorted((KERNELBENCH / level).glob("*.py")):
        assert _run("task", "check", str(path), "--platform", "cpu", "--json") == 0
        result = json.loads(capsys.readouterr().out)
        assert result["ok"] and result["shapes"][0]["name"] == "default"


def test_check_broken_file_fails_with_the_message(tmp_path, capsys):
    path = tmp_path / "broken.py"
    path.write_text("import torch\nfrom torch import nn\nclass Model(nn.Module):\n"
                    "    def forward(self, x):\n        return x\ndef get_inputs():\n    return [1 / 0]\n")
    assert _run("task", "check", str(path), "--platform", "cpu", "--json") == 1
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False and "ZeroDivisionError" in result["error"] and "broken.py" in result["error"]


def test_check_unknown_task(capsys):
    assert _run("task", "check", "no_such_task", "--json") == 1
    result = json.loads(capsys.readouterr().out)
    assert not result["ok"] and "built-ins are" in result["error"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_check_cuda_without_a_device_is_a_usage_error(capsys):
    assert _run("task", "check", "mbdt", "--platform", "cuda") == 2
    assert "no CUDA device" in capsys.readouterr().err
