"""The step time of a training job from its model, plan, hardware and fabric (pure).

One synchronous step (Narayanan et al., SC'21, "Efficient Large-Scale Language Model Training
on GPU Clusters Using Megatron-LM"; shared/REFERENCE.md):

* **compute** per micro-batch on the slowest stage: hardware FLOPs of its layers (plus the
  embedding/logits on the last stage) / (peak FLOP/s at the job's precision x the accelerator's
  achievable fraction). Tensor parallelism divides it by tp.
* **tp_comm**: per layer and micro-batch, 4 all-reduces of s b h activations (2 in the forward,
  2 in the backward; 2 more when full recomputation repeats the forward; sequence parallelism's
  all-gather + reduce-scatter pair moves the same bytes), costed on the tensor-parallel group's
  GPUs in the graph; not overlapped (Megatron's default).
* **ep_comm**: per MoE layer and micro-batch, 4 all-to-alls (dispatch and combine, forward and
  backward) of the routed tokens, s b h x experts_per_token, over the expert-parallel group.
* **pp_bubble**: 1F1B runs m micro-batches through p stages in (m + p - 1) micro-batch times,
  so the idle fraction is (p-1)/(m+p-1); the interleaved schedule with v chunks cuts the bubble
  to (p-1)/v micro-batch times. **pp_p2p**: each micro-batch sends its activations (s b h / tp)
  to the next stage and the gradients back, on the critical path.
* **dp_exposed**: the gradient all-reduce (ZeRO-1/2: reduce-scatter + all-gather, the same bus
  volume; ZeRO-3/FSDP: 1.5x for the extra parameter all-gather) over the data-parallel group,
  divided by the compression ratio; ``overlap`` of it hides behind the backward of the last
  micro-batch (gradients are reduced once they are final), the rest is exposed.
  Parameter-server mode instead sends the gradients to and the weights from ``ps_servers``
  nodes whose NICs are the bottleneck: 2 x bytes x dp / (servers x node NIC bandwidth).
* **input_stall**: the input pipeline needs ``time / workers`` per step; with prefetch it
  overlaps the step and stalls only for what the step does not cover; without prefetch it adds.

MFU = model FLOPs per step (no recomputation) / (step time x GPUs x peak FLOP/s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import networkx as nx

from fleetsim.comm import collective_time
from fleetsim.hardware.models import Accelerator, NodeType
from fleetsim.scenario.models import TrainingJobSpec
from fleetsim.training.plan import ACTIVATION_BYTES, GRADIENT_BYTES, Plan, params_per_gpu

BREAKDOWN = ("compute", "tp_comm", "ep_comm", "pp_bubble", "pp_p2p", "dp_exposed",
             "input_stall")


@dataclass(frozen=True)
class StepEstimate:
    """A job's failure-free step time, its breakdown (seconds per step) and its MFU."""

    step_s: float
    breakdown: dict[str, float]
    mfu: float
    model_flops_per_step: float


@dataclass(frozen=True)
class Groups:
    """Representative communication groups of rank 0 (GPU names in rank order)."""

    tp: Sequence[str]
    dp: Sequence[str]
    ep: Sequence[str]
    pp_next: tuple[str, str] | None


def rank_groups(plan: Plan, ranks: Sequence[str]) -> Groups:
    """Rank 0's tensor, data, expert-parallel groups and its pipeline neighbour.

    Megatron's order: rank = tp_index + tp (dp_index + dp pp_index)."""
    tp, dp = plan.tp, plan.dp
    tp_group = ranks[:tp]
    dp_group = [ranks[tp * index] for index in range(dp)]
    ep_group = dp_group[:plan.ep]
    pp_next = (ranks[0], ranks[tp * dp]) if plan.pp > 1 else None
    return Groups(tp_group, dp_group, ep_group, pp_next)


def _collective(op: str, size: float, group: Sequence[str], graph: nx.DiGraph) -> float:
    if len(group) < 2 or size <= 0:
        return 0.0
    return collective_time(op, "auto", size, list(group), graph, "auto")


def estimate_step(spec: TrainingJobSpec, plan: Plan, accelerator: Accelerator, node: NodeType,
                  graph: nx.DiGraph, ranks: Sequence[str]) -> StepEstimate:
    """The step estimate of ``spec`` placed on ``ranks`` (GPU names, rank order) of ``graph``."""
    arch = plan.arch
    par = spec.parallelism
    groups = rank_groups(plan, ranks)
    peak = accelerator.peak_flops.get(spec.precision) or accelerator.peak_flops["bf16"]
    achieved = peak * accelerator.achievable.flops_fraction
    m = plan.micro_batches
    tokens_mb = plan.micro_batch * arch.seq_len

    # compute of one micro-batch on the slowest stage (the last: layers + logits)
    layer_flops = arch.hardware_flops_per_token(plan.recompute) - 6 * arch.vocab * arch.hidden
    stage_flops = (layer_flops / arch.layers * plan.layers_per_stage
                   + 6 * arch.vocab * arch.hidden) * tokens_mb / plan.tp
    compute_mb = stage_flops / achieved

    activation = ACTIVATION_BYTES * tokens_mb * arch.hidden
    tp_calls = 6 if plan.recompute == "full" else 4
    tp_mb = tp_calls * plan.layers_per_stage * _collective("all-reduce", activation,
                                                          groups.tp, graph)
    ep_mb = 0.0
    if arch.is_moe and plan.ep > 1:
        routed = activation * arch.experts_per_token / plan.tp
        ep_mb = 4 * plan.layers_per_stage * _collective("all-to-all", routed, groups.ep, graph)
    p2p_mb = 0.0
    if groups.pp_next is not None:
        p2p_mb = 2 * _collective("send-recv", activation / plan.tp, groups.pp_next, graph)

    per_mb = compute_mb + tp_mb + ep_mb
    bubble = (plan.pp - 1) / plan.virtual_stages * per_mb
    pipeline = m * per_mb + bubble + m * p2p_mb

    gradient_bytes = GRADIENT_BYTES * params_per_gpu(plan) / par.compression
    if par.dp_mode == "parameter-server":
        server_bandwidth = _node_bandwidth(node) * par.ps_servers
        dp_time = 2 * gradient_bytes * plan.dp / server_bandwidth if plan.dp > 1 else 0.0
    else:
        dp_time = _collective("all-reduce", gradient_bytes, groups.dp, graph)
        if plan.zero >= 3:
            dp_time *= 1.5
    backward_last = compute_mb * 2 / 3
    dp_exposed = max(0.0, dp_time - par.overlap * backward_last)

    busy = pipeline + dp_exposed
    stall = 0.0
    if spec.data_loading is not None:
        loading = spec.data_loading.time / spec.data_loading.workers
        stall = max(0.0, loading - busy) if spec.data_loading.prefetch > 0 else loading
    step = busy + stall

    model_flops = arch.model_flops_per_token() * plan.tokens_per_step
    breakdown = {
        "compute": m * compute_mb, "tp_comm": m * tp_mb, "ep_comm": m * ep_mb,
        "pp_bubble": bubble, "pp_p2p": m * p2p_mb, "dp_exposed": dp_exposed,
        "input_stall": stall,
    }
    return StepEstimate(step_s=step, breakdown=breakdown,
                        mfu=model_flops / (step * plan.gpus * peak),
                        model_flops_per_step=model_flops)


def _node_bandwidth(node: NodeType) -> float:
    """A node's scale-out bandwidth per direction (achieved where published)."""
    if node.nics is None:
        raise ValueError(f"node type {node.name} has no NICs for a parameter server")
    return node.nics.count * (node.nics.achievable or node.nics.rate)
