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


class Model(BaseModel):
    """Base of every scenario model: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)
