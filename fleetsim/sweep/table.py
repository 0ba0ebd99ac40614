"""The results table of a sweep (one row per run) and its files: Parquet and CSV.

Columns, in order: ``point`` (the point's index), the point's parameters (named by their
dotted key, values as written in the sweep file; lists and mappings as JSON text), ``seed``,
the quantity parameters as SI numbers (:func:`numeric_parameters`: ``KEY_s`` for durations,
``KEY_bytes`` for sizes, ...; so ``5000h`` sorts before ``50000h``), then the run's
flattened summary (:mod:`fleetsim.sweep.flatten`) in summary order. A summary key that is
also a parameter or a parameter's number (``jobs.pretrain.gpus`` swept and reported) is kept
as ``summary.<key>``. Rows are in point order, then seed order, whatever order the runs
finished in, so the files of a sweep are the same however it was run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from fleetsim.errors import FleetsimError
from fleetsim.sweep import quantities
from fleetsim.sweep.flatten import cell, fill_missing_counts
from fleetsim.sweep.spec import SweepPlan
from fleetsim.sweep.store import write_atomic_bytes


def point_params(plan: SweepPlan, point_index: int) -> dict[str, Any]:
    """The parameter cells of one point, as written (lists and mappings as JSON text)."""
    return {key: cell(value) for key, value in plan.points[point_index].params}


def numeric_parameters(plan: SweepPlan) -> dict[str, dict[int, float]]:
    """The SI column of each parameter whose values are all one kind of quantity (durations,
    sizes, bandwidths, FLOP rates, powers, counts; :mod:`fleetsim.sweep.quantities`):
    ``{column name: {point index: value}}``. Plain numbers need no such column."""
    out: dict[str, dict[int, float]] = {}
    for key in plan.parameters:
        cells = [point_params(plan, index)[key] for index in range(len(plan.points))]
        found = quantities.read(cells)
        if found is not None and found[0] is not quantities.NUMBER:
            kind, numbers = found
            out[f"{key}{kind.suffix}"] = dict(enumerate(numbers))
    return out


def results_table(plan: SweepPlan, runs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run of ``plan`` found in ``runs`` (run key -> flattened summary)."""
    numeric = numeric_parameters(plan)
    parameters = set(plan.parameters) | set(numeric)
    rows = []
    for task in plan.tasks():
        summary = runs.get(task.key)
        if summary is None:
            continue
        row: dict[str, Any] = {"point": task.point, **point_params(plan, task.point),
                               "seed": task.seed}
        row.update({column: values[task.point] for column, values in numeric.items()})
        for key, value in summary.items():
            if key == "seed":
                continue  # the same as the run's seed
            row[f"summary.{key}" if key in parameters or key == "point" else key] = value
        rows.append(row)
    rows = fill_missing_counts(rows)
    columns: dict[str, None] = dict.fromkeys(["point", *plan.parameters, "seed", *numeric])
    for row in rows:
        columns.update(dict.fromkeys(row))
    return _uniform(pd.DataFrame.from_records(rows, columns=list(columns)))


def _uniform(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns Parquet can hold: a column mixing strings with numbers becomes strings."""
    for column in frame.columns:
        values = frame[column].dropna()
        kinds = {type(value) for value in values}
        if len(kinds) > 1 and str in kinds:
            frame[column] = frame[column].map(lambda value: None if value is None
                                              or (isinstance(value, float) and value != value)
                                              else str(value)).astype(object)
    return frame


def has_parquet() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as CSV or Parquet (by suffix), through a temporary file."""
    if path.suffix == ".parquet":
        write_atomic_bytes(path, lambda target: frame.to_parquet(target, index=False))
    else:
        write_atomic_bytes(path, lambda target: frame.to_csv(target, index=False,
                                                            lineterminator="\n"))


def read_results(out_dir: str | Path) -> pd.DataFrame:
    """A sweep directory's results table: results.parquet, or results.csv without pyarrow."""
    out = Path(out_dir)
    parquet, csv = out / "results.parquet", out / "results.csv"
    if parquet.exists() and has_parquet():
        return pd.read_parquet(parquet)
    if csv.exists():
        return pd.read_csv(csv)
    if parquet.exists():
        raise FleetsimError(f"{parquet}: reading Parquet needs pyarrow: "
                            "pip install pyarrow (a dependency of fleetsim)")
    raise FleetsimError(f"{out}: no results.parquet or results.csv (run `fleetsim sweep "
                        f"SWEEP.yaml --out {out}` to the end first)")
