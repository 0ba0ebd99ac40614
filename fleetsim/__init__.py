"""fleetsim: a discrete-event simulator of ML fleets (step time, failures, checkpoints, goodput).

Python API::

    import fleetsim
    result = fleetsim.run("scenarios/quickstart.yaml", seed=3,
                          overrides={"jobs.pretrain.checkpoint.interval": "1h"})
    result.summary["jobs"]["pretrain"]["goodput"]
    result.events, result.timeseries      # pandas DataFrames
    fleetsim.report.write_run(result, "out/")   # summary.json, events.csv, timeseries.csv, ...

    table = fleetsim.sweep("examples/sweeps/checkpoint-interval.yaml", out="sweep-out")
    # a DataFrame, one row per run (docs/guides/sweeps.md)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from fleetsim.errors import FleetsimError, ScenarioError
from fleetsim.runner import RunResult, simulate
from fleetsim.prepare import load
from fleetsim import sweep  # the package, callable: fleetsim.sweep(spec, out=..., ...)

__version__ = "0.1.0"


def run(scenario: str | Path | dict[str, Any], seed: int | None = None,
        overrides: Mapping[str, Any] | Iterable[str] | None = None) -> RunResult:
    """Load, validate and simulate a scenario (a YAML path or a dict) and return its results.

    ``overrides`` is a mapping ``{"dotted.key": value}`` or an iterable of ``"key=value"``
    strings, exactly like ``--set`` on the command line; ``seed`` replaces the scenario's seed.
    Raises :class:`ScenarioError` (one line, with file, line and key) for bad input.
    """
    items: Iterable[Any] = ()
    if isinstance(overrides, Mapping):
        items = list(overrides.items())
    elif overrides is not None:
        items = list(overrides)
    return simulate(load(scenario, overrides=items, seed=seed))


__all__ = ["FleetsimError", "RunResult", "ScenarioError", "__version__", "run", "sweep"]
