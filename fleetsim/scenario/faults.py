"""The ``faults`` section of a scenario: failure causes, presets, detection, repair, bad nodes.

A cause's units fail independently. ``scope`` is both the unit and the blast radius:

* ``gpu``: every GPU fails on its own; its node leaves the job and is repaired;
* ``node``: every node (host, PSU, NIC, ...); the node is repaired;
* ``leaf``: every leaf switch of the fabric; all nodes under it are unusable until the switch
  is repaired (needs a fat-tree fabric: the nodes under a leaf come from its plan);
* ``job``: drawn per node, but nothing breaks: the job holding the node stops and restarts
  (software bugs, NCCL watchdog timeouts); idle nodes are unaffected.

The rate is a per-unit ``mtbf`` or ``per_1000_node_days`` (failures per 1000 node-days, the
unit of Kokolis et al. 2024; converted to a per-unit MTBF). Lifetimes are exponential, or
Weibull (``shape``; the scale is set so the mean is the MTBF) or lognormal (``sigma``; the
mean is the MTBF). ``faults.scale`` multiplies every rate: the knob a sweep turns.
"""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator, model_validator

from fleetsim.scenario.fault_presets import PRESETS, preset_causes
from fleetsim.kinds import (MAX_BAD_NODE_FACTOR, MAX_SIGMA, Duration, Fraction, Model,
                                     Mtbf, Name, PositiveDuration, number)
from fleetsim.units import DAY

Probability = Fraction
#: failures per 1000 node-days: at most a million (one a node every 86 ms)
MAX_PER_1000_NODE_DAYS = 1e6
#: faults.scale: 0 (no failures) or between 1/MAX_SCALE and MAX_SCALE
MAX_SCALE = 1e6


class FaultCause(Model):
    """One failure cause (see the module docstring)."""

    name: Name
    scope: Literal["gpu", "node", "leaf", "job"]
    mtbf: Mtbf | None = None  # mean time between failures of one unit
    per_1000_node_days: number(0.0, MAX_PER_1000_NODE_DAYS, open_low=True) | None = None
    distribution: Literal["exponential", "weibull", "lognormal"] = "exponential"
    shape: number(0.05, 100.0) = 1.0  # Weibull shape (1 = exponential)
    sigma: number(0.0, MAX_SIGMA, open_low=True) = 1.0  # lognormal shape
    planned: bool = False  # maintenance: the job drains (saves its finished steps) first
    detection: Duration | None = None  # overrides faults.detection for this cause
    silent: bool = False  # silent data corruption: the job runs on until detection, then
    #                       rolls back past every checkpoint taken since the corruption

    @model_validator(mode="after")
    def _one_rate(self) -> "FaultCause":
        if (self.mtbf is None) == (self.per_1000_node_days is None):
            raise ValueError("give exactly one of mtbf (per unit, e.g. 50000h) or "
                             "per_1000_node_days (e.g. 6.5)")
        if self.silent and self.scope not in ("gpu", "node"):
            raise ValueError("silent (data corruption) applies to scope gpu or node")
        if self.silent and self.planned:
            raise ValueError("a cause cannot be both silent and planned")
        if self.per_1000_node_days is not None and self.scope == "leaf":
            raise ValueError("per_1000_node_days does not apply to scope leaf (give mtbf per "
                             "switch)")
        return self

    def unit_mtbf_s(self, gpus_per_node: int) -> float:
        """The MTBF of one unit, seconds."""
        if self.mtbf is not None:
            return self.mtbf
        assert self.per_1000_node_days is not None
        node_mtbf = 1000 * DAY / self.per_1000_node_days
        return node_mtbf * gpus_per_node if self.scope == "gpu" else node_mtbf


class RepairPipeline(Model):
    """Repair of a failed node (AIReSim, Table 1): automatic first, escalated to manual with
    probability ``escalation``; a repair may report success but leave the fault in place
    (``false_repair_*``): the node comes back bad (failing ``bad_nodes.factor`` times faster,
    or 5x without a bad_nodes section) until a later repair fixes it. Times are exponential
    with the given means."""

    automatic: PositiveDuration
    manual: PositiveDuration | None = None
    escalation: Probability = 0.0
    false_repair_automatic: Probability = 0.0
    false_repair_manual: Probability = 0.0

    @model_validator(mode="after")
    def _manual_if_escalating(self) -> "RepairPipeline":
        if self.escalation > 0 and self.manual is None:
            raise ValueError("escalation needs a manual repair time (e.g. manual: 2d)")
        return self


class BadNodes(Model):
    """A fraction of nodes that fail ``factor`` times faster than the rest (all causes)."""

    fraction: Probability
    factor: number(1.0, MAX_BAD_NODE_FACTOR) = 5.0


class FaultsSpec(Model):
    """Failure causes, and the time to notice and to repair a failure."""

    preset: Literal[tuple(PRESETS)] | None = None  # type: ignore[valid-type]
    scale: number(0.0, MAX_SCALE) = 1.0  # multiplies every cause's rate (0: no failures)
    causes: tuple[FaultCause, ...] = ()
    detection: Duration = 0.0  # failure -> the job notices (default for every cause)
    repair: Duration | RepairPipeline = 0.0  # failed node -> healthy (constant, or a pipeline)
    bad_nodes: BadNodes | None = None

    @field_validator("scale")
    @classmethod
    def _scale_range(cls, scale: float) -> float:
        if 0 < scale < 1 / MAX_SCALE:
            raise ValueError(f"must be 0 (no failures) or at least {1 / MAX_SCALE:g}, "
                             f"got {scale:g}")
        return scale

    def effective_causes(self) -> tuple[FaultCause, ...]:
        """The preset's causes (replaced by explicit causes of the same name), then the
        explicit ones, each rate multiplied by ``scale``; none when ``scale`` is 0."""
        if self.scale == 0:
            return ()
        explicit = {cause.name for cause in self.causes}
        base = [FaultCause(**data) for data in preset_causes(self.preset)
                if data["name"] not in explicit]
        causes = base + list(self.causes)
        if self.scale == 1:
            return tuple(causes)
        return tuple(_scaled(cause, self.scale) for cause in causes)


def _scaled(cause: FaultCause, scale: float) -> FaultCause:
    if cause.mtbf is not None:
        return cause.model_copy(update={"mtbf": cause.mtbf / scale})
    assert cause.per_1000_node_days is not None
    return cause.model_copy(update={"per_1000_node_days": cause.per_1000_node_days * scale})
