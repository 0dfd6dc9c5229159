"""The top-level CLI: one `error:` line and exit code 2 for a user's mistake, the traceback only under -v."""

from __future__ import annotations

import pytest

from kernelevolve import cli
from tests.unit.store.conftest import make_run, run_cli

NO_RAY = ("Could not find any running Ray instance. Please specify the one to connect to by setting `--address` "
          "flag or `RAY_ADDRESS` environment variable.")


def test_export_takes_a_bare_run_id_like_every_runs_command(tmp_path, capsys):
    run_dir = make_run(tmp_path, "r1")
    code, out, err = run_cli(["export", "r1", "--root", str(tmp_path)], capsys)
    assert (code, err) == (0, "")
    assert out.rstrip().endswith(f"package: {run_dir / 'export'}")
    assert "| tiny | PyTorch reference | - | no correct kernel was timed on this shape |" in out


def test_status_without_a_ray_cluster_is_one_line_naming_the_fix(capsys, monkeypatch):
    ray = pytest.importorskip("ray")

    def no_cluster(*args, **kwargs):
        raise ConnectionError(NO_RAY)  # what ray.init(address="auto") raises when no instance runs

    monkeypatch.setattr(ray, "init", no_cluster)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    code, out, err = run_cli(["status", "--address", "auto"], capsys)
    assert (code, out) == (2, "")
    assert err == (f"error: --address auto: no Ray cluster is reachable ({NO_RAY}); start one with `ray start "
                   "--head` or give a running one's address (auto, ray://<head>:10001). Searches run with "
                   "cluster=local have no live status: see `kernelevolve runs show RUN`.\n")


def test_verbose_adds_the_traceback_after_the_command_as_well_as_before(tmp_path, capsys):
    code, _, quiet = run_cli(["runs", "show", "nope", "--root", str(tmp_path)], capsys)
    assert code == 2 and "Traceback" not in quiet and quiet.count("\n") == 1
    for argv in (["-v", "runs", "show", "nope", "--root", str(tmp_path)],
                 ["runs", "show", "nope", "--root", str(tmp_path), "-v"]):
        code, _, loud = run_cli(argv, capsys)
        assert code == 2 and loud.startswith("Traceback (most recent call last):")
        assert loud.endswith(quiet), "the same one-line error closes the traceback"


def test_an_os_error_is_one_line_with_its_type(tmp_path, capsys):
    make_run(tmp_path, "r1")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code, out, err = run_cli(["runs", "export", "r1", "--root", str(tmp_path), "--parquet",
                              str(blocker / "pq")], capsys)
    assert (code, out) == (2, "")
    assert err.startswith("error: FileExistsError: ") or err.startswith("error: NotADirectoryError: ")
    assert err.count("\n") == 1 and str(blocker) in err


def test_main_accepts_no_argv_from_sys_argv(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("sys.argv", ["kernelevolve", "runs", "list", "--root", str(tmp_path)])
    assert cli.main() == 1
    assert capsys.readouterr().out == f"no runs under {tmp_path}\n"


def test_the_sigterm_handler_is_put_back_after_a_library_replaced_it():
    """ray.init installs its own SIGTERM handler (exit 15, the judges left running); the driver puts ours back."""
    import signal

    from kernelevolve.cli import reassert_terminate_handler, terminate_as_exit

    before = signal.getsignal(signal.SIGTERM)
    with terminate_as_exit("a test"):
        ours = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # what a library does
        reassert_terminate_handler()
        assert signal.getsignal(signal.SIGTERM) is ours
    assert signal.getsignal(signal.SIGTERM) is before
    reassert_terminate_handler()  # outside terminate_as_exit: leaves the handler alone
    assert signal.getsignal(signal.SIGTERM) is before
