"""The abstract serving mode against queueing theory (M/M/1, M/M/c with Erlang C, Little)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy

from fleetsim.engine.rng import RandomStreams
from fleetsim.serving.arrivals import make_arrival
from fleetsim.serving.queueing import QueueingReplica
from fleetsim.serving.records import feed, make_requests


def run_queue(seed: int, rate: float, servers: int, horizon_s: float, mean_service_s: float = 1.0,
              distribution: str = "exponential"):
    streams = RandomStreams(seed)
    env = simpy.Environment()
    replica = QueueingReplica(env, streams.stream("service"), mean_service_s, distribution,
                              servers)
    times = make_arrival("poisson", rate=rate).times(streams.stream("arrivals"), horizon_s)
    ones = np.ones(times.size, dtype=np.int64)
    requests = make_requests(times, ones, ones)
    feed(env, replica, requests)
    env.run()
    return requests


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability of waiting in M/M/c, offered load a = lambda/mu (Erlang C formula)."""
    below = sum(offered_load ** k / math.factorial(k) for k in range(servers))
    top = offered_load ** servers / math.factorial(servers) * servers / (servers - offered_load)
    return top / (below + top)


def test_mm1_mean_response_time_and_littles_law():
    """M/M/1, lambda = 0.5, mu = 1: mean response 1/(mu - lambda) = 2 s (Kleinrock 1975).
    4 seeds x 40,000 s (~80k requests), first 10% trimmed: s.e. ~1.5%, tolerance 5%.
    Little's law L = lambda W holds on the sample path: the time-average number in system,
    integrated from the records, equals arrivals/T x mean sojourn (tolerance 1e-9)."""
    responses = []
    for seed in range(4):
        requests = run_queue(seed, 0.5, 1, 40_000.0)
        sojourn = np.array([r.finish_s - r.arrival_s for r in requests])
        responses.append(sojourn[len(sojourn) // 10:])
        # Little: every request arrives and leaves in [0, end], so the integral of N(t)
        # over [0, end] is the sum of the sojourn times exactly.
        end = max(r.finish_s for r in requests)
        events = sorted([(r.arrival_s, 1) for r in requests] + [(r.finish_s, -1) for r in requests])
        area, count, last = 0.0, 0, 0.0
        for time, step in events:
            area += count * (time - last)
            count, last = count + step, time
        assert area / end == pytest.approx(len(requests) / end * sojourn.mean(), rel=1e-9)
    assert np.concatenate(responses).mean() == pytest.approx(2.0, rel=0.05)


def test_md1_pollaczek_khinchine():
    """M/D/1, lambda = 0.5, D = 1: mean wait rho D / (2 (1 - rho)) = 0.5 s (Pollaczek-
    Khinchine). 2 seeds x 40,000 s, tolerance 7%."""
    waits = []
    for seed in range(2):
        requests = run_queue(seed, 0.5, 1, 40_000.0, distribution="deterministic")
        wait = np.array([r.start_s - r.arrival_s for r in requests])
        waits.append(wait[len(wait) // 10:])
    assert np.concatenate(waits).mean() == pytest.approx(0.5, rel=0.07)


def test_mmc_erlang_c_waiting_probability_and_mean_wait():
    """M/M/4 at rho = 0.8 (lambda = 3.2, mu = 1): P(wait) = Erlang C = 0.5964 and mean wait
    C / (c mu - lambda) = 0.7455 s (Erlang 1917; Kleinrock 1975 §3.5).
    8 seeds x 20,000 s (~510k requests), first 10% of each trimmed. Measured spread of the
    per-seed mean wait is ~8%, so the s.e. of the pooled mean is ~3%: tolerance 10% (> 3 s.e.;
    waits at rho = 0.8 are strongly autocorrelated); P(wait) varies less (s.e. ~1%),
    tolerance 3%."""
    c, rate = 4, 3.2
    waits = []
    for seed in range(8):
        requests = run_queue(100 + seed, rate, c, 20_000.0)
        wait = np.array([r.start_s - r.arrival_s for r in requests])
        waits.append(wait[len(wait) // 10:])
    wait = np.concatenate(waits)
    probability = erlang_c(c, rate)
    assert probability == pytest.approx(0.5964, abs=1e-4)
    assert (wait > 0).mean() == pytest.approx(probability, rel=0.03)
    assert wait.mean() == pytest.approx(probability / (c - rate), rel=0.10)


def test_servers_never_exceeded_and_fifo():
    requests = run_queue(5, 3.0, 2, 2_000.0)
    starts = np.array([r.start_s for r in requests])
    assert np.all(np.diff(starts) >= 0)  # FCFS: service starts in arrival order
    events = sorted([(r.start_s, 1) for r in requests] + [(r.finish_s, -1) for r in requests],
                    key=lambda e: (e[0], e[1]))
    busy = np.cumsum([step for _, step in events])
    assert busy.max() <= 2
