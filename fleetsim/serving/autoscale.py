"""A serving job's autoscaler: the Kubernetes Horizontal Pod Autoscaler rule on the job's
replicas.

Every ``interval`` the load per replica is measured — ``queue``: requests in the system (queued
or running) per replica in service; ``utilization``: the share of the last interval the
replicas in service spent computing — and the replica count set to

    desired = ceil(replicas x load / target), clamped to [min, max]

as the HPA does (kubernetes.io, "Horizontal Pod Autoscaling", algorithm details), including
its tolerance (no change while load / target is within 10% of 1) and its scale-down
stabilisation: scaling up happens at once, scaling down only to the highest count recommended
over the last ``cooldown`` (the HPA's ``stabilizationWindowSeconds``, 300 s by default), so a
brief dip does not release replicas that a cold start would have to bring back. The
autoscaler stops when the job's arrivals are over (it only drains then).
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

from fleetsim.scenario.serving import AutoscaleSpec

if TYPE_CHECKING:
    from fleetsim.serving.job import ServingJob

#: the HPA's default tolerance (--horizontal-pod-autoscaler-tolerance)
TOLERANCE = 0.1


def desired_replicas(current: int, load: float, spec: AutoscaleSpec) -> int:
    """The HPA rule (module docstring)."""
    ratio = load / spec.target
    if abs(ratio - 1.0) <= TOLERANCE:
        return current
    return min(spec.max, max(spec.min, math.ceil(current * ratio - 1e-9)))


class Autoscaler:
    """The control loop of one serving job (module docstring)."""

    def __init__(self, job: "ServingJob", spec: AutoscaleSpec) -> None:
        self.job, self.spec = job, spec
        self._busy: dict[int, float] = {}  # busy seconds of each replica object at last look

    def run(self):
        job, spec = self.job, self.spec
        env = job.env
        recent: deque[tuple[float, int]] = deque()  # (time, recommendation) in the window
        while True:
            yield env.timeout(spec.interval)
            if job.completed or job.arrivals_done:
                return
            now = env.now
            recommended = desired_replicas(job.target, self.load(), spec)
            recent.append((now, recommended))
            while recent[0][0] <= now - spec.cooldown and len(recent) > 1:
                recent.popleft()  # the window keeps at least the recommendation just made
            if recommended > job.target:
                job.scale_to(recommended)
            else:
                highest = max(count for _time, count in recent)
                if highest < job.target:
                    job.scale_to(highest)

    def load(self) -> float:
        """The metric now (module docstring)."""
        job = self.job
        serving = job.serving_replicas()
        if self.spec.metric == "queue":
            return job.in_system / max(1, len(serving))
        interval = self.spec.interval
        busy = 0.0
        current: dict[int, float] = {}
        for replica in serving:
            now_busy = replica.busy_s
            current[id(replica)] = now_busy
            busy += now_busy - self._busy.get(id(replica), 0.0)
        self._busy = current
        return busy / (interval * len(serving)) if serving else 1.0


__all__ = ["Autoscaler", "TOLERANCE", "desired_replicas"]
