"""KernelBench's own level-2 and level-3 files (tests/assets/kernelbench/upstream_level2, upstream_level3) through
the seed chain on the CPU, and the two ways a multi-op graph gives no Inductor seed, each named by its op: an op
left to a library call inside an otherwise-Triton graph, and an op Inductor has no Triton template for (a real
Inductor lowering, run on the CPU: it fails before any code is generated)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernelevolve.core.errors import ConfigError
from kernelevolve.seeds.capture import Capture, CaptureError, _capture_shape
from kernelevolve.seeds.chain import resolve_seed
from kernelevolve.tasks import load_task

KB = Path(__file__).resolve().parents[2] / "assets" / "kernelbench"
UPSTREAM = sorted([*(KB / "upstream_level2").glob("*.py"), *(KB / "upstream_level3").glob("*.py")])


def test_upstream_files_are_kernelbench_verbatim_with_the_license():
    assert len(UPSTREAM) >= 9 and {p.parent.name for p in UPSTREAM} == {"upstream_level2", "upstream_level3"}
    for folder in ("upstream_level2", "upstream_level3"):
        assert "MIT License" in (KB / folder / "LICENSE").read_text()
    assert "423217d9fda91e0c2d67e4a43bf62f96f6d104f1" in (KB / "README.md").read_text()


@pytest.mark.parametrize("path", UPSTREAM, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_on_the_cpu_every_step_of_the_chain_says_why_in_one_line(path, tmp_path):
    task = load_task(str(path))
    assert task.kernelbench_tolerance, "a plain KernelBench file is judged with KernelBench's tolerance"
    with pytest.raises(ConfigError) as info:
        resolve_seed(task, sample=tmp_path / "seed.py", capture_path=str(tmp_path), platform="cpu", draft=None)
    lines = str(info.value).splitlines()
    assert lines[0] == f"no seed kernel for task {path.stem}:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["sample", "inductor", "llm"]
    assert f"has no {path.stem}.json" in lines[2] and "platform cpu has no GPU" in lines[2]
    assert "llm=offline" in lines[3]


def _with_addmm_left_to_cublas(captures: Path) -> None:
    """Writes a capture of 1_small_mlp (4 Triton kernels) whose second GEMM Inductor gave to cuBLAS, written as
    Inductor writes it with the ATEN backend on; the other three kernels stay Triton."""
    data = json.loads((KB / "captured" / "1_small_mlp.json").read_text())
    code = data["shapes"][0]["code"]
    launch = "        triton_tem_fused_addmm_relu_t_2.run(buf1, arg2_1, arg3_1, buf3, 5, 1, 1, stream=stream0)"
    assert launch in code
    data["shapes"][0]["code"] = code.replace(launch, "        extern_kernels.addmm(arg3_1, buf1, reinterpret_tensor("
                                             "arg2_1, (250, 130), (1, 250), 0), alpha=1, beta=1, out=buf3)")
    (captures / "1_small_mlp.json").write_text(json.dumps(data))


def test_a_library_call_among_triton_kernels_is_named_with_the_judges_rule(tmp_path):
    _with_addmm_left_to_cublas(tmp_path)
    task = load_task(str(KB / "level3" / "1_small_mlp.py"))
    with pytest.raises(ConfigError) as info:
        resolve_seed(task, sample=tmp_path / "seed.py", capture_path=str(tmp_path), platform="cpu", draft=None)
    inductor = str(info.value).splitlines()[2]
    assert inductor.startswith("  inductor: Inductor emitted no Triton for: extern_kernels.addmm; ")
    assert "triton_tem" not in inductor and "triton_poi" not in inductor, "the graph's Triton kernels are not missing"
    assert "eval.min_triton_fraction" in inductor and "cuBLAS/cuDNN" in inductor


CONV_TRANSPOSE = (KB / "upstream_level2" / "2_ConvTranspose2d_BiasAdd_Clamp_Scaling_Clamp_Divide.py").read_text()


def test_an_op_with_no_triton_template_is_named_by_the_capture(tmp_path):
    """KernelBench's level-2 #2 at a small size: Inductor has no Triton template for a transposed convolution, so with
    Triton as the only convolution backend it cannot lower it (on a GPU exactly as here: the template needs
    transposed=False whatever the device)."""
    small = CONV_TRANSPOSE.replace("batch_size = 128", "batch_size = 2").replace("height = width = 128", "height = width = 5")
    assert small != CONV_TRANSPOSE
    path = tmp_path / "2_conv_transpose_small.py"
    path.write_text(small)
    task = load_task(str(path))
    inputs = task.make_inputs("default", seed=0, device="cpu")
    with pytest.raises(CaptureError) as info:
        _capture_shape(task, "default", inputs, "cpu")
    message = str(info.value)
    assert message.startswith("Inductor could not compile shape default with Triton-only backends at "
                              "aten.convolution.default (Inductor has no Triton template for this op;")
    assert "NoValidChoicesError" in message and "\n" not in message


def test_the_kernel_count_is_what_the_seed_launches_not_what_autotuning_benchmarked():
    from kernelevolve.seeds.wrap import kernel_count

    capture = Capture.from_json((KB / "captured" / "2_tiny_convnet.json").read_text())
    assert kernel_count(capture) == 9 and sum(len(s.configs) for s in capture.shapes) > 9


def test_capture_check_of_a_seed_that_raises_is_that_tasks_result_and_the_next_task_goes_on(tmp_path, monkeypatch,
                                                                                              capsys):
    """`seed capture --check` over several tasks (the GPU script captures every level-2/3 file this way): a wrapped
    seed that raises when run is recorded as incorrect with its error, and the next task is still tried."""
    import argparse

    from kernelevolve.seeds import commands

    def captured(task):  # a GPU capture, read from the H100 captures kept as test data
        found = KB / "captured" / f"{task.name}.json"
        if not found.is_file():
            raise CaptureError(f"no GPU to capture {task.name}")
        return Capture.from_json(found.read_text())

    real_wrap = commands.wrap_capture

    def broken_wrap(capture, source, model_name):  # the seed raises before its first launch
        return real_wrap(capture, source, model_name).replace(
            "        state = ", "        raise RuntimeError('launch sequence broke')\n        state = ", 1)

    monkeypatch.setattr(commands, "capture_task", captured)
    monkeypatch.setattr(commands, "wrap_capture", broken_wrap)
    other = tmp_path / "9_no_capture.py"
    other.write_text((KB / "level1" / "2_leaky_relu.py").read_text())
    args = argparse.Namespace(tasks=[str(KB / "level1" / "1_matmul_rect.py"), str(other)], out=tmp_path / "caps",
                              check=True)
    assert commands.run_capture(args) == 1
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["ok"] and first["correct"] is False and first["kernels"] == 1
    assert first["check_error"] == "RuntimeError: launch sequence broke"
    assert (tmp_path / "caps" / "1_matmul_rect.json").is_file(), "the capture is kept for the suite's chain"
    assert second == {"task": str(other), "ok": False, "error": "no GPU to capture 9_no_capture"}
