"""The scenario schema: immutable pydantic models for every key a scenario file may hold.

Each model forbids unknown keys and has no side effects. Quantities are written with units
(``30min``, ``2y``, ``16M``) and held as SI floats. docs/scenario-reference.md documents every
key; keep the two in step.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from fleetsim import units
from fleetsim.topology.spec import FabricSpec


def _whole_count(value: object) -> int:
    number = units.parse_count(value)
    if number != int(number):
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(number)


Duration = Annotated[float, BeforeValidator(units.parse_duration), Field(ge=0)]
PositiveDuration = Annotated[float, BeforeValidator(units.parse_duration), Field(gt=0)]
Count = Annotated[int, BeforeValidator(_whole_count)]
Name = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")]


class Model(BaseModel):
    """Base of every scenario model: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ClusterSpec(Model):
    """The fleet: how many nodes of which type, and how many are held back as hot spares."""

    node: str = Field(min_length=1)  # a catalogue name, or a path to a node YAML file
    nodes: Annotated[Count, Field(gt=0)]
    spares: Annotated[Count, Field(ge=0)] = 0
    fabric: FabricSpec = FabricSpec()  # the scale-out network joining the nodes


class FaultCause(Model):
    """One failure cause: every unit of its scope fails independently, exponentially."""

    name: Name
    scope: Literal["gpu", "node"]
    mtbf: PositiveDuration  # mean time between failures of one unit


class FaultsSpec(Model):
    """Failure causes, and the time to notice and to repair a failure."""

    causes: tuple[FaultCause, ...] = ()
    detection: Duration = 0.0  # failure -> the job notices
    repair: Duration = 0.0  # failed node -> healthy again (back in the spare pool)


class CheckpointSpec(Model):
    """When a training job saves its state and what saving and loading cost."""

    policy: Literal["fixed", "young", "daly", "none"] = "fixed"
    interval: PositiveDuration | None = None  # compute time between checkpoints, policy fixed
    save: Duration = 0.0  # blocking save time (synchronous checkpoint)
    load: Duration = 0.0  # time to load the last checkpoint on restart

    @model_validator(mode="after")
    def _interval_matches_policy(self) -> "CheckpointSpec":
        if self.policy == "fixed" and self.interval is None:
            raise ValueError("policy 'fixed' needs an interval (e.g. interval: 30min)")
        if self.policy != "fixed" and self.interval is not None:
            raise ValueError(f"interval is only for policy 'fixed' (policy {self.policy!r} "
                             "computes its own)")
        return self


class TrainingJobSpec(Model):
    """A synchronous data-parallel training job of a fixed amount of work."""

    name: Name
    type: Literal["training"]
    gpus: Annotated[Count, Field(gt=0)]
    step_time: PositiveDuration  # failure-free time of one training step
    steps: Annotated[Count, Field(gt=0)] | None = None
    work: PositiveDuration | None = None  # failure-free compute time, instead of steps
    restart: Duration = 0.0  # re-initialise after a failure, before the checkpoint load
    placement: Literal["packed", "random"] = "packed"  # how ranks map onto the job's GPUs
    checkpoint: CheckpointSpec = CheckpointSpec(policy="none")

    @model_validator(mode="after")
    def _steps_or_work(self) -> "TrainingJobSpec":
        if (self.steps is None) == (self.work is None):
            raise ValueError("give exactly one of steps (e.g. steps: 200000) or work "
                             "(failure-free compute time, e.g. work: 500h)")
        return self


JobSpec = TrainingJobSpec


class OutputSpec(Model):
    """How outputs are sampled."""

    resolution: PositiveDuration | None = None  # timeseries step; default: automatic


class Scenario(Model):
    """A whole scenario file."""

    name: Name
    seed: Annotated[int, Field(ge=0)] = 0
    horizon: PositiveDuration | None = None  # stop time; default: when every job finishes
    description: str = ""
    cluster: ClusterSpec
    faults: FaultsSpec = FaultsSpec()
    jobs: tuple[JobSpec, ...] = Field(min_length=1)
    output: OutputSpec = OutputSpec()
