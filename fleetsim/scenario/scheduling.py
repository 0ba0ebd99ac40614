"""The ``scheduler`` section of a scenario and the scheduling keys every job carries.

A fleet's jobs go through one scheduler (:mod:`fleetsim.scheduler`): its ``policy`` orders the
waiting jobs and may preempt running ones, ``placement`` chooses their GPUs on the fabric.
Policies and placements are registered by name; the keys a policy does not read are refused
when the run is prepared. docs/reference/scenario.md documents every key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from fleetsim.kinds import (Duration, Fraction, Model, Name, PositiveDuration,
                                     PositiveInteger, Reference, SignedInteger)


class PreemptionSpec(Model):
    """What preemption does to a job, and when a job may be preempted."""

    mode: Literal["checkpoint", "kill"] = "checkpoint"  # save the finished steps, or lose them
    after: Duration = 0.0  # a job may be preempted once it has run this long (RSC: 2h)


class SchedulerSpec(Model):
    """How waiting jobs are ordered, started, placed and preempted."""

    policy: Reference = "fifo"  # fifo | priority | backfill | sjf | las | fair-share (registry)
    placement: Reference = "packed"  # packed | spread | random (registry)
    backfill: bool | None = None  # EASY backfill; default: on for policy backfill only
    backfill_depth: PositiveInteger = 1000  # waiting jobs tried per pass
    preemption: PreemptionSpec = PreemptionSpec()
    #: las: GPU-time (GPU-seconds) thresholds between the priority queues, ascending
    thresholds: tuple[PositiveDuration, ...] | None = None
    #: fair-share: each team's nominal share of the GPUs (fractions summing to at most 1)
    quotas: dict[Name, Fraction] | None = None
    borrowing: bool = True  # fair-share: may a team use GPUs beyond its quota when idle

    @model_validator(mode="after")
    def _consistent(self) -> "SchedulerSpec":
        if self.thresholds is not None and list(self.thresholds) != sorted(self.thresholds):
            raise ValueError("thresholds must be ascending")
        if self.quotas is not None and sum(self.quotas.values()) > 1 + 1e-9:
            total = sum(self.quotas.values())
            raise ValueError(f"quotas sum to {total:.0%}, over 100% of the GPUs")
        return self

    @property
    def uses_backfill(self) -> bool:
        return self.backfill if self.backfill is not None else self.policy == "backfill"


class Scheduling(Model):
    """Base of every job spec: when it is submitted and how the scheduler treats it."""

    submit: Duration = 0.0  # submission time (from the start of the run)
    priority: SignedInteger = 0  # higher runs first (policy priority) and may preempt lower
    team: Name | None = None  # for fair-share quotas and per-team results
    estimate: PositiveDuration | None = None  # user's runtime estimate (backfill, sjf)
    preemptible: bool = True  # may the scheduler preempt it
    #: carbon-aware slack: with carbon.defer_below, the job may wait this long after its
    #: submission for a low-carbon period before it joins the queue
    deferrable: Duration | None = None


__all__ = ["PreemptionSpec", "SchedulerSpec", "Scheduling"]
