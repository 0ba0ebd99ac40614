"""Checkpoint interval policies, registered by the name a scenario uses (pure functions).

The interval is *compute time between checkpoints* (tau); ``delta`` is the blocking save cost
and ``mtbf`` the job's mean time between failures.

* ``fixed``: the scenario's ``interval``.
* ``young``: tau = sqrt(2 delta M) (Young 1974, "A first order approximation to the optimum
  checkpoint interval", CACM 17(9)).
* ``daly``: tau = sqrt(2 delta M) [1 + (1/3) sqrt(delta / 2M) + (1/9) (delta / 2M)] - delta for
  delta < 2M, else tau = M (Daly 2006, "A higher order estimate of the optimum checkpoint
  interval for restart dumps", FGCS 22(3)).
* ``none``: never checkpoint (a failure restarts the job from the beginning).

With no failures (M infinite) young and daly never checkpoint; with a free save (delta = 0)
they checkpoint after every step. Adding a policy is one class
with ``name`` and ``interval_s`` registered with :func:`register`.
"""

from __future__ import annotations

import math
from typing import ClassVar

from fleetsim.errors import LocatedError
from fleetsim.registry import Registry
from fleetsim.scenario.models import CheckpointSpec


class CheckpointPolicy:
    """Base class: a named rule for the compute interval between checkpoints."""

    name: ClassVar[str]
    #: whether the policy reads ``checkpoint.interval`` (it must then be given; others
    #: compute their own and refuse one)
    takes_interval: ClassVar[bool] = False

    def interval_s(self, spec: CheckpointSpec, save_s: float, mtbf_s: float) -> float:
        raise NotImplementedError

    @classmethod
    def check(cls, spec: CheckpointSpec) -> None:
        """Raise :class:`LocatedError` (key path inside ``checkpoint``) if ``spec`` does not
        suit the policy."""
        if cls.takes_interval and spec.interval is None:
            raise LocatedError(f"policy {cls.name!r} needs an interval (e.g. interval: 30min)")
        if not cls.takes_interval and spec.interval is not None:
            raise LocatedError(f"interval is only for policy 'fixed' (policy {cls.name!r} "
                               "computes its own)", ("interval",))


#: Checkpoint policies by the name a scenario's ``checkpoint.policy`` uses.
POLICIES: Registry[type[CheckpointPolicy]] = Registry("checkpoint policy")
#: Class decorator: make a policy available under its ``name``.
register = POLICIES.register


def young_interval(save_s: float, mtbf_s: float) -> float:
    """Young's first-order optimum: sqrt(2 delta M)."""
    return math.sqrt(2.0 * save_s * mtbf_s)


def daly_interval(save_s: float, mtbf_s: float) -> float:
    """Daly's higher-order optimum (Daly 2006)."""
    if save_s >= 2.0 * mtbf_s:
        return mtbf_s
    ratio = save_s / (2.0 * mtbf_s)
    return math.sqrt(2.0 * save_s * mtbf_s) * (1 + math.sqrt(ratio) / 3 + ratio / 9) - save_s


def daly_expected_wall_s(solve_s: float, interval_s: float, save_s: float, restart_s: float,
                         mtbf_s: float) -> float:
    """Daly's expected wall time of a job of ``solve_s`` compute (Daly 2006).

    T_w = M e^(R/M) (e^((tau + delta)/M) - 1) T_s / tau, for exponential failures of mean M
    that may strike during computing, saving and restarting alike.
    """
    m = mtbf_s
    return m * math.exp(restart_s / m) * math.expm1((interval_s + save_s) / m) * solve_s / interval_s


def expected_wall_s(segments: int, interval_s: float, save_s: float, restart_s: float,
                    mtbf_s: float) -> float:
    """Exact expected wall time of ``segments`` segments in Daly's model, as fleetsim runs them.

    Every segment but the last is followed by a save, so the last needs only ``interval_s`` of
    uninterrupted time: M e^(R/M) [(K-1)(e^((tau+delta)/M) - 1) + (e^(tau/M) - 1)].
    """
    m = mtbf_s
    return m * math.exp(restart_s / m) * ((segments - 1) * math.expm1((interval_s + save_s) / m)
                                          + math.expm1(interval_s / m))


@register
class Fixed(CheckpointPolicy):
    name = "fixed"
    takes_interval = True

    def interval_s(self, spec: CheckpointSpec, save_s: float, mtbf_s: float) -> float:
        assert spec.interval is not None  # guaranteed by CheckpointSpec validation
        return spec.interval


@register
class Young(CheckpointPolicy):
    name = "young"

    def interval_s(self, spec: CheckpointSpec, save_s: float, mtbf_s: float) -> float:
        if math.isinf(mtbf_s):
            return math.inf
        return young_interval(save_s, mtbf_s)


@register
class Daly(CheckpointPolicy):
    name = "daly"

    def interval_s(self, spec: CheckpointSpec, save_s: float, mtbf_s: float) -> float:
        if math.isinf(mtbf_s):
            return math.inf
        return daly_interval(save_s, mtbf_s)


@register
class NoCheckpoint(CheckpointPolicy):
    name = "none"

    def interval_s(self, spec: CheckpointSpec, save_s: float, mtbf_s: float) -> float:
        return math.inf


def checkpoint_interval_s(spec: CheckpointSpec, mtbf_s: float, save_s: float | None = None
                          ) -> float:
    """The compute interval between checkpoints under ``spec.policy`` (``inf``: never).

    ``save_s`` is the save cost (default ``spec.save``; derived from the model when the job
    has one)."""
    return POLICIES.get(spec.policy)().interval_s(spec, spec.save if save_s is None else save_s,
                                              mtbf_s)
