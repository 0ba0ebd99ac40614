"""Serving jobs through the scenario and the runner: queueing theory, routing, failures,
retries, conservation, determinism. Abstract mode (``service``) makes replicas ordinary
servers, so queueing formulas are the ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fleetsim
from fleetsim.faults.clock import Failure


def queue_scenario(rate: float, replicas: int = 1, router: str = "round-robin",
                   requests: int = 20_000, mean: str = "1s", **job) -> dict:
    return {
        "name": "queue", "seed": 3,
        "cluster": {"node": "dgx-h100", "nodes": 2, "spares": 1},
        "jobs": [{"name": "q", "type": "serving", "replicas": replicas, "router": router,
                  "service": {"distribution": "exponential", "mean": mean},
                  "arrivals": {"process": "poisson", "rate": rate}, "requests": requests,
                  **job}],
    }


def erlang_c(servers: int, offered: float) -> float:
    """Probability of waiting in M/M/c with offered load a = lambda/mu (Erlang C)."""
    below = sum(offered ** k / math.factorial(k) for k in range(servers))
    top = offered ** servers / math.factorial(servers) * servers / (servers - offered)
    return top / (below + top)


def mean_over_seeds(data: dict, metric, seeds=range(4)) -> float:
    return float(np.mean([metric(fleetsim.run(data, seed=seed).summary["jobs"]["q"])
                          for seed in seeds]))


def test_mm1_through_a_scenario():
    """One replica, Poisson(0.5/s), exponential 1 s service: M/M/1 with rho = 0.5, mean
    response 1/(mu - lambda) = 2 s and mean queueing delay rho/(mu - lambda) = 1 s
    (Kleinrock 1975, ch. 3). 4 seeds x 20,000 requests, the first 2,000 s trimmed (warmup):
    standard error ~2%, tolerance 6%."""
    data = queue_scenario(0.5, warmup="2000s")
    response = mean_over_seeds(data, lambda job: job["latency_s"]["e2e"]["mean"])
    queueing = mean_over_seeds(data, lambda job: job["latency_s"]["queue"]["mean"])
    assert response == pytest.approx(2.0, rel=0.06)
    assert queueing == pytest.approx(1.0, rel=0.10)


def test_shared_queue_is_erlang_c():
    """Four replicas behind one shared queue are M/M/4: lambda = 3/s, mu = 1/s, a = 3; mean
    wait Wq = C(4, 3) / (c mu - lambda) = 0.509 / 1 s (Erlang C, Kleinrock 1975 §3.5).
    4 seeds x 20,000 requests, warm-up trimmed: tolerance 8% (Wq's relative standard error
    is larger than the response time's)."""
    data = queue_scenario(3.0, replicas=4, router="shared-queue", warmup="500s")
    wait = mean_over_seeds(data, lambda job: job["latency_s"]["queue"]["mean"])
    expected = erlang_c(4, 3.0) / (4 * 1.0 - 3.0)
    assert expected == pytest.approx(0.5094, abs=1e-4)
    assert wait == pytest.approx(expected, rel=0.08)


def test_random_routing_is_independent_mm1_queues():
    """Random routing splits a Poisson stream into independent Poisson streams (thinning), so
    each of 4 replicas is an M/M/1 queue with lambda/4: mean response 1/(1 - 0.75) = 4 s
    at lambda = 3/s. Same tolerance as the M/M/1 test, 8% (higher load, slower mixing).
    Join-shortest-queue and the shared queue do better, in that order (Winston 1977)."""
    response = {router: mean_over_seeds(queue_scenario(3.0, 4, router, warmup="500s"),
                                        lambda job: job["latency_s"]["e2e"]["mean"])
                for router in ("random", "join-shortest-queue", "shared-queue")}
    assert response["random"] == pytest.approx(4.0, rel=0.08)
    shared = 1.0 + erlang_c(4, 3.0) / 1.0
    assert response["shared-queue"] == pytest.approx(shared, rel=0.06)
    assert response["shared-queue"] < response["join-shortest-queue"] < response["random"]


def test_littles_law_on_the_job_records():
    """Little's law L = lambda W on the sample path of one run (exact: every request arrives
    and leaves within the run): the time-average number in the system, integrated from the
    request records, equals arrivals / T x mean sojourn, tolerance 1e-9."""
    result = fleetsim.run(queue_scenario(2.0, replicas=3, router="join-shortest-queue",
                                         requests=5000))
    table = result.requests
    arrival, finish = table["arrival_s"].to_numpy(), table["finish_s"].to_numpy()
    end = finish.max()
    times = np.concatenate([arrival, finish])
    steps = np.concatenate([np.ones_like(arrival), -np.ones_like(finish)])
    order = np.lexsort((steps, times))
    count = np.cumsum(steps[order])
    area = float(np.sum(count[:-1] * np.diff(times[order])))
    assert area / end == pytest.approx(len(table) / end * np.mean(finish - arrival), rel=1e-9)


def node_failure(time_s: float, node: int, detection_s: float = 30.0) -> Failure:
    return Failure(time_s, "host", "node", (node,), f"node{node}", detection_s=detection_s)


def test_replica_failure_retries_and_reload(inject_failures):
    """Eight replicas of one server each on one node (8 GPUs): the node fails at t = 100 s,
    every replica stops; its requests (and those routed to it before detection at +30 s) are
    re-sent at detection; the spare node replaces it and every replica is back after its
    20 s model load. Nothing is lost: arrived = completed, and retried > 0."""
    data = queue_scenario(4.0, replicas=8, router="round-robin", requests=2000,
                          model_load="20s")
    data["faults"] = {"repair": "1h"}
    result = inject_failures(data, [node_failure(100.0, 0)])
    job = result.summary["jobs"]["q"]
    assert job["replica_failures"] == 8 and job["replica_restarts"] == 8
    assert job["requests"]["arrived"] == job["requests"]["completed"] == 2000
    assert job["requests"]["retried"] > 0 and job["requests"]["dropped"] == 0
    assert job["completed"]
    events = result.events
    ups = events[events["kind"] == "replica_up"]["time_s"]
    assert len(ups) == 8 and ups.min() == pytest.approx(100.0 + 30.0 + 20.0)
    # nothing runs while the node is down: 150 s of 8 replicas lost
    assert job["availability"] == pytest.approx(1 - 8 * 50.0 / (8 * job["wall_time_s"]))
    table = result.requests
    retried = table[table["retries"] > 0]
    assert (retried["start_s"] >= 130.0).all()  # started over after detection
    series = result.timeseries
    assert series["replicas_up.q"].min() == 0 and series["replicas_up.q"].iloc[-1] == 8


def test_retry_budget_drops_and_requests_are_conserved(inject_failures):
    """With no retries allowed, the requests on a failed replica are dropped; arrived =
    completed + dropped + in flight holds at the horizon (requests in flight there)."""
    data = queue_scenario(4.0, replicas=8, requests=4000, retries=0, model_load="10s")
    data["faults"] = {"repair": "1h"}
    data["horizon"] = "500s"
    result = inject_failures(data, [node_failure(100.0, 0), node_failure(300.0, 1)])
    job = result.summary["jobs"]["q"]
    counts = job["requests"]
    assert counts["dropped"] > 0 and counts["retried"] == counts["dropped"]
    assert counts["arrived"] == counts["completed"] + counts["dropped"] + counts["in_flight"]
    table = result.requests
    assert table["dropped"].sum() == counts["dropped"]
    assert table.loc[table["dropped"], "finish_s"].isna().all()


def test_fault_model_hits_serving_replicas():
    """The cluster's failure clock strikes serving nodes too: with a node MTBF of 2 h and 4 h
    of traffic on 2 nodes, replicas fail, come back, and every request is still accounted
    for (a drained job: in_flight = 0)."""
    data = queue_scenario(10.0, replicas=16, requests=100_000, mean="1s", model_load="1min")
    data["cluster"] = {"node": "dgx-h100", "nodes": 4, "spares": 1}
    data["faults"] = {"causes": [{"name": "host", "scope": "node", "mtbf": "2h"}],
                      "detection": "1min", "repair": "30min"}
    job = fleetsim.run(data, seed=1).summary["jobs"]["q"]
    assert job["replica_failures"] > 0 and job["replica_restarts"] > 0
    counts = job["requests"]
    assert counts["in_flight"] == 0 and job["completed"]
    assert counts["arrived"] == counts["completed"] + counts["dropped"] == 100_000
    assert 0 < job["availability"] < 1


def test_same_seed_same_requests():
    data = queue_scenario(3.0, replicas=4, router="random", requests=3000)
    first = fleetsim.run(data, seed=5).requests
    second = fleetsim.run(data, seed=5).requests
    assert first.equals(second)
    assert not first.equals(fleetsim.run(data, seed=6).requests)


def test_a_request_that_never_fits_is_rejected_not_stuck_in_a_shared_queue():
    """A prompt larger than a replica's KV cache is rejected (counted as dropped) at once,
    also when it would otherwise block the head of a shared queue; the job drains."""
    data = {"name": "big", "cluster": {"node": "dgx-h100", "nodes": 1},
            "jobs": [{"name": "s", "type": "serving", "model": "llama3-8b", "replicas": 2,
                      "router": "shared-queue", "requests": 200,
                      "arrivals": {"process": "poisson", "rate": 2},
                      "prompt_tokens": {"distribution": "empirical",
                                        "values": [100, 100, 100, 10_000_000]},
                      "output_tokens": {"distribution": "fixed", "value": 20}}]}
    job = fleetsim.run(data).summary["jobs"]["s"]
    counts = job["requests"]
    assert job["completed"] and counts["in_flight"] == 0
    assert counts["rejected"] == counts["dropped"] > 0
    assert counts["completed"] + counts["dropped"] == counts["arrived"] == 200
