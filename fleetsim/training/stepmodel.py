"""The step time of a training job from its model, plan, hardware and fabric (pure).

One synchronous step (Narayanan et al., SC'21, "Efficient Large-Scale Language Model Training
on GPU Clusters Using Megatron-LM"; shared/REFERENCE.md). Per micro-batch, on the slowest
pipeline stage (its layers, plus the output layer on the last stage):

* **compute**: each layer's GEMMs and attention core at their shape-dependent kernel efficiency
  (:mod:`fleetsim.training.kernels`), forward + backward; full recomputation repeats the
  forward, selective recomputation with unfused attention repeats the attention core.
* **tp_comm**: per layer, 4 tensor-parallel collectives of the micro-batch's s b h activations
  (2 in the forward, 2 in the backward; 2 more when full recomputation repeats the forward):
  all-reduces, or with sequence parallelism an all-gather + reduce-scatter pair (the same bus
  bytes), costed on the tensor-parallel group's GPUs in the graph; not overlapped.
* **cp_comm**: with context parallelism, per layer an all-gather of the K and V of the whole
  sequence in the forward (again with full recomputation), and in the backward another
  all-gather (they are not kept) and a reduce-scatter of their gradients, over the
  context-parallel group; exposed (Llama 3, arXiv 2407.21783 section 3.3.2: "the all-gather
  communication latency is exposed in the critical path").
* **ep_comm**: per MoE layer, 4 all-to-alls (dispatch and combine, forward and backward) of the
  routed tokens, s b h x experts_per_token, over the expert-parallel group.
* **pp_bubble**: 1F1B runs m micro-batches through p stages in (m + p - 1) micro-batch times
  (idle fraction (p-1)/(m+p-1)); the interleaved schedule with v chunks cuts the bubble to
  (p-1)/v micro-batch times. **pp_p2p**: each micro-batch crosses v stage boundaries forward
  and v back, sending its s b h / (tp cp) activations (Megatron's scatter/gather: each
  tensor-parallel rank sends its shard); ``p2p_overlap`` of it hides behind compute
  (asynchronous sends: Llama 3, MegaScale).
* **dp_exposed**: gradient synchronisation over the dp x cp ranks holding the same weights,
  gradients on the wire in ``grad_reduce_dtype`` and divided by the compression ratio. Without
  ZeRO an all-reduce, hidden for ``overlap`` of the backward of the last micro-batch. With ZeRO
  a reduce-scatter of the gradients (hidden likewise) and an all-gather of the bf16 weights
  (hidden for ``overlap`` of the forward of the first micro-batch; ZeRO-3 gathers them again
  for the backward). Parameter-server mode instead sends the gradients to and the weights from
  ``ps_servers`` nodes whose NICs are the bottleneck: 2 x bytes x dp / (servers x node NIC
  bandwidth).
* **optimizer**: the Adam update streams each locally held (ZeRO-sharded) parameter's state
  through HBM: read fp32 master weight and two moments and the gradient, write them back and
  the 16-bit weight: 26 + gradient bytes per parameter, at the achievable HBM bandwidth.
* **input_stall**: the input pipeline needs ``time / workers`` per step; with prefetch it
  overlaps the step and stalls only for what the step does not cover; without prefetch it adds.

MFU = model FLOPs per step (Megatron's count, no recomputation) / (step time x GPUs x peak).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import networkx as nx

from fleetsim.comm import collective_time
from fleetsim.hardware.models import Accelerator, NodeType
from fleetsim.scenario.models import TrainingJobSpec
from fleetsim.training.kernels import (LayerCompute, kernel_efficiency, layer_compute,
                                       output_compute)
from fleetsim.training.plan import ACTIVATION_BYTES, WEIGHT_BYTES, Plan, params_per_gpu

BREAKDOWN = ("compute", "tp_comm", "cp_comm", "ep_comm", "pp_bubble", "pp_p2p", "dp_exposed",
             "optimizer", "input_stall")
OPTIMIZER_STATE_TRAFFIC = 26.0  # bytes per parameter and Adam step, besides the gradient


@dataclass(frozen=True)
class StepEstimate:
    """A job's failure-free step time, its breakdown (seconds per step) and its MFU."""

    step_s: float
    breakdown: dict[str, float]
    mfu: float
    model_flops_per_step: float
    #: per parallelism dimension: its collectives' raw seconds per step and how much of that
    #: compute hides, as (dimension, raw_s, hidden_s); a collective slowed ``s`` times adds
    #: ``max(0, raw·s - hidden) - max(0, raw - hidden)`` to the step (shared fabric)
    comm_terms: tuple[tuple[str, float, float], ...] = ()
    #: the collective that carries each dimension's bytes: (dimension, op, bytes per call)
    collectives: tuple[tuple[str, str, float], ...] = ()


@dataclass(frozen=True)
class Groups:
    """Representative communication groups of rank 0 (GPU names in rank order)."""

    tp: Sequence[str]
    dp: Sequence[str]  # the dp x cp ranks holding the same weights
    ep: Sequence[str]
    cp: Sequence[str]
    pp_next: tuple[str, str] | None


def rank_groups(plan: Plan, ranks: Sequence[str]) -> Groups:
    """Rank 0's tensor, context, data (with context) and expert-parallel groups and its next
    pipeline stage, in the plan's rank order (``order``, innermost dimension first)."""
    def group(dimension: str) -> list[int]:
        return [plan.stride(dimension) * index for index in range(plan.size(dimension))]

    def named(indices: list[int]) -> list[str]:
        return [ranks[index] for index in indices]

    dp_only = group("dp")
    replicas = sorted(c + d for c in group("cp") for d in dp_only)
    pp_next = (ranks[0], ranks[plan.stride("pp")]) if plan.pp > 1 else None
    return Groups(tp=named(group("tp")), dp=named(replicas), ep=named(dp_only[:plan.ep]),
                  cp=named(group("cp")), pp_next=pp_next)


def _collective(op: str, size: float, group: Sequence[str], graph: nx.DiGraph) -> float:
    if len(group) < 2 or size <= 0:
        return 0.0
    return collective_time(op, "auto", size, list(group), graph, "auto")


def _stage_compute(plan: Plan, stage: int, layer: LayerCompute,
                   output: LayerCompute) -> tuple[float, float]:
    """Forward and backward seconds of one micro-batch on pipeline stage ``stage``."""
    layers = plan.stages[stage]
    forward = layers * layer.forward_s
    backward = layers * layer.backward_s
    if plan.recompute == "full":
        backward += forward
    elif plan.recompute == "selective" and plan.attention == "standard":
        backward += layers * layer.attention_forward_s
    if stage == plan.pp - 1:
        forward += output.forward_s
        backward += output.backward_s
    return forward, backward


def estimate_step(spec: TrainingJobSpec, plan: Plan, accelerator: Accelerator, node: NodeType,
                  graph: nx.DiGraph, ranks: Sequence[str]) -> StepEstimate:
    """The step estimate of ``spec`` placed on ``ranks`` (GPU names, rank order) of ``graph``."""
    arch = plan.arch
    par = spec.parallelism
    groups = rank_groups(plan, ranks)
    peak = accelerator.peak_flops.get(spec.precision) or accelerator.peak_flops["bf16"]
    kernels = kernel_efficiency(accelerator)
    m = plan.micro_batches
    tokens = plan.tokens_per_micro_batch

    hbm = accelerator.memory_bandwidth * accelerator.achievable.memory_bandwidth_fraction
    layer = layer_compute(arch, tokens, plan.tp, plan.attention, kernels, peak, hbm,
                          plan.sequence_parallel, plan.dropout)
    output = output_compute(arch, tokens, plan.tp, kernels, peak)
    passes = [_stage_compute(plan, stage, layer, output) for stage in range(plan.pp)]
    slowest = max(range(plan.pp), key=lambda stage: sum(passes[stage]))
    forward_mb, backward_mb = passes[slowest]
    compute_mb = forward_mb + backward_mb
    layers = plan.stages[slowest]

    activation = ACTIVATION_BYTES * tokens * arch.hidden
    forwards = 2 if plan.recompute == "full" else 1
    if plan.sequence_parallel and plan.tp > 1:
        tp_call = (_collective("all-gather", activation, groups.tp, graph)
                   + _collective("reduce-scatter", activation, groups.tp, graph))
    else:
        tp_call = _collective("all-reduce", activation, groups.tp, graph)
    tp_mb = (2 * forwards + 2) * layers * tp_call
    calls = [("tp", "reduce-scatter" if plan.sequence_parallel else "all-reduce", activation)]

    cp_mb = 0.0
    if plan.cp > 1:
        kv_local = max(1.0, arch.kv_heads_count / plan.tp)
        kv_bytes = 2 * ACTIVATION_BYTES * plan.micro_batch * arch.seq_len * kv_local \
            * arch.head_dim
        cp_mb = layers * ((forwards + 1) * _collective("all-gather", kv_bytes, groups.cp, graph)
                          + _collective("reduce-scatter", kv_bytes, groups.cp, graph))
        calls.append(("cp", "all-gather", kv_bytes))

    ep_mb = 0.0
    if arch.is_moe and plan.ep > 1:
        routed = activation * arch.experts_per_token / plan.tp
        ep_mb = 4 * layers * _collective("all-to-all", routed, groups.ep, graph)
        calls.append(("ep", "all-to-all", routed))

    p2p_mb = 0.0
    if groups.pp_next is not None:
        send = _collective("send-recv", activation / plan.tp, groups.pp_next, graph)
        p2p_mb = 2 * plan.virtual_stages * send * (1 - par.p2p_overlap)
        calls.append(("pp", "send-recv", activation / plan.tp))

    per_mb = compute_mb + tp_mb + cp_mb + ep_mb
    bubble = (plan.pp - 1) / plan.virtual_stages * per_mb
    pipeline = m * per_mb + bubble + m * p2p_mb

    params = params_per_gpu(plan)
    gradient_bytes = plan.gradient_bytes * params / par.compression
    dp_terms = _data_parallel_terms(plan, par, node, graph, groups, gradient_bytes,
                                    params, forward_mb, backward_mb)
    dp_exposed = sum(max(0.0, raw - hidden) for raw, hidden in dp_terms)
    if plan.replicas > 1 and par.dp_mode != "parameter-server":
        calls.append(("dp", "all-reduce" if plan.zero == 0 else "reduce-scatter",
                      gradient_bytes))
    local_params = params / (plan.replicas if plan.zero >= 1 else 1)
    optimizer = local_params * (OPTIMIZER_STATE_TRAFFIC + plan.gradient_bytes) / hbm

    busy = pipeline + dp_exposed + optimizer
    stall = 0.0
    if spec.data_loading is not None:
        loading = spec.data_loading.time / spec.data_loading.workers
        stall = max(0.0, loading - busy) if spec.data_loading.prefetch > 0 else loading
    step = busy + stall

    model_flops = arch.model_flops_per_token() * plan.tokens_per_step
    breakdown = {
        "compute": m * compute_mb, "tp_comm": m * tp_mb, "cp_comm": m * cp_mb,
        "ep_comm": m * ep_mb, "pp_bubble": bubble, "pp_p2p": m * p2p_mb,
        "dp_exposed": dp_exposed, "optimizer": optimizer, "input_stall": stall,
    }
    per_step = m + bubble / per_mb if per_mb > 0 else m  # micro-batch passes a step costs
    p2p_raw = m * 2 * plan.virtual_stages * send if groups.pp_next is not None else 0.0
    terms = [("tp", per_step * tp_mb, 0.0), ("cp", per_step * cp_mb, 0.0),
             ("ep", per_step * ep_mb, 0.0), ("pp", p2p_raw, p2p_raw * par.p2p_overlap),
             *(("dp", raw, hidden) for raw, hidden in dp_terms)]
    return StepEstimate(step_s=step, breakdown=breakdown,
                        mfu=model_flops / (step * plan.gpus * peak),
                        model_flops_per_step=model_flops,
                        comm_terms=tuple(term for term in terms if term[1] > 0),
                        collectives=tuple(calls))


def _data_parallel_terms(plan: Plan, par, node: NodeType, graph: nx.DiGraph, groups: Groups,
                        gradient_bytes: float, params: float, forward_mb: float,
                        backward_mb: float) -> list[tuple[float, float]]:
    """Gradient (and, with ZeRO, weight) synchronisation per step as (raw seconds, seconds
    compute can hide); the exposed part is the sum of ``max(0, raw - hidden)``."""
    replicas = plan.replicas
    if replicas < 2:
        return []
    hide_backward = par.overlap * backward_mb
    if par.dp_mode == "parameter-server":
        server_bandwidth = _node_bandwidth(node) * par.ps_servers
        return [(2 * gradient_bytes * replicas / server_bandwidth, hide_backward)]
    if plan.zero == 0:
        return [(_collective("all-reduce", gradient_bytes, groups.dp, graph), hide_backward)]
    reduce = _collective("reduce-scatter", gradient_bytes, groups.dp, graph)
    gather = _collective("all-gather", WEIGHT_BYTES * params / par.compression, groups.dp,
                         graph)
    terms = [(reduce, hide_backward), (gather, par.overlap * forward_mb)]
    if plan.zero >= 3:  # the weights are gathered again for the backward
        terms.append((gather, par.overlap * backward_mb))
    return terms


def _node_bandwidth(node: NodeType) -> float:
    """A node's scale-out bandwidth per direction (achieved where published)."""
    if node.nics is None:
        raise ValueError(f"node type {node.name} has no NICs for a parameter server")
    return node.nics.count * (node.nics.achievable or node.nics.rate)
