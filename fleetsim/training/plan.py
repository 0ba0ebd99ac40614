"""A training job's parallel plan and memory per GPU: checks with clear numbers (pure).

The plan splits ``gpus = tp x cp x dp x pp`` in the scenario's rank order (``order``, innermost
first; Megatron-LM's ``tp-cp-dp-pp`` by default, Llama 3's ``tp-cp-pp-dp``), the global batch
into ``m = sequences / (dp x micro_batch)`` micro-batches per data-parallel rank, each
sequence into ``cp`` shards (context parallelism), the layers into ``pp`` stages, and experts
over ``ep`` ranks of each data-parallel group.

Stages: an even split, the first stages taking one more layer when ``pp`` does not divide the
layers; or ``first_stage_layers`` / ``last_stage_layers`` fixed and the rest split evenly
(Megatron-core's ``--decoder-first/last-pipeline-num-layers``; Llama 3 puts one layer fewer on
the first and last stage, which also hold the embedding and the output layer, arXiv 2407.21783
section 3.3.2).

Memory per GPU, on the most loaded stage (Rajbhandari et al. 2020 for ZeRO, Korthikanti et al.
2022 for activations):

* weights 2 B/param (bf16/fp16; fp8 training keeps bf16 copies, so also 2), gradients 2 B/param
  (4 when they are reduced in fp32, ``grad_reduce_dtype: fp32``, as Megatron-LM does with bf16
  and Llama 3 does), optimizer 12 B/param (fp32 master weights and Adam moments): 16 B/param in
  all (shared/REFERENCE.md). ZeRO-1 shards the optimizer over the dp x cp ranks that hold the
  same weights, ZeRO-2 also the gradients, ZeRO-3 (FSDP) also the weights.
* parameters on a GPU: its stage's layers / tp (expert MLPs also / ep) plus the embedding / tp
  on the first stage and the output layer / tp on the last.
* activations: :mod:`fleetsim.training.activations`, per layer and micro-batch, times the
  micro-batches in flight on the stage under 1F1B (interleaved with v chunks: Megatron-LM's
  warm-up count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleetsim.errors import LocatedError
from fleetsim.hardware.models import Accelerator
from fleetsim.scenario.architecture import Architecture, architecture
from fleetsim.scenario.models import TrainingJobSpec
from fleetsim.training.activations import activation_bytes_per_layer

WEIGHT_BYTES = 2.0
OPTIMIZER_BYTES = 12.0
ACTIVATION_BYTES = 2.0  # bf16/fp16 activations
GRADIENT_BYTES = {"bf16": 2.0, "fp32": 4.0}  # by grad_reduce_dtype

__all__ = ["ACTIVATION_BYTES", "GRADIENT_BYTES", "Memory", "OPTIMIZER_BYTES", "Plan",
           "PlanError", "WEIGHT_BYTES", "activation_bytes_per_layer", "check_memory",
           "checkpoint_bytes", "in_flight_layers", "make_plan", "memory_per_gpu",
           "params_per_gpu", "stage_layers"]


class PlanError(LocatedError):
    """A plan that cannot run; ``location`` is the scenario key path inside the job."""

    def __init__(self, location: tuple, message: str) -> None:
        super().__init__(message, location)


@dataclass(frozen=True)
class Plan:
    """The resolved parallel plan of one training job."""

    arch: Architecture
    gpus: int
    tp: int
    pp: int
    dp: int
    ep: int
    zero: int
    virtual_stages: int
    micro_batch: int
    micro_batches: int  # per data-parallel rank and step
    sequences: int  # global batch, sequences per step
    recompute: str
    cp: int = 1
    order: tuple[str, ...] = ("tp", "cp", "dp", "pp")
    sequence_parallel: bool = True
    attention: str = "flash"
    dropout: bool = False
    stages: tuple[int, ...] = ()  # layers per pipeline stage, first to last
    gradient_bytes: float = 2.0  # per parameter, as accumulated and reduced

    @property
    def tokens_per_step(self) -> int:
        return self.sequences * self.arch.seq_len

    @property
    def tokens_per_micro_batch(self) -> float:
        """Tokens one GPU processes per micro-batch (its context-parallel shard)."""
        return self.micro_batch * self.arch.seq_len / self.cp

    @property
    def layers_per_stage(self) -> int:
        """Layers on the stage with the most."""
        return max(self.stages) if self.stages else math.ceil(self.arch.layers / self.pp)

    @property
    def replicas(self) -> int:
        """GPUs holding the same weights: the data- and context-parallel ranks (dp x cp)."""
        return self.dp * self.cp

    def size(self, dimension: str) -> int:
        return {"tp": self.tp, "cp": self.cp, "dp": self.dp, "pp": self.pp}[dimension]

    def stride(self, dimension: str) -> int:
        """Rank distance between neighbours along ``dimension`` (rank order, innermost first)."""
        stride = 1
        for name in self.order:
            if name == dimension:
                return stride
            stride *= self.size(name)
        raise KeyError(dimension)


def stage_layers(layers: int, pp: int, first: int | None, last: int | None) -> tuple[int, ...]:
    """Layers of each pipeline stage: ``first``/``last`` fixed (when given), the rest split as
    evenly as possible, earlier stages taking the remainder. Raises ValueError if impossible."""
    if pp == 1:
        if first not in (None, layers) or last not in (None, layers):
            raise ValueError("first_stage_layers / last_stage_layers need pp > 1")
        return (layers,)
    head = [] if first is None else [first]
    tail = [] if last is None else [last]
    rest = layers - sum(head) - sum(tail)
    count = pp - len(head) - len(tail)
    if rest < 0 or (count == 0 and rest != 0):
        raise ValueError(f"first_stage_layers + last_stage_layers = {sum(head) + sum(tail)} "
                         f"do not leave {layers} layers for {pp} stages")
    base, extra = divmod(rest, count) if count else (0, 0)
    middle = [base + (1 if index < extra else 0) for index in range(count)]
    return tuple(head + middle + tail)


def make_plan(spec: TrainingJobSpec) -> Plan:
    """Resolve and check the plan of a job with a ``model``; raises :class:`PlanError`."""
    assert spec.model is not None
    arch = architecture(spec.model)
    par = spec.parallelism
    tp, cp, pp = par.tp, par.cp, par.pp
    model_parallel = tp * cp * pp
    if spec.gpus % model_parallel:
        raise PlanError(("parallelism",), f"tp x cp x pp = {tp} x {cp} x {pp} = "
                                          f"{model_parallel} does not divide gpus {spec.gpus}")
    dp = par.dp or spec.gpus // model_parallel
    if dp * model_parallel != spec.gpus:
        raise PlanError(("parallelism", "dp"), f"dp x tp x cp x pp = {dp} x {tp} x {cp} x {pp} "
                                               f"= {dp * model_parallel}, not gpus {spec.gpus}")
    if arch.heads % tp:
        raise PlanError(("parallelism", "tp"), f"tp {tp} does not divide the model's "
                                               f"{arch.heads} attention heads")
    kv = arch.kv_heads_count
    if kv % tp and tp % kv:
        raise PlanError(("parallelism", "tp"), f"tp {tp} and the model's {kv} key/value heads "
                                               "must divide one another")
    if cp > 1 and arch.seq_len % (2 * cp):
        raise PlanError(("parallelism", "cp"), f"cp {cp}: the sequence of {arch.seq_len} tokens "
                                               f"does not split into 2 x cp = {2 * cp} chunks")
    try:
        stages = stage_layers(arch.layers, pp, par.first_stage_layers, par.last_stage_layers)
    except ValueError as exc:
        raise PlanError(("parallelism",), str(exc)) from None
    v = par.virtual_stages
    for index, layers in enumerate(stages):
        # a chunk of the first (last) stage may hold only the embedding (output layer)
        least = v - 1 if index in (0, pp - 1) and pp > 1 else v
        if layers < least:
            raise PlanError(("parallelism", "virtual_stages"),
                            f"stage {index} has {layers} layers, too few for {v} interleaved "
                            "chunks (raise the layers per stage or lower virtual_stages)")
    if par.ep > 1 and (dp % par.ep or arch.experts % par.ep):
        raise PlanError(("parallelism", "ep"), f"ep {par.ep} must divide dp {dp} and the "
                                               f"model's {arch.experts} experts")
    assert spec.global_batch is not None
    count, unit = spec.global_batch
    sequences = count
    if unit == "tokens":
        sequences = count // arch.seq_len
        if sequences * arch.seq_len != count:
            raise PlanError(("global_batch",),
                            f"{count} tokens is not a whole number of {arch.seq_len}-token "
                            "sequences (e.g. 16Mi tokens = 2048 x 8192)")
    if sequences % (dp * spec.micro_batch):
        raise PlanError(("global_batch",),
                        f"{sequences} sequences per step do not split into dp {dp} x "
                        f"micro_batch {spec.micro_batch}")
    return Plan(arch=arch, gpus=spec.gpus, tp=tp, pp=pp, dp=dp, ep=par.ep,
                zero=par.zero_stage, virtual_stages=par.virtual_stages,
                micro_batch=spec.micro_batch, micro_batches=sequences // (dp * spec.micro_batch),
                sequences=sequences, recompute=par.recompute, cp=cp,
                order=tuple(par.order.split("-")), sequence_parallel=par.sequence_parallel,
                attention=spec.attention, dropout=spec.dropout, stages=stages,
                gradient_bytes=GRADIENT_BYTES[par.grad_reduce_dtype])


@dataclass(frozen=True)
class Memory:
    """Bytes per GPU on the most loaded stage."""

    weights: float
    gradients: float
    optimizer: float
    activations: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations

    def as_dict(self) -> dict[str, float]:
        return {"weights": self.weights, "gradients": self.gradients,
                "optimizer": self.optimizer, "activations": self.activations,
                "total": self.total}


def params_per_gpu(plan: Plan, stage: int | None = None) -> float:
    """Parameters held by one GPU of pipeline ``stage`` before ZeRO (default: the stage with
    the most)."""
    if stage is None:
        return max(params_per_gpu(plan, index) for index in range(plan.pp))
    arch = plan.arch
    layers = plan.stages[stage] if plan.stages else plan.layers_per_stage
    dense = arch.attention_params + arch.router_params
    experts = arch.experts * arch.expert_params / plan.ep
    embeddings = (stage == 0) + (stage == plan.pp - 1)
    return (layers * (dense + experts) + embeddings * arch.vocab * arch.hidden) / plan.tp


def in_flight_layers(plan: Plan, stage: int) -> float:
    """Layer activations stage ``stage`` holds at its peak: under 1F1B it has run the forward
    of min(pp - stage, m) micro-batches before the first backward; the interleaved schedule
    runs 2 (pp - stage - 1) + (v - 1) pp + 1 chunk forwards (of layers / v each) first
    (Megatron-LM's warm-up; on stage 0 this is Korthikanti et al.'s factor 1 + (pp-1)/(pp v))."""
    layers = plan.stages[stage] if plan.stages else plan.layers_per_stage
    v, p, m = plan.virtual_stages, plan.pp, plan.micro_batches
    if v == 1:
        return layers * min(p - stage, m)
    chunks = min(2 * (p - stage - 1) + (v - 1) * p + 1, m * v)
    return layers / v * chunks


def _stage_memory(plan: Plan, stage: int) -> Memory:
    params = params_per_gpu(plan, stage)
    shards = plan.replicas
    weights = WEIGHT_BYTES * params / (shards if plan.zero >= 3 else 1)
    gradients = plan.gradient_bytes * params / (shards if plan.zero >= 2 else 1)
    optimizer = OPTIMIZER_BYTES * params / (shards if plan.zero >= 1 else 1)
    activations = activation_bytes_per_layer(plan) * in_flight_layers(plan, stage)
    return Memory(weights, gradients, optimizer, activations)


def memory_per_gpu(plan: Plan) -> Memory:
    """The memory of the most loaded stage (the first holds the most activations, the last
    the output layer)."""
    stages = sorted({0, min(1, plan.pp - 1), plan.pp - 1})
    return max((_stage_memory(plan, stage) for stage in stages), key=lambda m: m.total)


def check_memory(plan: Plan, accelerator: Accelerator) -> Memory:
    """The memory per GPU; :class:`PlanError` with the numbers if it exceeds the HBM."""
    memory = memory_per_gpu(plan)
    if memory.total > accelerator.memory:
        parts = ", ".join(f"{name} {value / 1e9:.1f}" for name, value in
                          memory.as_dict().items() if name != "total")
        raise PlanError(("parallelism",),
                        f"the model does not fit: {memory.total / 1e9:.1f} GB per GPU "
                        f"({parts}) > {accelerator.memory / 1e9:.0f} GB of {accelerator.name} "
                        "(raise tp, cp, pp or zero, or use recompute: full)")
    return memory


def checkpoint_bytes(plan: Plan, bytes_per_param: float) -> float:
    """Size of a full checkpoint of the model (all ranks together)."""
    return plan.arch.params * bytes_per_param
