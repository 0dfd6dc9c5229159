"""The eval counts a launch sizes itself (-1, auto): judges per device by platform, compile workers by host CPUs."""

from __future__ import annotations

import pytest

from kernelevolve.core.errors import ConfigError
from kernelevolve.eval.config import (
    AUTO,
    DEVICE_JUDGES,
    RAY_AUTO_COMPILE_WORKERS,
    EvalConfig,
    for_cluster,
    for_host,
    with_judges,
)
from kernelevolve.eval.judge_pool import eval_slots


@pytest.mark.parametrize(("cpus", "judges", "expected"), [(16, 1, 6), (16, 2, 6), (2, 1, 1), (4, 1, 1), (64, 1, 8),
                                                          (9, 3, 2)])
def test_auto_compile_workers_take_half_the_cpus_the_judges_leave(cpus: int, judges: int, expected: int):
    auto = EvalConfig(judges_per_device=judges)
    assert auto.precompile_workers == AUTO, "auto is the default"
    assert for_host(auto, platform="cuda", cpus=cpus).precompile_workers == expected
    assert for_cluster(auto, platform="cuda").precompile_workers == RAY_AUTO_COMPILE_WORKERS, \
        "bundles are sized before nodes are seen"
    chosen = EvalConfig(precompile_workers=3, judges_per_device=judges)
    assert for_host(chosen, platform="cuda", cpus=cpus) is chosen and for_cluster(chosen, platform="cuda") is chosen, \
        "a number is never changed"
    assert eval_slots(auto, platform="cuda", concurrency=8) == \
        judges + for_host(auto, platform="cuda").precompile_workers
    with pytest.raises(ConfigError, match="precompile_workers must be -1"):
        for_host(EvalConfig(precompile_workers=-2), platform="cuda")


@pytest.mark.parametrize(("platform", "judges"), [("cpu", 1), ("cuda", DEVICE_JUDGES), ("rocm", DEVICE_JUDGES),
                                                  ("mtia", DEVICE_JUDGES)])
def test_auto_judges_are_two_on_a_device_and_one_on_the_interpreter(platform: str, judges: int):
    auto = EvalConfig()
    assert auto.judges_per_device == AUTO, "auto is the default"
    assert DEVICE_JUDGES == 2
    assert with_judges(auto, platform=platform).judges_per_device == judges
    assert for_host(auto, platform=platform, cpus=16).judges_per_device == judges
    assert for_cluster(auto, platform=platform).judges_per_device == judges
    # the compile workers are sized around the judges the auto count became: 16 - judges - 2 reserved, halved
    assert for_host(auto, platform=platform, cpus=16).precompile_workers == (16 - judges - 2) // 2
    compiling = 0 if platform == "cpu" else for_host(auto, platform=platform).precompile_workers
    assert eval_slots(auto, platform=platform, concurrency=8) == judges + compiling
    chosen = EvalConfig(judges_per_device=3)
    assert with_judges(chosen, platform=platform) is chosen, "a number is never changed"
    assert for_host(chosen, platform=platform, cpus=16).judges_per_device == 3


@pytest.mark.parametrize("judges", [0, -2])
def test_a_judge_count_below_one_that_is_not_auto_is_refused(judges: int):
    with pytest.raises(ConfigError, match=f"judges_per_device must be -1 \\(auto\\) or a count of at least 1, got {judges}"):
        with_judges(EvalConfig(judges_per_device=judges), platform="cuda")


def test_a_search_with_one_candidate_in_flight_keeps_one_judge_and_an_unknown_platform_is_refused():
    auto = EvalConfig()
    assert with_judges(auto, platform="cuda", concurrency=1).judges_per_device == 1, "a second judge would idle"
    assert with_judges(auto, platform="cuda", concurrency=2).judges_per_device == DEVICE_JUDGES
    assert for_host(auto, platform="cuda", concurrency=1, cpus=16).judges_per_device == 1
    assert for_cluster(auto, platform="cuda", concurrency=1).judges_per_device == 1
    assert with_judges(EvalConfig(judges_per_device=2), platform="cuda", concurrency=1).judges_per_device == 2, \
        "a count the user set is kept"
    with pytest.raises(ConfigError, match="unknown platform 'auto'"):
        with_judges(auto, platform="auto")
