"""The fault model: lifetime distributions, blast radius, planned and job-scoped failures,
the repair pipeline and bad nodes, against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import fleetsim
from fleetsim.faults.clock import Failure
from fleetsim.runner import Run
from fleetsim.prepare import load

HOUR = 3600.0


def _cluster_failure_times(make_scenario, cause: dict, seed: int, horizon: str = "20000h"):
    data = make_scenario(**{"faults.causes": [cause], "faults.repair": 0,
                            "faults.detection": 0, "horizon": horizon,
                            "jobs.0.steps": 10**9, "jobs.0.gpus": 8})
    result = fleetsim.run(data, seed=seed)
    events = result.events
    return events.loc[events["kind"] == "failure", "time_s"].to_numpy()


def test_weibull_with_shape_1_is_exponential(make_scenario):
    """Weibull(k = 1) is the exponential distribution, so the superposed failure process of
    6 nodes with Weibull(1) lifetimes is the same Poisson process as with exponential ones:
    inter-failure gaps agree (two-sample KS, p > 0.001) and both are exponential with mean
    MTBF / 6 (one-sample KS against the closed form, p > 0.001)."""
    base = {"name": "node", "scope": "node", "mtbf": "100h"}
    exponential = np.diff(_cluster_failure_times(make_scenario, base, 1))
    weibull = np.diff(_cluster_failure_times(
        make_scenario, {**base, "distribution": "weibull", "shape": 1.0}, 2))
    assert len(exponential) > 500 and len(weibull) > 500
    assert stats.ks_2samp(exponential, weibull).pvalue > 0.001
    mean_gap = 100 * HOUR / 6
    assert stats.kstest(weibull, "expon", args=(0, mean_gap)).pvalue > 0.001


@pytest.mark.parametrize("cause", [
    {"distribution": "weibull", "shape": 2.0},
    {"distribution": "weibull", "shape": 0.7},
    {"distribution": "lognormal", "sigma": 1.0},
])
def test_renewal_rate_is_one_over_mtbf(make_scenario, cause):
    """Elementary renewal theorem: a renewed unit fails 1/MTBF times per unit time in the long
    run, whatever the lifetime law. 6 nodes x 20,000 h / 100 h = 1,200 expected; the count is
    within 10% (the renewal count's sd is ~ sqrt(N cv^2) < 5%, plus the start-up transient)."""
    times = _cluster_failure_times(make_scenario, {"name": "node", "scope": "node",
                                                   "mtbf": "100h", **cause}, 3)
    assert len(times) == pytest.approx(6 * 20000 / 100, rel=0.10)


def test_mean_lost_work_is_half_the_interval(make_scenario):
    """With free saves and an interval much shorter than the MTBF, a failure strikes at a
    uniform point of the current segment, so the mean lost work is interval / 2 (Young 1974).
    1 h interval, job MTBF ~42 h, ~1,000 interruptions: the standard error is ~1 min;
    tolerance 5%."""
    data = make_scenario(**{"faults.causes": [{"name": "node", "scope": "node",
                                               "mtbf": "100h"}],
                            "faults.repair": 0, "horizon": "40000h", "jobs.0.steps": 10**9,
                            "jobs.0.step_time": "1s",
                            "jobs.0.checkpoint": {"policy": "fixed", "interval": "1h"}})
    job = fleetsim.run(data).summary["jobs"]["train"]
    assert job["interruptions"] > 800
    assert job["lost_work_per_interruption_s"]["mean"] == pytest.approx(1800, rel=0.05)


def test_availability_with_the_repair_pipeline(make_scenario):
    """Alternating renewal (Barlow & Proschan 1975): availability = MTBF / (MTBF + MTTR) with
    MTTR = automatic + escalation x manual = 10 h + 0.5 x 40 h = 30 h; MTBF 100 h -> 0.769 up.
    12 nodes over 40,000 h; tolerance 0.02."""
    data = make_scenario(**{
        "cluster.nodes": 12, "cluster.spares": 11, "horizon": "40000h",
        "faults.causes": [{"name": "host", "scope": "node", "mtbf": "100h"}],
        "faults.repair": {"automatic": "10h", "manual": "40h", "escalation": 0.5},
        "jobs.0.gpus": 8, "jobs.0.steps": 10**9})
    result = fleetsim.run(data)
    down = float(np.mean(result.timeseries["gpus_down"])) / result.summary["cluster"]["gpus"]
    assert 1 - down == pytest.approx(100 / 130, abs=0.02)
    kinds = result.summary["cluster"]["repairs_by_kind"]
    assert kinds["manual"] / (kinds["manual"] + kinds["automatic"]) == pytest.approx(0.5,
                                                                                    abs=0.05)


def test_bad_nodes_fail_factor_times_faster(make_scenario):
    """Thinning (Lewis & Shedler 1979) gives bad nodes exactly factor x the rate: over 200,000
    node-hours, failures per bad node / per good node = 4 within 15%."""
    data = make_scenario(**{
        "cluster.nodes": 20, "cluster.spares": 19, "horizon": "10000h",
        "faults.causes": [{"name": "host", "scope": "node", "mtbf": "500h"}],
        "faults.repair": 0, "faults.bad_nodes": {"fraction": 0.25, "factor": 4},
        "jobs.0.gpus": 8, "jobs.0.steps": 10**9})
    run = Run(load(data))
    result = run.execute()
    bad = set(np.flatnonzero(run.fleet._bad).tolist())
    assert len(bad) == 5 and result.summary["cluster"]["bad_nodes"] == 5
    failures = result.events[result.events["kind"] == "failure"]
    nodes = failures["unit"].str.removeprefix("node").astype(int)
    per_bad = nodes.isin(bad).sum() / 5
    per_good = (~nodes.isin(bad)).sum() / 15
    assert per_bad / per_good == pytest.approx(4, rel=0.15)


def test_a_leaf_failure_takes_down_every_node_under_it(make_scenario, inject_failures):
    """Blast radius: a leaf switch of a rail-optimised SU reaches all of the SU's nodes; the
    job on them is interrupted once and all of them go to repair."""
    data = make_scenario(**{"faults.causes": [], "jobs.0.steps": 720})
    leaf = Failure(1000.0, "switch", "leaf", (0, 1, 2, 3, 4, 5), "leaf0", detection_s=60)
    result = inject_failures(data, [leaf])
    job = result.summary["jobs"]["train"]
    assert job["interruptions"] == 1 and job["interruptions_by_scope"] == {"leaf": 1}
    assert result.timeseries["gpus_down"].max() == 48
    # 6 nodes, 2 spares: the job (4 nodes) must wait for the switch repair (4 h)
    assert job["buckets_s"]["waiting_for_resources"] == pytest.approx(4 * HOUR - 60)


def test_a_planned_stop_loses_no_work(make_scenario, inject_failures):
    data = make_scenario(**{"faults.causes": [], "jobs.0.steps": 720})
    planned = Failure(1000.0, "maintenance", "job", (0,), "node0", planned=True)
    job = inject_failures(data, [planned]).summary["jobs"]["train"]
    assert job["buckets_s"]["lost_work"] == 0
    assert job["interruptions_planned"] == 1 and job["interruptions_unexpected"] == 0
    assert job["checkpoints"] == 3 + 1  # 3 regular saves (none after the last) + the drain


def test_a_job_scoped_failure_restarts_the_job_without_a_repair(make_scenario, inject_failures):
    data = make_scenario(**{"faults.causes": [], "jobs.0.steps": 720})
    bug = Failure(1000.0, "software", "job", (0,), "node0", detection_s=600)
    result = inject_failures(data, [bug])
    job = result.summary["jobs"]["train"]
    assert job["interruptions"] == 1 and job["buckets_s"]["lost_work"] == 1000
    assert job["buckets_s"]["detection"] == 600
    assert result.summary["cluster"]["repairs"] == 0
    assert result.timeseries["gpus_down"].max() == 0


def test_silent_data_corruption_rolls_back_past_bad_checkpoints(make_scenario, inject_failures):
    """Silent data corruption at 2,000 s (during the 2nd segment) found 3,000 s later: the
    checkpoint at 3,720 s holds corrupt state, so the job rolls back to the one at 1,860 s:
    lost = the 1,800 s of compute in the bad checkpoint + the 1,280 s since it."""
    data = make_scenario(**{"faults.causes": [], "jobs.0.steps": 720})
    corruption = Failure(2000.0, "sdc", "gpu", (0,), "node0.gpu3", detection_s=3000,
                         silent=True)
    result = inject_failures(data, [corruption])
    job = result.summary["jobs"]["train"]
    assert job["sdc_rollbacks"] == 1 and job["interruptions"] == 1
    assert job["buckets_s"]["lost_work"] == pytest.approx(1800.0 + 1280.0)
    assert job["completed"] and job["steps_completed"] == 720
    assert job["buckets_s"]["productive"] == pytest.approx(7200.0)
    kinds = list(result.events["kind"])
    assert kinds.index("sdc_rollback") > kinds.index("interruption")


def test_elastic_job_runs_on_fewer_nodes_until_the_repair(make_scenario, inject_failures):
    """No spares: a failure at 1,000 s leaves 3 of 4 nodes. Without elastic mode the job waits
    the 4 h repair; elastic, it restarts on 3 nodes, each step 4/3 as long (the excess counts
    as waiting_for_resources), and returns to 4 nodes after the first checkpoint once the
    node is back. Productive time is unchanged (720 steps x 10 s) and the job ends sooner."""
    base = {"faults.causes": [], "jobs.0.steps": 4320, "cluster.nodes": 4,
            "cluster.spares": 0}
    waiting = inject_failures(make_scenario(**base), [Failure(1000.0, "host", "node", (0,), "node0",
                                                      detection_s=120)])
    elastic = inject_failures(make_scenario(**base, **{"jobs.0.elastic": {"min_fraction": 0.5}}),
                      [Failure(1000.0, "host", "node", (0,), "node0", detection_s=120)])
    rigid, flexible = waiting.summary["jobs"]["train"], elastic.summary["jobs"]["train"]
    assert rigid["buckets_s"]["waiting_for_resources"] == pytest.approx(4 * HOUR - 120)
    assert flexible["elastic_restarts"] == 1
    assert flexible["buckets_s"]["productive"] == pytest.approx(43200.0)
    assert 0 < flexible["buckets_s"]["waiting_for_resources"] < 4 * HOUR
    assert flexible["wall_time_s"] < rigid["wall_time_s"]
    assert list(elastic.events["kind"]).count("rescale") == 1


def test_rates_per_1000_node_days():
    """Kokolis et al. 2024 report 6.50 failures per 1000 node-days (RSC-1): a node's MTBF is
    1000/6.5 days; a GPU-scoped rate spreads over the node's GPUs (8 x longer per GPU)."""
    from fleetsim.scenario.faults import FaultCause

    node = FaultCause(name="rsc1", scope="node", per_1000_node_days=6.5)
    gpu = FaultCause(name="rsc1", scope="gpu", per_1000_node_days=6.5)
    assert node.unit_mtbf_s(8) == pytest.approx(1000 / 6.5 * 86400)
    assert gpu.unit_mtbf_s(8) == pytest.approx(8 * 1000 / 6.5 * 86400)
    with pytest.raises(ValueError, match="exactly one of mtbf"):
        FaultCause(name="x", scope="node", mtbf="10h", per_1000_node_days=1)


def test_faults_scale_multiplies_every_rate():
    from fleetsim.scenario.faults import FaultsSpec

    base = FaultsSpec(preset="llama3").effective_causes()
    doubled = FaultsSpec(preset="llama3", scale=2).effective_causes()
    assert [c.mtbf / 2 for c in base] == pytest.approx([c.mtbf for c in doubled])
    assert FaultsSpec(preset="llama3", scale=0).effective_causes() == ()


def test_job_mtbf_counts_bad_nodes(make_scenario):
    """With a share f of nodes failing `factor` times faster, a node's mean rate is
    1 + f (factor - 1) times nominal: the job MTBF that Young and Daly plan with (and the
    cluster's) shrinks by that factor. 2 of 8 nodes bad at 5x: 2x the failures."""
    plain = fleetsim.run(make_scenario(**{"horizon": "1h"})).summary
    data = make_scenario(**{"horizon": "1h", "cluster.nodes": 8,
                            "faults.bad_nodes": {"fraction": 0.25, "factor": 5}})
    bad = fleetsim.run(data).summary
    assert bad["jobs"]["train"]["job_mtbf_s"] == pytest.approx(
        plain["jobs"]["train"]["job_mtbf_s"] / 2.0)
