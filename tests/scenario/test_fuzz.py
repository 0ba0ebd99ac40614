"""Property test: every scenario key given a wrong type or an extreme value is either refused
in one line naming its file, line and key, or accepted and then runs to its end.

Hypothesis walks every key path of the shipped scenarios (``scenarios/*.yaml`` and the lab
scenarios under ``examples/``) and puts there a value from :data:`BAD`: zero, negatives,
2^31, 10^30, 1e308, infinities, nan, booleans, empty and very long strings, empty lists and
mappings, unknown units, huge quantities with a unit. The mutant is written as a YAML file (so
errors have lines) or given as a ``--set`` override. What must hold:

* the only exception is :class:`~fleetsim.errors.ScenarioError`;
* its message is one line, ``FILE:LINE: key.path: ...`` (LINE is ``--set`` for overrides);
* an accepted mutant was prepared (the event budget refuses what would run for hours), and a
  small one runs to the end of a one-hour horizon.

Before the value kinds of :mod:`fleetsim.kinds` and the event budget, an exhaustive
walk of the same mutants (14,010: 934 key paths x 15 values, each validated and prepared)
found 3 tracebacks (OverflowError from ``1e308`` nodes and vocabularies) and 280 nonsense
values accepted (150 huge numbers, 77 booleans read as numbers, 31 infinities, 22 names of
100,000 characters); running the accepted ones found a hang (2^31 steps drawn in one
segment). This test samples 500 of the ~32,000 (key, value, file-or-``--set``) mutants,
deterministically.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fleetsim.errors import ScenarioError
from fleetsim.prepare import load
from fleetsim.runner import simulate

ROOT = Path(__file__).resolve().parents[2]

#: wrong types and extremes put at every key
BAD: list[Any] = [0, -1, 2**31, 10**30, 1e308, math.inf, -math.inf, math.nan, True, False, "",
                  "x" * 100_000, [], {}, "5parsecs", "1e308s", "1e30"]

#: a scenario small enough to run each accepted mutant for an hour of simulated time
SMALL_NODES = 64


def _scenario_files() -> list[Path]:
    candidates = sorted(ROOT.glob("scenarios/*.yaml")) + sorted(ROOT.glob("examples/**/*.yaml"))
    return [path for path in candidates
            if isinstance(data := yaml.safe_load(path.read_text()), dict) and "cluster" in data]


def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every key path of ``node`` (mappings by key, lists by index), deepest first."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))
    if prefix:
        yield prefix


FILES = _scenario_files()
DATA = {path: yaml.safe_load(path.read_text()) for path in FILES}
TARGETS = [(path, key) for path in FILES for key in _paths(DATA[path])]


def _mutant(path: Path, key: tuple, value: Any) -> dict:
    data = copy.deepcopy(DATA[path])
    node = data
    for part in key[:-1]:
        node = node[part]
    node[key[-1]] = value
    return data


def _dotted(data: dict, key: tuple) -> str:
    """The ``--set`` spelling of ``key``: list items by their name where they have one."""
    parts, node = [], data
    for part in key:
        item = node[part]
        if isinstance(part, int):
            name = item.get("name") if isinstance(item, dict) else None
            parts.append(str(name) if isinstance(name, str) and name else str(part))
        else:
            parts.append(str(part))
        node = item
    return ".".join(parts)


def _check_message(error: ScenarioError, file: str) -> None:
    message = str(error)
    assert "\n" not in message, message
    place = re.match(rf"^{re.escape(file)}:(\d+|--set): ([A-Za-z0-9_.\-]+): \S", message)
    assert place is not None, f"not FILE:LINE: key: {message!r}"
    assert len(message) < 1000, message[:300]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.skipif(not TARGETS, reason="no shipped scenarios found")
@settings(max_examples=500, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(target=st.sampled_from(TARGETS), value=st.sampled_from(BAD),
       via_set=st.sampled_from([False, False, True]))
def test_a_bad_value_is_one_line_or_runs(workdir, target, value, via_set):
    path, key = target
    if via_set:
        file = str(path)
        source: Any = path
        overrides = [(_dotted(DATA[path], key), value)]
    else:
        file = str(workdir / path.name)
        Path(file).write_text(yaml.safe_dump(_mutant(path, key, value), sort_keys=False))
        source, overrides = file, []
    try:
        prepared = load(source, overrides=overrides)
    except ScenarioError as error:
        _check_message(error, file)
        event("refused in one line")
        return
    event("accepted and prepared")
    if prepared.spec.cluster.nodes <= SMALL_NODES:
        try:
            short = load(source, overrides=overrides + [("horizon", "1h")])
        except ScenarioError as error:  # e.g. the mutant had removed the horizon's room
            _check_message(error, file)
            return
        result = simulate(short)
        assert result.summary["sim_time_s"] <= 3600.0 + 1e-6
        event("accepted and run for an hour")
