"""Shared pytest set-up: tests marked `gpu` are skipped when torch sees no CUDA/ROCm device."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    import torch

    if torch.cuda.device_count() > 0:
        return
    skip = pytest.mark.skip(reason="needs a CUDA/ROCm device (torch.cuda.device_count() == 0)")
    for item in gpu_items:
        item.add_marker(skip)
