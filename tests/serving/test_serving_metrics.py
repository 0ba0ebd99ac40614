"""Serving metric definitions on hand-made records."""

from __future__ import annotations

import math

import pytest

from fleetsim.serving.metrics import summarize
from fleetsim.serving.records import IterationLog, Request


def record(i, arrival, start, first, finish, output, preemptions=0):
    return Request(i, arrival, 10, output, start, first, finish, preemptions)


def test_latencies_throughput_slo_and_goodput():
    requests = [
        record(0, 0.0, 1.0, 2.0, 4.0, 3),  # queue 1, ttft 2, tpot 1, e2e 4
        record(1, 1.0, 1.0, 1.5, 1.5, 1),  # single token: no tpot
        record(2, 2.0, 3.0, 5.0, 9.0, 5, preemptions=2),  # ttft 3, tpot 1
        record(3, 3.0, math.nan, math.nan, math.nan, 4),  # unfinished
    ]
    log = IterationLog()
    log.add(0.0, 1.0, 2, 3, 0.5, 1.0)
    log.add(1.0, 1.0, 4, 1, 1.0, 1.0)
    s = summarize(requests, log, horizon_s=10.0, slo={"ttft": 2.5, "tpot": 1.0})
    assert s["requests"] == {"arrived": 4, "completed": 3, "dropped": 0, "in_flight": 1,
                             "retried": 0, "rejected": 0}
    assert s["latency_s"]["queue"]["mean"] == pytest.approx(2 / 3)
    assert s["latency_s"]["ttft"]["mean"] == pytest.approx((2 + 0.5 + 3) / 3)
    assert s["latency_s"]["tpot"]["mean"] == pytest.approx(1.0)
    assert s["latency_s"]["e2e"]["p50"] == pytest.approx(4.0)
    assert s["throughput_rps"] == pytest.approx(0.3)
    assert s["output_tokens_per_s"] == pytest.approx(0.9)
    assert s["slo_attainment"] == pytest.approx(2 / 4)  # requests 0 and 1; 3 never finished
    assert s["goodput_rps"] == pytest.approx(0.2)
    assert s["preemptions"] == 2 and s["preempted_requests"] == 1
    assert s["batch_size"]["mean"] == pytest.approx((2 * 3 + 4) / 4)
    assert s["batch_size"]["distribution"] == {2: 0.75, 4: 0.25}
    assert s["kv_utilization"] == {"mean": pytest.approx(0.625), "max": 1.0}


def test_warmup_trims_early_arrivals():
    requests = [record(0, 0.0, 0.0, 1.0, 1.0, 1), record(1, 5.0, 5.0, 5.5, 6.0, 2)]
    s = summarize(requests, warmup_s=2.0, horizon_s=12.0)
    assert s["requests"]["arrived"] == 1 and s["requests"]["completed"] == 1
    assert s["throughput_rps"] == pytest.approx(1 / 10)
