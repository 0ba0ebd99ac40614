"""Typed specs of accelerators and node types, validated from the YAML catalogue in ``hardware/``.

Quantities are written with units in YAML and held as SI floats: FLOP/s, bytes, bytes/s,
watts, seconds. Every number in a catalogue file carries its source in ``sources``; the
tags [V] (primary), [S] (secondary) and [D] (derived) follow ``shared/REFERENCE.md``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from fleetsim import kinds, units

# The value kinds of fleetsim/kinds.py, with the ranges a chip or a node can have: a node type
# given as a file (``cluster.node: ./my-node.yaml``) is user input like a scenario.
#: the most FLOP/s one accelerator may claim (a B200 is ~2.25e15 dense BF16; 1e18 is a typo)
MAX_FLOPS = 1e18
#: the most watts one accelerator or node may draw (a GB200 NVL72 rack as one node: ~120 kW)
MAX_WATTS = 1e6
#: the most accelerators a node (a scale-up domain) may hold, and links or NICs per chip/node
MAX_PER_NODE = 100_000
Flops = Annotated[float, BeforeValidator(units.parse_flops), Field(gt=0, le=MAX_FLOPS)]
Bytes = kinds.Bytes
Bandwidth = kinds.Bandwidth
Watts = kinds.watts(high=MAX_WATTS)
Seconds = kinds.Duration
Fraction = kinds.number(0.0, 1.0, open_low=True)
Count = kinds.integer(1, MAX_PER_NODE)
Text = kinds.Text
Names = tuple[kinds.Reference, ...]

Dtype = Literal["fp64", "tf32", "fp32", "bf16", "fp16", "fp8", "int8", "fp4"]


class Spec(BaseModel):
    """Base of every catalogue model: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Power(Spec):
    """Electrical power draw: ``busy`` at full load, ``idle`` when allocated but not computing;
    for an accelerator, ``min_cap``: the lowest power limit its vendor's tools accept
    (``nvidia-smi -pl``, Redfish ``PowerLimitWatts.AllowableMin``), where published."""

    busy: Watts
    idle: Watts
    min_cap: Watts | None = None

    @model_validator(mode="after")
    def _idle_below_busy(self) -> "Power":
        if self.idle > self.busy:
            raise ValueError("idle power must not exceed busy power")
        if self.min_cap is not None and self.min_cap > self.busy:
            raise ValueError("min_cap must not exceed busy power")
        return self


class ScaleUpLinks(Spec):
    """The chip's own scale-up links (NVLink, xGMI, ICI): count and per-direction bandwidth."""

    technology: Text
    links: Count
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
    name: kinds.Reference
    vendor: Text
    description: Text = ""
    aliases: Names = ()
    peak_flops: dict[Dtype, Flops]
    memory: Bytes
    memory_bandwidth: Bandwidth
    scale_up: ScaleUpLinks | None = None
    achievable: Achievable = Achievable()
    power: Power
    sources: tuple[Text, ...] = Field(min_length=1)


class Nic(Spec):
    """Scale-out network interfaces of a node (InfiniBand, RoCE, Ethernet)."""

    count: Count
    rate: Bandwidth  # line rate per NIC, per direction
    achievable: Bandwidth | None = None  # measured per-NIC bandwidth where published
    technology: Text = ""


class ScaleUpFabric(Spec):
    """How the node's accelerators are wired together."""

    topology: Literal["nvswitch", "full-mesh", "torus", "ring", "none"]
    bandwidth_per_accelerator: Bandwidth  # per direction, into the fabric
    latency: Seconds = 0.0  # per hop
    switches: kinds.integer(0, MAX_PER_NODE) = 0
    dims: tuple[Count, ...] = ()  # torus/ring shape, product = accelerators
    #: fraction of the line rate a large collective reaches on these links, where measured
    #: (absent: topology.graph.SCALE_UP_EFFICIENCY)
    efficiency: Fraction | None = None
    #: the switches reduce in the network (NVLink SHARP, "NVLS" in NCCL)
    in_network_reduction: bool = False


class NodeType(Spec):
    """A node (server, or a scale-up domain treated as one failure/allocation unit)."""

    kind: Literal["node"] = "node"
    name: kinds.Reference
    description: Text = ""
    aliases: Names = ()
    accelerator: kinds.Reference
    accelerators: Count
    scale_up: ScaleUpFabric
    nics: Nic | None = None
    #: the collective library's tuner profile (fleetsim.comm.tuner, e.g. ``nccl-hopper``);
    #: absent: every registered algorithm competes (MPI-style, no vendor library)
    collectives: kinds.Reference | None = None
    power: Power  # whole node, accelerators included
    sources: tuple[Text, ...] = Field(min_length=1)

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
