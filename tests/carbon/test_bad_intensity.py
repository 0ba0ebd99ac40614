"""Out-of-range and unreadable intensities, in each of the three forms (a constant, a
profile's points, a CSV's rows), through the command line as a user runs it: one line
``FILE:LINE: key: message`` at the offending value's own line, exit code 2, the value as the
user wrote it (never a numpy repr), nothing written (issue 14 review)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fleetsim.cli import main
from fleetsim.scenario.carbon import MAX_INTENSITY

#: a small valid scenario; each case appends its ``carbon`` (or ``power``) section
BASE = """\
name: bad-intensity
seed: 1
cluster:
  node: dgx-h100
  nodes: 2
jobs:
  - name: a
    type: training
    gpus: 8
    step_time: 10s
    steps: 10
"""


def _profile(value: object) -> str:
    return ("carbon:\n  intensity:\n    points:\n      - [0, 300]\n      - [8h, 200]\n"
            f"      - [16h, {value}]  # bad\n    period: 24h\n")


def _csv_scenario(tmp_path, rows: str) -> str:
    (tmp_path / "grid.csv").write_text("time_s,intensity\n" + rows)
    return "carbon:\n  file: grid.csv\n"


# (id, section appended to BASE, whether the error is in the CSV, key, message)
PROFILE_CASES = [
    ("negative point", _profile(-5), "carbon.intensity.points.2",
     "the value must lie within 0..10000 gCO2/kWh, got -5"),
    ("huge point", _profile(10**9), "carbon.intensity.points.2",
     "the value must lie within 0..10000 gCO2/kWh, got 1000000000"),
    # YAML 1.1 reads 1e9 as a string: it is still the number it spells, out of range
    ("huge point written 1e9", _profile("1e9"), "carbon.intensity.points.2",
     "the value must lie within 0..10000 gCO2/kWh, got '1e9'"),
    ("point just above the bound", _profile(10_000.5), "carbon.intensity.points.2",
     "the value must lie within 0..10000 gCO2/kWh, got 10000.5"),
    ("hot temperature point", "power:\n  pue:\n    base: 1.1\n    per_degree: 0.01\n"
     "    temperature:\n      points:\n        - [0, 10]\n        - [8h, 75]  # bad\n",
     "power.pue.temperature.points.1", "the value must lie within -90..60 degrees C, got 75"),
]

# (id, CSV rows after the header, bad line in the CSV, column, message)
CSV_CASES = [
    ("huge row", "0,300\n3600,1e9\n", 3, "intensity",
     "must lie within 0..10000 gCO2/kWh, got '1e9'"),
    ("negative row", "0,300\n3600,-1\n", 3, "intensity",
     "must lie within 0..10000 gCO2/kWh, got '-1'"),
    ("row just above the bound", "0,300\n60,200\n120,10000.5\n", 4, "intensity",
     "must lie within 0..10000 gCO2/kWh, got '10000.5'"),
    ("overflowing intensity", "0,300\n3600,1e400\n", 3, "intensity",
     "must be a finite number, got '1e400'"),
    ("overflowing time", "0,300\n1e400,200\n", 3, "time_s",
     "must be a finite number, got '1e400'"),
    ("empty cell", "0,300\n,200\n", 3, "time_s", "must be a finite number, got ''"),
    ("first row late", "1.5e1,300\n", 2, "time_s",
     "the first row must be at 0 (the run's start), got '1.5e1'"),
]


def _line_of(path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def _run(command: str, scenario, tmp_path, capsys) -> str:
    """``fleetsim COMMAND scenario``: exit code 2, nothing on stdout, nothing written; the
    one line of stderr."""
    out = tmp_path / "out"
    extra = ["--out", str(out)] if command == "run" else []
    assert main([command, str(scenario), *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert "np." not in captured.err and "Traceback" not in captured.err, captured.err
    assert not out.exists(), "nothing may be written for bad input"
    return captured.err


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("section, key, message", [case[1:] for case in PROFILE_CASES],
                         ids=[case[0] for case in PROFILE_CASES])
def test_bad_profile_point_is_reported_at_its_own_line(tmp_path, capsys, command, section,
                                                       key, message):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(BASE + section)
    line = _line_of(scenario, "# bad")
    assert _run(command, scenario, tmp_path, capsys) == (
        f"fleetsim: {scenario}:{line}: {key}: {message}\n")


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("rows, line, column, message", [case[1:] for case in CSV_CASES],
                         ids=[case[0] for case in CSV_CASES])
def test_bad_csv_cell_is_shown_as_written(tmp_path, capsys, command, rows, line, column,
                                          message):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(BASE + _csv_scenario(tmp_path, rows))
    assert _run(command, scenario, tmp_path, capsys) == (
        f"fleetsim: {tmp_path / 'grid.csv'}:{line}: {column}: {message}\n")


@pytest.mark.parametrize("value, accepted", [(0, True), (MAX_INTENSITY, True),
                                             (MAX_INTENSITY + 1, False), (-1, False)])
def test_every_form_has_the_same_bound(tmp_path, capsys, value, accepted):
    """A constant, a profile point and a CSV row accept and refuse the same values: 0 and
    10,000 gCO2/kWh in, 10,001 and -1 out."""
    forms = {"constant": f"carbon:\n  intensity: {value:g}\n",
             "profile": f"carbon:\n  intensity:\n    points: [[0, 300], [1h, {value:g}]]\n",
             "csv": _csv_scenario(tmp_path, f"0,300\n3600,{value:g}\n")}
    for form, section in forms.items():
        scenario = tmp_path / f"{form}.yaml"
        scenario.write_text(BASE + section)
        assert main(["validate", str(scenario)]) == (0 if accepted else 2), form
        capsys.readouterr()


@pytest.mark.parametrize("section", [_profile(-5), "csv"])
def test_no_traceback_from_the_installed_command(tmp_path, section):
    """The real entry point (``python -m fleetsim run``) exits 2 with one stderr line."""
    if section == "csv":
        section = _csv_scenario(tmp_path, "0,300\n3600,1e400\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(BASE + section)
    process = subprocess.run([sys.executable, "-m", "fleetsim", "run", str(scenario),
                              "--out", str(tmp_path / "out"), "--quiet"],
                             capture_output=True, text=True, timeout=120)
    assert process.returncode == 2
    assert process.stdout == "" and process.stderr.count("\n") == 1, process.stderr
    assert "Traceback" not in process.stderr and "np." not in process.stderr


@pytest.mark.parametrize("profile, message", [
    ("{points: [[1h, 100]]}", "the first point must be at time 0"),
    ("{points: [[0, 100], [30s, 5]]}", "points must be at least 1min apart"),
    ("{points: [[0, 100]], period: 30min}", "period must be at least 1h"),
    ("{points: [[0, 100], [25h, 3]], period: 24h}", "every point must lie within the period"),
])
def test_a_malformed_profile_gets_its_own_reason(tmp_path, capsys, profile, message):
    """A profile's shape errors name the profile's rule, as ``power.pue``'s temperature does
    (the intensity union used to report them as 'expected a number, got {...}')."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(BASE + f"carbon:\n  intensity: {profile}\n")
    err = _run("validate", scenario, tmp_path, capsys)
    assert f": carbon.intensity: {message}" in err and err.count("\n") == 1, err
