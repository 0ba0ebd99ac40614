"""examples/convert_helios_trace.py: a Helios/Acme job table becomes a workload trace that
``fleetsim run`` replays (on tests/data/helios_cluster_log.csv, made-up rows in Helios's
layout)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "convert_helios_trace.py"
SAMPLE = ROOT / "tests" / "data" / "helios_cluster_log.csv"


def _module():
    spec = importlib.util.spec_from_file_location("convert_helios_trace", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _python(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)


def test_the_sample_converts_to_gpu_jobs_in_submission_order():
    """CPU-only jobs and the job cancelled before it started are dropped; submit times count
    from the first GPU job's; the 12-GPU job blocks two 8-GPU nodes; vc becomes team."""
    trace, dropped = _module().convert(pd.read_csv(SAMPLE))
    assert dropped["cpu_only"] == 2 and dropped["never_ran"] == 1
    assert list(trace["name"]) == [f"job{i}" for i in (1000001, 1000003, 1000004, 1000006,
                                                       1000007, 1000008, 1000010, 1000011,
                                                       1000012)]
    jobs = trace.set_index("name")
    assert jobs.loc["job1000001", "submit_s"] == 0.0
    assert jobs.loc["job1000004", "submit_s"] == 300.0  # 08:05 - 08:00
    assert jobs.loc["job1000006", "gpus"] == 16  # 12 GPUs rounded up to 2 nodes
    assert jobs.loc["job1000003", ["duration_s", "team", "state"]].tolist() == [
        240.0, "vcProd", "FAILED"]


def test_states_partial_nodes_size_and_limit_filters():
    module = _module()
    log = pd.read_csv(SAMPLE)
    trace, dropped = module.convert(log, states=("COMPLETED",), partial_nodes="drop",
                                    max_gpus=32)
    assert set(trace["state"]) == {"COMPLETED"} and dropped["partial_nodes"] == 1
    assert trace["gpus"].max() <= 32 and "job1000006" not in set(trace["name"])
    assert len(module.convert(log, limit=3)[0]) == 3
    with pytest.raises(ValueError, match="lacks"):
        module.convert(log.drop(columns=["gpu_num"]))


def test_an_acme_table_without_vc_and_with_utc_offsets():
    """Acme (NSDI '24) rows: no vc (team from user), times with a UTC offset."""
    log = pd.DataFrame({
        "job_id": [1, 2], "user": ["u1", "u2"], "node_num": [1, 1], "gpu_num": [8, 4],
        "cpu_num": [128, 16], "type": ["Pretrain", "SFT"], "state": ["COMPLETED", "FAILED"],
        "submit_time": ["2023-03-01 00:18:22+08:00", "2023-03-01 00:23:58+08:00"],
        "start_time": ["2023-03-01 00:18:54+08:00", "2023-03-01 00:24:11+08:00"],
        "end_time": ["2023-03-01 00:20:51+08:00", "2023-03-01 01:09:04+08:00"],
        "duration": [117, 2693], "queue": [32, 13], "gpu_time": [936.0, 10772.0]})
    trace, _dropped = _module().convert(log, team="user")
    assert trace["submit_s"].tolist() == [0.0, 336.0]
    assert trace["team"].tolist() == ["u1", "u2"] and "type" not in trace.columns


def test_the_converted_trace_runs_through_fleetsim(tmp_path):
    """The CLI converts the sample, and ``fleetsim run`` replays it: every job, at its
    submit time, with its size and team."""
    converted = _python(str(SCRIPT), str(SAMPLE), "-o", str(tmp_path / "jobs.csv"),
                        cwd=tmp_path)
    assert converted.returncode == 0, converted.stderr
    assert "9 GPU jobs of 12 rows" in converted.stdout
    scenario = tmp_path / "fleet.yaml"
    scenario.write_text(yaml.safe_dump({
        "name": "helios-sample", "cluster": {"node": "dgx-h100", "nodes": 8},
        "workload": {"trace": "jobs.csv"}}))
    run = _python("-m", "fleetsim", "run", str(scenario), "--out", str(tmp_path / "out"),
                  "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    trace = pd.read_csv(tmp_path / "jobs.csv").set_index("name")
    jobs = pd.read_csv(tmp_path / "out" / "jobs.csv").set_index("job")
    assert sorted(jobs.index) == sorted(trace.index)
    assert (jobs["outcome"] == "completed").all()
    for column, source in (("submit_s", "submit_s"), ("gpus", "gpus"), ("team", "team")):
        assert jobs.loc[trace.index, column].tolist() == trace[source].tolist()


def test_a_file_that_is_not_a_job_table_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    process = _python(str(SCRIPT), str(tmp_path / "bad.csv"), cwd=tmp_path)
    assert process.returncode == 2
    assert process.stderr.count("\n") == 1 and "lacks" in process.stderr
