"""Inductor's autotuning results for the torch.compile baseline, filed under the cache dir of the process that
uses them.

Inductor files the autotuning result of a compiled kernel (its `.best_config`: which of the kernel's launch
configs won) beside the kernel's source, under the cache dir of the process that compiled it, and a graph loaded
from Inductor's cache carries that absolute path into every later process (its kernels' autotuners are pickled
with it). A judge's caches are private and travel between processes and runs only as copies
(eval/kernel_cache.py), so:
- a later run's jailed worker wrote its result into an earlier run's dir and died ("Read-only file system": H100,
  torch 2.11, the second conv1d search on one machine);
- with the cache off, every process autotuned its baselines' configs again and picked among near-equal configs
  by noise: the conv1d seed's fitness spread over five fresh workers went from 0.8% to 3.6% (benchmarks/RESULTS.md),
  one shape's baseline moving 0.050-0.058 ms between processes.

`inductor_options()` rebases every lookup and write of such a result onto the current process's cache dir, keeping
the path's last two parts (`<2 chars>/<hash>.best_config`), the same rebasing torch's own cache artifacts use
(AutotuneCacheArtifact). The copies of a warm snapshot then carry the winning config to every later worker, which
launches the same kernel config as the process that autotuned it. Where this torch lacks the hooks, Inductor's
autotune cache is turned off instead (each process autotunes again, the old behaviour).
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

logger = logging.getLogger(__name__)

HOOKED = ("_read", "save")  # every use of AutotuneCache.local_cache's key goes through one of these
MARK = "_kernelevolve_rebased"
CACHE_OFF = {"autotune_local_cache": False}


def rebase(cache: Any) -> None:
    """Points an AutotuneCache's local key at this process's cache dir (same last two path parts)."""
    from torch._inductor.runtime.runtime_utils import cache_dir

    local = getattr(cache, "local_cache", None)
    if not local:
        return
    store, key = local
    here = os.path.join(cache_dir(), *str(key).split(os.sep)[-2:])
    if key != here:
        cache.local_cache = (store, here)


@functools.cache
def inductor_options() -> dict[str, Any]:
    """Installs the rebasing once in this process; returns the Inductor settings the baseline still needs: none, or
    Inductor's autotune cache off where this torch has no AutotuneCache to hook (logged once)."""
    try:
        from torch._inductor.runtime.autotune_cache import AutotuneCache
        from torch._inductor.runtime.runtime_utils import cache_dir  # noqa: F401 - rebase's import, checked here
    except ImportError as exc:
        logger.info("Inductor's autotune cache is off for the baselines (this torch has no %s)", exc.name)
        return dict(CACHE_OFF)
    if not all(callable(getattr(AutotuneCache, name, None)) for name in HOOKED):
        logger.info("Inductor's autotune cache is off for the baselines (this torch's AutotuneCache has no %s)",
                    " or ".join(HOOKED))
        return dict(CACHE_OFF)
    if not getattr(AutotuneCache, MARK, False):
        for name in HOOKED:
            setattr(AutotuneCache, name, _rebased(getattr(AutotuneCache, name)))
        setattr(AutotuneCache, MARK, True)
    return {}


def _rebased(method: Any) -> Any:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        rebase(self)
        return method(self, *args, **kwargs)

    return call
