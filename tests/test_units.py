"""Unit parsing: every quantity becomes an SI float, and bad strings say what is allowed."""

from __future__ import annotations

import pytest

from fleetsim import units
from fleetsim.errors import UnitError


@pytest.mark.parametrize("text, seconds", [
    ("30min", 1800.0), ("54d", 54 * 86400.0), ("2y", 2 * 365 * 86400.0), ("45s", 45.0),
    ("50000h", 50000 * 3600.0), ("1.5h", 5400.0), ("250ms", 0.25), ("3us", 3e-6),
    ("1w", 7 * 86400.0), (0, 0.0), ("0", 0.0), ("1e3s", 1000.0),
])
def test_durations(text, seconds):
    assert units.parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize("text, value", [
    ("80GiB", 80 * 2**30), ("80GB", 80e9), ("2.3TB", 2.3e12), ("512B", 512.0),
])
def test_sizes(text, value):
    assert units.parse_bytes(text) == pytest.approx(value)


@pytest.mark.parametrize("text, value", [
    ("400Gbps", 50e9), ("200Gbps", 25e9), ("50GB/s", 50e9), ("1GiB/s", 2**30),
])
def test_bandwidths(text, value):
    assert units.parse_bandwidth(text) == pytest.approx(value)


@pytest.mark.parametrize("text, value", [
    ("16M", 16e6), (200000, 200000.0), ("1.5K", 1500.0), ("2B", 2e9), ("7", 7.0),
])
def test_counts(text, value):
    assert units.parse_count(text) == value


def test_flops_and_power():
    assert units.parse_flops("989TFLOPS") == 989e12
    assert units.parse_flops("1.2PFLOP/s") == pytest.approx(1.2e15)
    assert units.parse_power("10.2kW") == pytest.approx(10200.0)


@pytest.mark.parametrize("bad", ["1x", "min", "", "abc", "1 2 s", True, None, [1], "inf s"])
def test_bad_durations_name_the_allowed_units(bad):
    with pytest.raises(UnitError) as error:
        units.parse_duration(bad)
    assert "duration" in str(error.value)


def test_a_bare_number_needs_a_unit_except_zero():
    with pytest.raises(UnitError, match="needs a unit"):
        units.parse_duration(30)
    assert units.parse_duration(0) == 0.0


def test_format_duration():
    assert units.format_duration(5400) == "1.5 h"
    assert units.format_duration(0.002) == "2 ms"
    assert units.format_duration(3 * 86400) == "3 d"
