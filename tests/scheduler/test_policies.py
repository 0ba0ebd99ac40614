"""Scheduling policies on small fleets whose every time is known: preemption (checkpoint and
kill), EASY backfill's reservation guarantee, fair-share reclaiming, placement shapes.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import fleetsim
from fleetsim.errors import ScenarioError
from fleetsim.prepare import load
from fleetsim.runner import Run


def _job(name: str, gpus: int, steps: int, submit: float = 0.0, **extra) -> dict:
    return {"name": name, "type": "training", "gpus": gpus, "steps": steps,
            "step_time": "1s", "submit": f"{submit}s", "restart": "2min",
            "checkpoint": {"policy": "fixed", "interval": "10min", "save": "30s",
                           "load": "1min"}, **extra}


def _fleet(jobs: list[dict], nodes: int = 2, **scheduler) -> dict:
    return {"name": "fleet", "cluster": {"node": "dgx-h100", "nodes": nodes},
            "scheduler": scheduler, "jobs": jobs}


@pytest.mark.parametrize("mode", ["checkpoint", "kill"])
def test_priority_preemption_saves_or_loses_the_work_and_resumes(mode):
    """A 16-GPU job (3,600 steps of 1 s, a 30 s save every 600 steps) is preempted at
    1,000 s by an 8-GPU job of higher priority (1,800 steps and 2 saves: 1,860 s).
    checkpoint: the 370 steps since the save at 630 s are saved (30 s), the GPUs are free at
    1,030 s; the victim queues until the high job ends at 2,890 s, restarts (120 s) and loads
    (60 s), then runs its 2,630 remaining steps with 4 saves: it ends at 5,820 s.
    kill: the 370 s are lost at once; the high job runs 1,000-2,860 s; the victim redoes 3,000
    steps with 4 saves after its restart and load: it ends at 6,160 s. Queued 1,860 s both."""
    data = _fleet([_job("low", 16, 3600), _job("high", 8, 1800, submit=1000, priority=5)],
                  policy="priority", preemption={"mode": mode})
    result = fleetsim.run(data)
    jobs = result.jobs.set_index("job")
    low = result.summary["jobs"]["low"]
    assert low["preemptions"] == 1 and low["completed"]
    if mode == "checkpoint":
        assert jobs.loc["high", "start_s"] == pytest.approx(1030.0)
        assert jobs.loc["low", "end_s"] == pytest.approx(5820.0)
        assert low["buckets_s"]["lost_work"] == pytest.approx(0.0, abs=1e-6)
    else:
        assert jobs.loc["high", "start_s"] == pytest.approx(1000.0)
        assert jobs.loc["low", "end_s"] == pytest.approx(6160.0)
        assert low["buckets_s"]["lost_work"] == pytest.approx(370.0)
    assert low["buckets_s"]["queued"] == pytest.approx(1860.0)
    assert low["buckets_s"]["restart"] == pytest.approx(180.0)
    assert sum(low["buckets_s"].values()) == pytest.approx(low["wall_time_s"])


def test_a_job_is_preemptible_only_after_it_has_run_long_enough():
    """preemption.after 30min (Meta's RSC uses 2 h): the high job arriving at 1,000 s waits
    until the low job has run 1,800 s, then preempts it (save 30 s): it starts at 1,830 s."""
    data = _fleet([_job("low", 16, 3600), _job("high", 8, 1800, submit=1000, priority=5)],
                  policy="priority", preemption={"mode": "checkpoint", "after": "30min"})
    result = fleetsim.run(data)
    assert result.jobs.set_index("job").loc["high", "start_s"] == pytest.approx(1830.0)


def test_fifo_does_not_preempt_and_keeps_order():
    data = _fleet([_job("first", 16, 600), _job("second", 8, 600, submit=10)], policy="fifo")
    jobs = fleetsim.run(data).jobs.set_index("job")
    assert jobs.loc["second", "start_s"] == pytest.approx(600.0)
    assert jobs["preemptions"].sum() == 0


def _mixed_workload(policy: str, seed: int = 4, **extra) -> dict:
    """Jobs of 1 to 32 GPUs on 4 nodes, no checkpoints or failures: a job's runtime is
    exactly its failure-free time, the scheduler's estimate."""
    return {"name": "mixed", "seed": seed, "cluster": {"node": "dgx-h100", "nodes": 4},
            "scheduler": {"policy": policy, **extra},
            "workload": {"jobs": 600, "defaults": {"step_time": "1s"},
                         "classes": [{"name": "j", "arrivals": {"process": "poisson",
                                                                "rate": "5/h"},
                                      "gpus": {"distribution": "empirical",
                                               "values": [1, 2, 4, 8, 16, 32],
                                               "weights": [4, 2, 2, 2, 1, 1]},
                                      "duration": {"distribution": "lognormal",
                                                   "mean": "2h", "sigma": 1.0}}]}}


def test_backfill_never_delays_the_reserved_start_of_the_head_job():
    """EASY backfill (Mu'alem & Feitelson, TPDS 2001, section 2.2): with exact runtime
    estimates, a job that became the blocked head with a reservation at its shadow time starts
    no later than that time, whatever was backfilled meanwhile. 600 jobs of 1-32 GPUs; every
    reservation is checked (to 1 microsecond). Backfill also cuts the mean wait below FIFO's
    (the same jobs: same seed)."""
    run = Run(load(_mixed_workload("backfill")))
    result = run.execute()
    starts = result.jobs.set_index("job")["start_s"]
    reserved = run.scheduler.reserved_start
    assert len(reserved) > 50  # plenty of jobs had to wait as the head
    late = {name: starts[name] - when for name, when in reserved.items()
            if starts[name] > when + 1e-6}
    assert not late, f"started after their reservation: {late}"
    fifo = fleetsim.run(_mixed_workload("fifo"))
    assert (result.summary["fleet"]["queue_wait_s"]["mean"]
            < 0.8 * fifo.summary["fleet"]["queue_wait_s"]["mean"])
    assert (result.summary["fleet"]["gpu_utilization"]["allocated"]
            > fifo.summary["fleet"]["gpu_utilization"]["allocated"])


def test_fair_share_reclaims_a_teams_quota_from_a_borrower():
    """Two teams with 50% quotas of 32 GPUs (Kueue's cohort semantics). Team a borrows the
    whole cluster with four 8-GPU jobs at t=0; team b submits two 8-GPU jobs at 1 h. b is
    within its quota, a is over: b reclaims by preempting a's newest jobs, which save (30 s)
    and yield, so b's jobs start 30 s after they arrive and a keeps its 16 GPUs. Without
    borrowing, a never holds more than its 16 GPUs and b starts at once."""
    jobs = [_job(f"a{i}", 8, 7200, team="a") for i in range(4)]
    jobs += [_job(f"b{i}", 8, 3600, submit=3600, team="b") for i in range(2)]
    data = _fleet(jobs, nodes=4, policy="fair-share", quotas={"a": 0.5, "b": 0.5})
    result = fleetsim.run(data)
    table = result.jobs.set_index("job")
    assert table.loc[["b0", "b1"], "start_s"].tolist() == pytest.approx([3630.0, 3630.0])
    assert table.loc[[f"a{i}" for i in range(4)], "preemptions"].sum() == 2
    closed = fleetsim.run({**data, "scheduler": {"policy": "fair-share", "borrowing": False,
                                                  "quotas": {"a": 0.5, "b": 0.5}}})
    table = closed.jobs.set_index("job")
    assert table.loc[["b0", "b1"], "start_s"].tolist() == pytest.approx([3600.0, 3600.0])
    assert table.loc[["a2", "a3"], "start_s"].min() >= 7200.0
    assert table["preemptions"].sum() == 0


@pytest.mark.parametrize("job, key, words", [
    (dict(gpus=24, team="a"), "jobs.x.gpus", "24 GPUs exceed the quota of team 'a' (16 of 32"),
    (dict(gpus=8, team="c"), "jobs.x.team", "team 'c' has no quota"),
    (dict(gpus=8), "jobs.x", "has no team: under fair-share without borrowing"),
])
def test_fair_share_without_borrowing_refuses_a_job_that_could_never_start(job, key, words):
    """Kueue keeps a workload beyond its queue's nominal quota pending forever when it may not
    borrow; fleetsim refuses it before the run (it used to wait to the end unnoticed). With
    borrowing the same jobs are accepted."""
    data = _fleet([_job("x", job["gpus"], 60, team=job.get("team"))], nodes=4,
                  policy="fair-share", quotas={"a": 0.5, "b": 0.5})
    closed = {**data, "scheduler": {**data["scheduler"], "borrowing": False}}
    with pytest.raises(ScenarioError, match=f": {key}: .*{re.escape(words)}"):
        load(closed)
    load(data)


def test_fair_share_without_borrowing_refuses_a_class_that_could_never_start():
    """The same for a workload class: its team mix and its sizes."""
    data = _fleet([], nodes=4, policy="fair-share", quotas={"a": 0.25, "b": 0.75})
    data["scheduler"]["borrowing"] = False
    data["horizon"] = "1d"
    data["workload"] = {"classes": [{"name": "big", "gpus": 16, "teams": {"a": 1, "b": 1},
                                     "arrivals": {"process": "poisson", "rate": "1/h"},
                                     "duration": "1h"}]}
    with pytest.raises(ScenarioError, match="workload.classes.big.gpus: its jobs of 16 GPUs "
                                            "exceed the quota of team 'a'"):
        load(data)
    data["workload"]["classes"][0]["teams"] = {"a": 0, "b": 1}
    load(data)


def test_fair_share_without_borrowing_checks_trace_rows_and_services(tmp_path):
    """A trace row without a team is refused at its line in the trace; a service without a
    team too (it used to wait to the horizon, serving nothing)."""
    trace = tmp_path / "jobs.csv"
    trace.write_text("submit_s,gpus,duration_s,team\n0,8,60,a\n10,8,60,\n")
    data = _fleet([], nodes=4, policy="fair-share", quotas={"a": 0.5, "b": 0.5})
    data["scheduler"]["borrowing"] = False
    data["workload"] = {"trace": str(trace)}
    with pytest.raises(ScenarioError, match=f"^{re.escape(str(trace))}:3: team: no team"):
        load(data)
    service = {"name": "chat", "type": "serving", "model": "llama3-8b", "replicas": 1,
               "arrivals": {"process": "poisson", "rate": "1/s"},
               "prompt_tokens": {"distribution": "fixed", "value": 100},
               "output_tokens": {"distribution": "fixed", "value": 10}}
    data = _fleet([service], nodes=4, policy="fair-share", quotas={"a": 0.5, "b": 0.5})
    data["scheduler"]["borrowing"] = False
    data["horizon"] = "1h"
    with pytest.raises(ScenarioError, match="jobs.chat: has no team"):
        load(data)
    data["jobs"][0]["team"] = "a"
    load(data)


def test_placements_keep_a_job_in_one_scalable_unit_or_spread_it():
    """On 64 DGX nodes (two SUs of 32, rail fat tree) a 16-node job goes to one SU with
    packed placement and to both with spread."""
    for placement, units in (("packed", 1), ("spread", 2)):
        run = Run(load(_fleet([_job("big", 128, 10)], nodes=64, placement=placement)))
        run.execute()
        (_time, name, grants), = run.scheduler.starts
        assert name == "big" and len(grants) == 16
        assert len({node // 32 for node, _gpus in grants}) == units, placement


def test_small_jobs_share_nodes_best_fit_and_fragmentation_is_measured():
    """Packed placement puts 1-, 2- and 4-GPU jobs on the fullest node that fits them, so
    eight 1-GPU jobs fill one node. A 16-GPU job then waits while the 8 free GPUs on a
    partly used node are of no use to it: they count as fragmented."""
    jobs = [_job(f"s{i}", 1, 3600) for i in range(8)]
    jobs += [_job("half", 4, 3600), _job("big", 16, 600, submit=10)]
    run = Run(load(_fleet(jobs, nodes=2)))
    result = run.execute()
    nodes = {name: {node for node, _gpus in grants} for _t, name, grants in run.scheduler.starts}
    assert all(nodes[f"s{i}"] == nodes["s0"] for i in range(8)) and nodes["half"] != nodes["s0"]
    table = result.jobs.set_index("job")
    assert table.loc["big", "start_s"] == pytest.approx(3750.0)  # 3,600 steps + 5 saves
    series = result.timeseries.set_index("time_s")
    # at 10 s: 12 of 16 GPUs held (8 + 4 on two nodes), 4 free on a partly used node
    assert np.interp(1800.0, series.index, series["gpus_fragmented"]) == 4


def _run_within(run: Run, events: int) -> None:
    """Step ``run`` until every job has ended, failing (not hanging) if that takes more
    than ``events`` events: a livelock spins at one instant, where no horizon stops it."""
    env = run.env
    done = env.any_of([run._all_done, env.timeout(run.run_limit_s())])
    for _ in range(events):
        if done.processed:
            return
        env.step()
    pytest.fail(f"no end after {events} events (t={env.now} s, "
                f"{run.scheduler.preemptions} preemptions)")


@pytest.mark.parametrize("mode", ["kill", "checkpoint"])
def test_backfill_does_not_take_the_gpus_a_preempting_job_freed(mode):
    """One 8-GPU node holds two low jobs (4 + 2 GPUs); at 100 s a high-priority 8-GPU job
    and a low 2-GPU job arrive (priority, EASY backfill, preemptible at once). The high job
    preempts both low jobs; until they have yielded, their node is held for it, so the 2-GPU
    job may not backfill onto its 2 free GPUs. Without that, the backfilled job keeps the
    head from fitting, the head preempts it, the victims backfill into what it frees, and so
    on for ever at 100 s. The high job starts when its victims have yielded (at once with
    kill, after the 30 s save with checkpoint); the low jobs wait for it."""
    jobs = [_job("a", 4, 7200), _job("b", 2, 7200),
            _job("high", 8, 600, submit=100, priority=5), _job("c", 2, 600, submit=100)]
    data = _fleet(jobs, nodes=1, policy="priority", backfill=True,
                  preemption={"mode": mode, "after": "0s"})
    run = Run(load(data))
    _run_within(run, events=20_000)
    assert run.scheduler.preemptions == 2
    starts = [(time, name) for time, name, _grants in run.scheduler.starts]
    high = 100.0 if mode == "kill" else 130.0
    assert starts[:3] == [(0.0, "a"), (0.0, "b"), (pytest.approx(high), "high")]
    assert all(time >= high + 600 for time, _name in starts[3:])
    assert sorted(name for _time, name in starts[3:]) == ["a", "b", "c"]


def test_a_livelock_prone_mix_of_priorities_and_sizes_makes_progress():
    """Mixed sizes and priorities on 3 nodes (the mix that livelocked: 4- and 8-GPU jobs of
    high priority preempting 1- to 4-GPU low ones, backfill on, preemptible at once): every
    job ends within a bounded number of events, under priority and LAS."""
    for policy in ("priority", "las"):
        classes = [{"name": name, "priority": priority,
                    "arrivals": {"process": "poisson", "rate": rate},
                    "gpus": {"distribution": "empirical", "values": sizes,
                             "weights": [1] * len(sizes)},
                    "duration": {"distribution": "lognormal", "mean": mean, "sigma": 1.0}}
                   for name, priority, rate, sizes, mean in (
                       ("big", 5, "1/h", [4, 8], "1h"), ("small", 0, "6/h", [1, 2, 4], "2h"))]
        data = {"name": "mix", "seed": 6, "cluster": {"node": "dgx-h100", "nodes": 3},
                "scheduler": {"policy": policy, "backfill": True,
                              "preemption": {"mode": "kill", "after": "0s"}},
                "workload": {"jobs": 60, "defaults": {"step_time": "1s"}, "classes": classes}}
        run = Run(load(data))
        _run_within(run, events=50_000)
        assert run._finished == len(run.jobs) == 60, policy


def test_only_the_victims_whose_nodes_make_room_are_preempted():
    """Two nodes: w (4 GPUs, priority 1) and x (4 GPUs, priority 0) share node 0, y (8 GPUs,
    priority 0) holds node 1. An 8-GPU job of priority 5 arrives: the policy's order is
    x, y, w (lowest priority first), but preempting x frees only half a node: y alone makes
    room, so only y is preempted."""
    jobs = [_job("w", 4, 3600, priority=1), _job("x", 4, 3600), _job("y", 8, 3600),
            _job("high", 8, 600, submit=100, priority=5)]
    result = fleetsim.run(_fleet(jobs, policy="priority", preemption={"mode": "kill"}))
    table = result.jobs.set_index("job")
    assert table["preemptions"].to_dict() == {"w": 0, "x": 0, "y": 1, "high": 0}
    assert table.loc["high", "start_s"] == pytest.approx(100.0)
