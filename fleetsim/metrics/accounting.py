"""Goodput accounting: every second of a job's wall clock lands in exactly one bucket, and
every GPU-second it holds too.

A job is always in one *phase*; :meth:`JobAccounting.enter` credits the time since the last
transition to the phase being left. Computing time (phase ``running``) is first held as
*pending*: it becomes ``productive`` when a checkpoint that contains it completes (or when the
job finishes), and ``lost_work`` when a failure or a preemption throws it away. Because every
credit is the difference of consecutive transition times, the buckets plus pending telescope
to the wall time; at the end of a run pending work that nothing has destroyed counts as
productive.

Buckets (docs/guides/outputs.md defines each):

``productive``             computing whose result was kept
``checkpoint_stall``       blocked saving checkpoints (including saves a failure aborted)
``lost_work``              computing thrown away by a failure or a preemption (recomputed)
``detection``              from a failure until the job notices it
``restart``                re-initialising after a failure or a preemption, including the
                           checkpoint load
``waiting_for_resources``  waiting for replacement nodes after a failure
``queued``                 waiting in the scheduler's queue: before the first start and after
                           a preemption (no GPUs held)
``straggler_delay``        computing beyond the straggler-free step time (the slowest rank of
                           each step; of kept work only: delay in lost work is lost work)
``contention``             computing beyond the job's isolated step time because other jobs'
                           traffic shares its network links (of kept work only)
``power_cap``              computing beyond the uncapped step time because a power cap slows
                           the accelerators (of kept work only)

An elastic job running on fewer nodes takes longer per step; that excess is credited to
``waiting_for_resources`` (the cost of the missing nodes) when its work is kept.

GPU-seconds: alongside the seconds, ``gpu_buckets`` credits each interval times the GPUs the
job held during it (:meth:`JobAccounting.set_gpus`, called by the fleet whenever the job's
allocation changes). A job holds the same GPUs for the whole of a computing interval (any
change of its nodes stops it at that very instant), so the computing time's GPU-seconds are
split between productive, lost and the excess buckets in the same proportions as its
seconds. Summed over the jobs and the fleet's idle, spare and down GPUs, the GPU-seconds
telescope to GPUs x wall time exactly: the fleet-level conservation law.
"""

from __future__ import annotations

from typing import Mapping

BUCKETS = ("productive", "checkpoint_stall", "lost_work", "detection", "restart",
           "waiting_for_resources", "queued", "straggler_delay", "contention", "power_cap")

#: buckets a computing interval's excess over the productive step can be credited to
EXCESS = ("waiting_for_resources", "straggler_delay", "contention", "power_cap")

RUNNING = "running"
DONE = "done"
QUEUED = "queued"

_TOTAL = "total"


class JobAccounting:
    """Phase-by-phase time (and GPU-time) accounting for one job."""

    def __init__(self, start_s: float, phase: str = QUEUED) -> None:
        self.start_s = start_s
        self.buckets: dict[str, float] = dict.fromkeys(BUCKETS, 0.0)
        self.gpu_buckets: dict[str, float] = dict.fromkeys(BUCKETS, 0.0)
        #: computing time not yet kept or lost: "total" and its excess parts (seconds), and
        #: the same in GPU-seconds
        self.pending: dict[str, float] = dict.fromkeys((_TOTAL,) + EXCESS, 0.0)
        self.pending_gpu: dict[str, float] = dict.fromkeys((_TOTAL,) + EXCESS, 0.0)
        self.phase = phase
        self.gpus = 0  # GPUs held now
        self._running_gpus = 0  # GPUs held when the current computing interval began
        self._since = start_s
        #: (time_s, productive_s) after every change of the productive bucket
        self.productive_log: list[tuple[float, float]] = [(start_s, 0.0)]
        #: lost work of each interruption, seconds
        self.losses: list[float] = []
        #: (time_s, phase) at every phase change, for timelines
        self.phase_log: list[tuple[float, str]] = [(start_s, self.phase)]

    @property
    def pending_s(self) -> float:
        return self.pending[_TOTAL]

    def snapshot(self) -> tuple[dict[str, float], dict[str, float]]:
        """The pending work now (an asynchronous checkpoint's content)."""
        return dict(self.pending), dict(self.pending_gpu)

    def enter(self, phase: str, now: float, excess: Mapping[str, float] | None = None) -> None:
        """Leave the current phase at ``now`` (crediting its time) and enter ``phase``;
        ``excess`` gives the parts of the computing time being left that go to an
        :data:`EXCESS` bucket if the work is kept (straggler delay, elastic, contention)."""
        elapsed = now - self._since
        if self.phase == RUNNING:
            room = elapsed
            gpus = self._running_gpus
            self.pending[_TOTAL] += elapsed
            self.pending_gpu[_TOTAL] += elapsed * gpus
            for bucket in EXCESS:
                part = min(max((excess or {}).get(bucket, 0.0), 0.0), room)
                room -= part
                self.pending[bucket] += part
                self.pending_gpu[bucket] += part * gpus
        elif self.phase != DONE:
            self.buckets[self.phase] += elapsed
            self.gpu_buckets[self.phase] += elapsed * self.gpus
        self.phase, self._since = phase, now
        if phase == RUNNING:
            self._running_gpus = self.gpus
        if self.phase_log[-1][1] != phase:
            self.phase_log.append((now, phase))

    def set_gpus(self, now: float, gpus: int) -> None:
        """The job now holds ``gpus`` GPUs: credit the current phase up to ``now`` at the old
        count (a computing interval keeps its count: the job stops at this same instant)."""
        if self.phase not in (RUNNING, DONE) and now > self._since:
            elapsed = now - self._since
            self.buckets[self.phase] += elapsed
            self.gpu_buckets[self.phase] += elapsed * self.gpus
            self._since = now
        self.gpus = gpus

    def gpu_seconds(self, now: float) -> float:
        """GPU-seconds held from the start up to ``now`` (the service the job attained)."""
        held = sum(self.gpu_buckets.values()) + self.pending_gpu[_TOTAL]
        if self.phase == RUNNING:
            return held + (now - self._since) * self._running_gpus
        if self.phase != DONE:
            return held + (now - self._since) * self.gpus
        return held

    def _keep(self, seconds: Mapping[str, float], gpu_seconds: Mapping[str, float]) -> None:
        excess = sum(seconds[bucket] for bucket in EXCESS)
        excess_gpu = sum(gpu_seconds[bucket] for bucket in EXCESS)
        self.buckets["productive"] += seconds[_TOTAL] - excess
        self.gpu_buckets["productive"] += gpu_seconds[_TOTAL] - excess_gpu
        for bucket in EXCESS:
            self.buckets[bucket] += seconds[bucket]
            self.gpu_buckets[bucket] += gpu_seconds[bucket]

    def commit(self, now: float) -> None:
        """A checkpoint (or the end of the job) made the pending work permanent."""
        if self.pending[_TOTAL]:
            self._keep(self.pending, self.pending_gpu)
            self._clear_pending()
            self.productive_log.append((now, self.buckets["productive"]))

    def commit_part(self, now: float, held: tuple[dict[str, float], dict[str, float]]) -> None:
        """Make the pending work an asynchronous checkpoint snapshotted (``held``, from
        :meth:`snapshot`) permanent; work done since stays pending."""
        seconds, gpu_seconds = held
        moved = {key: min(value, self.pending[key]) for key, value in seconds.items()}
        moved_gpu = {key: min(value, self.pending_gpu[key])
                     for key, value in gpu_seconds.items()}
        self._keep(moved, moved_gpu)
        for key in self.pending:
            self.pending[key] -= moved[key]
            self.pending_gpu[key] -= moved_gpu[key]
        self.productive_log.append((now, self.buckets["productive"]))

    def lose(self) -> float:
        """A failure or a preemption destroyed the pending work; returns how much was lost."""
        lost = self.pending[_TOTAL]
        self.buckets["lost_work"] += lost
        self.gpu_buckets["lost_work"] += self.pending_gpu[_TOTAL]
        self.losses.append(lost)
        self._clear_pending()
        return lost

    def lose_part(self, seconds: float, excess: Mapping[str, float]) -> None:
        """A drain abandons the step in progress: ``seconds`` of the pending work (``excess``
        of it in excess buckets) are lost."""
        share = seconds / self.pending[_TOTAL] if self.pending[_TOTAL] else 0.0
        lost_gpu = self.pending_gpu[_TOTAL] * share
        self.pending[_TOTAL] -= seconds
        self.pending_gpu[_TOTAL] -= lost_gpu
        for bucket in EXCESS:
            part = min(excess.get(bucket, 0.0), self.pending[bucket])
            gpu_part = self.pending_gpu[bucket] * (part / self.pending[bucket]
                                                   if self.pending[bucket] else 0.0)
            self.pending[bucket] -= part
            self.pending_gpu[bucket] -= gpu_part
        self.buckets["lost_work"] += seconds
        self.gpu_buckets["lost_work"] += lost_gpu
        self.losses.append(seconds)

    def roll_back(self, productive_s: float, delay_s: float) -> None:
        """Work already made permanent is lost after all (its checkpoint was lost)."""
        for bucket, seconds in (("productive", productive_s), ("straggler_delay", delay_s)):
            have = self.buckets[bucket]
            gpu = self.gpu_buckets[bucket] * (seconds / have) if have else 0.0
            self.buckets[bucket] -= seconds
            self.gpu_buckets[bucket] -= gpu
            self.buckets["lost_work"] += seconds
            self.gpu_buckets["lost_work"] += gpu
        if self.losses:
            self.losses[-1] += productive_s + delay_s
        self.productive_log.append((self._since, self.buckets["productive"]))

    def _clear_pending(self) -> None:
        for key in self.pending:
            self.pending[key] = 0.0
            self.pending_gpu[key] = 0.0

    def close(self, now: float) -> None:
        """End of the run: credit the current phase and keep the surviving pending work."""
        if self.phase != DONE:
            self.enter(DONE, now)
            self.commit(now)

    @property
    def wall_s(self) -> float:
        return self._since - self.start_s

    @property
    def goodput(self) -> float:
        wall = self.wall_s
        return self.buckets["productive"] / wall if wall > 0 else 0.0
