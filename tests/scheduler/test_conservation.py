"""Conservation at fleet level: every GPU-second of the cluster lands in exactly one bucket,
through failures, repairs, spares, preemption (saved or lost work), jobs sharing nodes and
serving replicas; and every second of every job's wall clock too. Same seed, same bytes.
"""

from __future__ import annotations

import pytest

from fleetsim.prepare import load
from fleetsim.report.writers import write_run
from fleetsim.runner import Run


def _busy_fleet(policy: str, mode: str, seed: int) -> dict:
    return {
        "name": "busy", "seed": seed, "horizon": "2d",
        "cluster": {"node": "dgx-h100", "nodes": 12, "spares": 1},
        "faults": {"causes": [{"name": "host", "scope": "node", "mtbf": "100h"},
                              {"name": "gpu", "scope": "gpu", "mtbf": "4000h"},
                              {"name": "software", "scope": "job", "mtbf": "500h"}],
                   "repair": "3h", "detection": "2min"},
        "scheduler": {"policy": policy, "preemption": {"mode": mode, "after": "20min"}},
        "workload": {"classes": [
            {"name": "small", "arrivals": {"process": "poisson", "rate": "6/h"},
             "gpus": {"distribution": "empirical", "values": [1, 2, 4, 8]},
             "duration": {"distribution": "lognormal", "mean": "2h", "sigma": 1},
             "teams": {"a": 1, "b": 1},
             "job": {"step_time": "5s", "restart": "3min",
                     "checkpoint": {"policy": "fixed", "interval": "20min", "save": "40s",
                                    "load": "1min", "mode": "async", "snapshot": "5s"}}},
            {"name": "large", "priority": 5, "arrivals": {"process": "poisson",
                                                          "rate": "0.5/h"},
             "gpus": {"distribution": "empirical", "values": [16, 32, 64]},
             "duration": {"distribution": "exponential", "mean": "4h"}, "teams": {"b": 1},
             "job": {"step_time": "8s", "restart": "5min", "elastic": {"min_fraction": 0.5},
                     "checkpoint": {"policy": "fixed", "interval": "30min", "save": "1min",
                                    "load": "2min"}}}]},
        "jobs": [{"name": "chat", "type": "serving", "service": {"mean": "1s"},
                  "replicas": 2, "tp": 8, "arrivals": {"process": "poisson", "rate": 0.05},
                  "model_load": "2min"}],
    }


@pytest.mark.parametrize("policy, mode, seed", [("priority", "checkpoint", 1),
                                                ("priority", "kill", 2),
                                                ("fair-share", "checkpoint", 3),
                                                ("las", "kill", 4)])
def test_every_gpu_second_lands_in_one_bucket(policy, mode, seed):
    """Sum over the fleet's GPU-second buckets (each job's GPU-weighted buckets, serving
    GPU-seconds, idle, spare, down) = GPUs x wall time, to 1e-9; each training job's
    GPU-weighted buckets = the GPU-seconds the fleet saw it hold; each job's seconds = its
    wall time. Exact accounting, no tolerance to hide behind beyond float rounding."""
    data = _busy_fleet(policy, mode, seed)
    if policy == "fair-share":
        data["scheduler"]["quotas"] = {"a": 0.4, "b": 0.6}
    if policy == "las":
        data["scheduler"]["thresholds"] = ["2h", "20h"]
    run = Run(load(data))
    result = run.execute()
    fleet = result.summary["fleet"]
    buckets = fleet["gpu_seconds"]
    parts = sum(value for key, value in buckets.items() if key != "total")
    assert parts == pytest.approx(buckets["total"], rel=1e-9)
    assert result.summary["cluster"]["failures"] >= 3
    assert fleet["jobs"]["submitted"] > 100
    if policy != "fair-share":
        assert fleet["preemptions"] > 0
    for job in run.jobs:
        accounting = getattr(job, "accounting", None)
        if accounting is None:
            continue
        held = sum(accounting.gpu_buckets.values())
        assert held == pytest.approx(run.fleet.gpu_seconds.get(job.name, 0.0), rel=1e-9,
                                     abs=1e-6), job.name
        assert sum(accounting.buckets.values()) == pytest.approx(accounting.wall_s,
                                                                 rel=1e-9, abs=1e-6)


def test_same_seed_gives_the_same_bytes(tmp_path):
    """Two runs of a workload with failures and preemption write identical files."""
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / name
        write_run(Run(load(_busy_fleet("priority", "checkpoint", 7))).execute(), out)
        outputs.append({path.relative_to(out): path.read_bytes()
                        for path in sorted(out.rglob("*")) if path.is_file()})
    assert outputs[0].keys() == outputs[1].keys()
    assert "jobs.csv" in {str(path) for path in outputs[0]}
    different = [path for path in outputs[0] if outputs[0][path] != outputs[1][path]]
    assert not different


def test_productive_gpus_never_exceed_the_cluster_and_sum_to_the_kept_work():
    """``gpus_productive`` lays the work kept at each commit on the time before it, at the
    job's GPUs: it stays within the cluster's GPUs in every window (crediting a 30-min
    interval's work at the checkpoint put up to 6x the cluster into one 5-min window), and
    its integral over the run is the training jobs' productive GPU-seconds (to 0.1%: work an
    asynchronous save commits late may be laid past the end of the run)."""
    data = _busy_fleet("priority", "checkpoint", 5)
    data["horizon"] = "1d"
    run = Run(load(data))
    result = run.execute()
    frame = result.timeseries
    gpus = result.summary["cluster"]["gpus"]
    productive = frame["gpus_productive"].to_numpy()[1:]
    assert productive.max() <= gpus + 1e-9
    assert productive.max() > 0
    step = frame["time_s"].iloc[1] - frame["time_s"].iloc[0]
    kept = sum(job.accounting.buckets["productive"] * job.gpus for job in run.jobs
               if getattr(job, "accounting", None) is not None)
    # every commit's work lies within the run, but for work an asynchronous checkpoint
    # committed after the previous commit's work was laid: that spills past the last grid
    # time by at most one save per job (here 40 s x 8 GPUs against ~4.8M GPU-seconds)
    assert productive.sum() * step == pytest.approx(kept, rel=1e-3)
    assert productive.sum() * step <= kept + 1e-6
