"""The offline operator: rewrites exposed tunables within their space, never repeats a source."""

from __future__ import annotations

import numpy as np
import pytest

from kernelevolve.core.errors import ConfigError, ExtractionError
from kernelevolve.core.types import Candidate, Node
from kernelevolve.operator.expansion import ExpansionRequest
from kernelevolve.operator.offline import (
    OfflineOperator,
    alternative_seeds,
    read_tunables,
    reshape_tile,
    rewrite_tunables,
    source_hash,
)
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


ALT = '''BLOCK_L = 64  # positions
BLOCK_CI = 32
NUM_WARPS = 4
TUNABLE_SPACE = {"BLOCK_L": (32, 64, 128), "BLOCK_CI": (16, 32, 64), "NUM_WARPS": (2, 4, 8)}
'''
TILE = '''BLOCK_M = 64
BLOCK_N = 32
NUM_WARPS = 4
TUNABLE_SPACE = {"BLOCK_M": (32, 64, 128), "BLOCK_N": (16, 32, 64), "NUM_WARPS": (2, 4, 8)}
'''


def _node(source, node_id, parent_id):
    return Node(id=node_id, parent_id=parent_id, candidate=Candidate(source=source, parent_id=parent_id, origin="x"))


def _seeds(tmp_path):
    (tmp_path / "seed.py").write_text(SOURCE.replace("WARPS = 4", "WARPS = 8").replace("OTHER", "BLOCK_CI"))
    (tmp_path / "seed_alt.py").write_text(ALT)
    (tmp_path / "notes.py").write_text("x = 1\n")
    return tmp_path / "seed.py"


def test_alternative_seeds_are_the_seed_files_beside_the_seed(tmp_path):
    seed = _seeds(tmp_path)
    assert [p.name for p in alternative_seeds(seed)] == ["seed_alt.py"]
    assert [p.name for p in alternative_seeds(tmp_path / "seed_alt.py")] == ["seed.py"]
    assert [p.name for p in alternative_seeds(seed_kernel_path("conv1d"))] == ["seed_implicit_gemm.py", "seed_tma.py",
                                                                               "seed_wstat.py"]


def test_root_expansion_tries_untried_alternative_seeds_first_by_rank(tmp_path):
    seed = _seeds(tmp_path)
    root = _node(seed.read_text(), 0, None)

    def expand(seen: frozenset[str], seed_value: int, rank: int) -> str:  # a fresh operator: a Ray expander's view
        op = OfflineOperator(seed, rewrite_prob=0.5, alternatives=alternative_seeds(seed))
        request = ExpansionRequest(parent=root, inspirations=[], seen_sources=seen, seed=seed_value, rank=rank)
        return op.expand(request).candidate.note

    # The first expansion of a root switches algorithm whatever its seed (no rewrite draw preempts it); the
    # ones in flight beside it tune instead, so concurrent expansions never all propose the same pristine file.
    assert all(expand(frozenset(), s, 0) == "rewrite: switch algorithm to seed_alt.py" for s in range(12))
    assert not any("switch" in expand(frozenset(), s, r) for s in range(6) for r in (1, 2, 3))
    tried = frozenset({source_hash(ALT)})
    assert not any("switch" in expand(tried, s, 0) for s in range(12))  # in the graph already: tuning only


def test_switch_from_a_tuned_node_carries_matching_tunables_over(tmp_path):
    seed = _seeds(tmp_path)
    op = OfflineOperator(seed, rewrite_prob=1.0, alternatives=alternative_seeds(seed))
    parent_source = rewrite_tunables(SOURCE, {"WARPS": 8}).replace("OTHER = 7", "BLOCK_CI = 16").replace(
        '"WARPS"', '"NUM_WARPS"').replace("WARPS = 8", "NUM_WARPS = 8")
    parent = _node(parent_source, 5, 0)
    notes = set()
    for seed_value in range(40):
        exp = op.expand(ExpansionRequest(parent=parent, inspirations=[], seen_sources=frozenset(), seed=seed_value))
        if "switch" in exp.candidate.note:
            _, values = read_tunables(exp.candidate.source)
            assert values == {"BLOCK_L": 64, "BLOCK_CI": 32, "NUM_WARPS": 8}  # BLOCK_CI 16 is not in the parent's space
            notes.add(exp.candidate.note)
    assert notes, "40 expansions with rewrite_prob 1 never switched algorithm"


def test_reshape_tile_keeps_the_tile_area_and_stays_in_the_space():
    rng = np.random.default_rng(0)
    for _ in range(10):
        new, note = reshape_tile(TILE, rng)
        space, values = read_tunables(new)
        assert values["BLOCK_M"] * values["BLOCK_N"] == 64 * 32 and values != {"BLOCK_M": 64, "BLOCK_N": 32}
        assert all(values[k] in space[k] for k in space) and values["NUM_WARPS"] == 4 and "reshape tile" in note
    assert reshape_tile(SOURCE, rng) is None  # one BLOCK_* tunable: nothing to trade against


LIMITED = SOURCE + 'TUNABLE_MAX_RATIO = {("BLOCK", "WARPS"): 16}\n'  # BLOCK / WARPS <= 16: rules out 64 on 2 warps


def test_the_operator_never_proposes_a_pair_beyond_the_kernels_max_ratio():
    from kernelevolve.operator.tunables import read_limits, within_limits

    assert read_limits(LIMITED) == {("BLOCK", "WARPS"): 16.0} and read_limits(SOURCE) == {}
    op = OfflineOperator(seed_kernel_path("conv1d"))
    ranked = [read_tunables(source)[1] for source, _ in op.ranked_moves(_request(LIMITED))]
    drawn, seen = [], set()
    for seed in range(40):  # every draw the space allows, until none is left
        expansion = op.expand(_request(LIMITED, frozenset(seen), seed))
        if expansion.candidate is None:
            break
        seen.add(source_hash(expansion.candidate.source))
        drawn.append(read_tunables(expansion.candidate.source)[1])
    proposed = ranked + drawn
    assert proposed and all(within_limits(v, {("BLOCK", "WARPS"): 16}) for v in proposed)
    assert {(v["BLOCK"], v["WARPS"]) for v in proposed} >= {(16, 2), (64, 8)}, "the allowed pairs are still proposed"
    assert not within_limits({"BLOCK": 64, "WARPS": 2}, read_limits(LIMITED))


def test_a_malformed_max_ratio_is_a_clear_error_and_the_operator_still_tunes():
    from kernelevolve.operator.tunables import read_limits

    bad = SOURCE + "TUNABLE_MAX_RATIO = {'BLOCK': 16}\n"
    with pytest.raises(ExtractionError, match="TUNABLE_MAX_RATIO must be a dict literal"):
        read_limits(bad)
    assert OfflineOperator(seed_kernel_path("conv1d")).expand(_request(bad)).candidate is not None


def test_a_ranked_step_beyond_the_max_ratio_is_not_proposed():
    at_the_bound = rewrite_tunables(LIMITED, {"WARPS": 2})  # BLOCK 32 on 2 warps = 16: one step up is 64 / 2
    moves = [read_tunables(source)[1] for source, _ in
             OfflineOperator(seed_kernel_path("conv1d")).ranked_moves(_request(at_the_bound))]
    assert {"BLOCK": 16, "WARPS": 2} in moves and {"BLOCK": 32, "WARPS": 4} in moves, "the allowed steps are ranked"
    assert {"BLOCK": 64, "WARPS": 2} not in moves


def test_a_max_ratio_naming_an_unknown_tunable_is_refused():
    from kernelevolve.operator.tunables import read_limits

    with pytest.raises(ExtractionError, match=r"names \['NUM_WARP'\], which TUNABLE_SPACE does not list"):
        read_limits(SOURCE + 'TUNABLE_MAX_RATIO = {("BLOCK", "NUM_WARP"): 16}\n')
