"""Bad ``power`` input: one line ``FILE:LINE: power.key: what is wrong``, exit 2; and every
power output documented in docs/guides/outputs.md."""

from __future__ import annotations

import re

import pytest

from fleetsim.cli import main
from fleetsim.power.energy import FLEET_BUCKETS, JOB_BUCKETS

ONE_LINE = re.compile(r"^fleetsim: \S+:(\d+|--set): [\w.\-]+: .+\n$")

GOOD = """\
name: p
cluster: {node: dgx-h100, nodes: 1}
jobs:
  - {name: a, type: training, gpus: 8, step_time: 1s, steps: 10}
power:
  pue:
    base: 1.1
    per_degree: 0.01
    temperature: {points: [[0, 10], [12h, 25]], period: 24h}
  swing_window: 1s
  node: {down: 0W}
"""

BAD = [
    ("pue below 1", ("    base: 1.1", "    base: 0.9"), "power.pue.base", "must be >= 1"),
    ("pue a word", ("""  pue:
    base: 1.1
    per_degree: 0.01
    temperature: {points: [[0, 10], [12h, 25]], period: 24h}
""", "  pue: warm\n"), "power.pue", "a number >= 1 or a mapping"),
    ("point not a pair", ("[12h, 25]", "[12h]"), "power.pue.temperature.points.1",
     "[time, value]"),
    ("point value a word", ("[12h, 25]", "[12h, warm]"), "power.pue.temperature.points.1",
     "must be a finite number"),
    ("times not increasing", ("[[0, 10], [12h, 25]]", "[[0, 10], [12h, 25], [6h, 3]]"),
     "power.pue.temperature", "increase strictly"),
    ("first point not at 0", ("[[0, 10],", "[[1h, 10],"), "power.pue.temperature",
     "at time 0"),
    ("point beyond the period", ("period: 24h", "period: 6h"), "power.pue.temperature",
     "within the period"),
    ("points too close", ("[12h, 25]", "[10s, 25]"), "power.pue.temperature",
     "at least 1min apart"),
    ("period too short", ("[[0, 10], [12h, 25]], period: 24h",
                          "[[0, 10], [10min, 25]], period: 30min"),
     "power.pue.temperature", "at least 1h"),
    ("temperature in Kelvin", ("[12h, 25]", "[12h, 298]"), "power.pue",
     "within -90..60 degrees C"),
    ("PUE beyond 3", ("per_degree: 0.01", "per_degree: 0.5"), "power.pue", "at most 3"),
    ("missing slope", ("    per_degree: 0.01\n", ""), "power.pue.per_degree", "missing"),
    ("negative window", ("swing_window: 1s", "swing_window: -1s"), "power.swing_window",
     "must be > 0"),
    ("bad power unit", ("down: 0W", "down: 5 bananas"), "power.node.down",
     "unknown unit 'bananas'"),
    ("negative power", ("down: 0W", "down: -5W"), "power.node.down", ">= 0"),
    ("node power in the megawatts", ("down: 0W", "down: 2MW"), "power.node.down",
     "at most 1MW"),
    ("stall above compute", ("down: 0W", "compute: 5kW, stall: 6kW"), "power.node",
     "stall (6000 W) must not exceed compute (5000 W)"),
    ("unknown state", ("down: 0W", "sleeping: 0W"), "power.node.sleeping", "unknown key"),
]


@pytest.mark.parametrize("what, change, key, words", BAD, ids=[case[0] for case in BAD])
def test_bad_power_input_gives_one_line_and_exit_2(tmp_path, capsys, what, change, key,
                                                   words):
    old, new = change
    assert old in GOOD
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace(old, new, 1))
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    assert ONE_LINE.match(captured.err), captured.err
    assert f": {key}" in captured.err and words in captured.err, captured.err


def test_the_good_input_is_accepted(tmp_path, capsys):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    assert main(["validate", str(path)]) == 0


def test_every_power_output_is_documented(root):
    """Every key of the ``power`` block, of a job's ``energy`` block, every bucket and every
    power column appears in docs/guides/outputs.md."""
    text = (root / "docs" / "guides" / "outputs.md").read_text()
    names = ["energy_it_j", "energy_facility_j", "energy_it_kwh", "energy_facility_kwh",
             "power.pue", "energy_buckets_j", "power_it_mean_w", "power_it_peak_w",
             "power_facility_peak_w", "swing_window_s", "swing_drop_w", "swing_drop_at_s",
             "swing_rise_w", "swing_rise_at_s", "node_power_w", "energy.it_j",
             "energy.facility_j", "energy.buckets_j", "energy.mean_power_w",
             "energy.compute_fraction", "energy.running_power_per_gpu_w",
             "energy.per_step_j", "energy.per_token_j", "power_it_w", "power_facility_w",
             "pue", "plots/power.png", "gpus_running", "gpus_stalled", "gpus_loading",
             "gpus_serving", "energy_it_kwh", *JOB_BUCKETS, *FLEET_BUCKETS]
    missing = [name for name in names if f"`{name}`" not in text and f".{name}`" not in text]
    assert not missing, f"undocumented power outputs: {missing}"
