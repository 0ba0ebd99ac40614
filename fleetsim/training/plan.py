"""A training job's parallel plan and memory per GPU: checks with clear numbers (pure).

The plan splits ``gpus = dp x tp x pp`` in Megatron's rank order (tp fastest, then dp, then
pp: a tensor-parallel group is consecutive ranks, inside one node), the global batch into
``m = sequences / (dp x micro_batch)`` micro-batches, and experts over ``ep`` ranks of each
data-parallel group.

Memory per GPU (the most loaded pipeline stage; Rajbhandari et al. 2020 for ZeRO, Korthikanti
et al. 2022 for activations):

* weights 2 B/param (bf16/fp16; fp8 training keeps bf16 master copies, so also 2), gradients
  2 B/param, optimizer 12 B/param (fp32 master weights and Adam moments): 16 B/param in all
  (shared/REFERENCE.md). ZeRO-1 shards the optimizer over dp, ZeRO-2 also the gradients,
  ZeRO-3 (FSDP) also the weights.
* parameters on a GPU: its stage's layers / tp (expert MLPs also / ep) plus, on the first and
  last stage, the embedding / tp.
* activations per layer and micro-batch with tensor and sequence parallelism:
  s b h (34 + 5 a s / h) / tp bytes without recomputation, 34 s b h / tp with selective
  recomputation (the attention core is recomputed), 2 s b h / tp with full recomputation
  (only each layer's input is kept); 1F1B keeps min(pp, m) micro-batches in flight on the
  first stage, so the stage holds layers/pp x min(pp, m) of them (x (1 + (pp-1)/(pp v)) for
  the interleaved schedule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleetsim.errors import LocatedError
from fleetsim.hardware.models import Accelerator
from fleetsim.scenario.models import TrainingJobSpec
from fleetsim.scenario.architecture import Architecture, architecture

WEIGHT_BYTES = 2.0
GRADIENT_BYTES = 2.0
OPTIMIZER_BYTES = 12.0
ACTIVATION_BYTES = 2.0  # bf16/fp16 activations


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

    @property
    def tokens_per_step(self) -> int:
        return self.sequences * self.arch.seq_len

    @property
    def layers_per_stage(self) -> int:
        """Layers on the most loaded stage (stages may be uneven: Llama 3 puts 126 layers on
        16 stages)."""
        return math.ceil(self.arch.layers / self.pp)


def make_plan(spec: TrainingJobSpec) -> Plan:
    """Resolve and check the plan of a job with a ``model``; raises :class:`PlanError`."""
    assert spec.model is not None
    arch = architecture(spec.model)
    par = spec.parallelism
    tp, pp = par.tp, par.pp
    if spec.gpus % (tp * pp):
        raise PlanError(("parallelism",), f"tp x pp = {tp} x {pp} = {tp * pp} does not divide "
                                          f"gpus {spec.gpus}")
    dp = par.dp or spec.gpus // (tp * pp)
    if dp * tp * pp != spec.gpus:
        raise PlanError(("parallelism", "dp"), f"dp x tp x pp = {dp} x {tp} x {pp} = "
                                               f"{dp * tp * pp}, not gpus {spec.gpus}")
    if arch.heads % tp:
        raise PlanError(("parallelism", "tp"), f"tp {tp} does not divide the model's "
                                               f"{arch.heads} attention heads")
    if pp * par.virtual_stages > arch.layers:
        raise PlanError(("parallelism", "pp"),
                        f"pp x virtual_stages = {pp * par.virtual_stages} exceeds the model's "
                        f"{arch.layers} layers")
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
                sequences=sequences, recompute=par.recompute)


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


def params_per_gpu(plan: Plan) -> float:
    """Parameters held by one GPU of the first (or last) pipeline stage, before ZeRO."""
    arch = plan.arch
    dense = arch.attention_params + arch.router_params
    experts = arch.experts * arch.expert_params / plan.ep
    stage = plan.layers_per_stage * (dense + experts) / plan.tp
    embedding = arch.vocab * arch.hidden / plan.tp * (2 if plan.pp == 1 else 1)
    return stage + embedding


def activation_bytes_per_layer(plan: Plan) -> float:
    """Stored activations of one layer for one micro-batch on one GPU (Korthikanti et al.)."""
    arch = plan.arch
    sbh = arch.seq_len * plan.micro_batch * arch.hidden
    if plan.recompute == "full":
        return ACTIVATION_BYTES * sbh / plan.tp
    per = 34.0
    if plan.recompute == "none":
        per += 5.0 * arch.heads * arch.seq_len / arch.hidden
    return sbh * per / plan.tp


def memory_per_gpu(plan: Plan) -> Memory:
    params = params_per_gpu(plan)
    weights = WEIGHT_BYTES * params / (plan.dp if plan.zero >= 3 else 1)
    gradients = GRADIENT_BYTES * params / (plan.dp if plan.zero >= 2 else 1)
    optimizer = OPTIMIZER_BYTES * params / (plan.dp if plan.zero >= 1 else 1)
    in_flight = min(plan.pp, plan.micro_batches)
    if plan.virtual_stages > 1:
        in_flight *= 1 + (plan.pp - 1) / (plan.pp * plan.virtual_stages)
    activations = activation_bytes_per_layer(plan) * plan.layers_per_stage * in_flight
    return Memory(weights, gradients, optimizer, activations)


def check_memory(plan: Plan, accelerator: Accelerator) -> Memory:
    """The memory per GPU; :class:`PlanError` with the numbers if it exceeds the HBM."""
    memory = memory_per_gpu(plan)
    if memory.total > accelerator.memory:
        parts = ", ".join(f"{name} {value / 1e9:.1f}" for name, value in
                          memory.as_dict().items() if name != "total")
        raise PlanError(("parallelism",),
                        f"the model does not fit: {memory.total / 1e9:.1f} GB per GPU "
                        f"({parts}) > {accelerator.memory / 1e9:.0f} GB of {accelerator.name} "
                        "(raise tp, pp or zero, or use recompute: full)")
    return memory


def checkpoint_bytes(plan: Plan, bytes_per_param: float) -> float:
    """Size of a full checkpoint of the model (all ranks together)."""
    return plan.arch.params * bytes_per_param
