"""The audit guard, taint snapshot, process-state restore and redaction, each probed directly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import kernelevolve.core.types as core_types
from kernelevolve.eval import redact
from kernelevolve.eval.worker.guard import procstate
from kernelevolve.eval.worker.guard.taint import VERDICT_PATH, TaintSnapshot

# Runs in a fresh interpreter: the guard's hook can never be removed from the process that installs it.
_PROBE = '''
import os, sys, json
from kernelevolve.eval.worker.guard.integrity import AuditGuard
guard = AuditGuard(protected_fds=(), trusted_files=())
cand = sys.argv[1]
guard.candidate_files.add(cand)
guard.armed = {armed}
outcome = {{}}
ns = {{"__name__": "cand", "outcome": outcome}}
exec(compile(open(cand).read(), cand, "exec"), ns)
guard.armed = False
outcome["violations"] = guard.take_violations()
print(json.dumps(outcome))
'''


def _probe(tmp_path: Path, body: str, *, armed: bool = True) -> dict:
    cand = tmp_path / "cand.py"
    cand.write_text(textwrap.dedent(body))
    runner = tmp_path / "runner.py"
    runner.write_text(_PROBE.format(armed=armed))
    done = subprocess.run([sys.executable, str(runner), str(cand)], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])


_TRY = '''
def attempt(name, fn):
    try:
        fn()
        outcome[name] = "allowed"
    except PermissionError:
        outcome[name] = "refused"
'''


def test_guard_refuses_other_processes_proc_entries_but_not_its_own(tmp_path: Path):
    found = _probe(tmp_path, _TRY + '''
import os
ppid = os.getppid()
attempt("parent_environ", lambda: open(f"/proc/{ppid}/environ", "rb").read())
attempt("parent_cmdline_os_open", lambda: os.open(f"/proc/{ppid}/cmdline", os.O_RDONLY))
attempt("parent_task_environ", lambda: open(f"/proc/{ppid}/task/{ppid}/environ", "rb").read())
attempt("dotdot", lambda: open(f"/proc/self/../{ppid}/maps", "rb").read())
os.symlink(f"/proc/{ppid}", "link")
attempt("symlink", lambda: open("link/environ", "rb").read())
attempt("own_status", lambda: open("/proc/self/status").read())
attempt("own_mem", lambda: open("/proc/self/mem", "rb"))
''')
    assert found["own_status"] == "allowed"
    for name in ("parent_environ", "parent_cmdline_os_open", "parent_task_environ", "dotdot", "symlink", "own_mem"):
        assert found[name] == "refused", name
    assert any("/proc" in v for v in found["violations"])


def test_guard_refuses_frame_access_even_through_exec_and_while_disarmed(tmp_path: Path):
    body = _TRY + '''
import sys, traceback
def tb_frame():
    try:
        raise ValueError
    except ValueError as e:
        return e.__traceback__.tb_frame
def gen_frame():
    g = (i for i in range(2))
    return g.gi_frame
attempt("tb_frame", tb_frame)
attempt("gi_frame", gen_frame)
attempt("getframe_exec", lambda: exec("import sys; sys._getframe(1)"))
attempt("stack_summary", lambda: traceback.extract_stack())
attempt("compile_as_harness", lambda: compile("x = 1", sys.modules["kernelevolve.eval.worker.guard.integrity"].__file__, "exec"))
def f(): return 1
attempt("code_swap", lambda: setattr(f, "__code__", (lambda: 2).__code__))
heard = []
sys.addaudithook(lambda e, a: heard.append(e))  # CPython swallows the refusal and does not add the hook
open("mine.txt", "w").close()
outcome["hook_added"] = bool(heard)
attempt("plain_getattr", lambda: (lambda: 1).__name__)
'''
    for armed in (True, False):
        found = _probe(tmp_path, body, armed=armed)
        assert found["plain_getattr"] == "allowed"
        for name in ("tb_frame", "gi_frame", "getframe_exec", "stack_summary", "code_swap", "compile_as_harness"):
            assert found[name] == "refused", (armed, name)


def test_guard_refuses_writing_into_library_files(tmp_path: Path):
    target = Path(os.__file__).with_name("kernelevolve_guard_probe.py")
    found = _probe(tmp_path, _TRY + f'''
attempt("write_stdlib", lambda: open({str(target)!r}, "w"))
attempt("write_private", lambda: open("mine.txt", "w").write("ok"))
''')
    assert found == {"write_stdlib": "refused", "write_private": "allowed", "violations": found["violations"]}
    assert not target.exists()


def test_taint_snapshot_sees_verdict_path_patches_and_code_swaps(monkeypatch: pytest.MonkeyPatch):
    snap = TaintSnapshot(VERDICT_PATH)
    assert snap.changed() == [] and snap.size > 100
    monkeypatch.setattr(core_types.EvalResult, "to_dict", lambda self: {})
    import json

    monkeypatch.setattr(json, "dumps", lambda *a, **k: "")
    assert {"json.dumps", "kernelevolve.core.types.EvalResult.to_dict"} <= set(snap.changed())
    monkeypatch.undo()
    assert snap.changed() == []
    original = redact.redact.__code__
    try:
        redact.redact.__code__ = (lambda text, secrets: text).__code__
        assert any("redact.redact (code" in c for c in snap.changed())
    finally:
        redact.redact.__code__ = original
    monkeypatch.setattr(core_types.EvalResult, "fitness", property(lambda self: 9.0), raising=False)
    assert any("EvalResult.fitness" in c for c in snap.changed())
    monkeypatch.setattr(core_types.EvalResult, "status", property(lambda self: "ok"), raising=False)
    assert any("new attribute status" in c for c in snap.changed())


def test_restore_hostile_cancels_timers_and_handlers():
    before = procstate.capture()
    previous = signal.getsignal(signal.SIGUSR1)
    signal.signal(signal.SIGUSR1, lambda *a: None)
    signal.setitimer(signal.ITIMER_REAL, 30.0)
    signal.setitimer(signal.ITIMER_PROF, 30.0)
    found = procstate.restore_hostile(before)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGUSR1) is previous
    assert any("interval timer" in f for f in found) and any("SIGUSR1" in f for f in found)
    assert procstate.restore_hostile(before) == []


def test_benign_changes_are_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    before = procstate.capture()
    monkeypatch.setenv("KERNELEVOLVE_PROBE", "1")
    monkeypatch.chdir(tmp_path)
    assert procstate.benign_changes(before) == ["cwd", "environ"]


def test_redact_removes_credential_values_and_their_encodings():
    env = {"OPENAI_API_KEY": "sk-abcdef123456", "MY_TOKEN": "short", "PATH": "/usr/bin:/bin/secretish",
           "DB_PASSWORD": "hunter2hunter2"}
    values = redact.credential_values(env)
    text = ("leaked [b'OPENAI_API_KEY=sk-abcdef123456'] 654321fedcba-ks "
            + b"hunter2hunter2".hex() + " path /usr/bin:/bin/secretish short")
    cleaned = redact.redact(text, values)
    assert "sk-abcdef123456" not in cleaned and "654321fedcba-ks" not in cleaned
    assert b"hunter2hunter2".hex() not in cleaned and cleaned.count(redact.MASK) == 3
    assert "/usr/bin:/bin/secretish" in cleaned and "short" in cleaned  # not credential-named / too short
    assert redact.redact(None, values) is None


def test_guard_refuses_writing_or_compiling_as_any_harness_file_not_only_the_workers(tmp_path: Path):
    import kernelevolve

    package = Path(kernelevolve.__file__).parent
    targets = {"write_referee": package / "eval" / "referee" / "kernelevolve_guard_probe.py",  # the trusted judge
               "write_tasks": package / "tasks" / "kernelevolve_guard_probe.py",
               "write_worker": package / "eval" / "worker" / "kernelevolve_guard_probe.py"}
    body = _TRY + "".join(f'attempt("{name}", lambda: open({str(path)!r}, "w"))\n' for name, path in targets.items())
    body += f'attempt("compile_as_cases", lambda: compile("x = 1", {str(package / "eval" / "cases.py")!r}, "exec"))\n'
    try:
        found = _probe(tmp_path, body)
    finally:
        for path in targets.values():
            path.unlink(missing_ok=True)
    assert {k: v for k, v in found.items() if k != "violations"} == dict.fromkeys([*targets, "compile_as_cases"],
                                                                                  "refused")


def test_an_import_that_compiles_a_library_files_own_source_is_not_a_harness_compile(tmp_path: Path):
    """On a host whose site-packages is read-only and lacks a module's .pyc (the H100 host: a Inductor-captured seed's
    `from triton.language.extra import libdevice`), importing it compiles the file's own bytes under its name."""
    import kernelevolve

    cases = Path(kernelevolve.__file__).parent / "eval" / "cases.py"
    body = _TRY + f"""
import importlib.util, sys
sys.dont_write_bytecode = True
path = {str(cases)!r}
own = open(path, "rb").read()
class Liar(bytes):
    def __eq__(self, other):
        return True
    __hash__ = bytes.__hash__
attempt("compile_own_bytes", lambda: compile(own, path, "exec"))
attempt("compile_own_bytes_plus_one_line", lambda: compile(own + b"\\nx = 1\\n", path, "exec"))
attempt("compile_own_text", lambda: compile(own.decode(), path, "exec"))
attempt("compile_liar", lambda: compile(Liar(b"x = 1"), path, "exec"))
loader = importlib.machinery.SourceFileLoader("probe_cases", path)
attempt("source_to_code_own", lambda: loader.source_to_code(own, path))
attempt("source_to_code_other", lambda: loader.source_to_code(b"x = 1", path))
"""
    found = _probe(tmp_path, body)
    assert {k: v for k, v in found.items() if k != "violations"} == {
        "compile_own_bytes": "allowed", "source_to_code_own": "allowed",
        "compile_own_text": "allowed",  # the audit event carries the text as the bytes it compiles: the same code
        "compile_own_bytes_plus_one_line": "refused", "compile_liar": "refused",
        "source_to_code_other": "refused"}
