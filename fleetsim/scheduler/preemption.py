"""How the scheduler takes GPUs back: a blocked job preempts the policy's victims whose nodes
make room for it and holds those nodes until they have yielded them (so backfill cannot
refill them: the preempt/backfill livelock), a pass when running jobs turn preemptible
(``preemption.after``) or cross a LAS threshold, and a running job that grows (serving
autoscaling) preempts as a queued job of its priority would.

:class:`Preemption` is a part of :class:`fleetsim.scheduler.core.Scheduler`, split out to
keep each file to one concern; it uses the scheduler's state (``running``, ``_vacating``,
``_reclaiming``, ``_held``, ``policy``, ``fleet``, ``spec``).
"""

from __future__ import annotations

from typing import Any

import simpy


class Preemption:
    """The preemption half of the scheduler (module docstring)."""

    env: simpy.Environment
    running: dict[Any, None]
    preemptions: int

    def _watch_attained(self, job: Any) -> None:
        """A pass each time ``job`` crosses its next LAS threshold while it runs (it may then
        be preempted); a token per start retires the watch of an earlier run."""
        token = self._watches[job] = self._watches.get(job, 0) + 1
        thresholds = self.policy.thresholds  # type: ignore[attr-defined]
        self._watch_next(job, token, self.policy.queue_of(job), thresholds)  # type: ignore

    def _watch_next(self, job: Any, token: int, index: int, thresholds: tuple) -> None:
        if index >= len(thresholds) or job.gpus <= 0:
            return
        delay = max(0.0, (thresholds[index] - job.attained_gpu_s) / job.gpus)

        def crossed(_event) -> None:
            if job in self.running and self._watches.get(job) == token:
                self.request_pass()
                self._watch_next(job, token, index + 1, thresholds)
        self.env.timeout(delay).callbacks.append(crossed)

    # -- preemption -----------------------------------------------------------------------------
    def _preempt_for(self, job: Any) -> None:
        """Preempt the first of the policy's victims whose nodes make room for ``job``, and
        hold those nodes for it until they have yielded them (module docstring)."""
        now = self.env.now
        victims = [victim for victim in self.policy.victims(job, self.running, now)
                   if victim not in self._vacating]
        taken: frozenset[int] = frozenset().union(*self._held.values()) if self._held \
            else frozenset()
        chosen, nodes = self._enough(job, victims, taken) if victims else ([], frozenset())
        if not chosen:
            self._recheck_when_preemptible(now)
            return
        mode = self.spec.preemption.mode
        stopping = set()
        for victim in chosen:
            if victim.preempt(mode, reason=f"for {job.name}"):
                self._vacating.add(victim)
                self.preemptions += 1
                stopping.add(victim)
        if stopping:
            self._reclaiming[job] = stopping
            self._held[job] = nodes

    def _recheck_when_preemptible(self, now: float) -> None:
        """Running jobs become preemptible ``preemption.after`` into their run: a pass then,
        for a blocked job that may preempt them (one timer at a time, the earliest)."""
        after = self.spec.preemption.after
        if after <= 0:
            return
        upcoming = [job.last_start_s + after for job in self.running
                    if job.preemptible and job.last_start_s is not None
                    and job.last_start_s + after > now]
        if not upcoming:
            return
        when = min(upcoming)
        if self._recheck_at is not None and now < self._recheck_at <= when:
            return
        self._recheck_at = when

        def recheck(_event) -> None:
            if self._recheck_at == when:
                self._recheck_at = None
                self.request_pass()
        self.env.timeout(when - now).callbacks.append(recheck)

    def _enough(self, job: Any, victims: list[Any], taken: frozenset[int]
                ) -> tuple[list[Any], frozenset[int]]:
        """The victims to preempt for ``job`` and the nodes it will then take, or
        ``([], frozenset())`` if all of ``victims`` are not enough. Nodes in ``taken`` (held
        for other jobs) count for nothing.

        Walking ``victims`` in order, a node's free GPUs grow as its jobs are chosen; it stops
        at the first point where the nodes the job needs are free: a node with its GPUs for
        a small job, whole nodes (with the whole free ones) for a job of whole nodes. Only
        the victims on those nodes are preempted."""
        capacity, fleet = self.fleet.capacity, self.fleet
        per_node = capacity.gpus_per_node
        need = job.gpus_per_node_required
        free: dict[int, int] = {}
        whole_free = [node for node in capacity.whole_nodes() if node not in taken] \
            if need >= per_node else []
        missing = job.nodes_required - len(whole_free)
        if need >= per_node and missing <= 0:
            return [], frozenset()  # it fits but for the nodes held for others: wait
        target: list[int] = []
        for victim in victims:
            for node, gpus in fleet.grants(victim):
                if node in taken:
                    continue
                before = free.get(node, capacity.free[node])
                free[node] = before + gpus
                if need >= per_node:
                    if free[node] == per_node and before < per_node:
                        target.append(node)
                elif free[node] >= need and before < need:
                    target.append(node)
            if (need >= per_node and len(target) >= missing) or (need < per_node and target):
                break
        else:
            return [], frozenset()
        if need >= per_node:
            nodes = frozenset(target[:missing]) | frozenset(whole_free)
        else:
            nodes = frozenset(target[:1])
        chosen = [victim for victim in victims[:victims.index(victim) + 1]
                  if any(node in nodes for node, _gpus in fleet.grants(victim))]
        return chosen, nodes

    # -- growing a running job ----------------------------------------------------------------
    def grow(self, job: Any) -> simpy.Event:
        """``job`` (running) raised its ``nodes_required``: an event that succeeds when it
        holds them. Growth is served before queued starts, as a replacement is; when the free
        nodes do not cover it, a preemptive policy preempts the victims it would for a
        queued job of ``job``'s priority (serving autoscaling: training backfills the trough
        and yields at the peak)."""
        event = self.fleet.request_replacements(job)
        if event.triggered or not self.policy.preemptive:
            return event
        missing = job.nodes_required - len(self.fleet.held(job)) - self.fleet.capacity.whole_count
        now = self.env.now
        per_node = self.fleet.capacity.gpus_per_node
        chosen = []
        for victim in self.policy.victims(job, self.running, now):
            if missing <= 0:
                break
            if victim in self._vacating or victim is job:
                continue
            chosen.append(victim)
            missing -= sum(gpus == per_node for _node, gpus in self.fleet.grants(victim))
        if missing > 0:
            return event
        for victim in chosen:
            if victim.preempt(self.spec.preemption.mode, reason=f"for {job.name}"):
                self._vacating.add(victim)
                self.preemptions += 1
        return event
