"""Value kinds shared by the scenario and hardware models: quantities with units, counts,
names, each with a finite range (the bottom layer: it imports only units and pydantic).

Every value a scenario holds has a documented range (docs/reference/scenario.md, "Value
kinds"), so nonsense never reaches a model: booleans are not numbers (``tp: true`` is an error,
not 1), numbers are finite (no ``inf``, ``nan``), integers and quantities have maxima that keep
every computation downstream in range (``10**30`` nodes, a ``1e308s`` step), and names and
strings have a maximum length. A model states its field's kind (``Count``, ``Duration``,
``Factor``, ...) or builds one with :func:`integer`, :func:`number`, :func:`count`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from fleetsim import units

#: The ranges of the value kinds (docs/reference/scenario.md lists them; keep both in step).
MAX_COUNT = 10**9  # any count or integer not bounded more tightly
MAX_NODES = 100_000  # cluster.nodes: 800,000 GPUs of 8-GPU nodes
MAX_DURATION_S = 100 * units.YEAR  # any duration
MAX_MTBF_S = 1e6 * units.YEAR  # a mean time between failures of one unit (a rare cause)
MIN_STEP_S = 1e-6  # a training step, a service time: at least a microsecond
MAX_RATE = 1e9  # events (requests, jobs) per second
MAX_FACTOR = 1e6  # a ratio >= 1: peak_to_trough, slowdown, compression, estimate_factor
MAX_BAD_NODE_FACTOR = 1000.0  # faults.bad_nodes.factor (the failure clock thins by it)
MAX_CV = 100.0  # coefficient of variation of a gamma process or a jitter law
MAX_SIGMA = 10.0  # sigma of a lognormal (its mean is exp(sigma^2/2) times its median)
MAX_BANDWIDTH = 1e18  # bytes/s
MIN_BANDWIDTH = 1.0  # bytes/s
MAX_BYTES = 1e21  # bytes
MAX_POWER_W = 1e10  # watts: ten gigawatts, far above any facility
MAX_WEIGHT = 1e9  # a relative weight (empirical distributions, team mixes)
MAX_SEED = 2**63 - 1
MAX_NAME_LENGTH = 128
MAX_TEXT_LENGTH = 10_000  # a description
MAX_REFERENCE_LENGTH = 1024  # a file path or a registered name (policy, node type)


def _not_bool(value: object) -> object:
    """Booleans are not numbers (YAML ``true`` would otherwise be read as 1)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


def _number(value: object) -> object:
    """A plain number; a string such as ``1e5`` (YAML 1.1 reads it as a string) is parsed."""
    _not_bool(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {units.shown(value)}") from None
    return value


def _whole_count(value: object) -> int:
    number = units.parse_count(value)
    if number != int(number):
        raise ValueError(f"expected a whole number, got {units.shown(value)}")
    return int(number)


def _lower(low: float, open_low: bool) -> dict[str, float]:
    return {"gt": low} if open_low else {"ge": low}


def integer(low: int = 0, high: int = MAX_COUNT, *, open_low: bool = False) -> Any:
    """An integer from ``low`` (excluded if ``open_low``) to ``high``, a plain number."""
    return Annotated[int, BeforeValidator(_not_bool), Field(le=high, **_lower(low, open_low))]


def count(low: int = 0, high: int = MAX_COUNT, *, open_low: bool = False) -> Any:
    """A whole count from ``low`` (excluded if ``open_low``) to ``high``, plain or with a
    suffix (``16M``, ``2Ki``)."""
    return Annotated[int, BeforeValidator(_whole_count),
                     Field(le=high, **_lower(low, open_low))]


def number(low: float = 0.0, high: float = MAX_COUNT, *, open_low: bool = False,
           open_high: bool = False) -> Any:
    """A finite plain number between ``low`` and ``high`` (each bound closed unless open)."""
    upper = {"lt": high} if open_high else {"le": high}
    return Annotated[float, BeforeValidator(_number),
                     Field(allow_inf_nan=False, **_lower(low, open_low), **upper)]


def _quantity(parse: Any, text: Any, low: float, high: float, open_low: bool) -> Any:
    """A quantity read by ``parse`` (a string with a unit to SI) within ``low``..``high``
    (``low`` excluded if ``open_low``); the error states the range as ``text`` writes it."""

    def check(value: object) -> float:
        amount = parse(value)
        if amount < low or (open_low and amount == low):
            relation = ">" if open_low else ">="
            shown_low = "0" if low == 0 else text(low)
            raise ValueError(f"must be {relation} {shown_low}, got {units.shown(value)}")
        if amount > high:
            raise ValueError(f"must be at most {text(high)}, got {units.shown(value)}")
        return amount

    return Annotated[float, BeforeValidator(check)]


def duration(low: float = 0.0, high: float = MAX_DURATION_S, *, open_low: bool = False) -> Any:
    """A duration with a unit (``30min``) from ``low`` (excluded if ``open_low``) to ``high``;
    the error states the range in the units a reader writes (``at most 100y``)."""
    return _quantity(units.parse_duration, _duration_text, low, high, open_low)


def watts(low: float = 0.0, high: float = MAX_POWER_W, *, open_low: bool = False) -> Any:
    """An electrical power with a unit (``700W``, ``10.2kW``, ``2MW``) from ``low`` (excluded if
    ``open_low``) to ``high``; the error states the range as ``1MW``, ``10kW``."""
    return _quantity(units.parse_power, _power_text, low, high, open_low)


def _duration_text(seconds: float) -> str:
    """``100y``, ``1us``: a bound in the largest unit that divides it."""
    for unit in ("y", "d", "h", "min", "s", "ms", "us"):
        size = units.DURATION_UNITS[unit]
        if seconds >= size:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _power_text(value: float) -> str:
    """``1MW``, ``700W``: a bound in the largest unit it reaches."""
    for unit in ("MW", "kW", "W"):
        size = units.POWER_UNITS[unit]
        if value >= size:
            return f"{value / size:g}{unit}"
    return f"{value:g}W"


Duration = duration()
PositiveDuration = duration(open_low=True)
#: the time of one training step or one service: at least :data:`MIN_STEP_S`
StepDuration = duration(MIN_STEP_S)
Mtbf = duration(high=MAX_MTBF_S, open_low=True)
Count = count()
PositiveCount = count(open_low=True)
PositiveInteger = integer(open_low=True)
#: an integer that may be negative (a priority)
SignedInteger = integer(-MAX_COUNT, MAX_COUNT)
Fraction = number(0.0, 1.0)
Factor = number(1.0, MAX_FACTOR)  # a ratio >= 1
Weight = number(0.0, MAX_WEIGHT)
Sigma = number(0.0, MAX_SIGMA, open_low=True)
Cv = number(0.0, MAX_CV, open_low=True)
Rate = Annotated[float, BeforeValidator(units.parse_rate), Field(gt=0, le=MAX_RATE)]
Bandwidth = Annotated[float, BeforeValidator(units.parse_bandwidth),
                      Field(ge=MIN_BANDWIDTH, le=MAX_BANDWIDTH)]
Bytes = Annotated[float, BeforeValidator(units.parse_bytes), Field(gt=0, le=MAX_BYTES)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH,
                            pattern=r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")]
#: a file path, a catalogue name or a registered name (checked where it is used)
Reference = Annotated[str, Field(min_length=1, max_length=MAX_REFERENCE_LENGTH)]
Text = Annotated[str, Field(max_length=MAX_TEXT_LENGTH)]
Seed = integer(0, MAX_SEED)
NotBool = BeforeValidator(_not_bool)  # for numeric Literal fields (``zero: 0..3``)

#: sequences in a global batch, and tokens
MAX_BATCH_SEQUENCES = 10**8
MAX_BATCH_TOKENS = 10**12


def _batch(value: object) -> tuple[int, str]:
    """``2048``, ``"2048 sequences"`` or ``"16Mi tokens"`` -> (count, unit)."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        value = f"{value[0]} {value[1]}"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"invalid batch {units.shown(value)} (a count of sequences, or e.g. "
                         "'2048 sequences' or '16Mi tokens')")
    text = str(value).strip()
    number_text, _, unit = text.partition(" ")
    unit = unit.strip() or "sequences"
    if unit not in ("sequences", "tokens"):
        raise ValueError(f"invalid batch {units.shown(value)} (a count of sequences, or e.g. "
                         "'2048 sequences' or '16Mi tokens')")
    count_ = _whole_count(number_text)
    limit = MAX_BATCH_SEQUENCES if unit == "sequences" else MAX_BATCH_TOKENS
    if not 0 < count_ <= limit:
        raise ValueError(f"batch must be between 1 and {limit:.0e} {unit}, got "
                         f"{units.shown(value)}")
    return count_, unit


#: A global batch: (count, "sequences" | "tokens").
Batch = Annotated[tuple[int, str], BeforeValidator(_batch)]


class Model(BaseModel):
    """Base of every scenario model: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)
