"""The fleet's scheduler: which waiting job starts next, on which GPUs, and whom to preempt.

Public API::

    Scheduler(env, fleet, spec, rng=, log=)     # core.py: submit(job), passes, preemption
    POLICIES[name]                              # policies.py: fifo, backfill, sjf, priority,
                                                #   las, fair-share
    PLACEMENTS[name]                            # placement.py: packed, spread, random
"""

from fleetsim.scheduler.core import Scheduler
from fleetsim.scheduler.placement import PLACEMENTS, Placement
from fleetsim.scheduler.policies import COMMON_KEYS, POLICIES, SchedulingPolicy

__all__ = ["COMMON_KEYS", "PLACEMENTS", "POLICIES", "Placement", "Scheduler",
           "SchedulingPolicy"]
