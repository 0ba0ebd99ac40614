"""Field types shared by the scenario models: quantities with units, counts, names."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from fleetsim import units


def _whole_count(value: object) -> int:
    number = units.parse_count(value)
    if number != int(number):
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(number)


Duration = Annotated[float, BeforeValidator(units.parse_duration), Field(ge=0)]
PositiveDuration = Annotated[float, BeforeValidator(units.parse_duration), Field(gt=0)]
Count = Annotated[int, BeforeValidator(_whole_count)]
Name = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")]
Bandwidth = Annotated[float, BeforeValidator(units.parse_bandwidth), Field(gt=0)]
Bytes = Annotated[float, BeforeValidator(units.parse_bytes), Field(gt=0)]


def _batch(value: object) -> tuple[int, str]:
    """``2048``, ``"2048 sequences"`` or ``"16Mi tokens"`` -> (count, unit)."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return int(value[0]), str(value[1])
    text = str(value).strip()
    number, _, unit = text.partition(" ")
    unit = unit.strip() or "sequences"
    if unit not in ("sequences", "tokens"):
        raise ValueError(f"invalid batch {value!r} (a count of sequences, or e.g. "
                         "'2048 sequences' or '16Mi tokens')")
    count = _whole_count(number)
    if count <= 0:
        raise ValueError(f"batch must be > 0, got {value!r}")
    return count, unit


#: A global batch: (count, "sequences" | "tokens").
Batch = Annotated[tuple[int, str], BeforeValidator(_batch)]


class Model(BaseModel):
    """Base of every scenario model: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)
