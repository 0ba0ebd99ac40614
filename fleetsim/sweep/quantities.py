"""What a sweep parameter's values measure: one kind of quantity (durations, sizes, ...) read
with :mod:`fleetsim.units`, plain numbers, or neither (categories such as ``young``).

The results table adds a numeric column per quantity parameter (``KEY`` + the kind's suffix,
in SI units) so that ``5000h`` sorts before ``50000h``; plots place such values by size and
label the axis with a unit chosen from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from fleetsim import units
from fleetsim.errors import UnitError


@dataclass(frozen=True)
class Kind:
    """A kind of quantity: how a value is read, and the suffix of its SI column."""

    name: str
    parse: Callable[[object], float]
    suffix: str


#: Tried in order; the first that reads every value of a parameter is its kind.
KINDS: tuple[Kind, ...] = (
    Kind("duration", units.parse_duration, "_s"),
    Kind("size", units.parse_bytes, "_bytes"),
    Kind("bandwidth", units.parse_bandwidth, "_bytes_per_s"),
    Kind("FLOP rate", units.parse_flops, "_flop_per_s"),
    Kind("power", units.parse_power, "_w"),
    Kind("count", units.parse_count, "_n"),
)
#: plain numbers (ints and floats as written): already numeric, no extra column
NUMBER = Kind("number", float, "")


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and not (isinstance(value, float) and math.isnan(value)))


def read(values: Sequence[Any]) -> tuple[Kind, list[float]] | None:
    """The kind of ``values`` and each as an SI float, or None if they are not all one kind
    (a category, a mix, a null)."""
    if values and all(_is_number(value) for value in values):
        return NUMBER, [float(value) for value in values]
    if not values or not all(isinstance(value, str) for value in values):
        return None
    for kind in KINDS:
        try:
            return kind, [kind.parse(value) for value in values]
        except (UnitError, ValueError):
            continue
    return None


def quantity(values: Sequence[Any]) -> list[float] | None:
    """Every value as a number (plain numbers, or one unit kind), or None."""
    found = read(values)
    return None if found is None else found[1]


def si_columns(parameters: Sequence[str], columns: Sequence[str]) -> list[str]:
    """The SI columns of ``parameters`` among ``columns`` (``KEY_s``, ``KEY_bytes``, ...)."""
    present = set(columns)
    return [f"{key}{kind.suffix}" for key in parameters for kind in KINDS
            if f"{key}{kind.suffix}" in present]


#: display units per kind: (SI value per unit, name), largest first
DISPLAY_UNITS: dict[str, tuple[tuple[float, str], ...]] = {
    "size": ((2.0**40, "TiB"), (1e12, "TB"), (2.0**30, "GiB"), (1e9, "GB"), (2.0**20, "MiB"),
             (1e6, "MB"), (1e3, "kB"), (1.0, "B")),
    "bandwidth": ((1e12, "TB/s"), (1e9, "GB/s"), (1e6, "MB/s"), (1.0, "B/s")),
    "FLOP rate": ((1e15, "PFLOP/s"), (1e12, "TFLOP/s"), (1e9, "GFLOP/s"), (1.0, "FLOP/s")),
    "power": ((1e6, "MW"), (1e3, "kW"), (1.0, "W")),
}


#: duration units, largest first (SI value per unit, name)
DURATION_UNITS = ((86400.0, "d"), (3600.0, "h"), (60.0, "min"), (1.0, "s"))


def display_unit(kind: str, values: Sequence[float]) -> tuple[float, str]:
    """``(SI value per unit, unit name)`` to show ``values`` of ``kind`` in. Durations start
    from the run-span unit of the largest (:func:`fleetsim.units.time_unit`), other
    kinds from the largest unit the largest value reaches; a smaller unit is taken while the
    values are not round in it (``5000h`` stays in hours, not 208.333 days). Counts and
    numbers are shown as they are."""
    finite = [abs(value) for value in values if math.isfinite(value)]
    largest = max(finite, default=0.0)
    if kind == "duration":
        first = units.time_unit(largest)
        scales = DURATION_UNITS[[scale for scale, _ in DURATION_UNITS].index(first[0]):]
    else:
        table = DISPLAY_UNITS.get(kind)
        if not table:
            return 1.0, ""
        reached = [index for index, (scale, _name) in enumerate(table) if largest >= scale]
        scales = table[reached[0] if reached else len(table) - 1:]
    for scale, name in scales:
        if all(_round(value / scale) for value in finite):
            return scale, name
    return scales[0]


def _round(number: float) -> bool:
    """Whether ``number`` reads exactly with at most two decimals."""
    return abs(number - round(number, 2)) <= 1e-6


__all__ = ["KINDS", "Kind", "NUMBER", "display_unit", "quantity", "read", "si_columns"]
