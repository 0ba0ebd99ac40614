"""Plot a sweep's results: the mean of one column against a parameter, with 95% CI bands.

x values are the parameter's values as written in the sweep file. When every value reads as
one kind of quantity (durations, sizes, bandwidths, FLOP rates, powers, or counts, with
:mod:`fleetsim.units`), or is a number, they are placed by that quantity (a log axis when they
span a factor of 10 or more) and labelled as written; otherwise they are categories in sweep
order. ``hue`` draws one line per value of a second parameter. Every other parameter that
varies must be fixed with ``where`` (averaging over it silently would mislead).

matplotlib's Agg backend is used through ``matplotlib.figure.Figure`` (no pyplot, no global
state). A PNG is written through a temporary file and never over an existing one unless asked.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from fleetsim import units
from fleetsim.errors import FleetsimError, OutputError, UnitError
from fleetsim.sweep.stats import mean_ci, numeric_columns
from fleetsim.sweep.store import SWEEP_FILE, write_atomic_bytes
from fleetsim.sweep.table import read_results

#: Tried in order; the first that reads every value of a parameter places it.
QUANTITY_PARSERS: tuple[Callable[[object], float], ...] = (
    units.parse_duration, units.parse_bytes, units.parse_bandwidth, units.parse_flops,
    units.parse_power, units.parse_count)


@dataclass(frozen=True)
class Axis:
    """Distinct values of a parameter in plotting order: labels (as written) and positions."""

    labels: tuple[str, ...]
    positions: tuple[float, ...]
    numeric: bool
    log: bool

    def position(self, label: str) -> float:
        return self.positions[self.labels.index(label)]


def label(value: Any) -> str:
    """How a cell is shown: as written; null as ``null``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else str(value)
    return str(value)


def quantity(values: Sequence[Any]) -> list[float] | None:
    """Every value as a number (plain numbers, or one unit kind), or None."""
    if all(isinstance(value, (int, float)) and not isinstance(value, bool)
           and not (isinstance(value, float) and math.isnan(value)) for value in values):
        return [float(value) for value in values]
    if not all(isinstance(value, str) for value in values):
        return None
    for parse in QUANTITY_PARSERS:
        try:
            return [parse(value) for value in values]
        except (UnitError, ValueError):
            continue
    return None


def make_axis(values: Sequence[Any]) -> Axis:
    """The axis of a parameter's distinct values (in first-seen order)."""
    distinct: list[Any] = []
    for value in values:
        if label(value) not in [label(seen) for seen in distinct]:
            distinct.append(value)
    numbers = quantity(distinct)
    if numbers is None:
        return Axis(tuple(label(value) for value in distinct),
                    tuple(float(index) for index in range(len(distinct))), False, False)
    order = sorted(range(len(distinct)), key=lambda index: numbers[index])
    positions = tuple(numbers[index] for index in order)
    log = (len(positions) > 2 and positions[0] > 0 and positions[-1] / positions[0] >= 10)
    return Axis(tuple(label(distinct[index]) for index in order), positions, True, log)


def sweep_parameters(out_dir: Path, results: pd.DataFrame) -> list[str]:
    """The parameter columns of a sweep directory (from sweep.json; else none known)."""
    path = out_dir / SWEEP_FILE
    try:
        described = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [name for name in described.get("parameters", []) if name in results.columns]


def default_output(out_dir: Path, x: str, y: str, hue: str | None) -> Path:
    name = f"{y}_vs_{x}" + (f"_by_{hue}" if hue else "")
    return out_dir / "plots" / f"{name}.png"


def plot_sweep(out_dir: str | Path, x: str, y: str, hue: str | None = None,
               where: Sequence[tuple[str, str]] = (), output: str | Path | None = None,
               *, force: bool = False) -> Path:
    """Draw mean ``y`` against ``x`` (one line per ``hue`` value) with 95% CI bands from the
    results in ``out_dir``; return the PNG's path."""
    out = Path(out_dir)
    results = read_results(out)
    parameters = sweep_parameters(out, results)
    _check_column(results, x, "--x", parameters or list(results.columns))
    if hue is not None:
        _check_column(results, hue, "--hue", parameters or list(results.columns))
        if hue == x:
            raise FleetsimError("--hue: must differ from --x")
    for key, value in where:
        _check_column(results, key, "--where", parameters or list(results.columns))
        results = results[results[key].map(label) == value]
        if results.empty:
            raise FleetsimError(f"--where {key}={value}: no run has that value")
    measured = numeric_columns(results, ["point", "seed", *parameters])
    if y not in measured:
        _check_column(results, y, "--y", measured)
        raise FleetsimError(f"--y: column {y!r} holds no numbers")
    fixed = {key for key, _ in where}
    varying = [name for name in parameters if name not in (x, hue) and name not in fixed
               and results[name].map(label).nunique() > 1]
    if varying:
        raise FleetsimError(f"the sweep also varies {', '.join(varying)}: pass it as --hue, or "
                            f"fix it with --where {varying[0]}=VALUE")
    target = Path(output) if output is not None else default_output(out, x, y, hue)
    _check_target(target, force, default=output is None)
    figure = _figure(results, x, y, hue, where)
    write_atomic_bytes(target, lambda path: figure.savefig(path, format="png", dpi=120))
    return target


def _figure(results: pd.DataFrame, x: str, y: str, hue: str | None,
            where: Sequence[tuple[str, str]]):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise FleetsimError("fleetsim plot needs matplotlib, a dependency of fleetsim: "
                            "pip install matplotlib") \
            from None
    x_axis = make_axis(results[x].tolist())
    groups = [(None, results)]
    if hue is not None:
        hue_axis = make_axis(results[hue].tolist())
        groups = [(value, results[results[hue].map(label) == value])
                  for value in hue_axis.labels]
    figure = Figure(figsize=(7.5, 4.8), layout="constrained")
    axes = figure.add_subplot()
    seeds = results.groupby(results[x].map(label))["seed"].nunique()
    for value, frame in groups:
        positions, means, lows, highs = [], [], [], []
        for x_label in x_axis.labels:
            sample = frame[frame[x].map(label) == x_label][y]
            if sample.empty:
                continue
            mean, low, high = mean_ci(pd.to_numeric(sample, errors="coerce").tolist())
            positions.append(x_axis.position(x_label))
            means.append(mean)
            lows.append(low)
            highs.append(high)
        name = None if value is None else f"{hue} = {value}"
        line, = axes.plot(positions, means, marker="o", label=name)
        axes.fill_between(positions, lows, highs, alpha=0.2, color=line.get_color(),
                          linewidth=0)
    if x_axis.log:
        axes.set_xscale("log")
        axes.minorticks_off()
    axes.set_xticks(list(x_axis.positions), list(x_axis.labels),
                    rotation=30 if len(x_axis.labels) > 6 else 0)
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    runs = f"{int(seeds.min())}" if seeds.min() == seeds.max() else \
        f"{int(seeds.min())}-{int(seeds.max())}"
    title = f"{y} vs {x}: mean and 95% CI over {runs} seeds"
    if where:
        title += "\n" + ", ".join(f"{key} = {value}" for key, value in where)
    axes.set_title(title, fontsize=10)
    axes.grid(True, alpha=0.3)
    if hue is not None:
        axes.legend(fontsize=8)
    return figure


def _check_column(results: pd.DataFrame, name: str, option: str,
                  allowed: Sequence[str]) -> None:
    if name in results.columns and name in allowed:
        return
    import difflib

    close = difflib.get_close_matches(name, list(allowed), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else (
        f"one of {', '.join(list(allowed)[:8])}" + (", ..." if len(allowed) > 8 else ""))
    what = "parameter" if option != "--y" else "numeric result column"
    raise FleetsimError(f"{option}: no {what} {name!r} in the results ({hint})")


def _check_target(target: Path, force: bool, default: bool) -> None:
    if target.suffix.lower() != ".png":
        raise OutputError(f"{target}: --out: the plot is a PNG (give a name ending in .png)")
    if target.is_dir():
        raise OutputError(f"{target}: --out: is a directory")
    if target.exists() and not force:
        raise OutputError(f"{target}: already exists (choose another --out, or pass --force "
                          "to overwrite)")
    if default:
        target.parent.mkdir(parents=True, exist_ok=True)
    elif not target.parent.is_dir():
        raise OutputError(f"{target}: --out: directory {target.parent} does not exist")


def parse_where(items: Sequence[str]) -> list[tuple[str, str]]:
    """``["key=value", ...]`` -> pairs (value as written, compared with the cell's label)."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise FleetsimError(f"--where: expected KEY=VALUE, got {item!r}")
        pairs.append((key.strip(), value.strip()))
    return pairs


__all__ = ["Axis", "make_axis", "parse_where", "plot_sweep", "quantity"]
