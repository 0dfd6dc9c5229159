"""The OS filesystem jail: a candidate process can write only beneath its private dir.

Each case is tried per layer this machine supports (directly through the jail's bootstrap, which is how
every candidate process starts), and once through the real judge (a candidate writing at import). Every
refusal is paired with the same write done without the jail, which must succeed: a test here fails when
the layer is removed, never because the path was unwritable anyway.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from eval_helpers import FAST, SEED

from kernelevolve.core.types import EvalStatus
from kernelevolve.eval import fsjail, sandbox
from kernelevolve.eval.evaluator import Evaluator
from kernelevolve.tasks.loader import load_task

SUPPORT = fsjail.probe()
LAYERS = [pytest.param(layer, marks=pytest.mark.skipif(layer not in SUPPORT.layers, reason=SUPPORT.describe()))
          for layer in fsjail.Layer]
CASES = ("tmp", "home", "other_run", "other_triton_cache", "warm_cache")
_WRITE = ("import sys\n"
          "try:\n"
          "    open(sys.argv[1], 'a').write('planted')\n"
          "except OSError as exc:\n"
          "    print(type(exc).__name__, exc.errno)\n"
          "    sys.exit(3)\n")


@dataclasses.dataclass(frozen=True)
class Layout:
    """A run's eval dir with this worker's private dir, a sibling worker's Triton cache and another run."""

    private: Path
    targets: dict[str, Path]


def _layout(root: Path) -> Layout:
    token = secrets.token_hex(6)
    workdir = root / "runs" / "run_a" / "eval"
    private = workdir / "worker_self"
    other_entry = workdir / "worker_other" / "cache" / "triton" / "4f1c" / "_conv1d_kernel.json"
    other_run = root / "runs" / "run_b"
    for folder in (private, other_entry.parent, other_run):
        folder.mkdir(parents=True)
    other_entry.write_text("{}")
    targets = {"tmp": Path(tempfile.gettempdir()) / f"kernelevolve_probe_{token}",
               "home": Path(pwd.getpwuid(os.getuid()).pw_dir) / f".kernelevolve_probe_{token}",
               "other_run": other_run / "nodes.sqlite",
               "other_triton_cache": other_entry,
               "warm_cache": workdir / "cache" / "warm" / "triton" / "4f1c" / "_conv1d_kernel.json"}
    (workdir / "cache" / "warm" / "triton" / "4f1c").mkdir(parents=True)
    return Layout(private=private, targets=targets)


def _planted(path: Path) -> bool:
    return path.exists() and "planted" in path.read_text()


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[Layout]:
    found = _layout(tmp_path)
    yield found
    for case in ("tmp", "home"):
        found.targets[case].unlink(missing_ok=True)


def _write(path: Path, layout: Layout, layers: tuple[fsjail.Layer, ...]) -> subprocess.CompletedProcess[str]:
    cmd = fsjail.wrap([sys.executable, "-I", "-S", "-c", _WRITE, str(path)], [layout.private], layers)
    return subprocess.run(cmd, cwd=layout.private, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("case", CASES)
def test_a_jailed_process_cannot_write_outside_its_private_dir(case: str, layer: fsjail.Layer, layout: Layout):
    target = layout.targets[case]
    jailed = _write(target, layout, (layer,))
    assert jailed.returncode == 3, f"{case} under {layer}: {jailed.returncode} {jailed.stdout} {jailed.stderr}"
    assert not _planted(target), f"{layer} let a candidate write {target}"
    free = _write(target, layout, ())
    assert free.returncode == 0 and _planted(target), f"control: {target} must be writable without the jail"


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "from_cwd"])
def test_a_jailed_process_writes_its_private_dir(layer: fsjail.Layer, relative: bool, layout: Layout):
    own = layout.private / "cache" / "triton" / "entry.json"
    own.parent.mkdir(parents=True)
    done = _write(own.relative_to(layout.private) if relative else own, layout, (layer,))
    assert done.returncode == 0 and _planted(own), done.stdout + done.stderr


@pytest.mark.parametrize("layer", LAYERS)
def test_a_jailed_root_process_cannot_make_a_device_node(layer: fsjail.Layer, layout: Layout):
    if os.geteuid() != 0:
        pytest.skip("mknod of a device needs root")
    code = ("import os\ntry:\n    os.mknod('disk', 0o600 | 0o60000, os.makedev(7, 0))\n"
            "except OSError:\n    raise SystemExit(3)\n")
    cmd = fsjail.wrap([sys.executable, "-I", "-S", "-c", code], [layout.private], (layer,))
    done = subprocess.run(cmd, cwd=layout.private, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 3 and not (layout.private / "disk").exists(), done.stderr


def test_the_bootstrap_refuses_to_run_a_command_it_could_not_jail(layout: Layout):
    cmd = fsjail.wrap([sys.executable, "-c", "print('ran')"], [layout.private / "missing"], (fsjail.Layer.landlock,))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == fsjail.EXIT_JAIL_FAILED and "ran" not in done.stdout
    assert "missing" in done.stderr


def test_no_layer_is_a_loud_warning(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    monkeypatch.setattr(fsjail, "probe", lambda: fsjail.Support(landlock_abi=0, mount=False, mount_error="EPERM"))
    sandbox._warn_once.cache_clear()
    assert sandbox.jail_layers() == ()
    assert "NOT confined" in caplog.text and "EPERM" in caplog.text


_HOSTILE = '''

import json as _json
for _path in _json.loads({targets!r}):
    try:
        with open(_path, "a") as _f:
            _f.write("planted")
    except OSError:
        pass
'''


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Layout, EvalStatus, str]]:
    """One candidate, judged by the real cpu evaluator, that tries every write at import."""
    import json

    layout = _layout(tmp_path_factory.mktemp("jail"))
    source = SEED.read_text() + _HOSTILE.format(targets=json.dumps([str(p) for p in layout.targets.values()]))
    with Evaluator(load_task("conv1d"), platform="cpu", config=FAST, workdir=layout.private.parent) as judge:
        result = judge.evaluate(source, candidate_id="writes_everywhere")
    yield layout, result.status, result.reason
    for case in ("tmp", "home"):
        layout.targets[case].unlink(missing_ok=True)


@pytest.mark.skipif(not SUPPORT.layers, reason=SUPPORT.describe())
@pytest.mark.parametrize("case", CASES)
def test_a_judged_candidate_cannot_write_outside_its_private_dir(case: str, judged: tuple[Layout, EvalStatus, str]):
    layout, status, reason = judged
    assert status is EvalStatus.OK, reason  # the OS refused the writes, not the audit hook (that would be a violation)
    assert not _planted(layout.targets[case]), f"a judged candidate wrote {layout.targets[case]}"


def test_only_device_workers_share_dev_shm(tmp_path: Path):
    assert sandbox.jail_writable(tmp_path, "cpu") == [tmp_path]
    assert sandbox.jail_writable(tmp_path, "cuda") == [tmp_path, Path("/dev/shm"), sandbox.OWN_THREADS]


@pytest.mark.skipif(not SUPPORT.layers, reason=SUPPORT.describe())
def test_the_profilers_child_gets_a_device_workers_jail(tmp_path: Path):
    """Proton's child initialises CUDA like a worker: without its own threads' proc files writable, CUDA fails
    (error 304, seen on an H100 before the profiler's jail used jail_writable)."""
    from kernelevolve.eval.profile.run import _jailed

    for platform in ("cuda", "cpu"):
        cmd = _jailed("proton", ["python3", "child.py"], tmp_path, platform)
        writes = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--write"]
        assert writes == [str(p) for p in sandbox.jail_writable(tmp_path, platform)]
        assert cmd[-2:] == ["python3", "child.py"]


_NAME_THREAD = ("import os, sys, threading\n"
                "ready, done = threading.Event(), threading.Event()\n"
                "t = threading.Thread(target=lambda: (ready.set(), done.wait()))\n"
                "t.start(); ready.wait()\n"
                "for path in (f'/proc/self/task/{t.native_id}/comm', f'/proc/{sys.argv[1]}/comm'):\n"
                "    try:\n"
                "        open(path, 'w').write('probe')\n"
                "        print('wrote', path)\n"
                "    except OSError as exc:\n"
                "        print('refused', path, exc.errno)\n"
                "done.set(); t.join()\n")


@pytest.mark.parametrize("layer", LAYERS)
def test_a_device_worker_names_its_own_threads_and_no_other_process(layer: fsjail.Layer, layout: Layout):
    """The CUDA driver names its threads through /proc/self/task/<tid>/comm (its start fails when refused);
    the jail allows that for the jailed process's own threads, and still refuses another process's comm."""
    outside = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        cmd = fsjail.wrap([sys.executable, "-I", "-S", "-c", _NAME_THREAD, str(outside.pid)],
                          sandbox.jail_writable(layout.private, "cuda"), (layer,))
        done = subprocess.run(cmd, cwd=layout.private, capture_output=True, text=True, timeout=60, check=False)
        lines = done.stdout.splitlines()
        assert len(lines) == 2 and lines[0].startswith("wrote /proc/self/task/"), done.stdout + done.stderr
        assert lines[1].startswith(f"refused /proc/{outside.pid}/comm"), done.stdout + done.stderr
        unjailed = subprocess.run([sys.executable, "-I", "-S", "-c", _NAME_THREAD, str(outside.pid)],
                                  capture_output=True, text=True, timeout=60, check=False)
        assert f"wrote /proc/{outside.pid}/comm" in unjailed.stdout, "the refusal must come from the jail"
        cpu = subprocess.run(fsjail.wrap([sys.executable, "-I", "-S", "-c", _NAME_THREAD, str(outside.pid)],
                                         sandbox.jail_writable(layout.private, "cpu"), (layer,)),
                             cwd=layout.private, capture_output=True, text=True, timeout=60, check=False)
        assert cpu.stdout.startswith("refused /proc/self/task/"), "a cpu worker gets no proc writes at all"
    finally:
        outside.kill()
        outside.wait()


@pytest.mark.parametrize("layer", LAYERS)
def test_a_device_worker_writes_the_hosts_dev_shm_for_cuda_ipc(layer: fsjail.Layer, layout: Layout):
    """torch keeps a CUDA IPC handle's reference counter in /dev/shm, where the referee must find it."""
    counter = Path("/dev/shm") / f"kernelevolve_probe_{secrets.token_hex(6)}"
    cmd = fsjail.wrap([sys.executable, "-I", "-S", "-c", _WRITE, str(counter)], [layout.private, Path("/dev/shm")],
                      (layer,))
    try:
        done = subprocess.run(cmd, cwd=layout.private, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0 and _planted(counter), done.stdout + done.stderr
    finally:
        counter.unlink(missing_ok=True)
