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

import importlib
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from fleetsim.errors import FleetsimError, ScenarioError

if TYPE_CHECKING:
    from fleetsim import sweep
    from fleetsim.prepare import load
    from fleetsim.runner import RunResult

__version__ = "0.1.0"

#: Names imported on first use (PEP 562), so that ``import fleetsim`` and the command line's
#: ``--help`` do not load the simulator (pandas, SimPy, networkx): name -> (module, attribute).
_LAZY = {"RunResult": ("fleetsim.runner", "RunResult"), "load": ("fleetsim.prepare", "load"),
         "sweep": ("fleetsim.sweep", None)}


def __getattr__(name: str) -> Any:
    """Import a public name of :data:`_LAZY` (``fleetsim.sweep`` is the callable package
    :mod:`fleetsim.sweep`) or a subpackage (``fleetsim.report``, ``fleetsim.units``) on first
    access, as ``import fleetsim`` once did eagerly."""
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        module = importlib.import_module(module_name)
        value = module if attribute is None else getattr(module, attribute)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}"):
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
    from fleetsim.prepare import load
    from fleetsim.runner import simulate

    return simulate(load(scenario, overrides=items, seed=seed))


__all__ = ["FleetsimError", "RunResult", "ScenarioError", "__version__", "load", "run", "sweep"]
