"""Carbon-aware starts: when a deferrable job is handed to the scheduler (pure).

A job with ``deferrable`` slack submitted at ``t`` is released to the scheduler's queue at the
first time in ``[t, t + slack]`` at which the grid intensity is at or below the scenario's
``carbon.defer_below``, and at ``t + slack`` at the latest: the policy never holds a job past
its slack (the queue may then hold it longer, as it holds any job, for lack of GPUs). The
intensity is known ahead (a forecast taken as exact), so the release time is computed when the
job is submitted.
"""

from __future__ import annotations

from fleetsim.carbon.intensity import next_at_or_below
from fleetsim.power.profile import StepProfile


def release_s(submit_s: float, slack_s: float, intensity: StepProfile,
              threshold: float) -> float:
    """When a job submitted at ``submit_s`` with ``slack_s`` of slack joins the queue."""
    return next_at_or_below(intensity, submit_s, threshold, submit_s + slack_s)


__all__ = ["release_s"]
