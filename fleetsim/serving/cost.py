"""Serving cost model: KV-cache size and capacity, prefill/decode iteration times (pure functions).

Everything here is a pure function of an :class:`~fleetsim.scenario.architecture.Architecture`,
an :class:`~fleetsim.hardware.models.Accelerator` and token counts; no SimPy. The replica
process (``serving/replica.py``) calls :meth:`ServingCost.iteration_time` once per iteration.

Formulas (SI units: seconds, bytes, FLOP):

* KV bytes per token = ``2 * layers * kv_heads * head_dim * dtype_bytes`` (K and V for every
  layer). vLLM paper (Kwon et al., SOSP'23) §3: OPT-13B at fp16 is 2*40*5120*2 = 800 KB/token;
  Llama-3.1-8B at bf16 is 2*32*8*128*2 = 131,072 B = 128 KiB/token.
* FLOPs of one iteration = ``2 * active_layer_params * layers * new_tokens`` (matrix products)
  ``+ 4 * layers * hidden * attended_pairs`` (QK^T and AV: a new token at position p attends
  to p positions, 2 FLOPs per multiply-add for each of the two products)
  ``+ 2 * vocab * hidden * sequences`` (logits of the last position of each sequence only,
  as vLLM computes them). A full prompt of length L has ``L(L+1)/2`` attended pairs.
* Bytes read by one iteration = weight bytes (all parameters: at serving batch sizes every
  expert of an MoE is touched) + ``kv_bytes_per_token * kv_tokens_read`` (the cached context
  of every sequence in the batch).
* Iteration time: the kernels of an iteration run one after another, so the linear layers
  and the attention are two rooflines (Williams et al. 2009) that add up, as Vidur (Agrawal
  et al., MLSys'24) sums its profiled operators::

      linear    = max(linear FLOPs / (tp * peak * gemm), weight bytes / (tp * HBM * weight_bw))
      attention = max(4 * layers * hidden * attended_pairs / (tp * peak * gemm),
                      KV bytes read / (tp * HBM * kv_bw))
      time      = linear + attention
                + 2 * layers * allreduce(new_tokens * hidden * activation_bytes)
                + cpu_overhead_s + cpu_overhead_per_sequence_s * sequences

  ``linear FLOPs`` are the matrix products and the logits; the fractions ``gemm`` (per
  precision: an 8-bit peak is reached at a lower fraction than a 16-bit one),
  ``weight_bw`` and ``kv_bw`` come from :mod:`fleetsim.serving.efficiency` (calibrated on
  TensorRT-LLM's published Llama-2-70B tables). The all-reduce is Megatron tensor
  parallelism (one after attention, one after the MLP, per layer; Shoeybi et al. 2019) of
  the activations, which stay 16-bit when weights are 8-bit (``activation_dtype``).
  The CPU overhead (scheduling, input preparation, sampling, output processing) grows with
  the batch: Vidur's profile of vLLM on A100 (github microsoft/vidur,
  data/profiling/a100/cpu_overheads.csv [V]) sums to about 1.7 ms + 0.18 ms per sequence for
  Llama-2-7B at TP1 and 4.1 ms + 0.41 ms per sequence for CodeLlama-34B at TP2; fleetsim's
  defaults are 3 ms + 0.2 ms per sequence (an engine property: set both per scenario).
* Pipeline parallelism: ``pp`` stages of ``tp`` GPUs each hold 1/pp of the layers, so the
  KV capacity counts ``tp * pp`` GPUs' memory; an iteration passes through the stages one
  after another (no interleaving of micro-batches across iterations), so its time is that of
  ``tp`` GPUs over all layers. ASSUMPTION: the activations sent between stages (a few MB)
  are neglected.
* KV capacity (tokens) = ``(tp * pp * HBM * (1 - reserve_fraction) - weight_bytes) / kv_bytes_per_token``
  rounded down to whole blocks of ``block_tokens`` (16, vLLM's default block size). The
  default ``reserve_fraction = 0.1`` mirrors vLLM's ``gpu_memory_utilization = 0.9`` (the rest
  holds activations, CUDA graphs and the allocator's slack).
* Speculative decoding (Leviathan et al., ICML 2023, eq. 1): with acceptance rate alpha and k
  draft tokens, the expected tokens per target pass is ``(1 - alpha**(k+1)) / (1 - alpha)``
  (``k + 1`` at alpha = 1, ``1`` at alpha = 0); the walltime improvement with draft/target
  cost ratio c is that divided by ``k*c + 1`` (their Theorem 3.8). The k draft steps run
  inside the target's engine iteration: they pay their device time only, not a second CPU
  overhead each (scheduling, sampling and output processing happen once per iteration).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from fleetsim.errors import FleetsimError
from fleetsim.hardware.models import Accelerator
from fleetsim.scenario.architecture import Architecture, architecture
from fleetsim.serving.efficiency import ServingEfficiency, serving_efficiency

#: Bytes per element of each dtype name.
DTYPE_BYTES: dict[str, float] = {"fp64": 8, "fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2,
                                 "fp8": 1, "int8": 1, "fp4": 0.5}

#: vLLM's default paged-attention block size (tokens per KV block).
BLOCK_TOKENS = 16


class ServingCostError(FleetsimError):
    """A serving configuration that cannot run (the weights do not fit, an unknown dtype)."""


def dtype_bytes(dtype: str) -> float:
    """Bytes per element of ``dtype`` (``bf16`` -> 2)."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise ServingCostError(f"unknown dtype {dtype!r} (known: {', '.join(DTYPE_BYTES)})") \
            from None


def kv_bytes_per_token(arch: Architecture | str, kv_dtype_bytes: float = 2) -> float:
    """KV-cache bytes one token occupies: ``2 * layers * kv_heads * head_dim * dtype_bytes``."""
    arch = architecture(arch)
    return 2 * arch.layers * arch.kv_heads_count * arch.head_dim * kv_dtype_bytes


def weight_bytes(arch: Architecture | str, weight_dtype_bytes: float = 2) -> float:
    """Bytes of all parameters (embeddings included)."""
    return architecture(arch).params * weight_dtype_bytes


def speculative_expected_tokens(alpha: float, draft_tokens: int) -> float:
    """Expected tokens per target forward pass, ``(1 - alpha**(k+1)) / (1 - alpha)``.

    Leviathan, Kalman, Matias, "Fast Inference from Transformers via Speculative Decoding",
    ICML 2023, eq. (1). The limit at ``alpha -> 1`` is ``k + 1``.
    """
    if not 0 <= alpha <= 1:
        raise ServingCostError(f"acceptance rate alpha must be in [0, 1], got {alpha}")
    if draft_tokens < 0:
        raise ServingCostError(f"draft_tokens must be >= 0, got {draft_tokens}")
    if alpha == 1:
        return float(draft_tokens + 1)
    return (1 - alpha ** (draft_tokens + 1)) / (1 - alpha)


def speculative_speedup(alpha: float, draft_tokens: int, cost_ratio: float) -> float:
    """Walltime improvement ``(1 - alpha**(k+1)) / ((1 - alpha) (k c + 1))`` (ibid., Thm 3.8)."""
    return speculative_expected_tokens(alpha, draft_tokens) / (draft_tokens * cost_ratio + 1)


def verification_sums(draft_tokens: int, sequences: int,
                      context_tokens: float) -> tuple[float, float, float, float]:
    """``(new_tokens, attended_pairs, sequences, kv_tokens_read)`` of a target pass verifying
    ``k = draft_tokens`` draft tokens for each of ``sequences`` decoding sequences whose
    cached contexts sum to ``context_tokens``: each computes ``k + 1`` tokens at positions
    ``c+1 .. c+k+1`` (``(k+1) c + (k+1)(k+2)/2`` attended pairs) with logits at every one
    (each is checked), and reads its context once. ``k = 0`` is a plain decode iteration."""
    width = draft_tokens + 1
    return (width * sequences, width * context_tokens + sequences * width * (width + 1) / 2,
            width * sequences, context_tokens)


def verification_time(target: "ServingCost", draft_tokens: int, sequences: int,
                      context_tokens: float) -> float:
    """Seconds of the target's verification pass alone (:func:`verification_sums`)."""
    return float(target.roofline(*verification_sums(draft_tokens, sequences, context_tokens),
                                 requests=sequences).total_s)


def speculative_iteration_time(target: "ServingCost", draft: "ServingCost", draft_tokens: int,
                               sequences: int, context_tokens: float,
                               prefill: tuple[float, float, float, float] = (0, 0, 0, 0)
                               ) -> float:
    """Seconds of one speculative iteration of ``sequences`` decoding sequences (summed
    context ``context_tokens``) and, in the same iteration, prefill work ``prefill`` =
    ``(new_tokens, attended_pairs, sequences, kv_tokens_read)`` of prompt chunks.

    Draft: ``k`` decode iterations, iteration ``j`` (from 0) at contexts ``c + j``; the
    first also runs the prompt chunks (the draft needs their KV; with no decodes that is
    its only iteration); each pays its device time only (:meth:`ServingCost.device_time`:
    the engine's CPU overhead is paid once, by the target pass). Target: the prompt chunks
    plus :func:`verification_sums`. The two models run one after the other on the
    replica's accelerators.
    """
    new, attended, logits, read = prefill
    total = 0.0
    for j in range(draft_tokens if sequences else int(new > 0)):
        context = context_tokens + j * sequences
        total += float(draft.device_time(sequences + new, context + sequences + attended,
                                         sequences + logits, context + read))
        new = attended = logits = read = 0  # the chunks ride on the first draft iteration
    verify = verification_sums(draft_tokens, sequences, context_tokens)
    work = [v + p for v, p in zip(verify, prefill, strict=True)]
    total += float(target.roofline(*work, requests=sequences + prefill[2]).total_s)
    return total


def speculative_compute_share(target: "ServingCost", draft_tokens: int, sequences: int,
                              context_tokens: float,
                              prefill: tuple[float, float, float, float] = (0, 0, 0, 0)
                              ) -> float:
    """Compute share (:attr:`Roofline.compute_share`) of a speculative iteration, taken as
    its target pass's (verification plus prompt chunks): the draft passes of a small model
    are shorter and memory-bound like any decode."""
    verify = verification_sums(draft_tokens, sequences, context_tokens)
    work = [v + p for v, p in zip(verify, prefill, strict=True)]
    return float(target.roofline(*work, requests=sequences + prefill[2]).compute_share)


def speculative_kv_capacity_blocks(target: "ServingCost", draft: "ServingCost") -> int:
    """KV blocks of a replica holding a target and a draft model on the same accelerators:
    ``(tp * pp * HBM * (1 - reserve) - W_target - W_draft) / ((kv_target + kv_draft) * block)``
    with KV bytes per token, whole blocks; raises if no block fits or the draft is not on the
    target's accelerators."""
    if draft.accelerator != target.accelerator or (draft.tp, draft.pp) != (target.tp, target.pp):
        raise ServingCostError("the draft model must run on the target's accelerators "
                               f"({target.accelerator.name}, tp={target.tp})")
    free = (target.tp * target.pp * target.accelerator.memory * (1 - target.reserve_fraction)
            - target.weight_bytes - draft.weight_bytes)
    per_block = (target.kv_bytes_per_token + draft.kv_bytes_per_token) * target.block_tokens
    if free < per_block:
        raise ServingCostError(
            f"target and draft weights ({(target.weight_bytes + draft.weight_bytes) / 1e9:.1f}"
            f" GB) leave no room for a KV block on tp={target.tp} x {target.accelerator.name}")
    return math.floor(free / per_block)


def ring_all_reduce(bandwidth: float, latency_s: float = 0.0,
                    ranks: int = 2) -> Callable[[float], float]:
    """An all-reduce time function for :class:`ServingCost`: ring, ``2(p-1)`` alpha-beta steps.

    ``time(size) = 2 (p-1) latency + 2 (p-1)/p * size / bandwidth`` (Patarasuk & Yuan 2009).
    A caller with a placed group should pass ``lambda size: collective_time("all-reduce",
    "ring", size, group, graph)`` from :mod:`fleetsim.comm` instead.
    """
    def time(size_bytes: float) -> float:
        if ranks <= 1:
            return 0.0
        return 2 * (ranks - 1) * latency_s + 2 * (ranks - 1) / ranks * size_bytes / bandwidth
    return time


@dataclass(frozen=True)
class Roofline:
    """The parts of one iteration's time (seconds); ``total_s`` is what the replica waits.

    Two rooflines in sequence: the linear layers (``linear_compute_s`` vs ``weights_s``) and
    the attention (``attention_compute_s`` vs ``kv_s``), then communication and CPU overhead.
    """

    linear_compute_s: float
    weights_s: float
    attention_compute_s: float
    kv_s: float
    communication_s: float
    overhead_s: float

    @property
    def compute_s(self) -> float:
        """Seconds of FLOPs at the achievable rate (linear layers and attention)."""
        return self.linear_compute_s + self.attention_compute_s

    @property
    def memory_s(self) -> float:
        """Seconds of HBM reads at the achievable rates (weights and KV cache)."""
        return self.weights_s + self.kv_s

    @property
    def device_s(self):
        """Seconds on the accelerators: both rooflines and the communication."""
        return (np.maximum(self.linear_compute_s, self.weights_s)
                + np.maximum(self.attention_compute_s, self.kv_s) + self.communication_s)

    @property
    def total_s(self):
        return self.device_s + self.overhead_s

    @property
    def compute_share(self):
        """Share of the device time the FLOPs take at the achievable rate (0..1): 1 for a
        compute-bound prefill, small for a memory-bound decode (the replica's power draw,
        :mod:`fleetsim.serving.power`)."""
        device = self.device_s
        return np.minimum(1.0, self.compute_s / np.maximum(device, 1e-300))

    @property
    def bound(self) -> str:
        """``"compute"`` or ``"memory"``: which side dominates the device time."""
        compute = (np.maximum(self.linear_compute_s - self.weights_s, 0)
                   + np.maximum(self.attention_compute_s - self.kv_s, 0))
        memory = (np.maximum(self.weights_s - self.linear_compute_s, 0)
                  + np.maximum(self.kv_s - self.attention_compute_s, 0))
        return "compute" if compute >= memory else "memory"


@dataclass(frozen=True)
class ServingCost:
    """Iteration times and KV capacity of one model replica on ``tp`` accelerators.

    ``allreduce_time(size_bytes) -> seconds`` prices one TP all-reduce; when omitted and
    ``tp > 1`` a ring over the accelerator's scale-up bandwidth is assumed
    (:func:`ring_all_reduce`, no latency term). ``efficiency``: the kernels' fractions of peak
    (default: :func:`~fleetsim.serving.efficiency.serving_efficiency` of the accelerator).
    ``activation_dtype``: of the all-reduced activations (default: ``dtype`` if it is 16-bit
    or wider, else ``bf16``: 8-bit weights still exchange 16-bit activations).
    """

    model: Architecture | str
    accelerator: Accelerator
    dtype: str = "bf16"
    kv_dtype: str | None = None  # default: same as dtype
    tp: int = 1
    pp: int = 1
    cpu_overhead_s: float = 3e-3
    reserve_fraction: float = 0.1
    block_tokens: int = BLOCK_TOKENS
    allreduce_time: Callable[[float], float] | None = None
    cpu_overhead_per_sequence_s: float = 2e-4
    efficiency: ServingEfficiency | None = None
    activation_dtype: str | None = None
    #: a power cap's slowdown of the FLOP rate (fleetsim.hardware.powercap); HBM reads and
    #: communication keep their pace, so memory-bound decode barely notices a cap
    compute_slowdown: float = 1.0
    arch: Architecture = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arch", architecture(self.model))
        if self.efficiency is None:
            object.__setattr__(self, "efficiency", serving_efficiency(self.accelerator))
        if self.activation_dtype is None:
            object.__setattr__(self, "activation_dtype",
                               self.dtype if dtype_bytes(self.dtype) >= 2 else "bf16")
        if self.cpu_overhead_s < 0 or self.cpu_overhead_per_sequence_s < 0:
            raise ServingCostError("CPU overheads must be >= 0")
        if self.tp < 1 or self.pp < 1:
            raise ServingCostError(f"tp and pp must be >= 1, got {self.tp}, {self.pp}")
        if not self.compute_slowdown >= 1:
            raise ServingCostError(f"compute_slowdown must be >= 1, got {self.compute_slowdown}")
        if self.dtype not in self.accelerator.peak_flops:
            raise ServingCostError(
                f"{self.accelerator.name} has no peak for {self.dtype!r} "
                f"(has: {', '.join(self.accelerator.peak_flops)})")
        dtype_bytes(self.dtype)
        dtype_bytes(self.kv_dtype or self.dtype)
        dtype_bytes(self.activation_dtype)
        if self.allreduce_time is None and self.tp > 1:
            links = self.accelerator.scale_up
            if links is None:
                raise ServingCostError(f"tp={self.tp} needs scale-up links or an allreduce_time;"
                                       f" {self.accelerator.name} has none")
            object.__setattr__(self, "allreduce_time",
                               ring_all_reduce(links.bandwidth_per_direction, 0.0, self.tp))

    @property
    def gpus(self) -> int:
        """GPUs of one replica, ``tp * pp``."""
        return self.tp * self.pp

    # sizes --------------------------------------------------------------------------------
    @property
    def weight_bytes(self) -> float:
        return weight_bytes(self.arch, dtype_bytes(self.dtype))

    @property
    def kv_bytes_per_token(self) -> float:
        return kv_bytes_per_token(self.arch, dtype_bytes(self.kv_dtype or self.dtype))

    @property
    def kv_capacity_tokens(self) -> int:
        """Tokens of KV cache that fit, a whole number of blocks; raises if weights do not fit."""
        free = (self.gpus * self.accelerator.memory * (1 - self.reserve_fraction)
                - self.weight_bytes)
        if free < self.kv_bytes_per_token * self.block_tokens:
            raise ServingCostError(
                f"weights ({self.weight_bytes / 1e9:.1f} GB) leave no room for a KV block on "
                f"tp={self.tp} x pp={self.pp} x {self.accelerator.name} "
                f"({self.accelerator.memory / 1e9:.0f} GB, reserve {self.reserve_fraction:.0%})")
        return self.kv_capacity_blocks * self.block_tokens

    @property
    def kv_capacity_blocks(self) -> int:
        free = (self.gpus * self.accelerator.memory * (1 - self.reserve_fraction)
                - self.weight_bytes)
        return max(0, math.floor(free / (self.kv_bytes_per_token * self.block_tokens)))

    # times --------------------------------------------------------------------------------
    def roofline(self, new_tokens, attended_pairs, sequences, kv_tokens_read,
                 requests=None) -> Roofline:
        """The roofline parts of one iteration (arguments may be numpy arrays: vectorised).

        ``new_tokens``: tokens whose activations are computed (prompt chunk + one per decode);
        ``attended_pairs``: sum over those tokens of the positions each attends to;
        ``sequences``: sequences producing a logit; ``kv_tokens_read``: cached context tokens
        read from HBM (sum over the batch); ``requests``: requests in the batch, for the
        per-sequence CPU overhead (default ``sequences``; a speculative verification pass
        has ``k + 1`` logits per request).
        """
        arch = self.arch
        new = np.asarray(new_tokens, float)
        sequences = np.asarray(sequences, float)
        linear_flops = (2.0 * arch.layers * arch.active_layer_params * new
                        + 2.0 * arch.vocab * arch.hidden * sequences)
        attention_flops = 4.0 * arch.layers * arch.hidden * np.asarray(attended_pairs, float)
        kv_bytes = self.kv_bytes_per_token * np.asarray(kv_tokens_read, float)
        efficiency = self.efficiency
        flops_rate = (self.tp * self.accelerator.peak_flops[self.dtype]
                      * efficiency.gemm_fraction(dtype_bytes(self.dtype)) / self.compute_slowdown)
        bandwidth = self.tp * self.accelerator.memory_bandwidth
        linear = linear_flops / flops_rate
        attention = attention_flops / flops_rate
        weights = self.weight_bytes / (bandwidth * efficiency.weight_bandwidth_fraction)
        kv = kv_bytes / (bandwidth * efficiency.kv_bandwidth_fraction)
        communication = 0.0
        if self.tp > 1:
            size = new * arch.hidden * dtype_bytes(self.activation_dtype)
            allreduce = self.allreduce_time
            if np.ndim(size) == 0:
                communication = 2 * arch.layers * allreduce(float(size))
            else:
                communication = 2 * arch.layers * np.vectorize(allreduce, otypes=[float])(size)
        overhead = self.cpu_overhead_s + self.cpu_overhead_per_sequence_s * (
            sequences if requests is None else np.asarray(requests, float))
        if np.ndim(linear) == 0 and np.ndim(attention) == 0 and np.ndim(kv) == 0:
            linear, attention, kv, overhead = (float(linear), float(attention), float(kv),
                                               float(overhead))
        return Roofline(linear, weights, attention, kv, communication, overhead)

    def iteration_time(self, new_tokens, attended_pairs, sequences, kv_tokens_read):
        """Seconds of one iteration (scalar or numpy array, as the arguments)."""
        return self.roofline(new_tokens, attended_pairs, sequences, kv_tokens_read).total_s

    def device_time(self, new_tokens, attended_pairs, sequences, kv_tokens_read):
        """Seconds of one iteration on the accelerators, without the CPU overhead."""
        return self.roofline(new_tokens, attended_pairs, sequences, kv_tokens_read).device_s

    def prefill_roofline(self, prompt_tokens) -> Roofline:
        """Roofline of one iteration prefilling whole prompts (lengths) from an empty cache."""
        prompts = np.asarray(prompt_tokens, float).reshape(-1)
        return self.roofline(prompts.sum(), (prompts * (prompts + 1) / 2).sum(), prompts.size,
                             0.0)

    def prefill_time(self, prompt_tokens) -> float:
        """Seconds to prefill a batch of prompts (lengths) in one iteration."""
        return float(self.prefill_roofline(prompt_tokens).total_s)

    def decode_roofline(self, context_tokens) -> Roofline:
        """Roofline of one decode iteration: one new token per sequence, contexts as given."""
        contexts = np.asarray(context_tokens, float).reshape(-1)
        total = contexts.sum()
        return self.roofline(contexts.size, total + contexts.size, contexts.size, total)

    def decode_time(self, context_tokens) -> float:
        """Seconds of one decode iteration for sequences with these cached context lengths."""
        return float(self.decode_roofline(context_tokens).total_s)

    def decode_times(self, batch: int, context_total: np.ndarray) -> np.ndarray:
        """Vectorised decode iteration times for a fixed ``batch`` whose summed context
        length at each step is ``context_total`` (one entry per iteration)."""
        context_total = np.asarray(context_total, float)
        return np.asarray(self.iteration_time(batch, context_total + batch, batch,
                                              context_total), float) * np.ones_like(context_total)
