"""Step-time models: how long each synchronous training step takes (pure, vectorised).

A model returns the *cumulative* times of the next ``n`` steps as one numpy array, so a job
yields one timeout per segment and, when a failure cuts the segment short, finds the steps
that completed with ``searchsorted``. The scenario's explicit ``step_time`` gives a constant
model; the step-time model derived from hardware and parallelism, and stragglers (the max over
ranks, sampled by order statistics: :class:`StragglerStepTime`) share this interface.
"""

from __future__ import annotations

import numpy as np

from fleetsim.faults.stragglers import Jitter, step_factors


class ConstantStepTime:
    """Every step takes ``step_s`` seconds."""

    def __init__(self, step_s: float) -> None:
        self.step_s = step_s
        self.mean_s = step_s

    def cumulative(self, n: int, slow_ranks: int = 0) -> np.ndarray:
        """Completion times of steps 1..n measured from the segment start."""
        return np.arange(1, n + 1, dtype=np.float64) * self.step_s


class StragglerStepTime:
    """Each step takes ``step_s`` times the slowest rank's factor, drawn by order statistics
    (fleetsim/faults/stragglers.py): one draw per step for any rank count; ``slow_ranks`` of
    the ranks are ``slowdown`` times slower."""

    def __init__(self, step_s: float, jitter: Jitter, ranks: int, slowdown: float,
                 rng: np.random.Generator) -> None:
        self.step_s = step_s
        self.jitter, self.ranks, self.slowdown, self.rng = jitter, ranks, slowdown, rng
        self.mean_s = step_s  # the straggler-free step (segments are planned in these)

    def cumulative(self, n: int, slow_ranks: int = 0) -> np.ndarray:
        factors = step_factors(self.jitter, self.ranks, min(slow_ranks, self.ranks),
                               self.slowdown, n, self.rng)
        return np.cumsum(factors) * self.step_s


def straggler_delay(cumulative: np.ndarray, step_s: float, elapsed_s: float) -> float:
    """Seconds beyond the straggler-free steps in the first ``elapsed_s`` of a segment: the
    completed steps' excess plus the running step's time beyond ``step_s``."""
    done = steps_completed(cumulative, elapsed_s)
    finished = float(cumulative[done - 1]) if done else 0.0
    running = elapsed_s - finished
    return (finished - done * step_s) + max(0.0, running - step_s)


def steps_completed(cumulative: np.ndarray, elapsed_s: float) -> int:
    """How many steps of a segment finished within ``elapsed_s`` of its start."""
    return int(np.searchsorted(cumulative, elapsed_s, side="right"))
