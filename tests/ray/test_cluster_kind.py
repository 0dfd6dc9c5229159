"""cluster=auto: ray when Ray is importable and an address is set or several GPUs are visible, else local."""

from __future__ import annotations

import pytest

from kernelevolve.config import ClusterConfig, ClusterKind


@pytest.mark.parametrize("address,gpus,ray_available,expected", [
    (None, 0, True, ClusterKind.local),
    (None, 1, True, ClusterKind.local),      # one GPU: a single process tree does the same job
    (None, 2, True, ClusterKind.ray),
    ("auto", 0, True, ClusterKind.ray),      # joining a cluster is always ray
    ("ray://head:10001", 8, False, ClusterKind.local),  # no Ray installed: never ray by default
])
def test_auto_resolves_by_address_gpus_and_ray(address, gpus, ray_available, expected):
    config = ClusterConfig(kind=ClusterKind.auto, address=address)
    assert config.resolve_kind(ray_available=ray_available, gpu_count=gpus) is expected


@pytest.mark.parametrize("kind", [ClusterKind.local, ClusterKind.ray])
def test_an_explicit_kind_is_kept(kind):
    assert ClusterConfig(kind=kind, address="auto").resolve_kind(ray_available=False, gpu_count=8) is kind
