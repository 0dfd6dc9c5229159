"""The offline operator: rewrites exposed tunables within their space, never repeats a source."""

from __future__ import annotations

import pytest

from kernelevolve.core.errors import ConfigError, ExtractionError
from kernelevolve.core.types import Node
from kernelevolve.operator.expansion import ExpansionRequest
from kernelevolve.operator.offline import OfflineOperator, read_tunables, rewrite_tunables, source_hash
from kernelevolve.paths import seed_kernel_path

SOURCE = '''BLOCK = 32  # rows per program
WARPS = 4
OTHER = 7
TUNABLE_SPACE = {"BLOCK": (16, 32, 64), "WARPS": (2, 4, 8)}
'''


def _request(source, seen=frozenset(), seed=0):
    parent = Node(id=3, parent_id=None, candidate=OfflineOperator(seed_kernel_path("conv1d")).seed())
    parent.candidate = type(parent.candidate)(source=source, parent_id=None, origin="seed")
    return ExpansionRequest(parent=parent, inspirations=[], seen_sources=seen, seed=seed)


def test_reads_space_and_current_values():
    space, current = read_tunables(SOURCE)
    assert space == {"BLOCK": (16, 32, 64), "WARPS": (2, 4, 8)}
    assert current == {"BLOCK": 32, "WARPS": 4}


def test_rewrite_keeps_comments_and_other_assignments():
    out = rewrite_tunables(SOURCE, {"BLOCK": 64})
    assert "BLOCK = 64  # rows per program" in out
    assert "OTHER = 7" in out and "WARPS = 4" in out


@pytest.mark.parametrize("seed", range(20))
def test_mutations_stay_in_the_space_and_change_something(seed):
    op = OfflineOperator(seed_kernel_path("conv1d"))
    expansion = op.expand(_request(SOURCE, seed=seed))
    space, new = read_tunables(expansion.candidate.source)
    assert new != {"BLOCK": 32, "WARPS": 4}
    assert all(new[k] in space[k] for k in space)
    assert expansion.candidate.parent_id == 3 and expansion.candidate.origin == "offline"


def test_never_proposes_a_seen_source():
    op = OfflineOperator(seed_kernel_path("conv1d"))
    seen = set()
    for seed in range(8):  # the space has 3*3 - 1 = 8 neighbours of the parent
        expansion = op.expand(_request(SOURCE, frozenset(seen), seed))
        if expansion.candidate is None:
            break
        h = source_hash(expansion.candidate.source)
        assert h not in seen
        seen.add(h)
    assert len(seen) >= 6


def test_a_source_without_tunables_is_a_failed_expansion_not_a_crash():
    op = OfflineOperator(seed_kernel_path("conv1d"))
    expansion = op.expand(_request("x = 1\n"))
    assert expansion.candidate is None and "TUNABLE_SPACE" in expansion.failure


def test_unparseable_source_is_reported_with_its_line():
    with pytest.raises(ExtractionError, match="line 1"):
        read_tunables("def (:\n")


def test_missing_seed_kernel_is_an_actionable_config_error(tmp_path):
    with pytest.raises(ConfigError, match="seed_path"):
        OfflineOperator(tmp_path / "nope.py").seed()


def test_conv1d_seed_exposes_tunables_in_its_space():
    space, current = read_tunables(seed_kernel_path("conv1d").read_text())
    assert {"BLOCK_M", "BLOCK_N", "BLOCK_K", "NUM_WARPS", "NUM_STAGES"} <= set(space)
    assert all(current[k] in space[k] for k in space)
