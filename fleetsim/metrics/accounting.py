"""Goodput accounting: every second of a job's wall clock lands in exactly one bucket.

A job is always in one *phase*; :meth:`JobAccounting.enter` credits the time since the last
transition to the phase being left. Computing time (phase ``running``) is first held as
*pending*: it becomes ``productive`` when a checkpoint that contains it completes (or when the
job finishes), and ``lost_work`` when a failure throws it away. Because every credit is the
difference of consecutive transition times, the buckets plus pending telescope to the wall
time; at the end of a run pending work that no failure has destroyed counts as productive.

Buckets (docs/guides/outputs.md defines each):

``productive``             computing whose result was kept
``checkpoint_stall``       blocked saving checkpoints (including saves a failure aborted)
``lost_work``              computing thrown away by a failure (recomputed later)
``detection``              from a failure until the job notices it
``restart``                re-initialising after a failure, including the checkpoint load
``waiting_for_resources``  waiting for nodes (first allocation, or replacements)
``straggler_delay``        computing beyond the straggler-free step time (the slowest rank of
                           each step; of kept work only: delay in lost work is lost work)

An elastic job running on fewer nodes takes longer per step; that excess is credited to
``waiting_for_resources`` (the cost of the missing nodes) when its work is kept.
"""

from __future__ import annotations

BUCKETS = ("productive", "checkpoint_stall", "lost_work", "detection", "restart",
           "waiting_for_resources", "straggler_delay")

RUNNING = "running"
DONE = "done"


class JobAccounting:
    """Phase-by-phase time accounting for one job."""

    def __init__(self, start_s: float) -> None:
        self.start_s = start_s
        self.buckets: dict[str, float] = dict.fromkeys(BUCKETS, 0.0)
        self.pending_s = 0.0
        self.pending_delay_s = 0.0  # the straggler part of pending_s
        self.pending_elastic_s = 0.0  # the part due to running elastic on fewer nodes
        self.phase = "waiting_for_resources"
        self._since = start_s
        #: (time_s, productive_s) after every change of the productive bucket
        self.productive_log: list[tuple[float, float]] = [(start_s, 0.0)]
        #: lost work of each interruption, seconds
        self.losses: list[float] = []
        #: (time_s, phase) at every phase change, for timelines
        self.phase_log: list[tuple[float, str]] = [(start_s, self.phase)]

    def enter(self, phase: str, now: float, delay_s: float = 0.0,
              elastic_s: float = 0.0) -> None:
        """Leave the current phase at ``now`` (crediting its time) and enter ``phase``;
        ``delay_s`` and ``elastic_s`` are the straggler and elastic parts of the computing
        time being left."""
        elapsed = now - self._since
        if self.phase == RUNNING:
            self.pending_s += elapsed
            self.pending_elastic_s += min(elastic_s, elapsed)
            self.pending_delay_s += min(delay_s, elapsed - min(elastic_s, elapsed))
        elif self.phase != DONE:
            self.buckets[self.phase] += elapsed
        self.phase, self._since = phase, now
        if self.phase_log[-1][1] != phase:
            self.phase_log.append((now, phase))

    def commit(self, now: float) -> None:
        """A checkpoint (or the end of the job) made the pending work permanent."""
        if self.pending_s:
            self.buckets["productive"] += (self.pending_s - self.pending_delay_s
                                           - self.pending_elastic_s)
            self.buckets["straggler_delay"] += self.pending_delay_s
            self.buckets["waiting_for_resources"] += self.pending_elastic_s
            self.pending_s = self.pending_delay_s = self.pending_elastic_s = 0.0
            self.productive_log.append((now, self.buckets["productive"]))

    def lose(self) -> float:
        """A failure destroyed the pending work; returns how much was lost."""
        lost = self.pending_s
        self.buckets["lost_work"] += lost
        self.losses.append(lost)
        self.pending_s = self.pending_delay_s = self.pending_elastic_s = 0.0
        return lost

    def commit_part(self, now: float, seconds: float, delay_s: float,
                    elastic_s: float = 0.0) -> None:
        """Make the first ``seconds`` of the pending work (``delay_s`` of it straggler delay,
        ``elastic_s`` elastic excess) permanent: an asynchronous checkpoint persisted what it
        had snapshotted."""
        seconds, delay_s = min(seconds, self.pending_s), min(delay_s, self.pending_delay_s)
        elastic_s = min(elastic_s, self.pending_elastic_s)
        self.buckets["productive"] += seconds - delay_s - elastic_s
        self.buckets["straggler_delay"] += delay_s
        self.buckets["waiting_for_resources"] += elastic_s
        self.pending_s -= seconds
        self.pending_delay_s -= delay_s
        self.pending_elastic_s -= elastic_s
        self.productive_log.append((now, self.buckets["productive"]))

    def roll_back(self, productive_s: float, delay_s: float) -> None:
        """Work already made permanent is lost after all (its checkpoint was lost)."""
        self.buckets["productive"] -= productive_s
        self.buckets["straggler_delay"] -= delay_s
        self.buckets["lost_work"] += productive_s + delay_s
        if self.losses:
            self.losses[-1] += productive_s + delay_s
        self.productive_log.append((self._since, self.buckets["productive"]))

    def lose_part(self, seconds: float, delay_s: float, elastic_s: float = 0.0) -> None:
        """A planned stop abandons the step in progress: ``seconds`` of the pending work (of
        which ``delay_s`` straggler delay and ``elastic_s`` elastic excess) are lost."""
        self.pending_s -= seconds
        self.pending_delay_s -= delay_s
        self.pending_elastic_s -= elastic_s
        self.buckets["lost_work"] += seconds
        self.losses.append(seconds)

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
