"""Typed specs of accelerators and node types, validated from the YAML catalogue in ``hardware/``.

Quantities are written with units in YAML and held as SI floats: FLOP/s, bytes, bytes/s,
watts, seconds. Every number in a catalogue file carries its source in ``sources``; the
tags [V] (primary), [S] (secondary) and [D] (derived) follow ``shared/REFERENCE.md``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from fleetsim import units

Flops = Annotated[float, BeforeValidator(units.parse_flops), Field(gt=0)]
Bytes = Annotated[float, BeforeValidator(units.parse_bytes), Field(gt=0)]
Bandwidth = Annotated[float, BeforeValidator(units.parse_bandwidth), Field(gt=0)]
Watts = Annotated[float, BeforeValidator(units.parse_power), Field(ge=0)]
Seconds = Annotated[float, BeforeValidator(units.parse_duration), Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, le=1)]

Dtype = Literal["fp64", "tf32", "fp32", "bf16", "fp16", "fp8", "int8", "fp4"]


class Spec(BaseModel):
    """Base of every catalogue model: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Power(Spec):
    """Electrical power draw: ``busy`` at full load, ``idle`` when allocated but not computing."""

    busy: Watts
    idle: Watts

    @model_validator(mode="after")
    def _idle_below_busy(self) -> "Power":
        if self.idle > self.busy:
            raise ValueError("idle power must not exceed busy power")
        return self


class ScaleUpLinks(Spec):
    """The chip's own scale-up links (NVLink, xGMI, ICI): count and per-direction bandwidth."""

    technology: str
    links: int = Field(gt=0)
    link_bandwidth: Bandwidth  # per direction, per link
    latency: Seconds = 0.0  # per hop, where published

    @property
    def bandwidth_per_direction(self) -> float:
        """Aggregate scale-up bandwidth per direction (bytes/s)."""
        return self.links * self.link_bandwidth


class Achievable(Spec):
    """Fractions of peak that real kernels reach (documented, with sources, per chip).

    ``flops_fraction`` is the efficiency of a training step's compute kernels when nothing
    else stalls them: the step-time model adds communication, the pipeline bubble and input
    stalls on top, so it is above the end-to-end MFU a chip is known for.
    """

    flops_fraction: Fraction = 0.5
    memory_bandwidth_fraction: Fraction = 0.8


class Accelerator(Spec):
    """One accelerator chip (dense peak numbers, per chip)."""

    kind: Literal["accelerator"] = "accelerator"
    name: str
    vendor: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    peak_flops: dict[Dtype, Flops]
    memory: Bytes
    memory_bandwidth: Bandwidth
    scale_up: ScaleUpLinks | None = None
    achievable: Achievable = Achievable()
    power: Power
    sources: tuple[str, ...] = Field(min_length=1)


class Nic(Spec):
    """Scale-out network interfaces of a node (InfiniBand, RoCE, Ethernet)."""

    count: int = Field(gt=0)
    rate: Bandwidth  # line rate per NIC, per direction
    achievable: Bandwidth | None = None  # measured per-NIC bandwidth where published
    technology: str = ""


class ScaleUpFabric(Spec):
    """How the node's accelerators are wired together."""

    topology: Literal["nvswitch", "full-mesh", "torus", "ring", "none"]
    bandwidth_per_accelerator: Bandwidth  # per direction, into the fabric
    latency: Seconds = 0.0  # per hop
    switches: int = Field(default=0, ge=0)
    dims: tuple[int, ...] = ()  # torus/ring shape, product = accelerators
    #: fraction of the line rate a large collective reaches on these links, where measured
    #: (absent: topology.graph.SCALE_UP_EFFICIENCY)
    efficiency: Fraction | None = None
    #: the switches reduce in the network (NVLink SHARP, "NVLS" in NCCL)
    in_network_reduction: bool = False


class NodeType(Spec):
    """A node (server, or a scale-up domain treated as one failure/allocation unit)."""

    kind: Literal["node"] = "node"
    name: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    accelerator: str
    accelerators: int = Field(gt=0)
    scale_up: ScaleUpFabric
    nics: Nic | None = None
    #: the collective library's tuner profile (fleetsim.comm.tuner, e.g. ``nccl-hopper``);
    #: absent: every registered algorithm competes (MPI-style, no vendor library)
    collectives: str | None = None
    power: Power  # whole node, accelerators included
    sources: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _dims_match(self) -> "NodeType":
        dims = self.scale_up.dims
        if dims:
            product = 1
            for dim in dims:
                product *= dim
            if product != self.accelerators:
                raise ValueError(f"scale_up.dims {list(dims)} multiply to {product}, "
                                 f"not accelerators={self.accelerators}")
        return self
