"""A sweep through the Jobs API of a real Ray head (`ray start --head`, node IP 127.0.0.1) too small to
run its points at once: every point queues for its fleet, runs, succeeds, and lands on the sweep page.

The head gets 1 CPU and each point asks for 1 (evaluator 0.5 + one expander 0.5), so one runs and the other
waits for a placement group (two points, not more: each costs the 2-core CI box ~30 s). Ports are picked free
so other Ray instances on the machine are left alone; the head runs in its own session and is stopped by its
process group.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from kernelevolve.sweep.summary import summarize

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("submit_sweep", ROOT / "cluster" / "submit_sweep.py")
submit_sweep = importlib.util.module_from_spec(spec)
spec.loader.exec_module(submit_sweep)

PORT_FLAGS = ("--port", "--dashboard-port", "--ray-client-server-port", "--dashboard-agent-listen-port",
              "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port",
              "--node-manager-port", "--object-manager-port")


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _client(address: str, token: str):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address, headers={"Authorization": f"Bearer {token}"})


def _wait_for_dashboard(address: str, token: str, head: subprocess.Popen, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        assert head.poll() is None, "ray start --head exited"
        try:
            _client(address, token).list_jobs()
            return
        except (ConnectionError, RuntimeError):  # the dashboard is not serving yet
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


@pytest.fixture(scope="module")
def head():
    """Yields the Jobs API address and auth token of a fresh 1-CPU Ray head on 127.0.0.1 (token auth on, as
    on the clusters in cluster/; its jobs inherit the token from the head's environment)."""
    ray_bin = Path(sys.executable).parent / "ray"
    temp = tempfile.mkdtemp(prefix="ke-head-", dir="/tmp")  # Ray's socket paths must stay short
    ports = dict(zip(PORT_FLAGS, _free_ports(len(PORT_FLAGS)), strict=True))
    token = secrets.token_hex(16)
    env = {**os.environ, "PATH": f"{ray_bin.parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    env.pop("RAY_ADDRESS", None)
    args = [str(ray_bin), "start", "--head", "--block", "--num-cpus=1", "--num-gpus=0", "--node-ip-address=127.0.0.1",
            "--dashboard-host=127.0.0.1", f"--temp-dir={temp}", "--include-dashboard=true",
            *(f"{flag}={port}" for flag, port in ports.items())]
    proc = subprocess.Popen(args, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"http://127.0.0.1:{ports['--dashboard-port']}"
    try:
        _wait_for_dashboard(address, token, proc)
        yield address, token
    finally:
        _stop_group(proc)
        shutil.rmtree(temp, ignore_errors=True)


def _stop_group(proc: subprocess.Popen) -> None:
    """Stops the head and everything it started (its own process group), SIGKILL after a grace period."""
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()  # reap `ray start` itself, or its zombie keeps the group alive
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def test_a_sweep_larger_than_the_cluster_queues_and_every_point_succeeds(head, tmp_path):
    address, token = head
    store, sweeps = tmp_path / "runs", tmp_path / "sweeps"
    code = submit_sweep.main([
        "--address", address, "--token", token, "--name", "hs", "--store-root", str(store), "--sweeps-root", str(sweeps),
        "--poll-s", "1", "--timeout-s", "420", "+experiment=conv1d", "platform=cpu", "search.max_steps=1",
        "search.stall=0", "cluster.cpus_per_evaluator=0.5", "cluster.expanders=1", "cluster.cpus_per_expander=0.5",
        "eval.seeds=1", "eval.interpreter_reps=1", "eval.spare_worker=false",  # the judge's least work: 2 cores
        "search=greedy,mcts"])
    client = _client(address, token)
    logs = {name: client.get_job_logs(name) for name in ("hs-0", "hs-1")}
    assert code == 0, {n: text[-2000:] for n, text in logs.items()}
    assert any("waiting for resources" in text and "needs 1 CPU, 0 GPU" in text for text in logs.values()), \
        "a point that did not fit waited for its fleet instead of failing"
    summary = json.loads((sweeps / "hs" / "summary.json").read_text())
    assert [(p["name"], p["status"]) for p in summary["points"]] == [
        ("hs-0", "SUCCEEDED"), ("hs-1", "SUCCEEDED")]
    assert summary["differences"] == ["search"]
    page = (sweeps / "hs" / "index.html").read_text()
    for name, policy in (("hs-0", "greedy"), ("hs-1", "mcts")):
        run = summarize(store / name)
        assert run.state == "finished" and run.candidates >= 1
        row = re.search(rf"<tr><td>{name}</td>.*?</tr>", page).group(0)
        assert f"<td>{policy}</td>" in row and f"<td>{run.best_fitness:.4g}</td>" in row
        assert f"<td>{run.candidates}</td>" in row and f"href='../../runs/{name}/report.html'" in row
        assert (store / name / "report.html").is_file()
