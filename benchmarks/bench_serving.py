"""Speed of the serving engine: a million requests through 16 continuous-batching replicas
(issue #5: "well under a minute; record it in benchmarks/ with events per second").

Workload: Llama-3-8B on H100-SXM (bf16, tp=1), Poisson arrivals, ShareGPT-like lognormal
lengths (prompt mean 500, output mean 200, sigma 0.8), round-robin over 16 replicas, seed 1.

(a) capacity: the same replicas overloaded (``--overload`` req/s for ``--capacity-s`` s);
    capacity = completions per second after the first quarter (queues never empty then).
(b) 1,000,000 requests, continuous batching, at ``--rate`` (default 133 req/s, ~90% of the
    capacity (a) measures), run to completion.
(c) 100,000 requests, chunked prefill (Sarathi-Serve, 512-token budget), at
    ``--chunked-rate`` (~90% of its own capacity, measured likewise).
(d) the per-iteration engine (``fuse=False``, one timeout and one cost-model call per model
    iteration: the reference the fused engine is tested against) on the first
    ``--reference`` requests of (b), for the speed-up.

Reported per case: engine seconds (``env.run`` wall time, best of ``--repeat``; CPU time of
the same run beside it), requests simulated per engine second, SimPy events processed
(counted by wrapping ``env.step``, as bench_scale.py does) and per second, the mean batch
size (weighted by model iterations), and throughput against the offered load (completed
requests per second over the arrival span, after a 10% warm-up).

    python benchmarks/bench_serving.py            # print the table
    python benchmarks/bench_serving.py --record   # also write benchmarks/SERVING_RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import simpy

from fleetsim.engine.rng import RandomStreams
from fleetsim.hardware import Catalogue
from fleetsim.serving import (Replica, ServingCost, feed, generate_requests, make_arrival,
                              make_length, make_requests)

ROOT = Path(__file__).resolve().parent.parent
REPLICAS = 16


def workload(rate: float, count: int | None, horizon_s: float | None = None):
    """Requests of the benchmark workload: the first ``count`` arrivals, or those before
    ``horizon_s``."""
    rng = RandomStreams(1).stream("arrivals")
    span = horizon_s if horizon_s is not None else 1.05 * count / rate + 10.0
    times, prompts, outputs = generate_requests(
        make_arrival("poisson", rate=rate), make_length("lognormal", mean=500, sigma=0.8),
        make_length("lognormal", mean=200, sigma=0.8), rng, span)
    if count is not None:
        assert times.size >= count
        times, prompts, outputs = times[:count], prompts[:count], outputs[:count]
    return make_requests(times, prompts, outputs)


class RoundRobin:
    """Sends each arrival to the next replica in turn."""

    def __init__(self, replicas: list[Replica]) -> None:
        self.replicas = replicas
        self.count = 0

    def submit(self, request) -> None:
        self.replicas[self.count % len(self.replicas)].submit(request)
        self.count += 1


def simulate(cost: ServingCost, policy: str, requests, until: float | None = None,
             **params) -> dict:
    """Serve ``requests`` on 16 replicas; engine time, events and the replicas."""
    env = simpy.Environment()
    replicas = [Replica(env, cost, policy, f"r{i}", **params) for i in range(REPLICAS)]
    feed(env, RoundRobin(replicas), requests)
    events = 0
    step = env.step

    def counting_step():
        nonlocal events
        events += 1
        step()

    env.step = counting_step  # count the events env.run processes
    wall, cpu = time.perf_counter(), time.process_time()
    env.run(until=until)
    return {"seconds": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
            "events": events, "replicas": replicas, "now": env.now}


def batch_mean(replicas: list[Replica]) -> float:
    sizes = np.concatenate([np.asarray(r.iterations.batch_size, float) for r in replicas])
    weights = np.concatenate([np.asarray(r.iterations.iterations, float) for r in replicas])
    return float(np.average(sizes, weights=weights))


def throughput(requests, start_s: float, end_s: float) -> float:
    """Completions per second in ``[start_s, end_s)``."""
    finish = np.array([r.finish_s for r in requests])
    return float(((finish >= start_s) & (finish < end_s)).sum() / (end_s - start_s))


def capacity(cost: ServingCost, policy: str, rate: float, horizon_s: float) -> float:
    """Completions per second of overloaded replicas, after the first quarter."""
    requests = workload(rate, None, horizon_s)
    simulate(cost, policy, requests, until=horizon_s)
    return throughput(requests, horizon_s / 4, horizon_s)


def case(label: str, cost: ServingCost, policy: str, rate: float, count: int,
         repeat: int, capacity_rps: float | None, **params) -> dict:
    best = None
    for _ in range(repeat):
        requests = workload(rate, count)
        stats = simulate(cost, policy, requests, **params)
        if best is None or stats["seconds"] < best["seconds"]:
            best = stats
    assert all(r.done for r in requests)
    span = requests[-1].arrival_s
    served = throughput(requests, 0.1 * span, span)
    return {"label": label, "policy": policy, "requests": count, "rate": rate,
            "seconds": best["seconds"], "cpu": best["cpu"], "events": best["events"],
            "simulated_s": best["now"], "batch": batch_mean(best["replicas"]),
            "throughput": served, "capacity": capacity_rps}


def row(c: dict) -> str:
    load = "-"  # (d) compares engines; its short run is mostly warm-up
    if c["capacity"] is not None:
        load = (f"{c['rate']:.0f} / {c['throughput']:.1f} / {c['capacity']:.0f} "
                f"({c['throughput'] / c['capacity']:.0%})")
    return (f"| {c['label']} | {c['policy']} | {c['requests']:,} | {c['simulated_s']:,.0f} | "
            f"{c['seconds']:.2f} ({c['cpu']:.2f}) | {c['requests'] / c['seconds']:,.0f} | "
            f"{c['events']:,} | {c['events'] / c['seconds']:,.0f} | "
            f"{c['events'] / c['requests']:.2f} | {c['batch']:.1f} | {load} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=133.0)
    parser.add_argument("--chunked-requests", type=int, default=100_000)
    parser.add_argument("--chunked-rate", type=float, default=133.0)
    parser.add_argument("--reference", type=int, default=20_000)
    parser.add_argument("--overload", type=float, default=1000.0)
    parser.add_argument("--capacity-s", type=float, default=200.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--record", action="store_true",
                        help="write benchmarks/SERVING_RESULTS.md")
    args = parser.parse_args()

    start_load = os.getloadavg()
    cost = ServingCost("llama3-8b", Catalogue.load().accelerator("h100-sxm"))
    continuous = capacity(cost, "continuous", args.overload, args.capacity_s)
    chunked = capacity(cost, "chunked-prefill", args.overload, args.capacity_s)
    cases = [
        case("(b) fused", cost, "continuous", args.rate, args.requests, args.repeat,
             continuous),
        case("(c) fused", cost, "chunked-prefill", args.chunked_rate, args.chunked_requests,
             args.repeat, chunked),
        case("(d) per-iteration", cost, "continuous", args.rate, args.reference,
             args.repeat, None, fuse=False),
        case("(d) fused, same requests", cost, "continuous", args.rate, args.reference,
             args.repeat, None),
    ]
    lines = [
        "| case | policy | requests | simulated (s) | engine s (CPU s) | requests / s | "
        "SimPy events | events / s | events / request | mean batch | "
        "offered / served / capacity req/s (served / capacity) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ] + [row(c) for c in cases]
    reference, fused = cases[2], cases[3]
    million = cases[0]
    report = ("\n".join(lines) + "\n\n"
              f"- (a) capacity, {REPLICAS} replicas overloaded at {args.overload:.0f} req/s "
              f"for {args.capacity_s:.0f} s: continuous {continuous:.0f} req/s, chunked "
              f"prefill {chunked:.0f} req/s\n"
              f"- (b) {million['requests']:,} requests in {million['seconds']:.1f} s of "
              f"engine time ({1e6 * million['seconds'] / million['requests']:.1f} us per "
              "request)\n"
              f"- (d) per-iteration engine on the first {args.reference:,} requests: "
              f"{reference['seconds']:.2f} s ({reference['events']:,} events); fused: "
              f"{fused['seconds']:.2f} s ({fused['events']:,} events): "
              f"{reference['seconds'] / fused['seconds']:.1f}x faster\n")
    print(report)
    if args.record:
        machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}, SimPy {simpy.__version__}")
        command = "python " + " ".join(["benchmarks/bench_serving.py"] + sys.argv[1:])
        load = ", ".join(f"{x:.2f}" for x in start_load)
        text = (f"# Serving engine benchmark\n\nRecorded by `{command}` on "
                f"{datetime.date.today().isoformat()}, {machine}. Engine seconds are the "
                f"wall time of `env.run` (best of {args.repeat}); the workload is built "
                "before the clock starts. The machine is shared with other work (load "
                f"average {load} at the start), so wall times carry noise; CPU seconds of "
                "the same run are in parentheses.\n\n"
                f"{__doc__.split(chr(10) + chr(10), 1)[1].split('Reported per case')[0]}"
                f"{report}")
        (ROOT / "benchmarks" / "SERVING_RESULTS.md").write_text(text)


if __name__ == "__main__":
    main()
