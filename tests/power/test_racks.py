"""Power per rack (``power.rack_nodes``): a closed form, the racks summing to the fleet's IT
power at every instant, determinism, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fleetsim.cli import main
from fleetsim.power.profile import lookup
from fleetsim.prepare import load
from fleetsim.runner import simulate
from tests.conftest import scenario
from tests.power.test_energy import SERVING
from tests.power.test_power_input import ONE_LINE

NODE_W, IDLE_W = 10_200.0, 2_500.0  # DGX H100 busy and idle, fleetsim/power/states.py


def _explicit_job(rack_nodes: int = 4) -> dict:
    return {"name": "r", "seed": 1, "cluster": {"node": "dgx-h100", "nodes": 8},
            "jobs": [{"name": "a", "type": "training", "gpus": 16, "step_time": "10s",
                      "steps": 360}],
            "power": {"rack_nodes": rack_nodes}}


def test_one_job_on_rack_zero_closed_form():
    """Closed form: 8 DGX H100 nodes, 4 per rack, one 16-GPU job of 360 explicit 10 s steps
    (all compute) packed on nodes 0-1. While it runs rack 0 draws 2 x 10.2 kW + 2 x 2.5 kW
    = 25.4 kW and rack 1 4 x 2.5 kW = 10 kW (DGX H100 datasheet 10.2 kW; idle 2.5 kW from
    fleetsim/power/states.py). Exact to 1e-12 relative."""
    result = simulate(load(_explicit_job()))
    racks = result.summary["power"]["racks"]
    assert racks == {"nodes_per_rack": 4, "count": 2, "peak_w": pytest.approx(25_400.0),
                     "peak_rack": 0, "peak_at_s": 0.0}
    table = result.racks
    running = table["time_s"] > 0  # every window of the run: the job is computing
    assert table.loc[running, "rack0_w"].to_numpy() == pytest.approx(
        2 * NODE_W + 2 * IDLE_W, rel=1e-12)
    assert table["rack1_w"].to_numpy() == pytest.approx(4 * IDLE_W, rel=1e-12)
    assert list(table.columns) == ["time_s", "rack0_w", "rack1_w"]


def test_partial_last_rack_and_one_rack_of_everything():
    """8 nodes at 3 per rack: racks of 3, 3 and 2 nodes (the last partial: 2 x 2.5 kW idle);
    more nodes per rack than the cluster has: one rack, whose power is the fleet's."""
    partial = simulate(load(_explicit_job(3)))
    assert partial.summary["power"]["racks"]["count"] == 3
    assert partial.racks["rack2_w"].to_numpy() == pytest.approx(2 * IDLE_W, rel=1e-12)
    whole = simulate(load(_explicit_job(100)))
    assert whole.summary["power"]["racks"]["count"] == 1
    assert whole.racks["rack0_w"].to_numpy() == pytest.approx(
        whole.timeseries["power_it_w"].to_numpy(), rel=1e-12)


def _busy_run():
    """Failures (node and GPU, repairs, replacements from spares and free nodes), a
    training job, a small job sharing a node, a serving job and a cluster power cap whose
    per-GPU share changes as jobs start and end."""
    jobs = [{"name": "train", "type": "training", "gpus": 32, "step_time": "10s",
             "steps": 3000, "restart": "5min",
             "checkpoint": {"policy": "fixed", "interval": "30min", "save": "1min",
                            "load": "2min"}},
            {"name": "small", "type": "training", "gpus": 4, "step_time": "10s",
             "steps": 1500, "submit": "20min"},
            dict(SERVING, submit="1h")]
    data = scenario(seed=3, **{"cluster.nodes": 10, "faults.causes.0.mtbf": "50h",
                               "faults.causes.1.mtbf": "100h", "jobs": jobs})
    data["power"] = {"rack_nodes": 3, "cap": {"cluster": "70kW"}}
    return simulate(load(data))


def test_racks_sum_to_the_fleet_at_every_instant():
    """The racks' IT power summed equals the fleet's IT power step function at each of its
    change times (1e-9 relative: float rounding of two summation orders), on a run with
    failures, a serving job, a node shared by jobs and a power cap; and the window means of
    racks.csv sum to the timeseries' ``power_it_w``."""
    result = _busy_run()
    summary = result.summary
    assert summary["cluster"]["failures"] > 0 and summary["power"]["cap"] is not None
    assert summary["jobs"]["chat"]["energy"]["it_j"] > 0
    power = result.power
    racks = result.rack_power
    total = racks.at(power.times).sum(axis=1)
    assert total == pytest.approx(power.it_w, rel=1e-9)
    # ... and at every rack's own change times too
    moments = np.unique(np.concatenate(racks.times))
    assert racks.at(moments).sum(axis=1) == pytest.approx(
        lookup(power.times, power.it_w, moments), rel=1e-9)
    columns = [f"rack{rack}_w" for rack in range(racks.count)]
    assert result.racks[columns].sum(axis=1).to_numpy() == pytest.approx(
        result.timeseries["power_it_w"].to_numpy(), rel=1e-9)
    peak = summary["power"]["racks"]
    assert peak["count"] == 4 and peak["peak_w"] == pytest.approx(
        racks.at(moments[moments <= power.end_s]).max(), rel=1e-12)


def test_same_seed_same_racks_bytes(tmp_path):
    """Two runs of one scenario and seed write the same racks.csv, byte for byte; without
    ``power.rack_nodes`` no racks file is written and the summary has no ``racks``."""
    path = tmp_path / "s.yaml"
    data = scenario(seed=2, **{"faults.causes.0.mtbf": "100h", "jobs.0.steps": 3000})
    data["power"] = {"rack_nodes": 2}
    path.write_text(json.dumps(data))
    for out in ("a", "b"):
        assert main(["run", str(path), "--out", str(tmp_path / out)]) == 0
    first = (tmp_path / "a" / "racks.csv").read_bytes()
    assert first == (tmp_path / "b" / "racks.csv").read_bytes()
    assert first.startswith(b"time_s,rack0_w,rack1_w,rack2_w\n")
    del data["power"]
    path.write_text(json.dumps(data))
    assert main(["run", str(path), "--out", str(tmp_path / "c")]) == 0
    assert not (tmp_path / "c" / "racks.csv").exists()
    assert "racks" not in json.loads((tmp_path / "c" / "summary.json").read_text())["power"]


GOOD = """\
name: p
cluster: {node: dgx-h100, nodes: 8}
jobs:
  - {name: a, type: training, gpus: 8, step_time: 1s, steps: 10}
power:
  rack_nodes: 4
"""


@pytest.mark.parametrize("value, words", [("0", "must be > 0"), ("-4", "must be > 0"),
                                          ("true", "expected a number, got true"),
                                          ("2.5", "expected a whole number"),
                                          ("four", "expected a whole number"),
                                          ("10000000000000", "must be <= 1e+09")])
def test_bad_rack_nodes_gives_one_line_and_exit_2(tmp_path, capsys, value, words):
    """``power.rack_nodes`` must be a whole number >= 1: one line FILE:LINE: key, exit 2."""
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace("rack_nodes: 4", f"rack_nodes: {value}"))
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    assert ONE_LINE.match(captured.err), captured.err
    assert "bad.yaml:6: power.rack_nodes" in captured.err and words in captured.err, \
        captured.err
