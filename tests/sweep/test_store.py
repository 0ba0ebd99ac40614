"""The resumable store: runs stored as they finish, never twice; another sweep refused."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import fleetsim
from fleetsim.errors import OutputError
from fleetsim.sweep.driver import execute_sweep
from fleetsim.sweep.spec import load_sweep
from fleetsim.sweep.store import RUNS_FILE, RunStore
from tests.sweep.conftest import tiny_spec, write_spec


def _keys(out) -> list[str]:
    return [json.loads(line)["key"] for line in (out / RUNS_FILE).read_text().splitlines()]


def test_a_sweep_writes_its_files_and_a_rerun_reuses_every_run(tmp_path, sweep_file):
    out = tmp_path / "out"
    first = execute_sweep(sweep_file, out, workers=1)
    assert (first.ran, first.reused) == (8, 0)
    assert {path.name for path in out.iterdir()} >= {"sweep.json", "runs.jsonl",
                                                     "results.parquet", "results.csv",
                                                     "aggregate.csv"}
    second = execute_sweep(sweep_file, out, workers=1)
    assert (second.ran, second.reused) == (0, 8)
    assert len(_keys(out)) == 8
    pd.testing.assert_frame_equal(first.results, second.results)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), first.results)
    csv = pd.read_csv(out / "results.csv")
    assert len(csv) == 8 and list(csv.columns) == list(first.results.columns)


def test_results_have_parameters_seed_and_the_flattened_summary(tmp_path, sweep_file):
    results = fleetsim.sweep(sweep_file, out=tmp_path / "out", workers=1)
    assert list(results.columns[:4]) == ["point", "faults.causes.gpu.mtbf",
                                         "jobs.pretrain.checkpoint.interval", "seed"]
    assert {"jobs.pretrain.goodput", "cluster.failures",
            "jobs.pretrain.buckets_s.productive"} <= set(results.columns)
    assert list(results["faults.causes.gpu.mtbf"]) == ["5000h"] * 4 + ["50000h"] * 4
    assert list(results["seed"]) == [1, 2] * 4
    one = fleetsim.run(sweep_file.parent / tiny_spec()["base"], seed=2, overrides={
        "horizon": "2d", "faults.causes.gpu.mtbf": "50000h",
        "jobs.pretrain.checkpoint.interval": "2h"}).summary
    last = results.iloc[-1]
    assert last["jobs.pretrain.goodput"] == one["jobs"]["pretrain"]["goodput"]
    assert last["cluster.failures"] == one["cluster"]["failures"]
    aggregate = pd.read_csv(tmp_path / "out" / "aggregate.csv")
    assert list(aggregate["runs"]) == [2] * 4
    assert "jobs.pretrain.goodput.ci95_low" in aggregate.columns


def test_crn_failures_do_not_depend_on_the_checkpoint_interval(tmp_path, sweep_file):
    """Common random numbers: the failure stream is the same at every point with the same
    seed, so two intervals at the same MTBF see the same failures (the horizon, 2 d, ends
    every run)."""
    results = fleetsim.sweep(sweep_file, workers=1)
    for _, group in results.groupby(["faults.causes.gpu.mtbf", "seed"]):
        assert group["cluster.failures"].nunique() == 1


def test_without_out_nothing_is_written(tmp_path, sweep_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = fleetsim.sweep(tiny_spec(), workers=1)
    assert len(results) == 8
    assert sorted(path.name for path in tmp_path.iterdir()) == ["sweep.yaml"]


def test_a_directory_of_another_sweep_is_refused_unless_forced(tmp_path, sweep_file):
    out = tmp_path / "out"
    execute_sweep(sweep_file, out, workers=1)
    bigger = write_spec(tmp_path, tiny_spec(seeds=3), "bigger.yaml")
    with pytest.raises(OutputError, match="holds a different sweep.*seeds differs"):
        execute_sweep(bigger, out, workers=1)
    forced = execute_sweep(bigger, out, workers=1, force=True)
    assert (forced.ran, forced.reused) == (4, 8)
    assert len(_keys(out)) == len(set(_keys(out))) == 12


def test_a_directory_with_results_but_no_sweep_json_is_refused(tmp_path, sweep_file):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.csv").write_text("a\n1\n")
    with pytest.raises(OutputError, match="results.csv but no sweep.json"):
        execute_sweep(sweep_file, out, workers=1)


def test_a_half_written_last_line_is_cut_and_its_run_redone(tmp_path, sweep_file):
    out = tmp_path / "out"
    full = execute_sweep(sweep_file, out, workers=1).results
    lines = (out / RUNS_FILE).read_text().splitlines(keepends=True)
    (out / RUNS_FILE).write_text("".join(lines[:5]) + lines[5][: len(lines[5]) // 2])
    again = execute_sweep(sweep_file, out, workers=1)
    assert (again.ran, again.reused) == (3, 5)
    keys = _keys(out)
    assert len(keys) == len(set(keys)) == 8
    pd.testing.assert_frame_equal(again.results, full)


def test_a_corrupt_line_in_the_middle_is_an_error(tmp_path, sweep_file):
    out = tmp_path / "out"
    execute_sweep(sweep_file, out, workers=1)
    lines = (out / RUNS_FILE).read_text().splitlines(keepends=True)
    lines[2] = "garbage\n"
    (out / RUNS_FILE).write_text("".join(lines))
    with pytest.raises(OutputError, match=r"runs.jsonl:3: not a run record"):
        execute_sweep(sweep_file, out, workers=1)


def test_one_writer_at_a_time(tmp_path, sweep_file):
    plan = load_sweep(sweep_file)
    with RunStore(tmp_path / "out") as first:
        first.open(plan)
        with pytest.raises(OutputError, match="another fleetsim sweep is writing"):
            RunStore(tmp_path / "out").open(plan)
