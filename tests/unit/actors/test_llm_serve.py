"""Waiting for a served model and finding its proxy, on Serve status values (no cluster; tests/ray deploys for real)."""

from __future__ import annotations

import types

import pytest
from ray.serve.schema import (
    ApplicationStatus,
    ApplicationStatusOverview,
    DeploymentStatus,
    DeploymentStatusOverview,
    DeploymentStatusTrigger,
    ProxyStatus,
    ServeStatus,
)

import actors.llm_serve as llm_serve
from kernelevolve.core.errors import ServeError
from kernelevolve.llm.config import ServeConfig

SERVE = ServeConfig(model_id="m", ready_timeout_s=30.0)
APP = "llm-m"


def _status(app: ApplicationStatus, replicas: dict[str, int], message: str = "", proxies=None) -> ServeStatus:
    deployment = DeploymentStatusOverview(status=DeploymentStatus.UPDATING, status_trigger=DeploymentStatusTrigger.UNSPECIFIED,
                                          replica_states=replicas, message=message)
    overview = ApplicationStatusOverview(status=app, message="", last_deployed_time_s=0.0,
                                         deployments={"StandInServer:llm-m-abc": deployment})
    return ServeStatus(proxies=proxies or {}, applications={APP: overview})


class Clock:
    """A fake clock that `sleep` advances."""

    def __init__(self) -> None:
        self.now, self.slept = 0.0, 0

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += 1


def _wait(statuses, probe=lambda url, model: True, clock=None):
    clock = clock or Clock()
    feed = iter(statuses)
    last = [None]

    def status():
        last[0] = next(feed, last[0])
        return last[0]

    return llm_serve.await_ready(SERVE, ("127.0.0.1", 8123), status=status, probe=probe, clock=lambda: clock.now,
                                 sleep=clock.sleep)


def test_a_deployment_that_never_runs_times_out_naming_its_state_and_logs():
    pending = _status(ApplicationStatus.DEPLOYING, {"PENDING_ALLOCATION": 1},
                      message="Deployment has 1 replica that cannot be scheduled: {'GPU': 2.0}")
    probed = []
    with pytest.raises(ServeError) as err:
        _wait([pending], probe=lambda url, model: probed.append(url) or True)
    text = str(err.value)
    assert "within 30s (llm.serve.ready_timeout_s)" in text
    assert "application llm-m is DEPLOYING" in text and "UPDATING with replicas PENDING_ALLOCATION=1" in text
    assert "cannot be scheduled: {'GPU': 2.0}" in text, "Serve's own reason is passed on"
    assert "logs/serve/" in text
    assert not probed, "the route is probed only once Serve says the application runs"


def test_a_failed_deployment_fails_at_once_with_serves_message():
    clock = Clock()
    failed = _status(ApplicationStatus.DEPLOY_FAILED, {}, message="replica constructor raised ValueError: bad")
    with pytest.raises(ServeError, match="did not deploy: application llm-m is DEPLOY_FAILED.*constructor raised"):
        _wait([failed], clock=clock)
    assert clock.slept == 0


def test_running_is_ready_only_once_the_route_lists_the_model():
    running = _status(ApplicationStatus.RUNNING, {"RUNNING": 1})
    answers = iter([False, False, True])
    probed = []

    def probe(url, model):
        probed.append((url, model))
        return next(answers)

    clock = Clock()
    url = _wait([_status(ApplicationStatus.DEPLOYING, {"STARTING": 1}), running], probe=probe, clock=clock)
    assert url == "http://127.0.0.1:8123/llm-m/v1"
    assert probed == [(url, "m")] * 3 and clock.slept == 3


def test_a_wildcard_host_is_reached_through_a_healthy_proxy_preferring_the_drivers_node(monkeypatch):
    nodes = [{"NodeID": "a", "NodeManagerAddress": "10.0.0.1"}, {"NodeID": "b", "NodeManagerAddress": "10.0.0.2"},
             {"NodeID": "c", "NodeManagerAddress": "10.0.0.3"}]
    here = ["c"]
    fake_ray = types.SimpleNamespace(nodes=lambda: nodes, get_runtime_context=lambda: types.SimpleNamespace(
        get_node_id=lambda: here[0]))
    monkeypatch.setattr(llm_serve, "ray", fake_ray)
    proxies = {"a": ProxyStatus.UNHEALTHY, "b": ProxyStatus.HEALTHY, "c": ProxyStatus.HEALTHY}
    status = _status(ApplicationStatus.RUNNING, {}, proxies=proxies)
    assert llm_serve.proxy_address("0.0.0.0", status) == "10.0.0.3"
    here[0] = "a"  # the driver's node has no healthy proxy
    assert llm_serve.proxy_address("0.0.0.0", status) == "10.0.0.2"
    assert llm_serve.proxy_address("0.0.0.0", _status(ApplicationStatus.RUNNING, {})) is None
    assert llm_serve.proxy_address("10.9.9.9", status) == "10.9.9.9"
    assert llm_serve.proxy_address("localhost", status) == "127.0.0.1"


@pytest.mark.parametrize(("keep", "url", "deployed", "deleted"), [
    (False, "http://h/v1", True, True),   # served this run, not kept
    (False, "http://h/v1", False, True),  # found running and reused: keep=false still leaves nothing behind
    (True, "http://h/v1", False, False),  # kept for the next run
    (True, None, True, True),             # deployed but never answered: removed even with keep=true
    (True, None, False, False),           # found running, never answered this run: left as found
])
def test_the_end_of_a_run_keeps_or_deletes_the_application(monkeypatch, keep, url, deployed, deleted):
    calls = []
    monkeypatch.setattr(llm_serve, "ray_serve", lambda: types.SimpleNamespace(delete=calls.append))
    llm_serve._finish(ServeConfig(model_id="m", keep=keep), url=url, deployed=deployed, owns_ray=False)
    assert calls == ([APP] if deleted else [])
