"""The function a sweep ships to its workers: run one scenario, return its flattened summary.

:class:`SweepWorker` holds the base scenario as plain data (a few KB, pickled once per Dask
``map`` and per process-pool submit); each :class:`~fleetsim.sweep.spec.RunTask` adds only the
point's overrides and the seed. The worker returns a dict of JSON scalars (never a DataFrame):
what the result store writes as one line of ``runs.jsonl``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fleetsim.sweep.flatten import flatten
from fleetsim.sweep.spec import RunTask


def run_summary(base_data: dict[str, Any], task: RunTask) -> dict[str, Any]:
    """Simulate the base scenario with ``task``'s overrides and seed; the nested summary."""
    import fleetsim

    return fleetsim.run(base_data, seed=task.seed, overrides=dict(task.overrides)).summary


@dataclass(frozen=True, eq=False)
class SweepWorker:
    """``worker(task) -> flattened summary`` for one sweep's base scenario (picklable)."""

    base_data: dict[str, Any]

    def __call__(self, task: RunTask) -> dict[str, Any]:
        row = flatten(run_summary(self.base_data, task))
        # the same values whether the row comes back from memory or from runs.jsonl
        return json.loads(json.dumps(row, allow_nan=False))
