"""What a power cap costs an accelerator: the compute slowdown under a cap in watts (pure).

A GPU held below the power it draws at full load lowers its clocks (DVFS) until it fits: the
work still happens, more slowly. fleetsim models the *compute* part of a step as slowed by

    slowdown(cap) = (busy / cap) ** CAP_EXPONENT      for cap < busy,   1 otherwise

where ``busy`` is the accelerator's full-load draw (the catalogue's ``power.busy``). The
exponent is fitted to the one published measurement of LLM training under a cap we rely on:

* McDonald, Li, Frey, Tiwari, Gadepally, Samsi, "Great Power, Great Responsibility:
  Recommendations for Reducing Energy for Training Language Models", NAACL Findings 2022
  (arXiv:2205.09646): V100 GPUs capped at 150 W of their default 250 W trained large NLP
  models 6.8 % slower on average (13.7 % less energy). Cap fraction 0.6 -> slowdown 1.068,
  so CAP_EXPONENT = ln 1.068 / ln(1 / 0.6) = 0.1288.

The fit is a power law through that point and (1, 1): it reproduces the point exactly and
says nothing the source does not about other GPUs or other caps (an interpolation in
log-log between the two anchors, extrapolated below 0.6). It is gentler than a pure
frequency-cube law ((busy / cap) ** (1/3), 1.186 at 0.6) because a training step is not all
at the clock-bound peak: memory-bound kernels and waits draw less than ``busy`` and are
barely slowed.

Communication (collectives, pipeline sends) runs on NICs and NVLink, not on the SMs'
clocks: :func:`step_slowdown` stretches only a step's compute share. Vendors bound the caps
one may set: NVIDIA's H100 SXM accepts 200-700 W (DGX H100 user guide, "Managing Power
Capping": ``PowerLimitWatts`` ``AllowableMin`` 200, ``AllowableMax`` 700), a floor at
2/7 of the default. The catalogue keeps that floor as the accelerator's ``power.min_cap``
where it is published; fleetsim refuses an accelerator cap below it or at or below the
accelerator's idle draw (:func:`cap_allowed`).
"""

from __future__ import annotations

import math

#: (cap / busy power, measured slowdown) points the curve is fitted to, with their sources
PUBLISHED_POINTS: tuple[tuple[float, float, str], ...] = (
    (1.0, 1.0, "no cap (by definition)"),
    (0.6, 1.068, "McDonald et al. 2022, arXiv:2205.09646: V100 150 W / 250 W, NLP training"),
)

#: exponent of the power law through the published points (module docstring)
CAP_EXPONENT = math.log(1.068) / math.log(1 / 0.6)


def compute_slowdown(cap_w: float, busy_w: float) -> float:
    """How many times longer compute takes on an accelerator capped at ``cap_w`` watts that
    draws ``busy_w`` at full load (1 when the cap is at or above ``busy_w``)."""
    if cap_w <= 0:
        raise ValueError(f"a power cap must be > 0 W, got {cap_w}")
    if cap_w >= busy_w:
        return 1.0
    return (busy_w / cap_w) ** CAP_EXPONENT


def cap_for_slowdown(slowdown: float, busy_w: float) -> float:
    """The accelerator cap (watts) at which compute is ``slowdown`` times slower: the
    inverse of :func:`compute_slowdown` (``busy_w`` for a slowdown of 1)."""
    if slowdown < 1:
        raise ValueError(f"a slowdown is >= 1, got {slowdown}")
    return busy_w / slowdown ** (1 / CAP_EXPONENT)


def step_slowdown(compute_slowdown_factor: float, compute_share: float = 1.0) -> float:
    """A step's slowdown when its ``compute_share`` (0-1 of its time) is slowed by
    ``compute_slowdown_factor`` and the rest (exposed communication, bubbles) is not."""
    if not 0 <= compute_share <= 1:
        raise ValueError(f"compute_share must be in [0, 1], got {compute_share}")
    return compute_share * compute_slowdown_factor + (1 - compute_share)


def accelerator_cap_w(node_cap_w: float, node_busy_w: float, accelerator_busy_w: float,
                      accelerators: int) -> float:
    """The per-accelerator cap a node cap leaves: the node's non-accelerator draw (CPUs,
    NICs, fans: its busy power minus its accelerators' busy power) is not capped, the rest
    is shared equally by its accelerators."""
    overhead_w = max(0.0, node_busy_w - accelerators * accelerator_busy_w)
    return (node_cap_w - overhead_w) / accelerators


def busy_node_cap_w(cluster_cap_w: float, busy_nodes: int, other_nodes_w: float) -> float:
    """The uniform cap of each busy node under a cluster cap: the nodes not computing are
    reserved ``other_nodes_w`` in all, the ``busy_nodes`` share what is left equally
    (infinite with no node busy)."""
    if busy_nodes <= 0:
        return math.inf
    return (cluster_cap_w - other_nodes_w) / busy_nodes


def lowest_busy_node_cap_w(cluster_cap_w: float, nodes: int, other_node_w: float,
                           most_busy: int | None = None) -> float:
    """The lowest cap :func:`busy_node_cap_w` gives a busy node over every split of
    ``nodes`` into ``b`` busy ones (1 to ``most_busy``, default all: hot spares are never
    busy) and others drawing ``other_node_w`` each:
    ``(C - (N - b) w) / b = (C - N w) / b + w`` is monotonic in ``b``, so the least is at
    ``b = most_busy`` or ``b = 1``."""
    most = nodes if most_busy is None else most_busy
    return min((cluster_cap_w - (nodes - most) * other_node_w) / most,
               cluster_cap_w - (nodes - 1) * other_node_w)


def cap_allowed(cap_w: float, idle_w: float, min_cap_w: float | None = None) -> bool:
    """An accelerator may be capped at ``cap_w``: above its idle draw (a cap at idle leaves
    no power to compute) and at least the vendor's lowest settable limit, if known."""
    return cap_w > idle_w and (min_cap_w is None or cap_w >= min_cap_w)


__all__ = ["CAP_EXPONENT", "PUBLISHED_POINTS", "accelerator_cap_w", "busy_node_cap_w",
           "cap_allowed", "cap_for_slowdown", "compute_slowdown", "lowest_busy_node_cap_w",
           "step_slowdown"]
