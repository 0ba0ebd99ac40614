"""A power cap shared by the fleet: each busy accelerator's cap and the step slowdown it causes.

Three scopes (``power.cap``):

* ``accelerator``: every accelerator is capped at the given watts (``nvidia-smi -pl``);
* ``node``: every node is capped; its host (CPUs, NICs, fans: the node's ``compute`` power,
  :mod:`fleetsim.power.states`, minus its accelerators' busy power) is not throttled, its
  accelerators share the rest equally;
* ``cluster``: the cluster's IT power is capped. Policy: every node no job holds (free,
  spare, down) is counted at its ``idle`` draw (a down node is reserved its idle power: it
  comes back without asking), and the *busy* nodes (held by a started training job, in any
  phase: computing, saving a checkpoint, restarting; or by a serving job's replicas) share
  what is left equally, each then split as a node cap. The busy nodes' cap therefore
  changes when a job starts or leaves its nodes: the controller re-computes it and re-times
  every running job then (per placement change, not per step), as the shared fabric does
  (:mod:`fleetsim.cluster.fabric`). A cap is checked when the scenario is prepared to leave
  every busy node at least its waiting draw (``stall``, ``loading``: a node restarting
  draws it uncapped) and every accelerator more than its idle draw and at least its
  vendor's lowest limit, however many nodes are busy
  (:func:`~fleetsim.hardware.powercap.lowest_busy_node_cap_w`).

A job's step slows by ``compute_share x s + (1 - compute_share)``, ``s`` the accelerator's
compute slowdown (:mod:`fleetsim.hardware.powercap`) and ``compute_share`` the share of its
step spent computing (its step model's compute and optimizer time; 1 for a job given by its
``step_time``). A cap above the busy draw costs nothing.

Serving jobs are not re-timed: their replicas' FLOP rate is divided by the compute slowdown
at the cap's floor (:func:`serving_cap_w`: a cluster cap's lowest share), so their
compute-bound prefill slows and their memory-bound decode barely does
(:class:`~fleetsim.serving.cost.ServingCost`), and their accelerators draw at most the cap.
Under a cluster cap their nodes count as busy (:meth:`PowerCap.reserve`): each takes a busy
node's share, at least the floor it draws at most, so the cluster stays within its cap. The
busy set follows the fleet's holdings (:meth:`PowerCap.moved`): a failed node leaves it, a
replacement joins it.

Power under the cap (:func:`capped_running_per_gpu`): while computing, an accelerator draws
``min(busy, cap)`` (``busy`` as the node's ``compute`` power leaves it: its share of
``compute`` beyond the host); the stretched step's waiting share is unchanged, so a running
job's mean power per GPU is ``((1 - f) x stall + f x s x compute_capped) / ((1 - f) + f x
s)``. A waiting node draws ``stall`` or ``loading`` uncapped: the cap was checked to leave
it that much. Every
job's caps over time are kept (:attr:`PowerCap.caps`) for the energy accounting
(:mod:`fleetsim.power.energy`).
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Protocol

from fleetsim.hardware.powercap import (accelerator_cap_w, busy_node_cap_w, compute_slowdown,
                                        lowest_busy_node_cap_w, step_slowdown)
from fleetsim.power.states import NodePower
from fleetsim.scenario.powercap import PowerCapSpec


class Capped(Protocol):
    """What the power cap needs of a job."""

    name: str

    def set_power_slowdown(self, factor: float) -> None: ...


class PowerCap:
    """The fleet's power cap and the jobs it slows (module docstring)."""

    def __init__(self, spec: PowerCapSpec, node: NodePower, accelerator_busy_w: float,
                 nodes: int, now: Callable[[], float] = lambda: 0.0, spares: int = 0) -> None:
        self.spec, self.node, self.nodes = spec, node, nodes
        self.spares = spares  # hot spares: never busy (they replace failed nodes)
        self.accelerator_busy_w = accelerator_busy_w
        self._now = now
        self._jobs: dict[Capped, tuple[frozenset[int], float]] = {}  # nodes, compute share
        self._busy: dict[int, int] = {}  # node -> running jobs on it
        self._reserved: dict = {}  # serving job -> the nodes it holds
        #: (time_s, busy nodes, accelerator cap W) at every change of the busy set
        self.history: list[tuple[float, int, float]] = []
        #: job name -> (time_s, accelerator cap W) whenever its cap was set (inf: uncapped)
        self.caps: dict[str, list[tuple[float, float]]] = {}

    # -- the cap ------------------------------------------------------------------------------
    def accelerator_cap_w(self, lowest: bool = False) -> float:
        """Each busy accelerator's cap (watts) now, or its ``lowest`` over every split of the
        cluster into busy and other nodes; infinite without a job running under a cluster
        cap."""
        spec, node = self.spec, self.node
        if spec.accelerator is not None:
            return spec.accelerator
        if spec.node is not None:
            node_cap = spec.node
        elif lowest:
            assert spec.cluster is not None
            node_cap = lowest_busy_node_cap_w(spec.cluster, self.nodes, node.idle,
                                              self.nodes - self.spares)
        else:
            assert spec.cluster is not None
            busy = len(self._busy)
            node_cap = busy_node_cap_w(spec.cluster, busy, (self.nodes - busy) * node.idle)
            if math.isinf(node_cap):
                return math.inf
        return accelerator_cap_w(node_cap, node.compute, self.accelerator_busy_w, node.gpus)

    def compute_slowdown(self) -> float:
        """The accelerators' compute slowdown now."""
        cap = self.accelerator_cap_w()
        return 1.0 if math.isinf(cap) else compute_slowdown(cap, self.accelerator_busy_w)

    def slowdown(self, job: Capped) -> float:
        """``job``'s current step-time factor (1 when it is not running)."""
        placed = self._jobs.get(job)
        if placed is None:
            return 1.0
        return step_slowdown(self.compute_slowdown(), placed[1])

    def running_per_gpu(self, compute_share: float, accelerator_cap_w: float) -> float:
        """A running job's mean watts per GPU slot under ``accelerator_cap_w``."""
        return capped_running_per_gpu(self.node, compute_share, self.accelerator_busy_w,
                                      accelerator_cap_w)

    def _set(self, job: Capped, factor: float, cap_w: float) -> None:
        job.set_power_slowdown(factor)
        history = self.caps.setdefault(job.name, [])
        if not history or history[-1][1] != cap_w:
            history.append((self._now(), cap_w))

    def summary(self) -> dict:
        """The summary's ``power.cap`` block: the scope and its watts, and the range of the
        accelerator cap and compute slowdown the running jobs met (docs/guides/outputs.md)."""
        scope = next(name for name in ("cluster", "node", "accelerator")
                     if getattr(self.spec, name) is not None)
        met = sorted({cap_w for history in self.caps.values() for _time, cap_w in history
                      if math.isfinite(cap_w)})
        slowdowns = [compute_slowdown(cap_w, self.accelerator_busy_w) for cap_w in met]
        return {"scope": scope, "cap_w": getattr(self.spec, scope),
                "accelerator_cap_w": {"min": met[0], "max": met[-1]} if met else None,
                "compute_slowdown": ({"min": min(slowdowns), "max": max(slowdowns)}
                                     if met else None)}

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

    def moved(self, job: Capped, nodes: Iterable[int]) -> None:
        """A placed ``job`` holds ``nodes`` now (a failed node released, a replacement
        given): the busy set follows the fleet's holdings."""
        placed = self._jobs.get(job)
        held = frozenset(nodes)
        if placed is None or placed[0] == held:
            return
        before = len(self._busy)
        for node in placed[0]:
            self._release_node(node)
        self._jobs[job] = (held, placed[1])
        for node in held:
            self._busy[node] = self._busy.get(node, 0) + 1
        if len(self._busy) != before:
            self._changed(None)

    def reserve(self, holder, nodes: Iterable[int]) -> None:
        """``holder`` (a serving job, not re-timed) holds ``nodes`` from now on: under a
        cluster cap they count as busy."""
        held = frozenset(nodes)
        if self._reserved.get(holder, frozenset()) == held:
            return
        for node in self._reserved.pop(holder, frozenset()):
            self._release_node(node)
        if held:
            self._reserved[holder] = held
        for node in held:
            self._busy[node] = self._busy.get(node, 0) + 1
        self._changed(None)

    def vacated(self, job: Capped) -> None:
        """``job`` no longer computes (its factor returns to 1)."""
        if job not in self._jobs:
            return
        self._leave(job)
        self._set(job, 1.0, math.inf)
        self._changed(None)

    def _leave(self, job: Capped) -> None:
        held, _share = self._jobs.pop(job)
        for node in held:
            self._release_node(node)

    def _release_node(self, node: int) -> None:
        self._busy[node] -= 1
        if not self._busy[node]:
            del self._busy[node]

    def _changed(self, job: Capped | None) -> None:
        """Re-time the jobs whose factor may have changed: all of them under a cluster cap
        (the busy set changed), only the newcomer otherwise."""
        cap_w = self.accelerator_cap_w()
        if self.spec.cluster is None:
            if job is not None:
                self._set(job, self.slowdown(job), cap_w)
            return
        self.history.append((self._now(), len(self._busy), cap_w))
        for running in self._jobs:
            self._set(running, self.slowdown(running), cap_w)


def serving_cap_w(spec: PowerCapSpec, node: NodePower, accelerator_busy_w: float,
                  nodes: int, spares: int = 0) -> float:
    """The accelerator cap a serving job computes under: the scope's cap, for a cluster cap
    its lowest share (its floor)."""
    return PowerCap(spec, node, accelerator_busy_w, nodes,
                    spares=spares).accelerator_cap_w(lowest=True)


def capped_running_per_gpu(node: NodePower, compute_share: float, accelerator_busy_w: float,
                           accelerator_cap_w: float) -> float:
    """Mean watts per GPU slot of a running job whose step computes ``compute_share`` of
    its uncapped time, its accelerators capped at ``accelerator_cap_w`` (module docstring)."""
    stall = node.per_gpu("stall")
    if accelerator_cap_w >= accelerator_busy_w:
        return node.running_per_gpu(compute_share)
    # the host's share, and the accelerator's share of compute (its busy power, or less if
    # the node's compute power is given below its accelerators' busy power)
    host = max(0.0, node.per_gpu("compute") - accelerator_busy_w)
    computing = host + min(node.per_gpu("compute") - host, accelerator_cap_w)
    stretched = compute_share * compute_slowdown(accelerator_cap_w, accelerator_busy_w)
    waiting = 1.0 - compute_share
    return (waiting * stall + stretched * computing) / (waiting + stretched)


__all__ = ["Capped", "PowerCap", "capped_running_per_gpu", "serving_cap_w"]
