"""Flatten a run's nested summary into one row of dotted columns (``jobs.pretrain.goodput``).

The rules, which docs/guides/sweeps.md repeats for readers of ``results.parquet``:

* a mapping is flattened with dots: ``{"jobs": {"pretrain": {"goodput": 0.9}}}`` becomes
  ``{"jobs.pretrain.goodput": 0.9}``; an empty mapping adds no column;
* a list (or tuple) is kept as one value, its JSON text (``"[1, 2]"``), so every cell is a
  scalar that Parquet and CSV can hold;
* ``None`` stays ``None``, and so do non-finite floats (as in summary.json);
* everything else (str, int, float, bool) is kept as is.

Counts keyed by what happened (``interruptions_by_cause``, ``failures_by_cause``: any key with a
``_by_`` part) only name the causes that occurred in that run; :func:`fill_missing_counts` sets
the causes another run saw to 0, so means over seeds are right.
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable, Mapping


def flatten(summary: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The dotted-key row of ``summary`` (see the module docstring for the rules)."""
    row: dict[str, Any] = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            row.update(flatten(value, prefix=f"{name}."))
        else:
            row[name] = cell(value)
    return row


def cell(value: Any) -> Any:
    """One scalar cell: lists and tuples as JSON text, non-finite floats as ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return json.dumps(_finite(value), separators=(", ", ": "), default=str)
    if isinstance(value, Mapping):  # only reached for mappings used as values (grid values)
        return json.dumps(_finite(value), separators=(", ", ": "), sort_keys=False, default=str)
    return value


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def is_count_by_key(column: str) -> bool:
    """Whether ``column`` lies under a ``*_by_*`` mapping (counts keyed by what happened)."""
    return any("_by_" in part for part in column.split(".")[:-1])


def fill_missing_counts(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows where every ``*_by_*`` count column another row has is present (0 if absent)."""
    rows = list(rows)
    counts = {column for row in rows for column in row if is_count_by_key(column)}
    return [{**{column: 0 for column in counts if column not in row}, **row} for row in rows]
