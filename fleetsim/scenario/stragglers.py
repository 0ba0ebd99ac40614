"""The ``stragglers`` section of a scenario: per-step jitter, persistent slow nodes, eviction.

A synchronous step takes as long as its slowest rank (fleetsim/faults/stragglers.py draws that
maximum exactly by order statistics, one draw per step for any rank count):

* ``jitter``: every rank's step is the straggler-free step times a factor 1 + X, X >= 0 drawn
  from a distribution (``none``, ``exponential`` {mean}, ``lognormal`` {sigma, median},
  ``normal`` {cv} (half-normal), ``weibull`` {shape, scale});
* ``slow_nodes``: persistently slow nodes (thermal throttling, a bad NIC; MegaScale reports
  ~0.5% of machines ~10% slow): a ``fraction`` slow from the start, nodes becoming slow at one
  per ``mtbs`` per node, episodes lasting ``duration`` on average (or until the node is
  repaired); a slow node's ranks are ``slowdown`` times slower;
* ``mitigation``: ``evict`` a slow node once the job has run ``after_steps`` steps with it: the
  job drains (saves a checkpoint), the node goes to repair, a spare takes its place, the job
  restarts.

The time beyond the straggler-free step is the ``straggler_delay`` bucket.
"""

from __future__ import annotations

from typing import Literal

from fleetsim.kinds import (MAX_CV, MAX_SIGMA, Factor, Fraction, Model,
                                     PositiveDuration, PositiveInteger, Reference, number)

#: a jitter parameter: a positive multiple of the step time (or a shape), at most 100
JitterParameter = number(0.0, 100.0, open_low=True)


class JitterSpec(Model):
    """Per-rank, per-step jitter of the step time (the law is checked against the registry
    of :mod:`fleetsim.faults.stragglers` when the run is prepared)."""

    distribution: Reference = "none"
    mean: JitterParameter | None = None  # exponential: mean excess
    sigma: number(0.0, MAX_SIGMA, open_low=True) | None = None  # lognormal shape
    median: JitterParameter | None = None  # lognormal median excess
    cv: number(0.0, MAX_CV, open_low=True) | None = None  # normal (half-normal) scale
    shape: number(0.01, 100.0) | None = None  # weibull
    scale: JitterParameter | None = None  # weibull

    def params(self) -> dict[str, float]:
        """The parameters given (the keys the YAML used)."""
        return {key: value for key, value in self.model_dump().items()
                if key != "distribution" and value is not None}


class SlowNodesSpec(Model):
    """Persistently slow nodes."""

    fraction: Fraction = 0.0  # slow from the start
    slowdown: Factor = 1.1
    mtbs: PositiveDuration | None = None  # per node: mean time between becoming slow
    duration: PositiveDuration | None = None  # mean slow episode (default: until repaired)


class MitigationSpec(Model):
    """What a job does about a slow node."""

    policy: Literal["none", "evict"] = "none"
    after_steps: PositiveInteger = 100


class StragglersSpec(Model):
    """Jitter, slow nodes and their mitigation (applies to every training job)."""

    jitter: JitterSpec = JitterSpec()
    slow_nodes: SlowNodesSpec = SlowNodesSpec()
    mitigation: MitigationSpec = MitigationSpec()
