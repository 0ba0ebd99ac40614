"""The run's event log: failures, detections, repairs, checkpoints, restarts, in time order.

One flat record per event with the documented columns ``time_s, job, kind, cause, unit``
(empty strings where a column does not apply), appended in simulation order and turned into a
DataFrame once at the end. Kinds are listed in :data:`KINDS` and in docs/guides/outputs.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where the frame is built: loading a scenario needs no pandas
    import pandas as pd

COLUMNS = ("time_s", "job", "kind", "cause", "unit")

KINDS = {
    "job_start": "a job got its nodes and starts computing",
    "job_complete": "a job finished its last step",
    "failure": "a unit failed (cause, unit); recorded for every failure in the cluster",
    "interruption": "a failure stopped a job; the work since its last checkpoint is lost",
    "detected": "the job noticed the failure (after the detection time)",
    "replaced": "a healthy node replaced a failed one in the job (unit = node taken)",
    "restart": "the job starts re-initialising (then loads its last checkpoint)",
    "checkpoint_start": "a checkpoint begins (cause: its mode)",
    "checkpoint": "a checkpoint counts (save, persist or peer snapshot completed)",
    "memory_checkpoint_lost": "an in-memory checkpoint was lost; restart from remote storage",
    "checkpoint_aborted": "a failure interrupted a checkpoint save; it does not count",
    "repaired": "a failed node is healthy again (cause: the repair's kind)",
    "sdc_rollback": "silent data corruption was found: the job rolled back past bad checkpoints",
    "elastic": "an elastic job restarts on fewer nodes",
    "rescale": "an elastic job restarts on all its nodes again",
    "slow": "a node became persistently slow (a straggler)",
    "slow_cleared": "a slow node is back to normal speed",
    "replica_down": "a serving replica stopped (unit): its requests hang until detection",
    "replica_up": "a serving replica serves again after its weights were reloaded (unit)",
    "eviction": "a job evicted a slow node (it goes to repair; the job drains and restarts)",
    "preempted": "the scheduler preempted a job (cause: for whom); it saves or loses its work "
                 "since the last checkpoint, yields its GPUs and queues again",
    "scaled": "an autoscaled service changed its replica count (cause: from -> to)",
}


class EventLog:
    """Append-only list of event records."""

    def __init__(self) -> None:
        self._rows: list[tuple[float, str, str, str, str]] = []

    def record(self, time_s: float, kind: str, *, job: str = "", cause: str = "",
               unit: str = "") -> None:
        self._rows.append((float(time_s), job, kind, cause, unit))

    def __len__(self) -> int:
        return len(self._rows)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame.from_records(self._rows, columns=list(COLUMNS))
