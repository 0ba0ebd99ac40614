"""Grid intensity, emissions of a power draw, the intensity CSV and carbon-aware release."""

from __future__ import annotations

import numpy as np
import pytest

from fleetsim.carbon import emissions_g
from fleetsim.carbon.deferral import release_s
from fleetsim.carbon.series import read_intensity
from fleetsim.errors import ScenarioError
from fleetsim.power.profile import StepProfile

HOUR = 3600.0
#: 100 g at night (0-6 h, 18-24 h), 50 g by day, every day
DAILY = StepProfile([0.0, 6 * HOUR, 18 * HOUR], [100.0, 50.0, 100.0], 24 * HOUR)


def test_bloom_closed_form():
    """Validation: BLOOM's dynamic training emissions (Luccioni, Viguier, Ligozat, "Estimating
    the Carbon Footprint of BLOOM", JMLR 2023, arXiv:2211.02001, table 2): 433,196 kWh at
    the French grid's 57 gCO2/kWh = 24.69 t CO2 (the paper's "24.7 tonnes"). A constant draw
    holding that energy over the 118 days of training gives it to 1e-9 relative."""
    duration_s = 118 * 86400.0
    watts = 433_196 * 3.6e6 / duration_s
    grams = emissions_g(StepProfile.constant(57.0), [0.0], [watts], duration_s)
    assert grams / 1e6 == pytest.approx(433_196 * 57 / 1e6, rel=1e-9)
    assert grams / 1e6 == pytest.approx(24.7, abs=0.05)


def test_constant_intensity_is_energy_times_intensity():
    """Exact: a step function of power under a constant intensity gives energy x intensity."""
    rng = np.random.default_rng(3)
    times = np.cumsum(rng.uniform(1, 500, 40)) - 1
    times[0] = 0.0
    watts = rng.uniform(0, 1e6, 40)
    end = times[-1] + 123.0
    energy_kwh = float(np.sum(watts * np.diff(np.append(times, end)))) / 3.6e6
    assert emissions_g(StepProfile.constant(431.0), times, watts, end) == pytest.approx(
        energy_kwh * 431.0, rel=1e-12)


def test_daily_profile_integral():
    """1 kW for two days under 100 g at night (0-6 h, 18-24 h), 50 g by day: 2 x (12 kWh x
    100 + 12 kWh x 50) = 3.6 kg; starting mid-piece (3 h) changes nothing over whole days."""
    profile = DAILY
    assert emissions_g(profile, [0.0], [1000.0], 48 * HOUR) == pytest.approx(3600.0)
    assert emissions_g(profile, [3 * HOUR], [1000.0], 51 * HOUR) == pytest.approx(3600.0)
    assert list(profile.at([5.99 * HOUR, 30 * HOUR])) == [100.0, 50.0]


def test_release_waits_for_low_intensity_within_slack():
    profile = DAILY
    assert release_s(2 * HOUR, 12 * HOUR, profile, 60.0) == 6 * HOUR  # waits for the day
    assert release_s(2 * HOUR, 3 * HOUR, profile, 60.0) == 5 * HOUR  # slack runs out first
    assert release_s(8 * HOUR, 12 * HOUR, profile, 60.0) == 8 * HOUR  # already low
    assert release_s(19 * HOUR, 12 * HOUR, profile, 60.0) == 30 * HOUR  # next morning


def _csv(tmp_path, text):
    path = tmp_path / "grid.csv"
    path.write_text(text)
    return path


def test_csv_series(tmp_path):
    intensity = read_intensity(_csv(tmp_path, "time_s,intensity\n0,300\n3600,120\n"))
    assert list(intensity.at([10.0, 1e9])) == [300.0, 120.0]
    spaced = read_intensity(_csv(tmp_path, "time_s,intensity\n0,300\n\n3600,120\n\n"))
    assert list(spaced.at([10.0, 1e9])) == [300.0, 120.0]


@pytest.mark.parametrize("text, line, key", [
    ("time_s,intensity\n0,300\n3600,abc\n", 3, "intensity"),
    ("time_s,intensity\n0,300\n3600,-5\n", 3, "intensity"),
    ("time_s,intensity\n0,300\n3600,1e9\n", 3, "intensity"),
    ("time_s,intensity\n0,300\n3600,1e400\n", 3, "intensity"),
    ("time_s,intensity\n10,300\n", 2, "time_s"),
    ("time_s,intensity\n0,300\n0,200\n", 3, "time_s"),
    ("time_s,intensity\n0,300\n,200\n", 3, "time_s"),
    # blank lines are skipped, and a later row keeps its own line number
    ("time_s,intensity\n\n0,300\n\n\n3600,abc\n", 6, "intensity"),
    ("time,value\n0,300\n", 1, None),
    ("time_s,intensity\n0,300\n3600,50,7\n", 3, None),  # a field too many
])
def test_malformed_csv_names_file_line_and_column(tmp_path, text, line, key):
    path = _csv(tmp_path, text)
    with pytest.raises(ScenarioError) as error:
        read_intensity(path)
    assert error.value.line == line and error.value.key == key
    assert str(error.value).startswith(f"{path}:{line}: ")
    assert "\n" not in str(error.value)
