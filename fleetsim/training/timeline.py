"""One segment's timeline: its steps' base times, stretched piecewise by slow-downs that can
change while it runs (pure; no SimPy).

A segment's steps are drawn once, at its start, as *base* cumulative times: the job's isolated
step time with straggler jitter (:mod:`fleetsim.training.steptime`). Three factors stretch
the base timeline into wall time:

* ``elastic`` (>= 1): an elastic job running on fewer nodes takes nodes_required / held times
  longer per step (fixed for a segment);
* ``contention`` (>= 1): other jobs' traffic on the job's network links makes its step
  ``contention`` times the isolated one (:mod:`fleetsim.cluster.fabric`); it changes when the
  set of jobs sharing its links changes, which may happen mid-segment;
* ``power`` (>= 1): a power cap slows the step's compute (:mod:`fleetsim.cluster.powercap`);
  under a cluster cap it changes when the set of busy nodes changes, mid-segment too.

Contention and power are both ratios to the same isolated step, and they stretch disjoint
parts of it: contention only the communication that compute does not hide (its factor is
``1 + extra exposed comm / step``, :class:`fleetsim.comm.sharing.Footprint`), power only the
compute (``1 + compute share x (s - 1)``, :func:`fleetsim.hardware.powercap.step_slowdown`).
Their excesses therefore add: a step of ``a`` compute and ``m`` exposed communication, its
communication slowed ``k`` times and its compute ``s`` times, takes ``a x s + m x k``, i.e.
``contention + power - 1`` isolated steps (their product would overstate it by
``(contention - 1)(power - 1)``). The elastic factor scales the whole step, so

    f = elastic x (contention + power - 1).

One interaction is left out: a capped, slower compute could hide more of a contended
collective behind it (``hidden`` grows by ``s``); the sum ignores that, so it slightly
overstates a step whose collectives are partly hidden and both contended and capped.

Wall time is piecewise linear in base time: within a piece of factor ``f``,
``base = base_at + (wall - wall_at) / f``.
:meth:`Timeline.retime` closes the current piece and opens one with the new factors, so the
steps still to run take the new pace exactly while the steps already run keep theirs. The wall
excess over base time, ``w - w / f`` for a piece of wall length ``w``, is split into its
elastic part ``(w / f)(e - 1)``, its contention part ``(w / f) e (c - 1)`` and its power part
``(w / f) e (p - 1)`` (they sum to it exactly), credited to ``waiting_for_resources``,
``contention`` and ``power_cap`` when the work is kept; the straggler delay is measured on the
base timeline.
"""

from __future__ import annotations

import numpy as np

from fleetsim.training.steptime import steps_completed, straggler_delay


def step_factor(elastic: float, contention: float, power: float) -> float:
    """Wall time per unit of base time: contention and power add their excesses over the
    isolated step (they slow its communication and its compute), elastic scales the whole
    (module docstring). ``power - 1`` is exact, so with either factor at 1 this is the
    product bit for bit."""
    return elastic * (contention + (power - 1.0))


class Timeline:
    """The wall-time course of one segment (module docstring)."""

    def __init__(self, base: np.ndarray, step_s: float, start_s: float, elastic: float = 1.0,
                 contention: float = 1.0, power: float = 1.0) -> None:
        self.base = base  # cumulative base completion times of the segment's steps
        self.step_s = step_s  # the straggler-free step the base timeline is drawn around
        self.start_s = start_s
        self.elastic, self.contention, self.power = elastic, contention, power
        #: closed pieces: (wall start, base start, wall length, elastic, contention, power)
        self._pieces: list[tuple[float, float, float, float, float, float]] = []
        self._wall_at, self._base_at = start_s, 0.0

    @property
    def factor(self) -> float:
        return step_factor(self.elastic, self.contention, self.power)

    @property
    def steps(self) -> int:
        return len(self.base)

    def base_at(self, now: float) -> float:
        """Base time reached at wall time ``now``."""
        return self._base_at + (now - self._wall_at) / self.factor

    def end_s(self) -> float:
        """Wall time at which the last step completes at the current pace."""
        return self._wall_at + (float(self.base[-1]) - self._base_at) * self.factor

    def retime(self, now: float, contention: float, power: float | None = None) -> None:
        """From ``now`` on the contention factor is ``contention`` and the power-cap factor
        ``power`` (unchanged when None)."""
        self._pieces.append((self._wall_at, self._base_at, now - self._wall_at, self.elastic,
                             self.contention, self.power))
        self._base_at = self.base_at(now)
        self._wall_at = now
        self.contention = contention
        if power is not None:
            self.power = power

    def steps_done(self, now: float) -> int:
        """Steps completed by wall time ``now``."""
        return steps_completed(self.base, self.base_at(now) * (1 + 1e-12))

    def wall_of_step(self, count: int) -> float:
        """Wall time at which the ``count``-th step completed (the start for 0)."""
        if count <= 0:
            return self.start_s
        target = float(self.base[count - 1])
        for wall, base, length, elastic, contention, power in self._pieces:
            factor = step_factor(elastic, contention, power)
            if target <= base + length / factor:
                return wall + (target - base) * factor
        return self._wall_at + (target - self._base_at) * self.factor

    def excess(self, now: float) -> dict[str, float]:
        """The parts of the wall time from the start to ``now`` beyond the productive steps:
        ``straggler_delay`` (on the base timeline), ``waiting_for_resources`` (elastic),
        ``contention`` and ``power_cap``."""
        elastic_s = contention_s = power_s = 0.0
        pieces = self._pieces + [(self._wall_at, self._base_at, now - self._wall_at,
                                  self.elastic, self.contention, self.power)]
        for _wall, _base, length, elastic, contention, power in pieces:
            if length <= 0:
                continue
            base = length / step_factor(elastic, contention, power)
            elastic_s += base * (elastic - 1.0)
            contention_s += base * elastic * (contention - 1.0)
            power_s += base * elastic * (power - 1.0)
        delay = straggler_delay(self.base, self.step_s, self.base_at(now))
        return {"straggler_delay": delay, "waiting_for_resources": elastic_s,
                "contention": contention_s, "power_cap": power_s}
