"""Sweeps: many runs of one scenario over a grid of overrides and seeds, with CIs.

::

    import fleetsim
    table = fleetsim.sweep("examples/sweeps/checkpoint-interval.yaml", out="sweep-out",
                           workers=4)            # or scheduler="tcp://host:8786" (Dask)

``fleetsim.sweep`` is this package, and calling it runs a sweep: the package makes itself
callable (``fleetsim.sweep(...)`` is :func:`fleetsim.sweep.driver.sweep`) so that the
function and the package can share the name ``fleetsim.sweep`` under every import style.

Modules: :mod:`~fleetsim.sweep.spec` (sweep files, points, seeds, run keys),
:mod:`~fleetsim.sweep.executors` (in-process, local processes, Dask),
:mod:`~fleetsim.sweep.store` (the resumable ``runs.jsonl``), :mod:`~fleetsim.sweep.worker`
(one run -> one flattened row), :mod:`~fleetsim.sweep.table` and :mod:`~fleetsim.sweep.stats`
(results and per-point means with Student-t CIs), :mod:`~fleetsim.sweep.plot`,
:mod:`~fleetsim.sweep.driver` (the whole sweep). docs/guides/sweeps.md is the user's guide.
"""

from __future__ import annotations

import sys
import types
from typing import Any


def run_sweep(spec: Any, out: Any = None, workers: int | None = None, scheduler: Any = None,
              *, force: bool = False):
    """Run a sweep (a sweep YAML path, or a dict of the same shape) and return its results
    table (a pandas DataFrame): one row per run, with the point's parameters, ``seed`` and the
    flattened summary.

    ``out`` is a directory for the resumable store and the result files (none: nothing is
    written); ``workers`` local processes (default ``os.cpu_count()``; 1 runs in this process);
    ``scheduler`` a Dask scheduler address (``"tcp://host:8786"``) or a ``distributed.Client``.
    ``force`` takes over an ``out`` that holds another sweep. Bad input raises
    :class:`fleetsim.FleetsimError` (one line: file, line, key). Heavy imports wait for the
    first call.
    """
    from fleetsim.sweep.driver import sweep

    return sweep(spec, out, workers, scheduler, force=force)


class _CallableModule(types.ModuleType):
    """The package's module type: calling it runs :func:`run_sweep`."""

    def __call__(self, *args: Any, **kwargs: Any):
        return run_sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["run_sweep"]
