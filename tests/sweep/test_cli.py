"""``fleetsim sweep`` end to end, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd

from fleetsim.cli import main
from tests.sweep.conftest import tiny_spec, write_spec


def test_sweep_prints_the_table_and_writes_the_files(tmp_path, sweep_file, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(sweep_file), "--out", str(out), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "fleetsim sweep · tiny · 4 points × 2 seeds" in printed
    assert "goodput" in printed and "5000h" in printed and "2h" in printed
    assert "8 runs (8 new, 0 reused)" in printed
    assert len(pd.read_parquet(out / "results.parquet")) == 8
    assert main(["sweep", str(sweep_file), "--out", str(out), "--workers", "1"]) == 0
    assert "8 runs (0 new, 8 reused)" in capsys.readouterr().out


def test_json_prints_one_object_and_nothing_else(tmp_path, sweep_file, capsys):
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "out"), "--workers", "1",
                 "--json"]) == 0
    outcome = json.loads(capsys.readouterr().out)
    assert (outcome["runs"], outcome["ran"], outcome["reused"]) == (8, 8, 0)
    assert outcome["seeds"] == [1, 2] and outcome["points"] == 4
    assert set(outcome["files"]) == {"results.parquet", "results.csv", "aggregate.csv"}
    assert outcome["aggregate"][0]["faults.causes.gpu.mtbf"] == "5000h"
    assert 0 < outcome["aggregate"][0]["jobs.pretrain.goodput.mean"] <= 1


def test_show_picks_the_columns(tmp_path, sweep_file, capsys):
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "out"), "--workers", "1",
                 "--show", "jobs.pretrain.checkpoints"]) == 0
    assert "checkpoints" in capsys.readouterr().out
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "out"), "--workers", "1",
                 "--show", "nope", "--show", "cluster.repairs"]) == 0
    captured = capsys.readouterr()
    assert "warning: --show: no numeric result column 'nope'" in captured.err
    assert "repairs" in captured.out


def _one_line_error(argv, capsys) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    error = captured.err.strip()
    # "fleetsim: ..." or, for an argument, "fleetsim sweep: --workers: ..."
    assert error.startswith(("fleetsim: ", "fleetsim sweep: ")) and "\n" not in error
    assert "Traceback" not in error
    return error


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    bad = write_spec(tmp_path, tiny_spec(grid={"jobs.pretrain.checkpoint.interval":
                                               ["30min", "soon"]}), "bad.yaml")
    error = _one_line_error(["sweep", str(bad), "--out", str(tmp_path / "out")], capsys)
    line = next(number for number, text in enumerate(bad.read_text().splitlines(), start=1)
                if "soon" in text)
    assert f"{bad}:{line}: grid.jobs.pretrain.checkpoint.interval[1]: invalid duration" in error
    assert not (tmp_path / "out").exists()  # nothing ran, nothing was written
    error = _one_line_error(["sweep", str(tmp_path / "none.yaml"), "--out", "x"], capsys)
    assert "none.yaml: file not found" in error


def test_bad_options_are_one_line(tmp_path, sweep_file, capsys):
    out = str(tmp_path / "out")
    assert "--workers: must be >= 1" in _one_line_error(
        ["sweep", str(sweep_file), "--out", out, "--workers", "0"], capsys)
    assert "give one or the other" in _one_line_error(
        ["sweep", str(sweep_file), "--out", out, "--workers", "2", "--scheduler",
         "tcp://127.0.0.1:9"], capsys)


def test_another_sweep_in_the_directory_is_refused(tmp_path, sweep_file, capsys):
    out = str(tmp_path / "out")
    assert main(["sweep", str(sweep_file), "--out", out, "--workers", "1", "--quiet"]) == 0
    other = write_spec(tmp_path, tiny_spec(set={"horizon": "1d"}), "other.yaml")
    error = _one_line_error(["sweep", str(other), "--out", out, "--workers", "1"], capsys)
    assert "holds a different sweep" in error and "--force" in error
    assert main(["sweep", str(other), "--out", out, "--workers", "1", "--force",
                 "--quiet"]) == 0
    assert capsys.readouterr().out == ""


def test_the_example_sweep_validates(root):
    from fleetsim.sweep.spec import load_sweep

    plan = load_sweep(root / "examples" / "sweeps" / "checkpoint-interval.yaml")
    assert len(plan.points) == 16 and len(plan.seeds) == 5


def test_the_command_runs_as_a_program(tmp_path, sweep_file):
    process = subprocess.run([sys.executable, "-m", "fleetsim", "sweep", str(sweep_file),
                              "--out", str(tmp_path / "out"), "--workers", "1"],
                             capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    assert "8 runs (8 new, 0 reused)" in process.stdout
