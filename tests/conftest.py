"""Shared fixtures: small scenario dicts that tests vary with overrides."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

BASE_SCENARIO = {
    "name": "test",
    "seed": 7,
    "cluster": {"node": "dgx-h100", "nodes": 6, "spares": 2},
    "faults": {
        "causes": [{"name": "gpu", "scope": "gpu", "mtbf": "2000h"},
                   {"name": "host", "scope": "node", "mtbf": "4000h"}],
        "detection": "2min",
        "repair": "4h",
    },
    "jobs": [{
        "name": "train",
        "type": "training",
        "gpus": 32,
        "step_time": "10s",
        "steps": 20000,
        "restart": "5min",
        "checkpoint": {"policy": "fixed", "interval": "30min", "save": "1min", "load": "2min"},
    }],
}


def scenario(**changes) -> dict:
    """A copy of BASE_SCENARIO with dotted-key changes applied (``{"jobs.0.gpus": 16}``)."""
    data = copy.deepcopy(BASE_SCENARIO)
    for key, value in changes.items():
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return data


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def make_scenario():
    """The :func:`scenario` builder, as a fixture."""
    return scenario


def run_with_failures(data: dict, failures: list):
    """Run scenario ``data`` with :class:`~fleetsim.faults.clock.Failure` s injected at their
    ``time_s`` (the style of SimPy's own tests: exact times, exact expectations)."""
    from fleetsim.runner import Run
    from fleetsim.prepare import load

    run = Run(load(data))
    run.inject(failures)
    return run.execute()


@pytest.fixture
def inject_failures():
    """:func:`run_with_failures`, as a fixture."""
    return run_with_failures
