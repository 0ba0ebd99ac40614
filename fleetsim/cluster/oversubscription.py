"""Power oversubscription: how many more nodes fit under a facility's power for a given slowdown
(pure).

A facility provisioned for ``N`` nodes at their peak draw (``compute``, the vendor maximum)
can hold more nodes if each is capped below that peak. With the accelerators capped at ``c``,
a node peaks at ``host + n x c`` (the host is not throttled), so

    nodes(c) = floor(facility_w / (host + n x c)),    slowdown(c) = f x s(c) + (1 - f)

with ``s`` the compute slowdown of :mod:`fleetsim.hardware.powercap` and ``f`` the share of a
step (or of a serving iteration) that is compute-bound: only that share slows. For a target
slowdown the cap is the inverse, ``s = 1 + (slowdown - 1) / f``.

A cap at or below the accelerator's idle draw, or below the vendor's lowest settable limit
(the catalogue's ``power.min_cap``: 200 W for an H100), cannot be set
(:attr:`Oversubscription.feasible` is then false), and caps below the curve's lowest published point (0.6 of the busy draw) are
an extrapolation of its fit (:attr:`Oversubscription.extrapolated`).

This is *worst-case* provisioning: every node may peak at once and never exceeds its cap.
POLCA (Patel et al., "Characterizing Power Management Opportunities for LLMs in the Cloud",
ASPLOS 2024, arXiv:2308.12908) reports 30 % more inference servers under the same power with
minimal performance loss by a different route: it provisions for the *observed* peak of the
row (inference servers rarely peak together), and caps only in the rare moments the row
nears its budget. benchmarks/OVERSUBSCRIPTION.md compares the two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleetsim.hardware.powercap import PUBLISHED_POINTS, cap_allowed, cap_for_slowdown
from fleetsim.power.states import NodePower


@dataclass(frozen=True)
class Oversubscription:
    """Nodes that fit under a facility's IT power at one slowdown."""

    slowdown: float  # of a step (or serving iteration)
    accelerator_cap_w: float
    node_peak_w: float
    nodes: int
    nodes_uncapped: int
    feasible: bool  # the cap can be set: above the idle draw, at least the vendor's minimum
    extrapolated: bool  # the cap is below the curve's lowest published point

    @property
    def gain(self) -> float:
        """Extra nodes as a fraction of the uncapped count."""
        return self.nodes / self.nodes_uncapped - 1 if self.nodes_uncapped else math.inf


def deployable_nodes(facility_w: float, node: NodePower, accelerator_busy_w: float,
                     accelerator_idle_w: float, slowdown: float,
                     compute_share: float = 1.0,
                     min_cap_w: float | None = None) -> Oversubscription:
    """How many nodes fit under ``facility_w`` of IT power if their steps may be ``slowdown``
    times slower, ``compute_share`` of a step being compute-bound, the accelerators accepting
    caps down to ``min_cap_w`` (module docstring)."""
    if slowdown < 1:
        raise ValueError(f"a slowdown is >= 1, got {slowdown}")
    if not 0 < compute_share <= 1:
        raise ValueError(f"compute_share must be in (0, 1], got {compute_share}")
    host_w = max(0.0, node.compute - node.gpus * accelerator_busy_w)
    compute_slowdown = 1 + (slowdown - 1) / compute_share
    cap_w = cap_for_slowdown(compute_slowdown, accelerator_busy_w)
    peak_w = host_w + node.gpus * cap_w
    lowest = min(fraction for fraction, _slowdown, _source in PUBLISHED_POINTS)
    return Oversubscription(slowdown, cap_w, peak_w, math.floor(facility_w / peak_w),
                            math.floor(facility_w / node.compute),
                            feasible=cap_allowed(cap_w, accelerator_idle_w, min_cap_w),
                            extrapolated=cap_w < lowest * accelerator_busy_w - 1e-9)


def oversubscription_table(facility_w: float, node: NodePower, accelerator_busy_w: float,
                           accelerator_idle_w: float, slowdowns: tuple[float, ...],
                           compute_share: float = 1.0,
                           min_cap_w: float | None = None) -> list[Oversubscription]:
    """:func:`deployable_nodes` at each slowdown."""
    return [deployable_nodes(facility_w, node, accelerator_busy_w, accelerator_idle_w,
                             slowdown, compute_share, min_cap_w) for slowdown in slowdowns]


__all__ = ["Oversubscription", "deployable_nodes", "oversubscription_table"]
