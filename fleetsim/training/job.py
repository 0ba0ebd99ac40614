"""A training job as one SimPy process: queued, started by the scheduler, segments between
checkpoints, failures and recovery, preemption.

The process loop (one timeout per segment, never per step or per GPU)::

    queued --start--> [restart -> load checkpoint] -> compute a segment -> save a checkpoint
      ^                  ^                                                              |
      |                  +--- failure: lose work since last checkpoint, detect, --------+
      |                       get replacement nodes                                     |
      +---- preemption: save (or lose) the work since the last checkpoint, release -----+

The scheduler (:mod:`fleetsim.scheduler`) decides when the job starts and on which GPUs
(:meth:`TrainingJob.start`) and may preempt it (:meth:`TrainingJob.preempt`); the job tells
its ``listener`` when it has finished or has released its GPUs after a preemption.

A failure of a node the job holds interrupts the process in whatever active phase it is
(computing, saving, restarting, loading). The completed steps of an interrupted segment are
found with ``searchsorted`` on its timeline (:mod:`fleetsim.training.timeline`), and
everything since the last completed checkpoint is lost. A save that is interrupted does not
count. Failures that strike while the job is already detecting a failure or waiting for nodes
only add to the nodes it must replace (its clock is already stopped). Time is credited to
buckets through :class:`fleetsim.metrics.JobAccounting`; saving and restoring is the
:class:`~fleetsim.training.checkpointing.Checkpointer`'s.

Variations on the loop: a planned stop drains (saves the finished steps) instead of losing
them, and so does a preemption in ``checkpoint`` mode (in ``kill`` mode the work since the last
checkpoint is lost); silent data corruption lets the job run on until it is found, then rolls
back past the checkpoints since; stragglers stretch a segment's steps (order statistics) and a
slow node may be evicted; an elastic job restarts on fewer nodes rather than wait, and
rescales after a checkpoint once its replacements arrive; other jobs' traffic on its links
stretches its steps (``contention``), and so does a power cap (``power_slowdown``): they slow
disjoint parts of the step (communication, compute), so their excesses add and the step time
is the isolated one x (contention + power slowdown - 1) (:mod:`fleetsim.training.timeline`);
a change of either, at a placement change (never per step), re-times a segment in flight.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from typing import Callable, Protocol

import numpy as np
import simpy

from fleetsim.cluster import Fleet
from fleetsim.cluster.storage import SharedStorage
from fleetsim.engine import EventLog
from fleetsim.faults.clock import Failure
from fleetsim.faults.stragglers import Jitter, NoJitter, jitter_from
from fleetsim.metrics import JobAccounting
from fleetsim.metrics.accounting import QUEUED, RUNNING
from fleetsim.scenario.models import TrainingJobSpec
from fleetsim.scenario.stragglers import JitterSpec, StragglersSpec
from fleetsim.training.checkpointing import Checkpointer
from fleetsim.training.costs import JobCosts
from fleetsim.training.steptime import ConstantStepTime, StragglerStepTime
from fleetsim.training.timeline import Timeline

DONE, PREEMPTED = "done", "preempted"


@functools.lru_cache(maxsize=64)
def _jitter(spec: JitterSpec) -> Jitter:
    """The jitter law of a spec (immutable; shared by every job of a run)."""
    return jitter_from(spec.distribution, **spec.params())


class JobListener(Protocol):
    """Who is told when a job has finished or has released its GPUs after a preemption."""

    def on_finished(self, job) -> None: ...

    def on_preempted(self, job) -> None: ...


class Preemption:
    """The cause of a preemption interrupt: ``mode`` ``checkpoint`` saves first, ``kill``
    loses the work since the last checkpoint."""

    __slots__ = ("mode", "reason")

    def __init__(self, mode: str, reason: str) -> None:
        self.mode, self.reason = mode, reason


class TrainingJob:
    """One training job's state and its SimPy process."""

    type = "training"

    def __init__(self, env: simpy.Environment, spec: TrainingJobSpec, fleet: Fleet,
                 log: EventLog, *, costs: JobCosts, gpus_per_node: int, interval_s: float,
                 mtbf_s: float, stragglers: StragglersSpec | None = None,
                 rng: np.random.Generator | None = None,
                 storage: SharedStorage | None = None,
                 placed: Callable[["TrainingJob"], None] | None = None,
                 vacated: Callable[["TrainingJob"], None] | None = None,
                 retimable: bool = False,
                 submit_s: float | None = None) -> None:
        self.env = env
        self.spec = spec
        self.name = spec.name
        self.fleet = fleet
        self.log = log
        if spec.gpus >= gpus_per_node:
            self.nodes_required, self.gpus_per_node_required = spec.gpus // gpus_per_node, gpus_per_node
        else:
            self.nodes_required, self.gpus_per_node_required = 1, spec.gpus
        self.costs = costs
        self.storage = storage
        self.gpus_per_node = gpus_per_node
        self.stragglers = stragglers or StragglersSpec()
        self._rng = rng
        self.step_s = costs.step_s  # isolated step time on the current placement
        self.step_time = self._step_model(costs.step_s)
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
        self.submit_s = env.now if submit_s is None else submit_s
        self.gpus = spec.gpus
        self.priority = spec.priority
        self.team = spec.team
        self.preemptible = spec.preemptible
        #: the user's runtime estimate (backfill, sjf): given, else the failure-free time
        self.estimate_s = spec.estimate if spec.estimate is not None else self.failure_free_s
        self._run_estimate_s = self.estimate_s  # estimated length of the current run
        self.accounting = JobAccounting(self.submit_s)
        self.steps_committed = 0  # steps contained in the last completed checkpoint
        self.steps_done = 0  # steps computed and not (yet) lost
        self.has_checkpoint = False
        self.checkpoints = 0
        self.interruptions: Counter[str] = Counter()
        self.interruptions_by_scope: Counter[str] = Counter()
        self.planned_interruptions = 0
        self.preemptions = 0
        self.completed = False
        self.started_s: float | None = None  # first start
        self.last_start_s: float | None = None
        self.ended_s: float | None = None
        self.starts = 0
        self.listener: JobListener | None = None
        self.final_phase: str | None = None  # the phase the run ended in (close)
        self._placed_hook, self._vacated_hook = placed, vacated
        #: may its step time change mid-segment (a shared fabric, a cluster power cap)
        self._retimable = retimable
        self._armed = False  # may a failure interrupt the process now?
        self._started = env.event()
        self._timeline: Timeline | None = None
        self._retimed: simpy.Event | None = None  # succeeds when the segment is re-timed
        self._segment_id = 0
        self._evict_token = 0
        self._scale = 1.0  # elastic: step-time multiplier while running on fewer nodes
        self.contention = 1.0  # step-time multiplier from other jobs' traffic on its links
        self.power_slowdown = 1.0  # step-time multiplier from a power cap
        self._request = None  # the fleet request for replacement nodes, while pending
        self._slow_steps = 0  # consecutive steps run with a slow node (for eviction)
        self._corrupted_since: float | None = None  # silent data corruption began
        self._corruption_found = False
        self._preempting = False
        self.sdc_rollbacks = 0
        self.elastic_restarts = 0
        #: (time, steps, productive_s, straggler_delay_s) at every checkpoint that counted
        self.checkpoint_history: list[tuple[float, int, float, float]] = []
        self.checkpointer = Checkpointer(self)
        self.process = env.process(self._run())

    def _step_model(self, step_s: float) -> ConstantStepTime | StragglerStepTime:
        jitter = _jitter(self.stragglers.jitter)
        if isinstance(jitter, NoJitter) and not self._slow_nodes_possible():
            return ConstantStepTime(step_s)
        assert self._rng is not None, "stragglers need a random stream"
        return StragglerStepTime(step_s, jitter, self.spec.gpus,
                                 self.stragglers.slow_nodes.slowdown, self._rng)

    def _slow_nodes_possible(self) -> bool:
        slow = self.stragglers.slow_nodes
        return slow.fraction > 0 or slow.mtbs is not None

    @property
    def segments(self) -> int:
        """Segments of a failure-free run (one checkpoint after each but the last)."""
        return math.ceil(self.total_steps / self.steps_per_segment)

    @property
    def failure_free_s(self) -> float:
        """The job's compute plus its checkpoint saves, without failures."""
        return self.total_steps * self.step_time.mean_s + (self.segments - 1) * self.costs.save_s

    @property
    def remaining_estimate_s(self) -> float:
        """The estimate of what is left to run: the estimate scaled by the share of the
        steps not yet kept, plus a restart when there is a checkpoint to resume from."""
        left = 1.0 - self.steps_committed / self.total_steps
        restart = self.spec.restart + self.costs.load_s if self.has_checkpoint else 0.0
        return self.estimate_s * left + restart

    @property
    def expected_end_s(self) -> float:
        """When the current run should end by the estimate (backfill's shadow time)."""
        start = self.last_start_s if self.last_start_s is not None else self.env.now
        return start + self._run_estimate_s

    @property
    def attained_gpu_s(self) -> float:
        """GPU-seconds held so far (least-attained-service scheduling)."""
        return self.accounting.gpu_seconds(self.env.now)

    @property
    def running(self) -> bool:
        """Does the job hold GPUs (started and neither finished nor preempted)?"""
        return self.last_start_s is not None and not self.completed and not self._queued

    @property
    def _queued(self) -> bool:
        return self.accounting.phase == QUEUED

    # -- called by the scheduler ------------------------------------------------------------
    def start(self) -> None:
        """The scheduler has allocated the job's GPUs: run."""
        self._run_estimate_s = self.remaining_estimate_s
        self._started.succeed()

    def preempt(self, mode: str = "checkpoint", reason: str = "") -> bool:
        """Stop and release the GPUs (``mode``: ``checkpoint`` saves the finished steps first,
        ``kill`` loses the work since the last checkpoint); the listener's ``on_preempted``
        follows once the GPUs are free. False if the job cannot be preempted now (queued,
        finished, or already being preempted)."""
        if self._preempting or self.completed or self._queued or not self.process.is_alive:
            return False
        self._preempting = True
        self._armed = False
        self.process.interrupt(Preemption(mode, reason))
        return True

    # -- called by the fleet and the fabric ---------------------------------------------------
    def on_allocation_changed(self, gpus: int) -> None:
        self.accounting.set_gpus(self.env.now, gpus)

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

    def set_step_time(self, step_s: float) -> None:
        """The isolated step time on the GPUs the scheduler gave the job (at each start; a
        replacement node after a failure keeps it: spares are assumed as well connected as
        the nodes they replace, the launcher ranking them by topology)."""
        if step_s != self.step_s:
            self.step_s = step_s
            self.step_time = self._step_model(step_s)

    def set_contention(self, factor: float) -> None:
        """Other jobs' traffic makes a step ``factor`` times the isolated one from now on; a
        segment in flight is re-timed."""
        if factor != self.contention:
            self.contention = factor
            self._retime()

    def set_power_slowdown(self, factor: float) -> None:
        """A power cap makes a step ``factor`` times the uncapped one from now on; a segment
        in flight is re-timed."""
        if factor != self.power_slowdown:
            self.power_slowdown = factor
            self._retime()

    def _retime(self) -> None:
        """The segment in flight continues at the current contention and power factors."""
        if self._timeline is not None and self.accounting.phase == RUNNING:
            self._timeline.retime(self.env.now, self.contention, self.power_slowdown)
            if self._retimed is not None and not self._retimed.triggered:
                self._retimed.succeed()

    def _roll_back_corruption(self) -> None:
        """Restore the last checkpoint taken before the corruption began."""
        since = self._corrupted_since
        self._corrupted_since = None
        self._corruption_found = False
        if since is None:
            return
        good = [entry for entry in self.checkpoint_history if entry[0] <= since]
        _time, steps, productive, straggler = good[-1] if good else (0.0, 0, 0.0, 0.0)
        buckets = self.accounting.kept_s()
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
        """Change phase; leaving a segment credits its excess parts and ends it."""
        excess = None
        if self.accounting.phase == RUNNING and self._timeline is not None:
            excess = self._timeline.excess(self.env.now)
            self._timeline = None
        self.accounting.enter(phase, self.env.now, excess)

    def _start_segment(self, steps: int) -> Timeline:
        """Draw the segment's step times (with the slow nodes held now); arrange an eviction
        if a slow node has been held for ``after_steps`` steps."""
        slow = self.fleet.slow_nodes_of(self) if self._slow_nodes_possible() else []
        base = self.step_time.cumulative(steps, len(slow) * self.gpus_per_node_required)
        timeline = Timeline(base, self.step_s, self.env.now, self._scale, self.contention,
                            self.power_slowdown)
        self._timeline = timeline
        self._segment_id += 1
        mitigation = self.stragglers.mitigation
        if not slow:
            self._slow_steps = 0
        elif mitigation.policy == "evict":
            remaining = max(1, mitigation.after_steps - self._slow_steps)  # overdue: at once
            if remaining <= steps:
                self._evict_at = (self._segment_id, slow[0], remaining)
                self._schedule_eviction()
        self._slow_steps += steps if slow else 0
        return timeline

    def _schedule_eviction(self) -> None:
        timeline = self._timeline
        if timeline is None or getattr(self, "_evict_at", None) is None:
            return
        segment_id, node, step = self._evict_at
        if segment_id != self._segment_id:
            return
        self._evict_token += 1
        token = self._evict_token
        delay = max(0.0, timeline.wall_of_step(step) - self.env.now)
        self.env.timeout(delay).callbacks.append(lambda _event: self._evict(token, node))

    def _evict(self, token: int, node: int) -> None:
        if self._evict_token == token and self._armed and self._timeline is not None:
            self._slow_steps = 0
            self._evict_at = None
            self.fleet.evict(self, node)

    def _run(self):
        env = self.env
        while True:
            yield self._started
            self._started = env.event()
            self.starts += 1
            self.last_start_s = env.now
            if self.started_s is None:
                self.started_s = env.now
            self.log.record(env.now, "job_start", job=self.name)
            self._placed()
            outcome = yield from self._work(resuming=self.starts > 1)
            if outcome == DONE:
                break
        self._armed = False
        self._enter("done")
        self.accounting.commit(env.now)
        self.steps_committed = self.steps_done
        self.completed = True
        self.ended_s = env.now
        self._vacate()
        self.fleet.release(self)
        self.log.record(env.now, "job_complete", job=self.name)
        if self.listener is not None:
            self.listener.on_finished(self)

    def _work(self, resuming: bool):
        """Run on the GPUs held until done (returns ``DONE``) or preempted (``PREEMPTED``)."""
        env, spec = self.env, self.spec
        recovering = resuming
        failure: Failure | None = None
        while True:
            try:
                if failure is not None:
                    stopped, failure = failure, None
                    yield from self._recover(stopped)
                    recovering = True
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
                    return DONE
                self._enter(RUNNING)
                timeline = self._start_segment(steps)
                yield from self._compute(timeline)
                self.steps_done += steps
                if self.steps_done >= self.total_steps:
                    return DONE
                self._enter("checkpoint_stall")
                yield from self.checkpointer.save()
                if self._scale != 1.0 and self._request is not None and self._request.triggered:
                    yield from self._rescale()
            except simpy.Interrupt as interrupt:
                cause = interrupt.cause
                if isinstance(cause, Preemption):
                    yield from self._yield_gpus(cause)
                    return PREEMPTED
                failure = cause
                self._stop(failure)

    def _compute(self, timeline: Timeline):
        """Wait until the segment's last step completes; a job whose step time can change
        mid-segment (a shared fabric, a cluster power cap) waits on its re-timing event too."""
        env = self.env
        if not self._retimable:  # one event per segment, not two
            yield env.timeout(max(0.0, timeline.end_s() - env.now))
            return
        while True:
            self._retimed = env.event()
            done = env.timeout(max(0.0, timeline.end_s() - env.now))
            yield done | self._retimed
            if not self._retimed.triggered:
                break
            self._schedule_eviction()
        self._retimed = None

    def _finished_steps(self) -> tuple[int, float, dict[str, float]]:
        """(steps of the segment in flight that completed, the seconds of the step in
        progress, its excess parts)."""
        timeline, now = self._timeline, self.env.now
        if self.accounting.phase != RUNNING or timeline is None:
            return 0, 0.0, {}
        finished = timeline.steps_done(now)
        done_s = timeline.wall_of_step(finished)
        excess, done_excess = timeline.excess(now), timeline.excess(done_s)
        return finished, now - done_s, {key: excess[key] - done_excess[key] for key in excess}

    def _stop(self, failure: Failure) -> None:
        """Stop after ``failure``: a planned stop keeps the finished steps (saved by the drain
        that follows), an unplanned one loses the work since the last checkpoint."""
        env = self.env
        finished, partial, partial_excess = self._finished_steps()
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
            self.accounting.lose_part(partial, partial_excess)
        else:
            self._enter("detection")
            self.accounting.lose()
            self.steps_done = self.steps_committed

    def _recover(self, failure: Failure):
        """After :meth:`_stop`: finish a drain, wait out the detection time, get replacement
        nodes (or go on elastic)."""
        env = self.env
        if failure.planned:
            yield env.timeout(self.costs.save_s)
            self.checkpointer.drained()
        yield env.timeout(failure.detection_s)
        self.log.record(env.now, "detected", job=self.name, cause=failure.cause,
                        unit=failure.unit)
        self._enter("waiting_for_resources")
        if self._request is None or self._request.triggered:
            self._request = self.fleet.request_replacements(self)
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
        self._scale = 1.0
        yield self.env.timeout(self.spec.restart)
        yield self.checkpointer.restore()

    def _yield_gpus(self, preemption: Preemption):
        """Preempted: keep the finished steps with a save (``checkpoint`` mode, if the job
        was computing or saving) or lose the work since the last checkpoint (``kill``), then
        release the GPUs and queue again."""
        env = self.env
        phase = self.accounting.phase
        self.preemptions += 1
        self.log.record(env.now, "preempted", job=self.name, cause=preemption.reason)
        if preemption.mode == "checkpoint" and phase in (RUNNING, "checkpoint_stall"):
            finished, partial, partial_excess = self._finished_steps()
            self.steps_done += finished
            self._enter("checkpoint_stall")
            self.accounting.lose_part(partial, partial_excess)
            self._armed = True
            try:
                yield env.timeout(self.costs.save_s)
                self.checkpointer.drained()
            except simpy.Interrupt:  # a failure aborts the save: its work is lost below
                self.log.record(env.now, "checkpoint_aborted", job=self.name)
            self._armed = False
        self._enter(QUEUED)
        if self.accounting.pending_s:  # the work since the last checkpoint (kill, aborted save)
            self.accounting.lose()
        self.steps_done = self.steps_committed
        self.checkpointer.moved()  # transfers in flight and copies in peer memory are lost
        self._scale = 1.0
        self._vacate()
        if self._request is not None and not self._request.triggered:
            self._request = None
        self.fleet.release(self)
        self._preempting = False
        if self.listener is not None:
            self.listener.on_preempted(self)

    def _placed(self) -> None:
        if self._placed_hook is not None:
            self._placed_hook(self)

    def _vacate(self) -> None:
        if self._vacated_hook is not None:
            self._vacated_hook(self)
        self.contention = 1.0
        self.power_slowdown = 1.0

    # -- results ------------------------------------------------------------------------------
    def close(self, now: float) -> None:
        """End of run at ``now``: count the finished steps of a segment still in progress."""
        now = max(now, self.submit_s)  # a job not yet submitted has no time
        self.final_phase = self.accounting.phase
        if self._timeline is not None and self.accounting.phase == RUNNING:
            self.steps_done += self._timeline.steps_done(now)
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
            "preemptions": self.preemptions,
            "interruptions_by_cause": dict(sorted(self.interruptions.items())),
            "interruptions_by_scope": dict(sorted(self.interruptions_by_scope.items())),
            "checkpoints": self.checkpoints,
            "steps_completed": self.steps_done,
            "steps_total": self.total_steps,
            "completed": self.completed,
            "gpus": self.spec.gpus,
            "submit_s": self.submit_s,
            "start_s": self.started_s,
            "end_s": self.ended_s,
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
        summary: dict = {"step_time_s": self.step_s, "checkpoint_save_s": costs.save_s,
                         "checkpoint_load_s": costs.load_s}
        if costs.estimate is not None and costs.memory is not None:
            summary["mfu"] = costs.estimate.mfu * costs.step_s / self.step_s
            summary["step_breakdown_s"] = dict(costs.estimate.breakdown)
            summary["memory_per_gpu_bytes"] = costs.memory.as_dict()
            summary["checkpoint_bytes"] = costs.checkpoint_bytes
        return summary
