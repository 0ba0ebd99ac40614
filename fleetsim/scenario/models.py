"""The scenario schema: immutable pydantic models for every key a scenario file may hold.

Each model forbids unknown keys and has no side effects. Quantities are written with units
(``30min``, ``2y``, ``16M``) and held as SI floats. docs/reference/scenario.md documents every
key; keep the two in step.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from fleetsim.kinds import (MAX_NODES, Bandwidth, Batch, Duration, Factor,
                                     Fraction, Model, Name, NotBool, PositiveCount,
                                     PositiveDuration, PositiveInteger, Reference, Seed, Text,
                                     StepDuration, count, integer, number)
from fleetsim.scenario.faults import FaultsSpec
from fleetsim.scenario.serving import ServingJobSpec, known_preset
from fleetsim.scenario.scheduling import SchedulerSpec, Scheduling
from fleetsim.scenario.stragglers import StragglersSpec
from fleetsim.scenario.fabric import FabricSpec
from fleetsim.scenario.power import PowerSpec
from fleetsim.scenario.architecture import PRESETS, Architecture, Recompute
from fleetsim.scenario.carbon import CarbonSpec


#: the most steps a training job may ask for (the run's event budget bounds them further)
MAX_STEPS = 10**12


class StorageSpec(Model):
    """Checkpoint storage whose bandwidth concurrent transfers share equally."""

    bandwidth: Bandwidth  # aggregate, bytes/s


class ClusterSpec(Model):
    """The fleet: how many nodes of which type, and how many are held back as hot spares."""

    node: Reference  # a catalogue name, or a path to a node YAML file
    nodes: count(0, MAX_NODES, open_low=True)
    spares: count(0, MAX_NODES) = 0
    fabric: FabricSpec = FabricSpec()  # the scale-out network joining the nodes
    storage: StorageSpec | None = None  # checkpoint storage shared by every job


class CheckpointSpec(Model):
    """When a training job saves its state and what saving and loading cost."""

    policy: Reference = "fixed"  # fixed | young | daly | none, or a registered policy (checked
    #                          against the registry when the run is prepared)
    interval: PositiveDuration | None = None  # compute time between checkpoints (fixed)
    mode: Literal["sync", "async", "in-memory"] = "sync"
    save: Duration = 0.0  # writing a checkpoint to remote storage (blocking in sync mode)
    load: Duration = 0.0  # time to load the last checkpoint from remote storage on restart
    snapshot: Duration = 0.0  # async / in-memory: blocking copy to host / peer memory
    memory_load: Duration = 0.0  # in-memory: restore from peer memory
    remote_every: PositiveInteger = 10  # in-memory: every Nth also goes remote
    # With a model: derive save/load (when not given) from the checkpoint size and this
    # bandwidth; the size is params x bytes_per_param (bf16 weights 2 + fp32 master 4 + Adam
    # moments 8 = 14 bytes; gradients are not saved).
    storage_bandwidth: Bandwidth | None = None
    bytes_per_param: number(0.0, 1000.0, open_low=True) = 14.0


class ParallelismSpec(Model):
    """How a model is split over the job's GPUs and how its communication overlaps compute.

    ``order`` lists the dimensions innermost first: ``tp-cp-dp-pp`` (the default, Megatron-LM's)
    makes tensor-parallel ranks consecutive (inside a node), then context, data and pipeline
    ranks; Llama 3 uses ``tp-cp-pp-dp`` (arXiv 2407.21783 section 3.3.2).
    """

    tp: PositiveInteger = 1  # tensor parallel (within a node)
    cp: PositiveInteger = 1  # context parallel: each sequence split over cp ranks
    pp: PositiveInteger = 1  # pipeline stages
    dp: PositiveInteger | None = None  # data parallel; default gpus/(tp*cp*pp)
    ep: PositiveInteger = 1  # expert parallel (within the data-parallel group)
    order: Annotated[str, Field(max_length=64)] = "tp-cp-dp-pp"  # rank order, innermost first
    #: ZeRO stage: shard optimizer (1), + grads (2), + weights (3)
    zero: Annotated[Literal[0, 1, 2, 3], NotBool] = 0
    fsdp: bool = False  # fully sharded data parallel: the same as zero: 3
    virtual_stages: PositiveInteger = 1  # interleaved 1F1B chunks per stage
    first_stage_layers: integer() | None = None  # default: an even split
    last_stage_layers: integer() | None = None  # default: an even split
    sequence_parallel: bool = True  # Megatron sequence parallelism inside the TP group
    overlap: Fraction = 1.0  # share of DP comm hidden by compute
    p2p_overlap: Fraction = 0.0  # share of pipeline sends hidden
    dp_mode: Literal["all-reduce", "parameter-server"] = "all-reduce"
    ps_servers: PositiveInteger = 1  # parameter-server nodes
    compression: Factor = 1.0  # gradient compression ratio
    grad_reduce_dtype: Literal["bf16", "fp32"] = "bf16"  # gradients' dtype on the wire
    recompute: Recompute = "selective"  # activation recomputation

    @field_validator("order")
    @classmethod
    def _permutation(cls, order: str) -> str:
        if sorted(order.split("-")) != ["cp", "dp", "pp", "tp"]:
            raise ValueError(f"order {order!r} must list tp, cp, dp and pp once each, "
                             "innermost first, e.g. tp-cp-dp-pp or tp-cp-pp-dp")
        return order

    @property
    def zero_stage(self) -> int:
        return 3 if self.fsdp else self.zero


class DataLoadingSpec(Model):
    """The input pipeline: hidden behind compute when fast enough, stalling the step if not."""

    time: Duration  # loading one step's batch with one worker
    workers: PositiveInteger = 1
    prefetch: integer() = 2  # batches loaded ahead; 0 = no overlap


class ElasticSpec(Model):
    """Continue on fewer data-parallel replicas while replacements are missing."""

    min_fraction: number(0.0, 1.0, open_low=True) = 0.5  # of the job's nodes


class TrainingJobFields(Model):
    """What a training job runs and how, apart from its name, size and amount of work (the
    template a workload's jobs share)."""

    step_time: StepDuration | None = None  # failure-free time of one training step
    model: Reference | Architecture | None = None  # a preset name or an architecture mapping
    global_batch: Batch | None = None  # sequences per step, or "16Mi tokens"
    micro_batch: PositiveCount = 1  # sequences per micro-batch
    precision: Literal["bf16", "fp16", "fp8"] = "bf16"
    attention: Literal["flash", "standard"] = "flash"  # fused attention kernel or unfused
    dropout: bool = False  # dropout after attention and MLP (GPT-3, Megatron-LM); Llama: none
    parallelism: ParallelismSpec = ParallelismSpec()
    data_loading: DataLoadingSpec | None = None
    restart: Duration = 0.0  # re-initialise after a failure, before the checkpoint load
    placement: Literal["packed", "random"] = "packed"  # how ranks map onto the job's GPUs
    elastic: ElasticSpec | None = None  # run on fewer nodes rather than wait for replacements
    checkpoint: CheckpointSpec = CheckpointSpec(policy="none")

    @field_validator("model")
    @classmethod
    def _known_preset(cls, model: str | Architecture | None) -> str | Architecture | None:
        return known_preset(model)

    @model_validator(mode="after")
    def _what_runs(self) -> "TrainingJobFields":
        if (self.step_time is None) == (self.model is None):
            raise ValueError("give exactly one of step_time (e.g. step_time: 6s) or model "
                             f"(a preset: {', '.join(PRESETS)}; or a mapping)")
        if self.checkpoint.storage_bandwidth is not None and self.model is None:
            raise ValueError("checkpoint.storage_bandwidth derives save and load times from a "
                             "model's size: give a model, or save and load times")
        if self.model is not None and self.global_batch is None:
            raise ValueError("a model needs a global_batch (sequences per step, e.g. 2048, or "
                             "tokens, e.g. '16Mi tokens')")
        return self


class TrainingJobSpec(Scheduling, TrainingJobFields):
    """A synchronous training job of a fixed amount of work.

    Its step time is either given (``step_time``) or derived from ``model``, the batch, the
    parallelism plan and the hardware (:mod:`fleetsim.training.stepmodel`).
    """

    name: Name
    type: Literal["training"]
    gpus: PositiveCount
    steps: count(0, MAX_STEPS, open_low=True) | None = None
    work: PositiveDuration | None = None  # failure-free compute time, instead of steps

    @model_validator(mode="after")
    def _amount(self) -> "TrainingJobSpec":
        if (self.steps is None) == (self.work is None):
            raise ValueError("give exactly one of steps (e.g. steps: 200000) or work "
                             "(failure-free compute time, e.g. work: 500h)")
        return self


#: A job of either type, told apart by its ``type`` key.
JobSpec = Annotated[TrainingJobSpec | ServingJobSpec, Field(discriminator="type")]


class OutputSpec(Model):
    """How outputs are sampled."""

    resolution: PositiveDuration | None = None  # timeseries step; default: automatic


from fleetsim.scenario.workload import WorkloadSpec  # noqa: E402  (it builds on the job fields)


class Scenario(Model):
    """A whole scenario file."""

    name: Name
    seed: Seed = 0
    horizon: PositiveDuration | None = None  # stop time; default: when every job finishes
    description: Text = ""
    cluster: ClusterSpec
    faults: FaultsSpec = FaultsSpec()
    stragglers: StragglersSpec = StragglersSpec()
    scheduler: SchedulerSpec = SchedulerSpec()
    jobs: tuple[JobSpec, ...] = ()
    #: jobs arriving over time (a trace or classes); checked even when absent (validate_default)
    #: so that "no jobs at all" is reported at a key, not at the top of the file
    workload: WorkloadSpec | None = Field(default=None, validate_default=True)
    output: OutputSpec = OutputSpec()
    power: PowerSpec = PowerSpec()  # facility overhead, node power per state, swing window
    carbon: CarbonSpec | None = None  # grid carbon intensity, carbon-aware starts

    @field_validator("workload")
    @classmethod
    def _some_jobs(cls, workload: WorkloadSpec | None, info: ValidationInfo) -> WorkloadSpec | None:
        if workload is None and not info.data.get("jobs") and "jobs" in info.data:
            raise ValueError("a scenario needs jobs (a list) or a workload")
        return workload
