"""A training job as one SimPy process: segments between checkpoints, failures, recovery.

The process loop (one timeout per segment, never per step or per GPU)::

    wait for nodes -> [restart -> load checkpoint] -> compute a segment -> save a checkpoint
         ^                                                                         |
         +---- failure: lose work since last checkpoint, detect, get replacements -+

A failure of a node the job holds interrupts the process in whatever active phase it is
(computing, saving, restarting, loading). The completed steps of an interrupted segment are
found with ``searchsorted`` on its cumulative step times, and everything since the last
completed checkpoint is lost. A save that is interrupted does not count. Failures that strike
while the job is already detecting a failure or waiting for nodes only add to the nodes it
must replace (its clock is already stopped). Time is credited to buckets through
:class:`fleetsim.metrics.JobAccounting`; saving and restoring is the
:class:`~fleetsim.training.checkpointing.Checkpointer`'s.

Variations on the loop: a planned stop drains (saves the finished steps) instead of losing
them; silent data corruption lets the job run on until it is found, then rolls back past the
checkpoints since; stragglers stretch a segment's steps (order statistics) and a slow node
may be evicted; an elastic job restarts on fewer nodes rather than wait, and rescales after a
checkpoint once its replacements arrive.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import simpy

from fleetsim.cluster import Fleet
from fleetsim.cluster.storage import SharedStorage
from fleetsim.engine import EventLog
from fleetsim.faults.clock import Failure
from fleetsim.faults.stragglers import NoJitter, jitter_from
from fleetsim.metrics import JobAccounting
from fleetsim.metrics.accounting import RUNNING
from fleetsim.scenario.models import TrainingJobSpec
from fleetsim.scenario.stragglers import StragglersSpec
from fleetsim.training.checkpointing import Checkpointer
from fleetsim.training.costs import JobCosts
from fleetsim.training.steptime import (ConstantStepTime, StragglerStepTime, steps_completed,
                                        straggler_delay)


class TrainingJob:
    """One training job's state and its SimPy process."""

    def __init__(self, env: simpy.Environment, spec: TrainingJobSpec, fleet: Fleet,
                 log: EventLog, *, costs: JobCosts, gpus_per_node: int, interval_s: float,
                 mtbf_s: float, stragglers: StragglersSpec | None = None,
                 rng: np.random.Generator | None = None,
                 storage: SharedStorage | None = None) -> None:
        self.env = env
        self.spec = spec
        self.name = spec.name
        self.fleet = fleet
        self.log = log
        self.nodes_required = spec.gpus // gpus_per_node
        self.costs = costs
        self.storage = storage
        self.gpus_per_node = gpus_per_node
        self.stragglers = stragglers or StragglersSpec()
        jitter = jitter_from(self.stragglers.jitter.distribution,
                             **self.stragglers.jitter.params())
        if isinstance(jitter, NoJitter) and not self._slow_nodes_possible():
            self.step_time: ConstantStepTime | StragglerStepTime = ConstantStepTime(costs.step_s)
        else:
            assert rng is not None, "stragglers need a random stream"
            self.step_time = StragglerStepTime(costs.step_s, jitter, spec.gpus,
                                               self.stragglers.slow_nodes.slowdown, rng)
        if spec.steps is not None:
            self.total_steps = spec.steps
        else:
            assert spec.work is not None
            self.total_steps = max(1, math.ceil(spec.work / costs.step_s - 1e-9))
        self.checkpointing = spec.checkpoint.policy != "none" and math.isfinite(interval_s)
        self.mtbf_s = mtbf_s
        if self.checkpointing:  # the interval rounded to whole steps, at least one
            self.steps_per_segment = max(1, round(interval_s / self.step_time.mean_s))
            self.interval_s = self.steps_per_segment * self.step_time.mean_s
        else:
            self.steps_per_segment = self.total_steps
            self.interval_s = math.inf
        self.accounting = JobAccounting(env.now)
        self.steps_committed = 0  # steps contained in the last completed checkpoint
        self.steps_done = 0  # steps computed and not (yet) lost
        self.has_checkpoint = False
        self.checkpoints = 0
        self.interruptions: Counter[str] = Counter()
        self.interruptions_by_scope: Counter[str] = Counter()
        self.planned_interruptions = 0
        self.completed = False
        self.started_s: float | None = None
        self._armed = False  # may a failure interrupt the process now?
        self._segment: np.ndarray | None = None
        self._segment_start = 0.0
        self._segment_id = 0
        self._scale = 1.0  # elastic: step-time multiplier while running on fewer nodes
        self._segment_scale = 1.0
        self._request = None  # the fleet request for replacement nodes, while pending
        self._slow_steps = 0  # consecutive steps run with a slow node (for eviction)
        self._corrupted_since: float | None = None  # silent data corruption began
        self._corruption_found = False
        self.sdc_rollbacks = 0
        self.elastic_restarts = 0
        #: (time, steps, productive_s, straggler_delay_s) at every checkpoint that counted
        self.checkpoint_history: list[tuple[float, int, float, float]] = []
        self.checkpointer = Checkpointer(self)
        self.process = env.process(self._run())

    def _slow_nodes_possible(self) -> bool:
        slow = self.stragglers.slow_nodes
        return slow.fraction > 0 or slow.mtbs is not None

    @property
    def segments(self) -> int:
        """Segments of a failure-free run (one checkpoint after each but the last)."""
        return math.ceil(self.total_steps / self.steps_per_segment)

    # -- called by the fleet ----------------------------------------------------------------
    def on_node_failure(self, failure: Failure) -> None:
        """A node this job holds failed: interrupt the process if it is doing work (a failure
        while it is already stopped joins the interruption in progress)."""
        if not failure.planned:
            lost = () if failure.scope == "job" else failure.nodes
            self.checkpointer.on_failure(lost)
        if failure.silent and self._corrupted_since is not None:
            self._corruption_found = True  # the corruption was found: roll back on restart
        if self._armed:
            self._armed = False
            self.process.interrupt(failure)

    def on_silent_corruption(self, failure: Failure) -> None:
        """A node this job holds started corrupting results: every checkpoint from now on is
        bad; when the corruption is found (a failure then interrupts the job), it rolls back
        to the last checkpoint before it."""
        if not self.completed and self._corrupted_since is None:
            self._corrupted_since = failure.time_s

    def _roll_back_corruption(self) -> None:
        """Restore the last checkpoint taken before the corruption began."""
        since = self._corrupted_since
        self._corrupted_since = None
        self._corruption_found = False
        if since is None:
            return
        good = [entry for entry in self.checkpoint_history if entry[0] <= since]
        _time, steps, productive, straggler = good[-1] if good else (0.0, 0, 0.0, 0.0)
        buckets = self.accounting.buckets
        rolled = buckets["productive"] - productive + buckets["straggler_delay"] - straggler
        self.accounting.roll_back(buckets["productive"] - productive,
                                  buckets["straggler_delay"] - straggler)
        self.steps_committed = self.steps_done = steps
        self.has_checkpoint = bool(good)
        self.sdc_rollbacks += 1
        self.log.record(self.env.now, "sdc_rollback", job=self.name,
                        cause=f"{rolled:.0f} s of kept work lost")

    # -- the process --------------------------------------------------------------------------
    def _enter(self, phase: str) -> None:
        """Change phase; leaving a segment credits its straggler delay and ends it."""
        delay = elastic = 0.0
        if self.accounting.phase == RUNNING and self._segment is not None:
            delay, elastic = self._excess(self.env.now - self._segment_start)
            self._segment = None
        self.accounting.enter(phase, self.env.now, delay, elastic)

    def _excess(self, elapsed: float) -> tuple[float, float]:
        """(straggler delay, elastic excess) within the first ``elapsed`` s of the segment.
        An elastic segment runs the straggler timeline ``scale`` times slower."""
        assert self._segment is not None
        scale = self._segment_scale
        delay = straggler_delay(self._segment / scale, self.costs.step_s, elapsed / scale)
        return delay, elapsed - elapsed / scale

    def _start_segment(self, steps: int) -> float:
        """Draw the segment's step times (with the slow nodes held now); arrange an eviction
        if a slow node has been held for ``after_steps`` steps. Returns its duration."""
        slow = self.fleet.slow_nodes_of(self) if self._slow_nodes_possible() else []
        self._segment_scale = self._scale
        self._segment = self.step_time.cumulative(steps, len(slow) * self.gpus_per_node)
        if self._scale != 1.0:
            self._segment = self._segment * self._scale
        self._segment_start = self.env.now
        self._segment_id += 1
        mitigation = self.stragglers.mitigation
        if not slow:
            self._slow_steps = 0
        elif mitigation.policy == "evict":
            remaining = max(1, mitigation.after_steps - self._slow_steps)  # overdue: at once
            if remaining <= steps:
                segment_id, node = self._segment_id, slow[0]
                self.env.timeout(float(self._segment[remaining - 1])).callbacks.append(
                    lambda _event: self._evict(segment_id, node))
        self._slow_steps += steps if slow else 0
        return float(self._segment[-1])

    def _evict(self, segment_id: int, node: int) -> None:
        if self._segment_id == segment_id and self._armed:
            self._slow_steps = 0
            self.fleet.evict(self, node)

    def _run(self):
        env, spec = self.env, self.spec
        yield self.fleet.request(self, initial=True)
        self.started_s = env.now
        self.log.record(env.now, "job_start", job=self.name)
        recovering = False
        while True:
            try:
                self._armed = True
                if recovering:
                    self._enter("restart")
                    if self._corrupted_since is not None and self._corruption_found:
                        self._roll_back_corruption()
                    self.log.record(env.now, "restart", job=self.name)
                    yield env.timeout(spec.restart)
                    yield self.checkpointer.restore()
                    recovering = False
                steps = min(self.steps_per_segment, self.total_steps - self.steps_done)
                if steps == 0:  # a planned stop saved the last steps
                    break
                self._enter(RUNNING)
                yield env.timeout(self._start_segment(steps))
                self.steps_done += steps
                if self.steps_done >= self.total_steps:
                    break
                self._enter("checkpoint_stall")
                yield from self.checkpointer.save()
                if self._scale != 1.0 and self._request is not None and self._request.triggered:
                    yield from self._rescale()
            except simpy.Interrupt as interrupt:
                yield from self._recover(interrupt.cause)
                recovering = True
        self._armed = False
        self._enter("done")
        self.accounting.commit(env.now)
        self.steps_committed = self.steps_done
        self.completed = True
        self.fleet.release(self)
        self.log.record(env.now, "job_complete", job=self.name)

    def _recover(self, failure: Failure):
        """Stop after ``failure``: lose the work since the last checkpoint (a planned stop
        saves it first instead), wait out the detection time, get replacement nodes."""
        env = self.env
        finished, partial, partial_parts = 0, 0.0, (0.0, 0.0)
        if self.accounting.phase == RUNNING and self._segment is not None:
            elapsed = env.now - self._segment_start
            finished = steps_completed(self._segment, elapsed)
            done_s = float(self._segment[finished - 1]) if finished else 0.0
            partial = elapsed - done_s
            delay, elastic = self._excess(elapsed)
            done_delay, done_elastic = self._excess(done_s)
            partial_parts = (delay - done_delay, elastic - done_elastic)
        if self.accounting.phase == "checkpoint_stall" and not failure.planned:
            self.log.record(env.now, "checkpoint_aborted", job=self.name)
        self.interruptions[failure.cause] += 1
        self.interruptions_by_scope[failure.scope] += 1
        self.log.record(env.now, "interruption", job=self.name, cause=failure.cause,
                        unit=failure.unit)
        if failure.planned:  # drain: save the finished steps, abandon the one in progress
            self.planned_interruptions += 1
            self.steps_done += finished
            self._enter("checkpoint_stall")
            self.accounting.lose_part(partial, *partial_parts)
            yield env.timeout(self.costs.save_s)
            self.checkpointer.drained()
        else:
            self._enter("detection")
            self.accounting.lose()
            self.steps_done = self.steps_committed
        yield env.timeout(failure.detection_s)
        self.log.record(env.now, "detected", job=self.name, cause=failure.cause,
                        unit=failure.unit)
        self._enter("waiting_for_resources")
        if self._request is None or self._request.triggered:
            self._request = self.fleet.request(self, initial=False)
        elastic = self.spec.elastic
        held = self.fleet.held_count(self)
        if (not self._request.triggered and elastic is not None
                and held >= math.ceil(elastic.min_fraction * self.nodes_required)):
            self._scale = self.nodes_required / held  # same batch on fewer replicas
            self.elastic_restarts += 1
            self.log.record(env.now, "elastic", job=self.name,
                            cause=f"{held} of {self.nodes_required} nodes")
        else:
            yield self._request
            self._scale = 1.0

    def _rescale(self):
        """Replacements arrived while running elastic: restart on all nodes (after the
        checkpoint just taken)."""
        self._enter("restart")
        self.log.record(self.env.now, "rescale", job=self.name)
        yield self.env.timeout(self.spec.restart)
        yield self.checkpointer.restore()
        self._scale = 1.0

    # -- results ------------------------------------------------------------------------------
    def close(self, now: float) -> None:
        """End of run at ``now``: count the finished steps of a segment still in progress."""
        if self._segment is not None and self.accounting.phase == RUNNING:
            self.steps_done += steps_completed(self._segment, now - self._segment_start)
        if self.accounting.phase != "done":
            self._enter("done")
            self.accounting.commit(now)

    def summary(self) -> dict:
        """This job's entry of ``summary.json`` (keys documented in docs/guides/outputs.md)."""
        accounting = self.accounting
        losses = accounting.losses
        return {
            "type": "training",
            "wall_time_s": accounting.wall_s,
            "goodput": accounting.goodput,
            "buckets_s": dict(accounting.buckets),
            "interruptions": sum(self.interruptions.values()),
            "interruptions_unexpected": sum(self.interruptions.values())
            - self.planned_interruptions,
            "interruptions_planned": self.planned_interruptions,
            "evictions": self.interruptions.get("straggler_eviction", 0),
            "sdc_rollbacks": self.sdc_rollbacks,
            "elastic_restarts": self.elastic_restarts,
            "interruptions_by_cause": dict(sorted(self.interruptions.items())),
            "interruptions_by_scope": dict(sorted(self.interruptions_by_scope.items())),
            "checkpoints": self.checkpoints,
            "steps_completed": self.steps_done,
            "steps_total": self.total_steps,
            "completed": self.completed,
            "gpus": self.spec.gpus,
            "start_s": self.started_s,
            "checkpoint_policy": self.spec.checkpoint.policy,
            "checkpoint_mode": self.spec.checkpoint.mode,
            "memory_checkpoint_fallbacks": self.checkpointer.fallbacks,
            "checkpoint_interval_s": self.interval_s if math.isfinite(self.interval_s) else None,
            "job_mtbf_s": self.mtbf_s if math.isfinite(self.mtbf_s) else None,
            "lost_work_per_interruption_s": {
                "mean": float(np.mean(losses)) if losses else 0.0,
                "p50": float(np.percentile(losses, 50)) if losses else 0.0,
                "p90": float(np.percentile(losses, 90)) if losses else 0.0,
                "max": float(np.max(losses)) if losses else 0.0,
            },
            **self._cost_summary(),
        }

    def _cost_summary(self) -> dict:
        costs = self.costs
        summary: dict = {"step_time_s": costs.step_s, "checkpoint_save_s": costs.save_s,
                         "checkpoint_load_s": costs.load_s}
        if costs.estimate is not None and costs.memory is not None:
            summary["mfu"] = costs.estimate.mfu
            summary["step_breakdown_s"] = dict(costs.estimate.breakdown)
            summary["memory_per_gpu_bytes"] = costs.memory.as_dict()
            summary["checkpoint_bytes"] = costs.checkpoint_bytes
        return summary
