"""Retrieval quality over the real knowledge base: realistic diagnoses must find the right document."""

from __future__ import annotations

import pytest

from kernelevolve.operator.retrieval import KnowledgeRetriever

# (query as a diagnosis or question would phrase it, platform, document that must be in the top 3)
QUERIES: list[tuple[str, str | None, str]] = [
    ("CUDA error: an illegal memory access was encountered", "nvidia", "guidance/runtime-errors-and-mismatches.md"),
    ("last block of the output is wrong when N is not a multiple of BLOCK_SIZE", None, "guidance/masks-and-tails.md"),
    ("out of resource: shared memory, Required: 262144, Hardware limit: 232448", "nvidia", "guidance/reading-compile-errors.md"),
    ("unsupported AST node type: ListComp", None, "guidance/reading-compile-errors.md"),
    ("arange's range must be a power of 2 for a row of 200 elements", None, "guidance/reading-compile-errors.md"),
    ("fp16 sum loses precision, error grows with the reduction length", None, "guidance/numerical-precision.md"),
    ("fp32 matmul mismatch about 1e-3 relative, tf32 versus ieee input_precision", "nvidia", "guidance/numerical-precision.md"),
    ("achieved bandwidth is only 15% of peak, loads are strided and uncoalesced", None, "guidance/memory-coalescing.md"),
    ("how to choose BLOCK_M BLOCK_N BLOCK_K for tl.dot tensor cores", None, "guidance/tiling-and-tl-dot.md"),
    ("triton.autotune key configs num_warps num_stages", None, "guidance/autotune-configs.md"),
    ("fuse bias add and GELU activation into the GEMM epilogue", None, "guidance/fusion-epilogues.md"),
    ("column sum for the weight gradient dw across rows, partial buffer", None, "guidance/fusion-reductions.md"),
    ("jagged tensor with offsets and lengths, output size depends on the data", None, "guidance/jagged-variable-length.md"),
    ("bucketize with sorted borders, value equal to a border goes to which bin", None, "guidance/binary-search-bucketize.md"),
    ("kernel takes 8 microseconds regardless of input size, many small kernel launches", None, "guidance/performance-regimes.md"),
    ("is my kernel memory-bound or compute-bound, roofline floor", None, "guidance/performance-regimes.md"),
    ("grid has fewer programs than SMs, wave quantization tail effect, persistent kernel", None, "guidance/persistent-kernels-and-grids.md"),
    ("offset overflows int32 for large batch, wraps negative", None, "guidance/indexing-and-strides.md"),
    ("flagged integrity_violation: fallback to torch.matmul", None, "constraints/integrity-rules.md"),
    ("output reused from the previous call, caching results between calls", None, "constraints/integrity-rules.md"),
    ("answer format: one python code block with class ModelNew", None, "constraints/artifact-contract.md"),
    ("atomic_add float gives nondeterministic results between runs", None, "constraints/correctness-and-determinism.md"),
    ("how many SMs and how much shared memory per SM does the H100 have", "nvidia", "hardware/nvidia/h100.md"),
    ("TMA tensor descriptor make_tensor_descriptor on Hopper", "nvidia", "hardware/nvidia/hopper-features.md"),
    ("ncu dram__throughput and long_scoreboard warp stall", "nvidia", "hardware/nvidia/ncu-metrics.md"),
    ("torch.compile baseline time for conv1d on the H100", "nvidia", "hardware/nvidia/measured-baselines.md"),
    ("waves_per_eu and matrix_instr_nonkdim tuning", "amd", "hardware/amd/triton-on-rocm.md"),
    ("MI300X LDS size and wavefront 64", "amd", "hardware/amd/mi300-mi350.md"),
    ("rocprof counters TCC_HIT SQ_WAVES", "amd", "hardware/amd/rocprof-metrics.md"),
    ("cb_multiplier use_dual_core autotune", "mtia", "hardware/mtia/mtia-triton.md"),
    ("tl.pe_runtime_barrier cross-PE reduction", "mtia", "hardware/mtia/mtia-triton.md"),
    ("TRITON_INTERPRET autotune fails on CPU without GPU", "cpu", "guidance/interpreter-cpu.md"),
    ("status incorrect, what does the mismatch report first bad index mean and which change next", None,
     "guidance/reading-evaluation-feedback.md"),
    ("reassociate matrix chain X X^T Y to avoid the intermediate", None, "samples/worked/fm_reassociation.py"),
]


@pytest.fixture(scope="module")
def retriever() -> KnowledgeRetriever:
    return KnowledgeRetriever.from_root()


def test_query_table_is_big_enough() -> None:
    assert len(QUERIES) >= 20
    assert len({doc for _, _, doc in QUERIES}) >= 20  # the table covers many documents, not a few


@pytest.mark.parametrize(("query", "platform", "expected"), QUERIES, ids=[q[0][:40] for q in QUERIES])
def test_expected_document_in_top3(retriever: KnowledgeRetriever, query: str, platform: str | None,
                                   expected: str) -> None:
    top = retriever.search(query, platform=platform, k=3, token_budget=3000)
    paths = [s.source.split("#")[0] for s in top]
    assert expected in paths, f"{query!r} -> {paths}"


def test_platform_filter_hides_other_vendors(retriever: KnowledgeRetriever) -> None:
    for platform in ("nvidia", "amd", "mtia", "cpu"):
        found = retriever.search("shared memory LDS wavefront SM count bandwidth profiler counters",
                                 platform=platform, k=10, token_budget=20000)
        vendors = {s.source.split("/")[1] for s in found if s.source.startswith("hardware/")}
        assert vendors <= ({platform} if platform != "cpu" else set()), (platform, vendors)
