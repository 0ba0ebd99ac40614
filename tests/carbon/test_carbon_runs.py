"""Carbon of whole runs: energy x intensity, carbon-aware deferral, bad carbon input."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

import fleetsim
from fleetsim import prepare
from fleetsim.cli import main
from fleetsim.runner import simulate

#: 400 gCO2/kWh at night, 100 from 8 h to 18 h (a solar day), every day
DIURNAL = {"points": [[0, 400], ["8h", 100], ["18h", 400]], "period": "24h"}


def _scenario(carbon, deferrable=None, pue=1.0):
    jobs = [{"name": f"j{i}", "type": "training", "gpus": 8, "step_time": "10s",
             "steps": 360, "submit": f"{3 * i}h"} for i in range(8)]
    if deferrable:
        for job in jobs:
            job["deferrable"] = deferrable
    return {"name": "carbon", "seed": 3, "cluster": {"node": "dgx-h100", "nodes": 4},
            "power": {"pue": pue}, "carbon": carbon, "jobs": jobs}


def test_constant_intensity_is_energy_times_intensity():
    """Exact: under a constant 57 gCO2/kWh (BLOOM's French grid) the fleet's and every
    job's kgCO2 equal their facility energy (kWh) x 57 / 1000, to 1e-12 relative."""
    summary = simulate(prepare.load(_scenario({"intensity": 57}, pue=1.2))).summary
    carbon, power = summary["carbon"], summary["power"]
    assert carbon["facility_kg"] == pytest.approx(power["energy_facility_kwh"] * 0.057,
                                                  rel=1e-12)
    assert carbon["it_kg"] == pytest.approx(power["energy_it_kwh"] * 0.057, rel=1e-12)
    for job in summary["jobs"].values():
        assert job["carbon_kg"] == pytest.approx(job["energy"]["facility_kwh"] * 0.057,
                                                 rel=1e-12)


def test_carbon_aware_starts_lower_emissions_within_slack():
    """Closed form: 8 one-hour jobs on one DGX H100 each (10.2 kW: 10.2 kWh, 1.02 kg by day
    at 100 g, 4.08 kg by night at 400 g), submitted every 3 h. Started on submission, 5 run
    at night (0, 3, 6, 18, 21 h): 3 x 1.02 + 5 x 4.08 = 23.46 kg. With 12 h of slack
    waiting for <= 150 g, 7 run by day; the one submitted at 18 h, 14 h before the next day,
    starts when its slack ends (30 h), at night: 7 x 1.02 + 4.08 = 11.22 kg, -52 %. None is
    held past its slack; without slack none is held. (The fleet's total also counts its
    idle nodes for as long as the run lasts, longer when jobs wait.)"""
    plain = simulate(prepare.load(_scenario({"intensity": DIURNAL}))).summary
    aware_data = _scenario({"intensity": DIURNAL, "defer_below": 150}, deferrable="12h")
    aware = simulate(prepare.load(aware_data)).summary
    for summary in (plain, aware):
        assert summary["carbon"]["facility_kg"] > sum(job["carbon_kg"]
                                                      for job in summary["jobs"].values())
    assert sum(job["carbon_kg"] for job in plain["jobs"].values()) == pytest.approx(23.46)
    assert sum(job["carbon_kg"] for job in aware["jobs"].values()) == pytest.approx(11.22)
    assert aware["jobs"]["j6"]["start_s"] == 30 * 3600.0
    assert aware["carbon"]["deferred_jobs"] > 0
    assert aware["carbon"]["deferral_max_s"] <= 12 * 3600
    for job in aware["jobs"].values():
        assert 0 <= job["deferral_s"] <= 12 * 3600
    assert plain["carbon"]["deferred_jobs"] == 0


def test_slack_expires_in_a_high_carbon_grid():
    """A grid that never gets below the threshold: every job starts when its slack ends."""
    data = _scenario({"intensity": 400, "defer_below": 150}, deferrable="2h")
    summary = simulate(prepare.load(data)).summary
    for job in summary["jobs"].values():
        assert job["deferral_s"] == 7200.0
        assert job["start_s"] >= job["submit_s"] + 7200.0


def test_timeseries_has_the_intensity():
    result = simulate(prepare.load(_scenario({"intensity": DIURNAL})))
    column = result.timeseries["carbon_intensity_g_per_kwh"]
    assert set(column.unique()) == {100.0, 400.0}


@pytest.mark.parametrize("override, key, words", [
    ("carbon.intensity=-3", "carbon.intensity", ">= 0"),
    ("carbon.defer_below=-1", "carbon.defer_below", ">= 0"),
    ("jobs.pretrain.deferrable=12h", "jobs.pretrain.deferrable", "carbon.defer_below"),
])
def test_bad_carbon_input_is_one_line_exit_2(root, override, key, words):
    args = [sys.executable, "-m", "fleetsim", "run", str(root / "scenarios" / "quickstart.yaml"),
            "--set", override, "--quiet"]
    if not override.startswith("jobs"):
        args[5:5] = ["--set", "carbon.intensity=100"] if "defer" in override else []
    process = subprocess.run(args, capture_output=True, text=True, cwd=root, timeout=120)
    assert process.returncode == 2
    lines = process.stderr.splitlines()
    assert len(lines) == 1 and f": {key}: " in lines[0] and words in lines[0], lines


def test_malformed_intensity_csv_is_one_line_exit_2(root, tmp_path):
    grid = tmp_path / "grid.csv"
    grid.write_text("time_s,intensity\n0,300\n3600,lots\n")
    process = subprocess.run(
        [sys.executable, "-m", "fleetsim", "run", str(root / "scenarios" / "quickstart.yaml"),
         "--set", f"carbon.file={grid}", "--quiet"],
        capture_output=True, text=True, cwd=root, timeout=120)
    assert process.returncode == 2
    assert process.stderr == f"fleetsim: {grid}:3: intensity: must be a finite number, got 'lots'\n"


def test_workload_classes_defer_and_runs_repeat_byte_for_byte(root, tmp_path):
    """A workload whose batch class is deferrable under a cluster power cap: only its jobs
    are held, none past its slack; the same seed writes the same bytes in every output."""
    data = {"name": "w", "seed": 2, "horizon": "3d", "cluster": {"node": "dgx-h100", "nodes": 8},
            "carbon": {"intensity": DIURNAL, "defer_below": 150},
            "power": {"cap": {"cluster": "70kW"}},
            "workload": {"until": "1d", "classes": [
                {"name": "batch", "arrivals": {"process": "poisson", "rate": "1/h"},
                 "gpus": 8, "duration": "2h", "deferrable": "12h"},
                {"name": "urgent", "arrivals": {"process": "poisson", "rate": "1/h"},
                 "gpus": 8, "duration": "1h"}]}}
    result = fleetsim.run(data)
    carbon = result.summary["carbon"]
    batch = int((result.jobs["class"] == "batch").sum())
    assert 0 < carbon["deferred_jobs"] <= batch
    assert carbon["deferral_max_s"] <= 12 * 3600
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(data))
    for out in ("a", "b"):
        assert main(["run", str(path), "--quiet", "--out", str(tmp_path / out)]) == 0
    files = sorted(file.relative_to(tmp_path / "a") for file in (tmp_path / "a").rglob("*")
                   if file.is_file())
    assert files
    for file in files:
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file


def test_missing_intensity_file_names_the_scenario_key(root):
    process = subprocess.run(
        [sys.executable, "-m", "fleetsim", "run", str(root / "scenarios" / "quickstart.yaml"),
         "--set", "carbon.file=no-such-grid.csv", "--quiet"],
        capture_output=True, text=True, cwd=root, timeout=120)
    assert process.returncode == 2
    assert process.stderr.startswith("fleetsim: ") and ": carbon.file: file not found: " in (
        process.stderr) and process.stderr.count("\n") == 1


def test_deferrable_serving_job_is_one_line_exit_2(root, tmp_path):
    """A serving job with ``deferrable`` slack is refused (its requests would arrive from
    its submission while the service waits for a cleaner grid): one line naming the file,
    the line of the key and ``jobs.NAME.deferrable``, exit code 2, with or without a
    carbon-aware threshold."""
    text = (root / "scenarios" / "chat-serving.yaml").read_text()
    text = text.replace("    retries: 2\n", "    retries: 2\n    deferrable: 2h\n")
    text += "carbon: {intensity: 100, defer_below: 150}\n"
    scenario = tmp_path / "deferred-chat.yaml"
    scenario.write_text(text)
    line = text.splitlines().index("    deferrable: 2h") + 1
    process = subprocess.run([sys.executable, "-m", "fleetsim", "run", str(scenario), "--quiet"],
                             capture_output=True, text=True, cwd=root, timeout=120)
    assert process.returncode == 2
    assert process.stderr.startswith(f"fleetsim: {scenario}:{line}: jobs.chat.deferrable: "
                                      "a serving job cannot be deferred"), process.stderr
    assert len(process.stderr.splitlines()) == 1
    process = subprocess.run(
        [sys.executable, "-m", "fleetsim", "run", str(root / "scenarios" / "chat-serving.yaml"),
         "--set", "jobs.chat.deferrable=2h", "--quiet"],
        capture_output=True, text=True, cwd=root, timeout=120)
    assert process.returncode == 2
    lines = process.stderr.splitlines()
    assert len(lines) == 1 and ": jobs.chat.deferrable: a serving job" in lines[0], lines
