"""Plot a sweep's results: the mean of one column against a parameter, with 95% CI bands,
or (with a baseline) the paired difference from a baseline value, with its own 95% CI.

x values are the parameter's values as written in the sweep file. When every value reads as
one kind of quantity (durations, sizes, bandwidths, FLOP rates, powers, or counts, with
:mod:`fleetsim.sweep.quantities`), or is a number, they are placed by that quantity (a log
axis when they span a factor of 10 or more) and the axis is labelled with a unit chosen from
them ("checkpoint interval (h)", :mod:`fleetsim.sweep.labels`); otherwise they are categories
in sweep order. ``hue`` draws one line per value of a second parameter. Every other parameter
that varies must be fixed with ``where`` (averaging over it silently would mislead).

Paired differences: a sweep runs the same seeds at every point (common random numbers), so
two points' runs with one seed saw the same failures and arrivals. ``baseline=(KEY, VALUE)``
(KEY the x or the hue parameter) plots, at each point, the mean over seeds of the per-seed
difference ``y(point, seed) - y(baseline point, seed)`` with the Student-t 95% interval of
those differences (:func:`fleetsim.sweep.stats.paired_ci`), usually far narrower than the
two points' own intervals.

matplotlib's Agg backend is used through ``matplotlib.figure.Figure`` (no pyplot, no global
state). A PNG is written through a temporary file and never over an existing one unless asked.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from fleetsim.errors import FleetsimError, OutputError
from fleetsim.sweep import labels
from fleetsim.sweep.quantities import quantity, read, si_columns
from fleetsim.sweep.stats import mean_ci, numeric_columns, paired_ci
from fleetsim.sweep.store import SWEEP_FILE, write_atomic_bytes
from fleetsim.sweep.table import read_results


@dataclass(frozen=True)
class Axis:
    """Distinct values of a parameter in plotting order: labels (as written) and positions."""

    labels: tuple[str, ...]
    positions: tuple[float, ...]
    numeric: bool
    log: bool
    kind: str = "category"  # a quantities kind's name, "number" or "category"

    def position(self, label: str) -> float:
        return self.positions[self.labels.index(label)]


def label(value: Any) -> str:
    """How a cell is shown: as written; null as ``null``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else str(value)
    return str(value)


def make_axis(values: Sequence[Any]) -> Axis:
    """The axis of a parameter's distinct values (in first-seen order)."""
    distinct: list[Any] = []
    for value in values:
        if label(value) not in [label(seen) for seen in distinct]:
            distinct.append(value)
    found = read(distinct)
    if found is None:
        return Axis(tuple(label(value) for value in distinct),
                    tuple(float(index) for index in range(len(distinct))), False, False)
    kind, numbers = found
    order = sorted(range(len(distinct)), key=lambda index: numbers[index])
    positions = tuple(numbers[index] for index in order)
    log = (len(positions) > 2 and positions[0] > 0 and positions[-1] / positions[0] >= 10)
    return Axis(tuple(label(distinct[index]) for index in order), positions, True, log,
                kind.name)


def sweep_parameters(out_dir: Path, results: pd.DataFrame) -> list[str]:
    """The parameter columns of a sweep directory (from sweep.json; else none known)."""
    path = out_dir / SWEEP_FILE
    try:
        described = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [name for name in described.get("parameters", []) if name in results.columns]


def default_output(out_dir: Path, results: pd.DataFrame, x: str, y: str, hue: str | None,
                   baseline: bool = False) -> Path:
    """``DIR/plots/<short name>.png`` (:func:`fleetsim.sweep.labels.default_name`); the
    result's job is named when the results hold several jobs."""
    jobs = {column.split(".")[1] for column in results.columns
            if column.startswith("jobs.") and column.count(".") >= 2}
    parts = y.split(".")
    job = parts[1] if len(jobs) > 1 and parts[0] == "jobs" and len(parts) > 2 else None
    return out_dir / "plots" / labels.default_name(x, y, hue, baseline, job)


def plot_sweep(out_dir: str | Path, x: str, y: str, hue: str | None = None,
               where: Sequence[tuple[str, str]] = (), output: str | Path | None = None,
               *, force: bool = False, baseline: tuple[str, str] | None = None) -> Path:
    """Draw mean ``y`` against ``x`` (one line per ``hue`` value) with 95% CI bands from the
    results in ``out_dir``, or with ``baseline=(KEY, VALUE)`` the paired differences from
    the runs where KEY (x or hue) has VALUE; return the PNG's path."""
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
    measured = numeric_columns(results, ["point", "seed", *parameters,
                                         *si_columns(parameters, list(results.columns))])
    if y not in measured:
        _check_column(results, y, "--y", measured)
        raise FleetsimError(f"--y: column {y!r} holds no numbers")
    fixed = {key for key, _ in where}
    varying = [name for name in parameters if name not in (x, hue) and name not in fixed
               and results[name].map(label).nunique() > 1]
    if varying:
        raise FleetsimError(f"the sweep also varies {', '.join(varying)}: pass it as --hue, or "
                            f"fix it with --where {varying[0]}=VALUE")
    if baseline is not None:
        _check_baseline(results, baseline, x, hue)
    target = (Path(output) if output is not None
              else default_output(out, results, x, y, hue, baseline is not None))
    _check_target(target, force, default=output is None)
    figure = _figure(results, x, y, hue, where, baseline)
    write_atomic_bytes(target, lambda path: figure.savefig(path, format="png", dpi=120))
    return target


#: one line of a plot: the hue value (None without a hue) and per x label
#: ``(x label, mean, ci95 low, ci95 high)``
Line = tuple[Any, list[tuple[str, float, float, float]]]


def series(results: pd.DataFrame, x: str, y: str, hue: str | None = None,
           baseline: tuple[str, str] | None = None) -> tuple[Axis, list[Line]]:
    """The x axis and the lines of a plot: the mean of ``y`` at each point with its 95% CI,
    or with ``baseline=(KEY, VALUE)`` the mean and CI of the per-seed differences from the
    run with the same seed where KEY (``x`` or ``hue``) has VALUE and every other parameter
    the point's value (:func:`fleetsim.sweep.stats.paired_ci`). With a hue baseline the
    baseline's own line (all zeros) is left out."""
    x_axis = make_axis(results[x].tolist())
    x_cells = results[x].map(label)
    hue_cells = results[hue].map(label) if hue is not None else None
    hue_values: list[Any] = [None] if hue is None else list(make_axis(
        results[hue].tolist()).labels)
    numbers = pd.to_numeric(results[y], errors="coerce")
    seeds = results["seed"]

    def runs(x_label: str, hue_value: Any) -> pd.Series:
        mask = x_cells == x_label
        return mask & (hue_cells == hue_value) if hue_cells is not None else mask

    lines: list[Line] = []
    for hue_value in hue_values:
        if baseline is not None and baseline[0] == hue and hue_value == baseline[1]:
            continue
        points = []
        for x_label in x_axis.labels:
            mask = runs(x_label, hue_value)
            if not mask.any():
                continue
            if baseline is None:
                mean, low, high = mean_ci(numbers[mask].tolist())
            else:
                key, value = baseline
                base = runs(value if key == x else x_label,
                            value if key == hue else hue_value)
                mean, low, high, _pairs = paired_ci(
                    dict(zip(seeds[mask].tolist(), numbers[mask].tolist())),
                    dict(zip(seeds[base].tolist(), numbers[base].tolist())))
            points.append((x_label, mean, low, high))
        lines.append((hue_value, points))
    return x_axis, lines


def _figure(results: pd.DataFrame, x: str, y: str, hue: str | None,
            where: Sequence[tuple[str, str]], baseline: tuple[str, str] | None = None):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise FleetsimError("fleetsim plot needs matplotlib, a dependency of fleetsim: "
                            "pip install matplotlib") \
            from None
    x_axis, lines = series(results, x, y, hue, baseline)
    x_text, x_scale = labels.parameter_label(x, x_axis.kind, x_axis.positions)
    y_text, y_scale = labels.metric_label(
        y, pd.to_numeric(results[y], errors="coerce").dropna().tolist())
    hue_text = None
    if hue is not None:
        hue_axis = make_axis(results[hue].tolist())
        hue_text = labels.parameter_label(hue, hue_axis.kind, hue_axis.positions)[0]
        hue_text = hue_text.split(" (")[0]
    figure = Figure(figsize=(7.5, 4.8), layout="constrained")
    axes = figure.add_subplot()
    for hue_value, points in lines:
        positions = [x_axis.position(x_label) / x_scale for x_label, *_ in points]
        means, lows, highs = ([value / y_scale for value in column] for column in
                              zip(*(point[1:] for point in points))) if points else ([], [], [])
        name = None if hue_value is None else f"{hue_text} = {hue_value}"
        line, = axes.plot(positions, means, marker="o", label=name)
        axes.fill_between(positions, lows, highs, alpha=0.2, color=line.get_color(),
                          linewidth=0)
    if x_axis.log:
        axes.set_xscale("log")
        axes.minorticks_off()
    ticks = [position / x_scale for position in x_axis.positions]
    tick_labels = ([f"{tick:g}" for tick in ticks] if x_axis.kind not in ("category", "number")
                   else list(x_axis.labels))
    axes.set_xticks(ticks, tick_labels, rotation=30 if len(x_axis.labels) > 6 else 0)
    axes.set_xlabel(x_text)
    seeds = results.groupby(results[x].map(label))["seed"].nunique()
    runs = f"{int(seeds.min())}" if seeds.min() == seeds.max() else \
        f"{int(seeds.min())}-{int(seeds.max())}"
    if baseline is None:
        axes.set_ylabel(y_text)
        title = f"{y_text} vs {x_text.split(' (')[0]}: mean and 95% CI over {runs} seeds"
    else:
        key, value = baseline
        axes.axhline(0.0, color="#555555", linewidth=0.8)
        axes.set_ylabel(f"Δ {y_text}")
        key_text = x_text if key == x else hue_text
        title = (f"{y_text} minus its value at {key_text.split(' (')[0]} = {value}, same seed: "
                 f"mean and 95% CI of the {runs} paired differences")
    title += f"\n{y} vs {x}"
    if where:
        title += "; " + ", ".join(f"{key} = {value}" for key, value in where)
    axes.set_title(title, fontsize=9)
    axes.grid(True, alpha=0.3)
    if hue is not None:
        axes.legend(fontsize=8)
    return figure


def _check_baseline(results: pd.DataFrame, baseline: tuple[str, str], x: str,
                    hue: str | None) -> None:
    key, value = baseline
    if key not in (x, hue):
        raise FleetsimError(f"--baseline {key}={value}: the baseline must be a value of the "
                            f"--x or --hue parameter ({x}{', ' + hue if hue else ''})")
    values = make_axis(results[key].tolist()).labels
    if value not in values:
        raise FleetsimError(f"--baseline {key}={value}: no run has that value (one of "
                            f"{', '.join(values)})")


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


def parse_where(items: Sequence[str], option: str = "--where") -> list[tuple[str, str]]:
    """``["key=value", ...]`` -> pairs (value as written, compared with the cell's label)."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise FleetsimError(f"{option}: expected KEY=VALUE, got {item!r}")
        pairs.append((key.strip(), value.strip()))
    return pairs


__all__ = ["Axis", "make_axis", "parse_where", "plot_sweep", "quantity", "series"]
