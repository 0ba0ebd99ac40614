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

Exactness: the books are kept in integers, in units of 2**-1074 s (:data:`UNIT_S`, the
spacing of the smallest floats), into which every float time converts exactly. So a credit is
the exact difference of two transition times and a move between buckets (a loss, a roll-back,
a proportional GPU share) takes from one integer what it gives to another: the buckets plus
pending equal end minus start as integers, with no rounding anywhere. Floats only appear when
the books are read (:func:`exact_split`): the buckets are rounded together onto the grid of
the spacing of their total's float, so that the floats reported add up to the reported total
exactly, in any order of summation (every partial sum is exactly representable). Why not
integer nanoseconds: they round every transition time, and reading them back as floats needs
the same common grid anyway; why not compensated float sums (math.fsum): every credit would
still be rounded, and a sum made exact by deriving one bucket hides the error in it.
"""

from __future__ import annotations

import heapq
import math
from typing import Mapping

BUCKETS = ("productive", "checkpoint_stall", "lost_work", "detection", "restart",
           "waiting_for_resources", "queued", "straggler_delay", "contention", "power_cap")

#: buckets a computing interval's excess over the productive step can be credited to
EXCESS = ("waiting_for_resources", "straggler_delay", "contention", "power_cap")

RUNNING = "running"
DONE = "done"
QUEUED = "queued"

_TOTAL = "total"

#: the books' unit is 2**-UNIT_BITS seconds: every float is an integer number of units
UNIT_BITS = 1074
UNIT_S = math.ldexp(1.0, -UNIT_BITS)
_ONE_SECOND = 1 << UNIT_BITS
_FLOAT_DIGITS = 53  # bits of a float's significand


def to_units(seconds: float) -> int:
    """``seconds`` (a finite float) as an exact integer number of units."""
    numerator, denominator = float(seconds).as_integer_ratio()
    return numerator << (UNIT_BITS + 1 - denominator.bit_length())


def to_seconds(units: int) -> float:
    """Units as seconds, correctly rounded."""
    return units / _ONE_SECOND


def exact_split(parts: Mapping[str, int]) -> dict[str, float]:
    """Non-negative parts (units) as seconds that add up exactly to their total's float.

    The total is rounded to 53 significant bits (its nearest float, ties to even); every part
    is rounded down onto that float's spacing and the shortfall is handed out one spacing at a
    time to the largest remainders (ties in the parts' order): Hamilton's apportionment. Each
    part then has at most 53 significant bits on a common grid, so all sums of them are exact
    floats."""
    total = sum(parts.values())
    shift = max(0, total.bit_length() - _FLOAT_DIGITS)
    target, remainder = divmod(total, 1 << shift)
    half = (1 << shift) >> 1
    if remainder > half or (remainder == half and half and target & 1):
        target += 1
    floors = {key: value >> shift for key, value in parts.items()}
    shortfall = target - sum(floors.values())
    if shortfall:  # (none when every part is on the grid already)
        mask = (1 << shift) - 1
        for key in heapq.nlargest(shortfall, parts, key=lambda key: parts[key] & mask):
            floors[key] += 1  # (nlargest: as a stable sort, ties in the parts' order)
    exponent = shift - UNIT_BITS
    return {key: math.ldexp(units, exponent) if units else 0.0
            for key, units in floors.items()}


def _share(whole: int, part: int, of: int) -> int:
    """``whole x part / of`` rounded down (``0`` when ``of`` is 0): a proportional share."""
    return whole * part // of if of else 0


class JobAccounting:
    """Phase-by-phase time (and GPU-time) accounting for one job, in exact units."""

    def __init__(self, start_s: float, phase: str = QUEUED) -> None:
        self.start_s = start_s
        self._start = to_units(start_s)
        #: the buckets and GPU-buckets in units (exact; :attr:`buckets` reads them as seconds)
        self.units: dict[str, int] = dict.fromkeys(BUCKETS, 0)
        self.gpu_units: dict[str, int] = dict.fromkeys(BUCKETS, 0)
        #: computing time not yet kept or lost: "total" and its excess parts, and the same
        #: in GPU-units
        self.pending: dict[str, int] = dict.fromkeys((_TOTAL,) + EXCESS, 0)
        self.pending_gpu: dict[str, int] = dict.fromkeys((_TOTAL,) + EXCESS, 0)
        self.phase = phase
        self.gpus = 0  # GPUs held now
        self._running_gpus = 0  # GPUs held when the current computing interval began
        self._since_s = start_s
        self._since = self._start
        #: (time_s, productive_s) after every change of the productive bucket
        self.productive_log: list[tuple[float, float]] = [(start_s, 0.0)]
        #: lost work of each interruption, seconds
        self.losses: list[float] = []
        #: (time_s, phase) at every phase change, for timelines
        self.phase_log: list[tuple[float, str]] = [(start_s, self.phase)]

    # -- reading the books -----------------------------------------------------------------
    @property
    def buckets(self) -> dict[str, float]:
        """Seconds per bucket; they add up exactly to the time credited (:func:`exact_split`)."""
        return exact_split(self.units)

    def kept_s(self) -> dict[str, float]:
        """``productive`` and ``straggler_delay`` seconds, each read alone (correctly rounded,
        without apportioning every bucket: a checkpoint's bookmark, read at every checkpoint;
        differences of bookmarks are what :meth:`roll_back` takes)."""
        return {bucket: to_seconds(self.units[bucket])
                for bucket in ("productive", "straggler_delay")}

    @property
    def gpu_buckets(self) -> dict[str, float]:
        """GPU-seconds per bucket, adding up exactly like :attr:`buckets`."""
        return exact_split(self.gpu_units)

    @property
    def pending_s(self) -> float:
        return to_seconds(self.pending[_TOTAL])

    @property
    def pending_gpu_s(self) -> float:
        return to_seconds(self.pending_gpu[_TOTAL])

    def held_gpu_units(self) -> int:
        """GPU-units credited so far, pending computing included."""
        return sum(self.gpu_units.values()) + self.pending_gpu[_TOTAL]

    def gpu_seconds(self, now: float) -> float:
        """GPU-seconds held from the start up to ``now`` (the service the job attained)."""
        held = self.held_gpu_units()
        if self.phase == RUNNING:
            held += (to_units(now) - self._since) * self._running_gpus
        elif self.phase != DONE:
            held += (to_units(now) - self._since) * self.gpus
        return to_seconds(held)

    @property
    def wall_s(self) -> float:
        """Seconds from the start to the last transition (the buckets' exact total at the end)."""
        return to_seconds(self._since - self._start)

    @property
    def goodput(self) -> float:
        wall = self.wall_s
        return self.buckets["productive"] / wall if wall > 0 else 0.0

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        """The pending work now (an asynchronous checkpoint's content)."""
        return dict(self.pending), dict(self.pending_gpu)

    # -- transitions -----------------------------------------------------------------------
    def enter(self, phase: str, now: float, excess: Mapping[str, float] | None = None) -> None:
        """Leave the current phase at ``now`` (crediting its time) and enter ``phase``;
        ``excess`` gives the parts of the computing time being left that go to an
        :data:`EXCESS` bucket if the work is kept (straggler delay, elastic, contention)."""
        now_units = to_units(now)
        elapsed = now_units - self._since
        if self.phase == RUNNING:
            room = elapsed
            gpus = self._running_gpus
            self.pending[_TOTAL] += elapsed
            self.pending_gpu[_TOTAL] += elapsed * gpus
            for bucket in EXCESS:
                part = min(max(to_units((excess or {}).get(bucket, 0.0)), 0), room)
                room -= part
                self.pending[bucket] += part
                self.pending_gpu[bucket] += part * gpus
        elif self.phase != DONE:
            self._credit(self.phase, elapsed)
        self.phase, self._since, self._since_s = phase, now_units, now
        if phase == RUNNING:
            self._running_gpus = self.gpus
        if self.phase_log[-1][1] != phase:
            self.phase_log.append((now, phase))

    def set_gpus(self, now: float, gpus: int) -> None:
        """The job now holds ``gpus`` GPUs: credit the current phase up to ``now`` at the old
        count (a computing interval keeps its count: the job stops at this same instant)."""
        now_units = to_units(now)
        if self.phase not in (RUNNING, DONE) and now_units > self._since:
            self._credit(self.phase, now_units - self._since)
            self._since, self._since_s = now_units, now
        self.gpus = gpus

    def _credit(self, bucket: str, elapsed: int) -> None:
        self.units[bucket] += elapsed
        self.gpu_units[bucket] += elapsed * self.gpus

    def _keep(self, units: Mapping[str, int], gpu_units: Mapping[str, int]) -> None:
        """Credit pending work (``units``, ``gpu_units``: total and excess parts) as kept: the
        excess parts (never more than the total) to their buckets, the rest productive."""
        for books, parts in ((self.units, units), (self.gpu_units, gpu_units)):
            room = parts[_TOTAL]
            for bucket in EXCESS:
                part = min(parts[bucket], room)
                room -= part
                books[bucket] += part
            books["productive"] += room

    def _log_productive(self, now: float) -> None:
        self.productive_log.append((now, to_seconds(self.units["productive"])))

    def commit(self, now: float) -> None:
        """A checkpoint (or the end of the job) made the pending work permanent."""
        if self.pending[_TOTAL]:
            self._keep(self.pending, self.pending_gpu)
            self._clear_pending()
            self._log_productive(now)

    def commit_part(self, now: float, held: tuple[dict[str, int], dict[str, int]]) -> None:
        """Make the pending work an asynchronous checkpoint snapshotted (``held``, from
        :meth:`snapshot`) permanent; work done since stays pending."""
        units, gpu_units = held
        moved = {key: min(value, self.pending[key]) for key, value in units.items()}
        moved_gpu = {key: min(value, self.pending_gpu[key]) for key, value in gpu_units.items()}
        self._keep(moved, moved_gpu)
        for key in self.pending:
            self.pending[key] -= moved[key]
            self.pending_gpu[key] -= moved_gpu[key]
        self._log_productive(now)

    def lose(self) -> float:
        """A failure or a preemption destroyed the pending work; returns how much was lost
        (seconds)."""
        lost = self.pending_s
        self.units["lost_work"] += self.pending[_TOTAL]
        self.gpu_units["lost_work"] += self.pending_gpu[_TOTAL]
        self.losses.append(lost)
        self._clear_pending()
        return lost

    def lose_part(self, seconds: float, excess: Mapping[str, float]) -> None:
        """A drain abandons the step in progress: ``seconds`` of the pending work (``excess``
        of it in excess buckets) are lost; its GPU-units in proportion."""
        total = self.pending[_TOTAL]
        lost = min(max(to_units(seconds), 0), total)
        lost_gpu = _share(self.pending_gpu[_TOTAL], lost, total)
        self.pending[_TOTAL] -= lost
        self.pending_gpu[_TOTAL] -= lost_gpu
        for bucket in EXCESS:
            have = self.pending[bucket]
            part = min(max(to_units(excess.get(bucket, 0.0)), 0), have)
            self.pending_gpu[bucket] -= _share(self.pending_gpu[bucket], part, have)
            self.pending[bucket] -= part
        self.units["lost_work"] += lost
        self.gpu_units["lost_work"] += lost_gpu
        self.losses.append(to_seconds(lost))

    def roll_back(self, productive_s: float, delay_s: float) -> None:
        """Work already made permanent is lost after all (its checkpoint was lost). A negative
        amount moves lost work back (a roll-back to a checkpoint whose bookmark is above the
        books now, after an earlier roll-back); never more than the bucket it comes from."""
        moved_s = 0.0
        for bucket, seconds in (("productive", productive_s), ("straggler_delay", delay_s)):
            have = self.units[bucket]
            moved = min(max(to_units(seconds), -self.units["lost_work"]), have)
            gpu = min(max(_share(self.gpu_units[bucket], moved, have),
                          -self.gpu_units["lost_work"]), self.gpu_units[bucket])
            self.units[bucket] -= moved
            self.gpu_units[bucket] -= gpu
            self.units["lost_work"] += moved
            self.gpu_units["lost_work"] += gpu
            moved_s += to_seconds(moved)
        if self.losses:
            self.losses[-1] += moved_s
        self._log_productive(self._since_s)

    def _clear_pending(self) -> None:
        for key in self.pending:
            self.pending[key] = 0
            self.pending_gpu[key] = 0

    def close(self, now: float) -> None:
        """End of the run: credit the current phase and keep the surviving pending work."""
        if self.phase != DONE:
            self.enter(DONE, now)
            self.commit(now)
