"""Structural seed for conv1d: per-sample implicit GEMM with x read through TMA tensor descriptors, flattened loop.

The GEMM is seed_implicit_gemm.py's: per sample b, Y[b]ᵀ (L x Cout) = Σ_t Σ_ci X[b, ci, l + t - PAD] · Wp[t, ci, co],
positions of one sample as the MMA rows, all Cout in one program as a power-of-two tile plus a remainder tile
(96 = 64 + 32), the K taps of a channel chunk back to back, weights packed once per call to Wp[t, ci, co].
What changes is how x arrives and how the loop is shaped:

- x is read through a host-side 3-D TensorDescriptor over [B, Cin, L] with box [1, BLOCK_CI, BLOCK_L]
  (triton.tools.tensor_descriptor, the same API in Triton 3.6 and 3.7): on sm_90 every such load is a TMA
  copy (cp.async.bulk.tensor) the pipeliner makes asynchronous, and TMA zero-fills whatever lies outside the
  tensor, so the L tail, the padding halo and channel rows past Cin (per sample: the box's ci dimension is
  bounded by Cin, it cannot bleed into the next sample) need no masks. X_2D=1 uses a 2-D view [B*Cin, L] with
  box [BLOCK_CI, BLOCK_L] instead (no reshape of the loaded tile), legal only when Cin % BLOCK_CI == 0.
- TAP_TMA=0 (default): the centre tap (coordinate l0, 16-byte aligned) comes by TMA, the shifted taps
  (l0 + t - PAD) by plain masked loads as in the implicit-GEMM seed (they hit the lines the centre tap
  brought into L1/L2). (Every tap by TMA at l0 + t - PAD is not possible: on the H100 a TMA box whose
  innermost start coordinate is not 16-byte aligned is an illegal instruction, benchmarks/RESULTS.md, 2026-12-07.)
  TAP_TMA=2: only aligned TMA boxes — the centre tile plus two HALO-column boxes either side (l0 - HALO and
  l0 + BLOCK_L, 16-byte aligned) — and the shifted operands built from them by in-register gathers
  (seed_implicit_gemm's HALO_GATHER, fed by TMA): every x load asynchronous and legal, at the gathers' cost.
- y is stored through a descriptor over [B, Cout, L] too (STORE_TMA=1; the box is clipped at L and Cout by
  the hardware) or by masked stores (STORE_TMA=0).
- One flattened loop over (tile, channel chunk), the persistent-matmul tutorial's shape: PROGS_PER_SM > 0
  launches that many programs per SM, each walking tiles pid, pid + P, ...; 0 launches one program per
  (sample, L tile). Cin = 96 is only 3 chunks of 32, too short a loop to pipeline on its own; flattened,
  the loads of the next tile's first chunk are in flight while this tile finishes.

Fallback: when x or y is not TMA-legal (base not 16-byte aligned, or L·itemsize not a multiple of 16 bytes:
fp16 needs L % 8 == 0, fp32 L % 4 == 0) the same kernel runs with USE_TMA=0: every x load and the y store are
masked pointer accesses (the implicit-GEMM seed's loads), so odd shapes stay correct.
fp32 inputs: FP32_TF32 as in the implicit-GEMM seed (0 IEEE, 2 3xTF32).

Memory-traffic model (fp16, 2048x96x96x200): x read once from HBM (78.6 MB), y written once (78.6 MB):
157 MB, 0.052 ms at 3 TB/s; Wp (55 KB) from L2 by every tile (BLOCK_L 128: 4096 tiles, 226 MB of L2 reads; 256
halves it). L = 200 pads to 256 positions (BLOCK_L 256, or 128 + 128) — idle MMA rows, not traffic (TMA does not
read past L).

Checked: under the CPU interpreter (Triton 3.7.1; TMA-legal odd shapes take the descriptor path there) and compiled
for sm_90a without a GPU (benchmarks/static_profile.py: wgmma, cp.async.bulk.tensor, no spills). Not yet run on a
GPU nor under Triton 3.6 when written; benchmarks/gpu_conv1d_tma.sh is the call that does.

Task semantics: docs/TASKS.md §1; the task file: kernelevolve/tasks/builtin/conv1d.py.
"""

import torch
import triton
import triton.language as tl
from torch import nn
from triton.runtime.errors import OutOfResources
from triton.tools.tensor_descriptor import TensorDescriptor

# Tunables: the offline operator rewrites these assignments, choosing values from TUNABLE_SPACE.
BLOCK_L = 128  # positions of one sample per tile (GEMM rows; clamped to L's power of two, >= 16)
BLOCK_CI = 32  # input channels per reduction step (tl.dot needs >= 16)
MAX_CO = 128  # widest output-channel tile; Cout <= MAX_CO -> one program owns every output channel
TAP_TMA = 0  # 0: centre tap by TMA, shifted taps by plain loads; 2: aligned centre and halo boxes, shifted taps gathered
X_2D = 0  # 1: x as a 2-D [B*Cin, L] descriptor (needs Cin % BLOCK_CI == 0, else the 3-D one is used)
STORE_TMA = 1  # 1: y stored through a descriptor (box clipped at L, Cout); 0: masked stores
PROGS_PER_SM = 0  # > 0: persistent grid of PROGS_PER_SM programs per SM walking tiles; 0: one program per tile
NUM_WARPS = 4
NUM_STAGES = 2  # the H100 sweep's best at b2048_fp16: 0.150 ms against 0.209 with 3 (benchmarks/RESULTS.md)
FP32_TF32 = 2  # fp32 inputs only: 0 IEEE fp32, 2 3xTF32 (1, plain TF32, fails the task's tolerance at fp32)
TUNABLE_SPACE = {
    "BLOCK_L": (32, 64, 128, 256),
    "BLOCK_CI": (16, 32, 64),
    "MAX_CO": (64, 128, 256),
    "TAP_TMA": (0, 2),
    # an illegal instruction would poison the CUDA context of the judge's worker, not just fail one candidate
    "X_2D": (0, 1),
    "STORE_TMA": (0, 1),
    "PROGS_PER_SM": (0, 1, 2, 4),
    "NUM_WARPS": (4, 8),
    "NUM_STAGES": (2, 3, 4, 5),
    "FP32_TF32": (0, 2),
}
PACK_BLOCK = 1024  # elements per program of the weight pack
HALO = 8  # columns of each halo box in TAP_TMA=2 mode (8 fp16 = 16 bytes, TMA's minimum); needs K // 2 <= HALO
INTERPRETER_SMS = 3  # stands in for the SM count off the GPU (CPU interpreter, compile-only profiling)
# (dtype, Cin, Cout, L, K, precision, use_tma) -> (num_stages, BLOCK_CI) that fit the device (first call steps down).
_FITTED: dict[tuple, tuple[int, int]] = {}


@triton.jit
def _pack_weight_kernel(w_ptr, wp_ptr, CIN, COUT, K: tl.constexpr, BLOCK: tl.constexpr):
    """Wp[t, ci, co] = W[co, ci, t]: read 2·K·Cin·Cout B, write the same."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)  # flat index into Wp
    mask = offs < K * CIN * COUT
    co = offs % COUT
    ci = (offs // COUT) % CIN
    t = offs // (COUT * CIN)
    tl.store(wp_ptr + offs, tl.load(w_ptr + co * (CIN * K) + ci * K + t, mask=mask), mask=mask)


@triton.jit
def _x_tap(x_ptr, x_desc, b, ci0, l0, SHIFT: tl.constexpr, CIN: tl.constexpr, L: tl.constexpr,
           BLOCK_L: tl.constexpr, BLOCK_CI: tl.constexpr, BY_TMA: tl.constexpr, X_2D: tl.constexpr):
    """Returns X[b, ci0 : ci0 + BLOCK_CI, l0 + SHIFT : l0 + SHIFT + BLOCK_L]ᵀ as [BLOCK_L, BLOCK_CI], zero outside
    [0, L) x [0, Cin): by TMA (the hardware zero-fills) or by masked pointer loads."""
    if BY_TMA:  # X_2D: rows b·Cin + ci; the caller guarantees Cin % BLOCK_CI == 0, so a box stays in its sample
        xt = _x_box(x_desc, b, ci0, l0 + SHIFT, CIN, BLOCK_CI, BLOCK_L, X_2D)
    else:
        pos = l0 + SHIFT + tl.arange(0, BLOCK_L)
        ci = ci0 + tl.arange(0, BLOCK_CI)
        ok = (ci < CIN)[None, :] & ((pos >= 0) & (pos < L))[:, None]
        xt = tl.load(x_ptr + b.to(tl.int64) * (CIN * L) + ci[None, :] * L + pos[:, None], mask=ok, other=0.0)
    return xt


@triton.jit
def _x_box(x_desc, b, ci0, col, CIN: tl.constexpr, ROWS: tl.constexpr, COLS: tl.constexpr, X_2D: tl.constexpr):
    """Returns the TMA box X[b, ci0 : ci0 + ROWS, col : col + COLS]ᵀ as [COLS, ROWS] (zero outside the tensor)."""
    if X_2D:  # one if/else and one return: the compiler visits code after a return inside a constexpr if
        xt = x_desc.load([b * CIN + ci0, col])
    else:
        xt = x_desc.load([b, ci0, col]).reshape(ROWS, COLS)
    return tl.trans(xt)


@triton.jit
def _shifted(xc, xl, xr, SHIFT: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_CI: tl.constexpr, HALO: tl.constexpr):
    """Returns rows r + SHIFT of the centre tile xc [BLOCK_L, BLOCK_CI], rows past either end taken from the halo
    tiles xl / xr [HALO, BLOCK_CI] (the HALO positions just before / after the tile), by in-register gathers."""
    p = tl.arange(0, BLOCK_L)[:, None] + SHIFT + tl.zeros((BLOCK_L, BLOCK_CI), dtype=tl.int32)  # source row
    inner = tl.gather(xc, tl.minimum(tl.maximum(p, 0), BLOCK_L - 1), axis=0)
    if SHIFT < 0:  # rows p < 0 are halo rows p + HALO of xl
        out = tl.where(p < 0, tl.gather(xl, tl.minimum(tl.maximum(p + HALO, 0), HALO - 1), axis=0), inner)
    else:
        out = tl.where(p >= BLOCK_L, tl.gather(xr, tl.minimum(tl.maximum(p - BLOCK_L, 0), HALO - 1), axis=0), inner)
    return out


@triton.jit
def _store_y(y_ptr, y_desc, acc, bias_ptr, b, co0, l0, COUT: tl.constexpr, L: tl.constexpr,
             BLOCK_L: tl.constexpr, CO: tl.constexpr, BY_TMA: tl.constexpr):
    """Y[b, co0 : co0 + CO, l0 : l0 + BLOCK_L] = accᵀ + bias, clipped at Cout and L."""
    offs_co = co0 + tl.arange(0, CO)
    bias = tl.load(bias_ptr + offs_co, mask=offs_co < COUT, other=0.0).to(tl.float32)
    out = (acc + bias[None, :]).to(y_ptr.dtype.element_ty)  # [BLOCK_L, CO]
    if BY_TMA:
        y_desc.store([b, co0, l0], tl.trans(out).reshape(1, CO, BLOCK_L))
    else:
        offs_l = l0 + tl.arange(0, BLOCK_L)
        ok = (offs_l < L)[:, None] & (offs_co < COUT)[None, :]
        tl.store(y_ptr + b.to(tl.int64) * (COUT * L) + offs_co[None, :] * L + offs_l[:, None], out, mask=ok)


@triton.jit
def _conv1d_kernel(
    x_ptr, x_desc, x_halo_desc, wp_ptr, b_ptr, y_ptr, y_hi_desc, y_lo_desc, B,
    CIN: tl.constexpr, COUT: tl.constexpr, L: tl.constexpr, K: tl.constexpr, PAD: tl.constexpr,
    PRECISION: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_CI: tl.constexpr, CO_HI: tl.constexpr,
    CO_LO: tl.constexpr, HAS_LO: tl.constexpr, CO_TILES: tl.constexpr,
    USE_TMA: tl.constexpr, TAP_TMA: tl.constexpr, X_2D: tl.constexpr, STORE_TMA: tl.constexpr, HALO: tl.constexpr,
):
    """Each program walks tiles pid, pid + nprog, ... (tile = (sample, L tile, channel tile)) in one loop over
    (tile, channel chunk): the accumulators are stored and reset after a tile's last chunk.

    HAS_LO = False: no remainder tile (its accumulator is a dead placeholder the compiler drops).
    USE_TMA = False: every x load and the y store by masked pointer accesses (shapes TMA cannot describe).
    """
    N_LT: tl.constexpr = (L + BLOCK_L - 1) // BLOCK_L
    N_CHUNK: tl.constexpr = (CIN + BLOCK_CI - 1) // BLOCK_CI
    GATHER: tl.constexpr = USE_TMA and TAP_TMA == 2  # shifted taps gathered from aligned centre and halo boxes
    pid = tl.program_id(0)
    nprog = tl.num_programs(0)
    num_tiles = B * (N_LT * CO_TILES)
    my_tiles = (num_tiles - pid + nprog - 1) // nprog
    acc_hi = tl.zeros((BLOCK_L, CO_HI), dtype=tl.float32)
    acc_lo = tl.zeros((BLOCK_L, CO_LO), dtype=tl.float32)
    offs_k = tl.arange(0, BLOCK_CI)
    for it in range(my_tiles * N_CHUNK):
        tile = pid + (it // N_CHUNK) * nprog
        c = it % N_CHUNK
        b = tile // (N_LT * CO_TILES)  # a sample's L tiles (and channel tiles) are neighbours in tile order
        l0 = (tile // CO_TILES) % N_LT * BLOCK_L
        co0 = tile % CO_TILES * CO_HI  # several channel tiles only when there is no remainder tile
        ci0 = c * BLOCK_CI
        offs_ci = ci0 + offs_k
        mask_ci = offs_ci < CIN
        if GATHER:  # aligned boxes only: the centre tile and HALO columns either side
            xc = _x_box(x_desc, b, ci0, l0, CIN, BLOCK_CI, BLOCK_L, X_2D)  # [BLOCK_L, BLOCK_CI]
            xl = _x_box(x_halo_desc, b, ci0, l0 - HALO, CIN, BLOCK_CI, HALO, X_2D)  # [HALO, BLOCK_CI]
            xr = _x_box(x_halo_desc, b, ci0, l0 + BLOCK_L, CIN, BLOCK_CI, HALO, X_2D)
        for t in tl.static_range(K):
            if GATHER:
                xt = xc if t == PAD else _shifted(xc, xl, xr, t - PAD, BLOCK_L, BLOCK_CI, HALO)
            else:
                xt = _x_tap(x_ptr, x_desc, b, ci0, l0, t - PAD, CIN, L, BLOCK_L, BLOCK_CI,
                            USE_TMA and t == PAD, X_2D)  # [BLOCK_L, BLOCK_CI]
            w_t = wp_ptr + t * (CIN * COUT) + offs_ci[:, None] * COUT  # Wp[t, ci, :] row bases
            offs_hi = co0 + tl.arange(0, CO_HI)
            w_hi = tl.load(w_t + offs_hi[None, :], mask=mask_ci[:, None] & (offs_hi < COUT)[None, :], other=0.0)
            acc_hi = tl.dot(xt, w_hi, acc_hi, input_precision=PRECISION)
            if HAS_LO:
                offs_lo = co0 + CO_HI + tl.arange(0, CO_LO)
                w_lo = tl.load(w_t + offs_lo[None, :], mask=mask_ci[:, None] & (offs_lo < COUT)[None, :], other=0.0)
                acc_lo = tl.dot(xt, w_lo, acc_lo, input_precision=PRECISION)
        if c == N_CHUNK - 1:
            _store_y(y_ptr, y_hi_desc, acc_hi, b_ptr, b, co0, l0, COUT, L, BLOCK_L, CO_HI, USE_TMA and STORE_TMA)
            acc_hi = tl.zeros((BLOCK_L, CO_HI), dtype=tl.float32)
            if HAS_LO:
                _store_y(y_ptr, y_lo_desc, acc_lo, b_ptr, b, co0 + CO_HI, l0, COUT, L, BLOCK_L, CO_LO,
                         USE_TMA and STORE_TMA)
                acc_lo = tl.zeros((BLOCK_L, CO_LO), dtype=tl.float32)


def _co_tiles(cout: int) -> tuple[int, int, int]:
    """Returns (CO_HI, CO_LO, tiles), CO_LO 0 meaning no remainder tile (seed_implicit_gemm.py's split:
    Cout <= MAX_CO -> the largest power of two plus the remainder's power of two, 96 = 64 + 32)."""
    if cout > MAX_CO:
        return MAX_CO, 0, triton.cdiv(cout, MAX_CO)
    hi = max(16, 1 << (cout.bit_length() - 1))
    rest = cout - hi
    return hi, max(16, triton.next_power_of_2(rest)) if rest > 0 else 0, 1


def _tma_legal(t: torch.Tensor) -> bool:
    """A contiguous [B, C, L] tensor a TMA descriptor can cover: 16-byte-aligned base and row stride."""
    return t.data_ptr() % 16 == 0 and (t.shape[-1] * t.element_size()) % 16 == 0


def conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Returns conv1d(x, weight, bias, padding=K//2) for x [B, Cin, L], weight [Cout, Cin, K]."""
    B, CIN, L = x.shape
    COUT, _, K = weight.shape
    x, weight, bias = x.contiguous(), weight.contiguous(), bias.contiguous()
    wp = torch.empty((K, CIN, COUT), device=x.device, dtype=weight.dtype)  # Wp[t, ci, co]
    _pack_weight_kernel[(triton.cdiv(wp.numel(), PACK_BLOCK),)](weight, wp, CIN, COUT, K=K, BLOCK=PACK_BLOCK)
    y = torch.empty((B, COUT, L), device=x.device, dtype=x.dtype)
    block_l = max(16, min(BLOCK_L, triton.next_power_of_2(L)))
    co_hi, co_lo, co_tiles = _co_tiles(COUT)
    co_lo = max(co_lo, 16) if co_lo else 0
    use_tma = _tma_legal(x) and _tma_legal(y)
    precision = ("ieee", "tf32", "tf32x3")[FP32_TF32] if x.dtype == torch.float32 else "tf32"
    key = (x.dtype, CIN, COUT, L, K, precision, use_tma)
    stages, block_ci = _FITTED.get(key, (NUM_STAGES, BLOCK_CI))
    n_tiles = B * triton.cdiv(L, block_l) * co_tiles
    sms = torch.cuda.get_device_properties(x.device).multi_processor_count if x.is_cuda else INTERPRETER_SMS
    grid = (min(n_tiles, PROGS_PER_SM * sms) if PROGS_PER_SM else n_tiles,)
    while True:
        x_2d = bool(X_2D) and CIN % block_ci == 0
        tap_tma = TAP_TMA if TAP_TMA != 2 or K // 2 <= HALO else 0
        if use_tma:
            x_desc, x_halo = ((TensorDescriptor(x.view(B * CIN, L), [B * CIN, L], [L, 1], [block_ci, cols])
                               for cols in (block_l, HALO)) if x_2d else
                              (TensorDescriptor(x, [B, CIN, L], [CIN * L, L, 1], [1, block_ci, cols])
                               for cols in (block_l, HALO)))
            x_halo = x_halo if tap_tma == 2 else None
            y_hi = TensorDescriptor(y, [B, COUT, L], [COUT * L, L, 1], [1, co_hi, block_l])
            y_lo = TensorDescriptor(y, [B, COUT, L], [COUT * L, L, 1], [1, co_lo, block_l]) if co_lo else None
        else:
            x_desc = x_halo = y_hi = y_lo = None
        try:
            _conv1d_kernel[grid](
                x, x_desc, x_halo, wp, bias, y, y_hi, y_lo, B,
                CIN=CIN, COUT=COUT, L=L, K=K, PAD=K // 2, PRECISION=precision, BLOCK_L=block_l, BLOCK_CI=block_ci,
                CO_HI=co_hi, CO_LO=max(co_lo, 16), HAS_LO=co_lo > 0, CO_TILES=co_tiles, USE_TMA=use_tma,
                TAP_TMA=tap_tma, X_2D=x_2d, STORE_TMA=bool(STORE_TMA), HALO=HALO,
                num_warps=NUM_WARPS, num_stages=stages,
            )
            break
        except OutOfResources:  # raised before anything runs: fewer pipeline stages first, then narrower chunks
            if stages > 1:
                stages -= 1
            elif block_ci > 16:
                block_ci //= 2
            else:
                raise
    _FITTED[key] = (stages, block_ci)
    return y


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return conv1d(x, weight, bias)
