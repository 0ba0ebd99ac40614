"""Parse quantities with units (``30min``, ``80GiB``, ``400Gbps``, ``16M``) into SI floats.

Units are read once, at the edge (scenario and hardware loading); everything inside fleetsim is
SI: seconds, bytes, bytes per second, FLOP/s, watts. Parsers accept a number (``int``/``float``)
only where a bare number is unambiguous (counts; and ``0`` for any quantity) and otherwise
require a unit, so ``interval: 30`` is an error rather than a silent 30 seconds.

Conventions (documented in docs/reference/scenario.md):

* durations: ``us ms s min h d w y``; a year is 365 days;
* sizes: SI ``B KB MB GB TB PB`` (powers of 1000) and IEC ``KiB MiB GiB TiB PiB`` (powers of 1024);
* bandwidth: bits per second ``bps Kbps Mbps Gbps Tbps`` (SI, /8 to bytes) or bytes per second
  ``B/s KB/s MB/s GB/s TB/s KiB/s MiB/s GiB/s TiB/s``;
* FLOP rates: ``FLOPS KFLOPS MFLOPS GFLOPS TFLOPS PFLOPS`` (``FLOP/s`` spelling also accepted);
* power: ``W kW MW``;
* rates (requests per unit time): a plain number is per second, or ``COUNT/DURATION``
  such as ``10/s``, ``600/min``, ``1.2K/h``;
* counts: a plain number or a suffix ``K M B G T`` (powers of 1000) or ``Ki Mi Gi Ti`` (powers
  of 1024), e.g. ``16M`` tokens, ``16Mi`` = 2048 sequences of 8192 tokens.
"""

from __future__ import annotations

import math
import re

from fleetsim.errors import UnitError

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-z/]*)\s*$")

SECOND = 1.0
MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
WEEK = 7 * DAY
YEAR = 365 * DAY

DURATION_UNITS: dict[str, float] = {
    "us": 1e-6, "ms": 1e-3, "s": SECOND, "sec": SECOND, "min": MINUTE, "h": HOUR, "hr": HOUR,
    "d": DAY, "day": DAY, "days": DAY, "w": WEEK, "y": YEAR,
}
SIZE_UNITS: dict[str, float] = {
    "B": 1.0, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "PB": 1e15,
    "KiB": 2.0**10, "MiB": 2.0**20, "GiB": 2.0**30, "TiB": 2.0**40, "PiB": 2.0**50,
}
BANDWIDTH_UNITS: dict[str, float] = {
    "bps": 1 / 8, "Kbps": 1e3 / 8, "Mbps": 1e6 / 8, "Gbps": 1e9 / 8, "Tbps": 1e12 / 8,
    **{f"{unit}/s": factor for unit, factor in SIZE_UNITS.items()},
}
FLOPS_UNITS: dict[str, float] = {
    prefix + spelling: factor
    for prefix, factor in {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}.items()
    for spelling in ("FLOPS", "FLOP/s")
}
POWER_UNITS: dict[str, float] = {"W": 1.0, "kW": 1e3, "MW": 1e6}
COUNT_UNITS: dict[str, float] = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12,
                                 "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}


#: the longest value an error message repeats (a 50 MB name is shown by its start)
_SHOWN_LENGTH = 40


def shown(value: object) -> str:
    """``repr(value)``, shortened for an error message: ``'xxxxxxxx...' (50000000 characters)``;
    booleans and null as the YAML the user wrote (``true``, ``null``)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    text = repr(value)
    if len(text) <= _SHOWN_LENGTH:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return f"{text[:_SHOWN_LENGTH]}...{size}"


def _allowed(units: dict[str, float]) -> str:
    return ", ".join(u for u in units if u)


def _parse(value: object, units: dict[str, float], what: str, example: str,
           unitless_ok: bool = False) -> float:
    if isinstance(value, bool):
        raise UnitError(f"expected a {what} such as '{example}', got {shown(value)}")
    if isinstance(value, (int, float)):
        if unitless_ok or value == 0:
            return _finite(float(value), what, example)
        raise UnitError(f"{what} {shown(value)} needs a unit (e.g. '{example}'; units: "
                        f"{_allowed(units)})")
    if not isinstance(value, str):
        raise UnitError(f"expected a {what} such as '{example}', got {shown(value)}")
    match = _QUANTITY.match(value)
    if match is None:
        raise UnitError(f"invalid {what} {shown(value)} (a number with a unit, e.g. '{example}'; "
                        f"units: {_allowed(units)})")
    number, unit = float(match.group(1)), match.group(2)
    if unit == "" and (unitless_ok or number == 0):
        return _finite(number, what, example)
    if unit == "":
        raise UnitError(f"{what} {shown(value)} needs a unit (e.g. '{example}'; units: "
                        f"{_allowed(units)})")
    if unit not in units:
        raise UnitError(f"invalid {what} {shown(value)}: unknown unit {shown(unit)} "
                        f"(units: {_allowed(units)})")
    return _finite(number * units[unit], what, example)


def _finite(number: float, what: str, example: str) -> float:
    if not math.isfinite(number):
        raise UnitError(f"{what} must be finite (e.g. '{example}')")
    return number


def parse_duration(value: object) -> float:
    """Seconds from ``"30min"``, ``"54d"``, ``"2y"``, ``"45s"`` (``0`` needs no unit)."""
    return _parse(value, DURATION_UNITS, "duration", "30min")


def parse_bytes(value: object) -> float:
    """Bytes from ``"80GiB"``, ``"2.3TB"``."""
    return _parse(value, SIZE_UNITS, "size", "80GiB")


def parse_bandwidth(value: object) -> float:
    """Bytes per second from ``"400Gbps"`` (bits) or ``"50GB/s"`` (bytes)."""
    return _parse(value, BANDWIDTH_UNITS, "bandwidth", "400Gbps")


def parse_flops(value: object) -> float:
    """FLOP/s from ``"989TFLOPS"``."""
    return _parse(value, FLOPS_UNITS, "FLOP rate", "989TFLOPS")


def parse_power(value: object) -> float:
    """Watts from ``"700W"`` or ``"10.2kW"``."""
    return _parse(value, POWER_UNITS, "power", "700W")


def parse_count(value: object) -> float:
    """A count from ``16000000``, ``"16M"``, ``"1.5K"``."""
    return _parse(value, COUNT_UNITS, "count", "16M", unitless_ok=True)


def parse_rate(value: object) -> float:
    """Events per second from ``12.5``, ``"10/s"``, ``"600/min"`` or ``"1.2K/h"``."""
    if isinstance(value, str) and "/" in value:
        count, _, per = value.partition("/")
        try:
            duration = parse_duration(f"1{per.strip()}")
            return _finite(parse_count(count.strip()) / duration, "rate", "10/s")
        except UnitError:
            raise UnitError(f"invalid rate {shown(value)} (a number per second, or e.g. '10/s', "
                            f"'600/min'; durations: {_allowed(DURATION_UNITS)})") from None
    return parse_count(value)


def format_duration(seconds: float) -> str:
    """A short human string for a duration in seconds (``"4.2 h"``), for tables and logs."""
    magnitude = abs(seconds)
    for unit, size in (("d", DAY), ("h", HOUR), ("min", MINUTE)):
        if magnitude >= size:
            return f"{seconds / size:.3g} {unit}"
    if magnitude >= 1 or magnitude == 0:
        return f"{seconds:.3g} s"
    if magnitude >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} us"


#: (longer than, seconds per unit, name): the unit of a time axis, longest first
TIME_AXIS_UNITS = ((3 * DAY, DAY, "d"), (3 * HOUR, HOUR, "h"), (180.0, MINUTE, "min"))


def time_unit(span_s: float) -> tuple[float, str]:
    """Seconds per unit and the unit's name for a time axis spanning ``span_s`` seconds: days
    past 3 days, hours past 3 hours, minutes past 3 minutes, else seconds (so a 4-hour run is
    read in hours and a 54-day run in days). Every plot's time axis uses it."""
    for longer_than, scale, name in TIME_AXIS_UNITS:
        if span_s > longer_than:
            return scale, name
    return SECOND, "s"
