"""A power cap shared by the fleet: each busy accelerator's cap and the step slowdown it causes.

Three scopes (``power.cap``):

* ``accelerator``: every accelerator is capped at the given watts (``nvidia-smi -pl``);
* ``node``: every node is capped; its host (CPUs, NICs, fans: the node's busy power minus its
  accelerators') is not throttled, its accelerators share the rest equally;
* ``cluster``: the cluster's IT power is capped. Policy: every node that is not computing
  (allocated but idle, free, down) is counted at its idle draw, and the *busy* nodes (holding
  a running job) share what is left equally, each then split as a node cap. The busy nodes'
  cap therefore changes when a job starts or leaves its nodes: the controller re-computes it
  and re-times every running job then (per placement change, not per step), as the shared
  fabric does (:mod:`fleetsim.cluster.fabric`).

A job's step slows by ``compute_share x s + (1 - compute_share)``, ``s`` the accelerator's
compute slowdown (:mod:`fleetsim.hardware.powercap`) and ``compute_share`` the share of its
step spent computing (its step model's compute and optimizer time; 1 for a job given by its
``step_time``). A cap above the busy draw costs nothing.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Protocol

from fleetsim.hardware import Accelerator, NodeType
from fleetsim.hardware.powercap import (accelerator_cap_w, busy_node_cap_w, compute_slowdown,
                                        step_slowdown)
from fleetsim.scenario.powercap import PowerCapSpec


class Capped(Protocol):
    """What the power cap needs of a job."""

    name: str

    def set_power_slowdown(self, factor: float) -> None: ...


class PowerCap:
    """The fleet's power cap and the jobs it slows (module docstring)."""

    def __init__(self, spec: PowerCapSpec, node: NodeType, accelerator: Accelerator,
                 nodes: int, now: Callable[[], float] = lambda: 0.0) -> None:
        self.spec, self.node, self.accelerator, self.nodes = spec, node, accelerator, nodes
        self._now = now
        self._jobs: dict[Capped, tuple[frozenset[int], float]] = {}  # nodes, compute share
        self._busy: dict[int, int] = {}  # node -> running jobs on it
        #: (time_s, busy nodes, accelerator cap W) at every change of the busy set
        self.history: list[tuple[float, int, float]] = []

    # -- the cap ------------------------------------------------------------------------------
    def accelerator_cap_w(self, busy_nodes: int | None = None) -> float:
        """Each busy accelerator's cap (watts) with ``busy_nodes`` nodes computing (default:
        now); infinite without a job running under a cluster cap."""
        spec, node, chip = self.spec, self.node, self.accelerator
        if spec.accelerator is not None:
            return spec.accelerator
        if spec.node is not None:
            node_cap = spec.node
        else:
            busy = len(self._busy) if busy_nodes is None else busy_nodes
            assert spec.cluster is not None
            node_cap = busy_node_cap_w(spec.cluster, self.nodes, busy, node.power.idle)
            if math.isinf(node_cap):
                return math.inf
        return accelerator_cap_w(node_cap, node.power.busy, chip.power.busy, node.accelerators)

    def compute_slowdown(self, busy_nodes: int | None = None) -> float:
        """The accelerators' compute slowdown with ``busy_nodes`` computing (default: now)."""
        cap = self.accelerator_cap_w(busy_nodes)
        return 1.0 if math.isinf(cap) else compute_slowdown(cap, self.accelerator.power.busy)

    def slowdown(self, job: Capped) -> float:
        """``job``'s current step-time factor (1 when it is not running)."""
        placed = self._jobs.get(job)
        if placed is None:
            return 1.0
        return step_slowdown(self.compute_slowdown(), placed[1])

    # -- jobs come and go ---------------------------------------------------------------------
    def placed(self, job: Capped, nodes: Iterable[int], compute_share: float = 1.0) -> None:
        """``job`` computes on ``nodes`` from now on, ``compute_share`` of its step being
        compute."""
        if job in self._jobs:
            self._leave(job)
        held = frozenset(nodes)
        self._jobs[job] = (held, compute_share)
        for node in held:
            self._busy[node] = self._busy.get(node, 0) + 1
        self._changed(job)

    def vacated(self, job: Capped) -> None:
        """``job`` no longer computes (its factor returns to 1)."""
        if job not in self._jobs:
            return
        self._leave(job)
        job.set_power_slowdown(1.0)
        self._changed(None)

    def _leave(self, job: Capped) -> None:
        held, _share = self._jobs.pop(job)
        for node in held:
            self._busy[node] -= 1
            if not self._busy[node]:
                del self._busy[node]

    def _changed(self, job: Capped | None) -> None:
        """Re-time the jobs whose factor may have changed: all of them under a cluster cap
        (the busy set changed), only the newcomer otherwise."""
        if self.spec.cluster is None:
            if job is not None:
                job.set_power_slowdown(self.slowdown(job))
            return
        self.history.append((self._now(), len(self._busy), self.accelerator_cap_w()))
        for running in self._jobs:
            running.set_power_slowdown(self.slowdown(running))


__all__ = ["Capped", "PowerCap"]
