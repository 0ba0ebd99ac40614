"""Step-time models: how long each synchronous training step takes (pure, vectorised).

A model returns the *cumulative* times of the next ``n`` steps as one numpy array, so a job
yields one timeout per segment and, when a failure cuts the segment short, finds the steps
that completed with ``searchsorted``. The scenario's explicit ``step_time`` gives a constant
model; the step-time model derived from hardware and parallelism, and stragglers (the max over
ranks, sampled by order statistics), plug in here with the same interface.
"""

from __future__ import annotations

import numpy as np


class ConstantStepTime:
    """Every step takes ``step_s`` seconds."""

    def __init__(self, step_s: float) -> None:
        self.step_s = step_s
        self.mean_s = step_s

    def cumulative(self, n: int) -> np.ndarray:
        """Completion times of steps 1..n measured from the segment start."""
        return np.arange(1, n + 1, dtype=np.float64) * self.step_s


def steps_completed(cumulative: np.ndarray, elapsed_s: float) -> int:
    """How many steps of a segment finished within ``elapsed_s`` of its start."""
    return int(np.searchsorted(cumulative, elapsed_s, side="right"))
