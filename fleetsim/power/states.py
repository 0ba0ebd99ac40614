"""Whole-node power in each state a node can be in, from the hardware catalogue and the
scenario's ``power.node`` overrides.

States (docs/background/power.md), with their default whole-node watts:

* ``compute``: every accelerator computing; the node's ``power.busy``;
* ``stall``: allocated, accelerators waiting (checkpoint save, exposed communication,
  pipeline bubble, barrier, detection, waiting for replacements); compute minus n x (busy -
  idle) of the accelerator;
* ``loading``: restarting, re-initialising, loading the checkpoint; = stall;
* ``idle``: up with no job computing on it, hot spares; the node's ``power.idle``;
* ``down``: failed or in repair; 0 W.

The node's ``power.busy`` is its vendor maximum (DGX H100 10.2 kW, DGX A100 6.5 kW), so
``compute`` is an upper bound of a training node's draw (measured H100 training nodes reach
~76% of 10.2 kW: Newkirk et al. 2025, arXiv 2506.14551). ``stall`` keeps the host's share
(CPUs, NICs, switches, fans stay at their computing level) and drops each accelerator from its
busy to its idle power [assumption: a waiting accelerator draws its idle power; the catalogue
has no separate figure]. A job's *running* power is a mix: its step's compute fraction at
``compute`` and the rest (exposed communication, bubble, input stall) at ``stall``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetsim.hardware import Accelerator, NodeType
from fleetsim.scenario.power import NodePowerSpec

STATES = ("compute", "stall", "loading", "idle", "down")


@dataclass(frozen=True)
class NodePower:
    """Whole-node watts per state, and the node's accelerator count (per-GPU shares)."""

    compute: float
    stall: float
    loading: float
    idle: float
    down: float
    gpus: int

    def per_gpu(self, state: str) -> float:
        """Watts per accelerator slot in ``state`` (the node's watts over its accelerators: a
        job holding part of a node draws its share of the host too)."""
        return getattr(self, state) / self.gpus

    def running_per_gpu(self, compute_fraction: float) -> float:
        """Watts per accelerator slot averaged over a training step that computes
        ``compute_fraction`` of its time and waits the rest."""
        stall = self.per_gpu("stall")
        return stall + compute_fraction * (self.per_gpu("compute") - stall)

    def as_dict(self) -> dict[str, float]:
        return {state: getattr(self, state) for state in STATES}


def node_power(node: NodeType, accelerator: Accelerator,
               overrides: NodePowerSpec = NodePowerSpec()) -> NodePower:
    """The node's watts per state: catalogue figures, derived ones, then ``overrides``."""
    compute = _given(overrides.compute, node.power.busy)
    idle = _given(overrides.idle, node.power.idle)
    drop = node.accelerators * (accelerator.power.busy - accelerator.power.idle)
    stall = _given(overrides.stall, max(idle, compute - drop))
    loading = _given(overrides.loading, stall)
    down = _given(overrides.down, 0.0)
    return NodePower(compute, stall, loading, idle, down, node.accelerators)


def _given(value: float | None, default: float) -> float:
    return default if value is None else value
