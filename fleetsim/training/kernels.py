"""How fast a training step's kernels run: GEMM efficiency by shape, attention kernels (pure).

One layer's compute on one GPU is its GEMMs and its attention core, each at its own fraction of
the chip's peak, plus its memory-bound kernels at the achievable HBM bandwidth:

* **GEMM** ``Y[M x N] = X[M x K] W[K x N]`` (M tokens, K and N the weight's per-GPU shape after
  tensor parallelism) runs at ``gemm / ((1 + d/M)(1 + d/N)(1 + d/K))`` of peak: a large-GEMM
  efficiency ``gemm`` and a half-performance dimension ``d`` (Hockney's n_1/2, per dimension):
  narrow GEMMs fill fewer tiles and waves of the chip and spend more of their time in prologue,
  epilogue and the memory-bound parts. The backward's two GEMMs (input and weight gradients)
  have the same three dimensions, so they take twice the forward's time.
* **attention core** (scores and their product with V): FlashAttention (``attention: flash``,
  Dao et al. 2022/2023) computes only the unmasked blocks of a causal mask (half the s^2 work)
  at ``attention`` of peak; its backward recomputes the scores, 2.5x the forward's FLOPs.
  Unfused attention (``standard``, Megatron-LM 2021-2022) computes the full s x s scores as
  batched GEMMs of head_dim-wide operands, forward 4 s^2 h, backward twice that, and its
  softmax and dropout stream the scores through HBM (:func:`score_bytes`).
* **memory-bound kernels** (:func:`elementwise_bytes`): norms, residual adds, the MLP
  activation, each reading and writing its tensor once; the backward moves twice the bytes.

The step model sums these per layer; MFU's numerator still counts Megatron's model FLOPs
(full attention, 12 s h per token and layer), the convention of the published MFU figures.

Calibration (``CALIBRATION``), what is fitted on what:

* A100: ``gemm`` = 0.80 and ``half_dim`` = 160 fitted (least squares on a grid) on Megatron-LM's
  fourteen A100 runs: Korthikanti et al. 2022 (arXiv 2205.05198, Table 3 configurations, MFU
  41.5-56.3%) and Narayanan et al. 2021 (SC'21, Table 1, configurations from Megatron-LM's
  examples/sc21/run_table_1.sh); residuals within 7% (tests/training/test_published_mfu.py).
  MegaScale's Megatron-LM runs of a 175B model on 256-12,288 A100 (Jiang et al., NSDI'24,
  Table 2) are predicted. For a square 8192^3 GEMM the fit gives 0.76 of peak, below the ~82%
  measured for dense A100 GEMMs (shared/REFERENCE.md): the fit also absorbs what the model
  leaves out. ``attention`` = 0.72: FlashAttention-2 forward + backward on A100 reaches up to
  225 of 312 TFLOP/s (Dao 2023, arXiv 2307.08691, Figure 4).
* H100: ``half_dim`` = A100's scaled by the SM count (132 vs 108: the same tiles leave a larger
  chip emptier) [assumption]; ``attention`` = 0.50, between FlashAttention-2 (~35% of peak,
  arXiv 2307.08691) and FlashAttention-3 (60-75% forward, arXiv 2407.08608) [assumption:
  Meta's 2024 kernels]; ``gemm`` = 0.585 fitted on one point, Llama 3 405B on 8,192 H100 (43%
  BF16 MFU, arXiv 2407.21783 Table 4, read as counting causal attention FLOPs; see
  docs/background/training-step.md). The 16,384-GPU rows (8K and 131K tokens) are predicted.
  The fit absorbs all Meta's stack does differently from the model (clocks under the 700 W
  cap, unmodelled overheads), so it is well below an isolated H100 GEMM.

H200 shares H100's constants (the same GH100 chip). Other chips have no training calibration:
their catalogue ``achievable.flops_fraction`` (an end-to-end step efficiency, like A100's 0.68)
scales A100's ``gemm`` and ``attention`` (x fraction / 0.68, at most 0.95), with A100's
``half_dim``. (These constants belong in the hardware catalogue; they live here until its
schema, which other work is changing, can take them.)
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetsim.hardware.models import Accelerator
from fleetsim.scenario.architecture import Architecture


@dataclass(frozen=True)
class KernelEfficiency:
    """Fractions of peak a training step's kernels reach on one chip."""

    gemm: float  # a large GEMM (every dimension >> half_dim)
    half_dim: float  # the GEMM dimension at which that dimension alone halves the efficiency
    attention: float  # the fused attention kernel, forward and backward

    def gemm_fraction(self, m: float, n: float, k: float) -> float:
        """Fraction of peak of an M x N x K GEMM."""
        d = self.half_dim
        return self.gemm / ((1 + d / m) * (1 + d / n) * (1 + d / k))


A100_HALF_DIM = 160.0
_A100 = KernelEfficiency(gemm=0.80, half_dim=A100_HALF_DIM, attention=0.72)
_H100 = KernelEfficiency(gemm=0.585, half_dim=A100_HALF_DIM * 132 / 108, attention=0.50)
CALIBRATION: dict[str, KernelEfficiency] = {
    "a100-80gb": _A100, "a100-40gb": _A100,
    "h100-sxm": _H100, "h200-sxm": _H100,  # the same GH100 chip
}
A100_CATALOGUE_FRACTION = 0.68  # hardware/accelerators/a100-80gb.yaml achievable.flops_fraction


def kernel_efficiency(accelerator: Accelerator) -> KernelEfficiency:
    """The calibrated kernel efficiencies of ``accelerator`` (module docstring), or defaults
    scaled from its catalogue ``flops_fraction`` as A100's calibration relates to A100's."""
    known = CALIBRATION.get(accelerator.name)
    if known is not None:
        return known
    scale = accelerator.achievable.flops_fraction / A100_CATALOGUE_FRACTION
    return KernelEfficiency(gemm=min(0.95, _A100.gemm * scale), half_dim=_A100.half_dim,
                            attention=min(0.95, _A100.attention * scale))


@dataclass(frozen=True)
class LayerCompute:
    """Seconds of one layer (or the output layer) for one micro-batch on one GPU."""

    gemm_forward_s: float
    attention_forward_s: float
    attention_backward_s: float
    memory_forward_s: float = 0.0  # memory-bound kernels: norms, residuals, activations
    memory_backward_s: float = 0.0

    @property
    def forward_s(self) -> float:
        return self.gemm_forward_s + self.attention_forward_s + self.memory_forward_s

    @property
    def backward_s(self) -> float:
        return 2 * self.gemm_forward_s + self.attention_backward_s + self.memory_backward_s


def layer_gemms(arch: Architecture, tokens: float, tp: int) -> list[tuple[float, float, float]]:
    """(M, K, N) of one layer's forward GEMMs on one GPU: fused QKV, output projection, MLP
    (SwiGLU's gate and up fused), each active expert's MLP for a mixture of experts."""
    h, d = arch.hidden, arch.head_dim
    kv = arch.kv_heads_count
    f = arch.ffn_width
    gemms = [(tokens, h, (h + 2 * kv * d) / tp), (tokens, h / tp, h)]
    up = (2 if arch.gated_mlp else 1) * f / tp
    gemms += [(tokens, h, up), (tokens, f / tp, h)] * arch.experts_per_token
    return gemms


def _gemm_s(shape: tuple[float, float, float], kernels: KernelEfficiency, peak: float) -> float:
    m, k, n = shape
    return 2 * m * k * n / (peak * kernels.gemm_fraction(m, n, k))


def elementwise_bytes(arch: Architecture, tokens: float, tp: int, sequence_parallel: bool,
                      dropout: bool) -> float:
    """HBM bytes of one layer's memory-bound forward kernels on one GPU (16-bit tensors, each
    read and written once per kernel): two norms (read 2 + write 2 per element each), two
    residual adds (read 4, write 2; with dropout fused in, + a 1-byte mask), the MLP activation
    on the ffn-wide tensor (GELU: read 2, write 2; SwiGLU: read 4, write 2). Norms and
    residuals run on tokens / tp with sequence parallelism, on all tokens without; the MLP
    activation on ffn / tp columns."""
    outside = 2 * 4 + 2 * (6 + (1 if dropout else 0))
    if sequence_parallel:
        outside /= tp
    inner = (6 if arch.gated_mlp else 4) * arch.ffn_width / arch.hidden \
        * arch.experts_per_token / tp
    return tokens * arch.hidden * (outside + inner)


def score_bytes(arch: Architecture, tokens: float, tp: int,
                dropout: bool) -> tuple[float, float]:
    """HBM bytes (forward, backward) of unfused attention's s x s score tensors per layer on
    one GPU: the fused scale-mask-softmax reads and writes them (2 + 2 bytes per score), a
    dropout reads, writes and masks them (2 + 2 + 1); the backward does the same in reverse
    (softmax: read output and gradient, write 2 + 2 + 2)."""
    scores = arch.heads / tp * tokens * arch.seq_len
    masked = 5 if dropout else 0
    return scores * (4 + masked), scores * (6 + masked)


def layer_compute(arch: Architecture, tokens: float, tp: int, attention: str,
                  kernels: KernelEfficiency, peak: float, memory_bandwidth: float,
                  sequence_parallel: bool = True, dropout: bool = False) -> LayerCompute:
    """One transformer layer for ``tokens`` queries per GPU (a context-parallel shard attends
    to the whole sequence) with tensor parallelism ``tp``; ``memory_bandwidth`` is the
    achievable HBM bandwidth (bytes/s) the memory-bound kernels run at."""
    gemm = sum(_gemm_s(shape, kernels, peak) for shape in layer_gemms(arch, tokens, tp))
    elementwise = elementwise_bytes(arch, tokens, tp, sequence_parallel, dropout) \
        / memory_bandwidth
    s, width = arch.seq_len, arch.hidden / tp  # keys attended to, heads x head_dim per GPU
    full = 4 * tokens * s * width  # QK^T and PV over the whole s x s square
    if attention == "flash":
        forward = full / 2 / (peak * kernels.attention)
        return LayerCompute(gemm, forward, 2.5 * forward, elementwise, 2 * elementwise)
    rate = peak * kernels.gemm_fraction(s, s, arch.head_dim)
    forward_scores, backward_scores = score_bytes(arch, tokens, tp, dropout)
    return LayerCompute(gemm, full / rate + forward_scores / memory_bandwidth,
                        2 * full / rate + backward_scores / memory_bandwidth,
                        elementwise, 2 * elementwise)


def output_compute(arch: Architecture, tokens: float, tp: int, kernels: KernelEfficiency,
                   peak: float) -> LayerCompute:
    """The output layer (logits over the vocabulary) for ``tokens`` per GPU."""
    return LayerCompute(_gemm_s((tokens, arch.hidden, arch.vocab / tp), kernels, peak), 0.0, 0.0)
