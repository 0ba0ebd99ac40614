"""A serving replica's accelerator power: its draw while busy follows how compute-bound its
work is, clipped at a power cap (pure).

An accelerator running a unit of work (an iteration, or a fused run of decode iterations)
draws::

    draw = min(cap, idle + (tdp - idle) * activity)
    activity = MEMORY_BOUND_ACTIVITY + (1 - MEMORY_BOUND_ACTIVITY) * compute_share

where ``compute_share`` is the share of the unit's device time its FLOPs take at the
achievable rate (:meth:`Roofline.compute_share`, 1 for a compute-bound prefill, small for a
memory-bound decode whose weights and KV cache stream from HBM) and ``tdp`` the catalogue's
``power.busy``. A memory-bound iteration keeps HBM and the memory system busy while the
tensor cores mostly wait, so it draws well above idle but well below the TDP; a cap only
clips the draw above it, so a memory-bound decode under a cap above its draw costs no energy
and no time (its time does not depend on the FLOP rate the cap slows,
:func:`fleetsim.prepare.serving_slowdown`).

Sources (the figures the constants and tests rest on):

* Splitwise (Patel et al., ISCA 2024, arXiv:2311.18677): the prompt phase is
  compute-intensive, the token phase memory-intensive, "each with distinct latency,
  throughput, memory, and power characteristics", and token generation "can be run with
  lower power" (abstract), which its Splitwise-HHcap design does by power-capping the token
  machines.
* POLCA (Patel et al., arXiv:2308.12908), abstract: the mean and peak power of LLM
  inference are "not very high" against the provisioned power, leaving headroom for power
  oversubscription at minimal performance loss.
* Ma, Afzal, Eitzinger, Wellein, "The Illusion of Power Capping in LLM Decode"
  (arXiv:2605.11999), abstract: memory-bound decode on a 700 W H200 draws 137-300 W
  (0.20-0.43 of TDP) across GQA, MLA, Gated DeltaNet and Mamba2 models; no cap above that
  ever triggers.
* Maliakel, Ilager, Brandic (arXiv:2501.08219), abstract: decode is 77-91 % of inference
  time and largely insensitive to GPU frequency (lowering it saves 42 % energy for 1-6 %
  latency).

``MEMORY_BOUND_ACTIVITY`` = 0.25 puts a purely memory-bound iteration on an H100 (700 W TDP,
100 W idle) at 100 + 0.25 x 600 = 250 W, 0.36 of TDP, inside Ma et al.'s 0.20-0.43 band;
decode batches large enough to load the tensor cores draw more through their compute share
(tests/serving/test_serving_power.py checks both ends against the sources).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: activity (share of the idle-to-TDP range drawn) of a purely memory-bound iteration
MEMORY_BOUND_ACTIVITY = 0.25


@dataclass(frozen=True)
class ReplicaPower:
    """One accelerator's draw (watts): ``idle_w`` when up but idle, ``tdp_w`` fully
    compute-bound and uncapped, never more than ``cap_w`` (``inf``: no cap)."""

    idle_w: float
    tdp_w: float
    cap_w: float = math.inf

    def draw_w(self, compute_share):
        """Watts while running work with this compute share (scalar or array in [0, 1])."""
        share = np.clip(compute_share, 0.0, 1.0)
        activity = MEMORY_BOUND_ACTIVITY + (1.0 - MEMORY_BOUND_ACTIVITY) * share
        return np.minimum(self.idle_w + (self.tdp_w - self.idle_w) * activity, self.cap_w)

    def busy_j(self, durations_s, compute_shares) -> float:
        """Joules of one accelerator over units of work of these durations and shares."""
        durations = np.asarray(durations_s, float)
        if durations.size == 0:
            return 0.0
        return float(np.dot(durations, self.draw_w(np.asarray(compute_shares, float))))


__all__ = ["MEMORY_BOUND_ACTIVITY", "ReplicaPower"]
