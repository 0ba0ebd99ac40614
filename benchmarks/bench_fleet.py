"""Speed of the scheduler at fleet scale (issue 11): 100,000 jobs on a 10,000-GPU cluster.

A synthetic workload of three classes with explicit step times (no model, no fabric graph),
so the cost measured is the scheduler's and the jobs' own, on 1,250 DGX H100 nodes (8 GPUs
each) with GPU and host failures on, a repair pipeline and checkpoints:

* ``debug``     1-8 GPUs, ~30 min (lognormal), 60% of the arrivals;
* ``finetune``  8-64 GPUs, ~3 h, 30%;
* ``pretrain``  128-1,024 GPUs, ~12 h, 10% (hourly checkpoints, 5-minute restarts).

The arrival rate is set so the offered load (GPU-seconds asked per second over the 10,000
GPUs) is ``--load``: below 1 the queue stays short, above 1 it grows all run long, so the
runs at increasing job counts and loads show how the cost of a pass grows with the queue.
Every run reports its wall time (simulation only, the scenario already loaded), microseconds
per job, SimPy events, the longest queue and the mean wait.

    python benchmarks/bench_fleet.py                     # the table (FIFO and EASY backfill)
    python benchmarks/bench_fleet.py --record            # also append to FLEET_RESULTS.md
    python benchmarks/bench_fleet.py --jobs 10000 --policies sjf --profile   # cProfile a run
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import os
import platform
import pstats
import sys
import time
from pathlib import Path

import simpy

from fleetsim.prepare import load
from fleetsim.runner import Run

ROOT = Path(__file__).resolve().parent.parent
NODES, GPUS_PER_NODE = 1250, 8

#: (name, share of arrivals, GPU sizes, their weights, mean duration (h), step time, checkpoint
#: interval, restart)
CLASSES = (
    ("debug", 0.6, [1, 2, 4, 8], [4, 3, 2, 1], 0.5, "1s", "none", "1min"),
    ("finetune", 0.3, [8, 16, 32, 64], [4, 3, 2, 1], 3.0, "2s", "30min", "2min"),
    ("pretrain", 0.1, [128, 256, 512, 1024], [4, 3, 2, 1], 12.0, "5s", "1h", "5min"),
)


def _mean_gpu_hours() -> float:
    """Mean GPU-hours asked per arriving job (lognormal durations have the given mean)."""
    total = 0.0
    for _name, share, sizes, weights, hours, *_ in CLASSES:
        mean_gpus = sum(s * w for s, w in zip(sizes, weights)) / sum(weights)
        total += share * mean_gpus * hours
    return total


def scenario(jobs: int, load_factor: float, policy: str, seed: int = 11,
             depth: int | None = None) -> dict:
    """The fleet scenario as a dict (``fleetsim.prepare.load`` takes it as a YAML file)."""
    rate_per_h = load_factor * NODES * GPUS_PER_NODE / _mean_gpu_hours()
    classes = []
    for name, share, sizes, weights, hours, step, interval, restart in CLASSES:
        checkpoint = ({"policy": "none"} if interval == "none" else
                      {"policy": "fixed", "interval": interval, "save": "20s", "load": "1min"})
        classes.append({
            "name": name, "arrivals": {"process": "poisson", "rate": f"{rate_per_h * share}/h"},
            "gpus": {"distribution": "empirical", "values": sizes, "weights": weights},
            "duration": {"distribution": "lognormal", "mean": f"{hours}h", "sigma": 1.0},
            "job": {"step_time": step, "restart": restart, "checkpoint": checkpoint}})
    return {"name": f"fleet-{jobs}", "seed": seed,
            "cluster": {"node": "dgx-h100", "nodes": NODES + 16, "spares": 16},
            "faults": {"causes": [{"name": "gpu", "scope": "gpu", "mtbf": "50000h"},
                                  {"name": "host", "scope": "node", "mtbf": "2y"}],
                       "detection": "2min", "repair": "4h"},
            "scheduler": {"policy": policy,
                          **({"backfill_depth": depth} if depth is not None else {})},
            "workload": {"jobs": jobs, "classes": classes}}


def measure(jobs: int, load_factor: float, policy: str, profile: bool = False,
            depth: int | None = None) -> dict:
    prepared = load(scenario(jobs, load_factor, policy, depth=depth))
    run = Run(prepared)
    events = 0
    step = run.env.step
    longest = 0

    def counting_step():
        nonlocal events
        events += 1
        step()

    run.env.step = counting_step
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    result = run.execute()
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - start
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    longest = max(entry[1] for entry in run.scheduler.queue_log)
    fleet = result.summary["fleet"]
    return {"seconds": seconds, "events": events, "jobs": len(run.jobs),
            "finished": sum(1 for job in run.jobs if job.completed),
            "longest_queue": longest, "wait_h": fleet["queue_wait_s"]["mean"] / 3600,
            "days": result.summary["end_s"] / 86400 if "end_s" in result.summary
            else run.env.now / 86400,
            "failures": result.summary["cluster"]["failures"],
            "allocated": fleet["gpu_utilization"]["allocated"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--loads", type=float, nargs="+", default=[0.9])
    parser.add_argument("--policies", nargs="+", default=["fifo", "backfill"])
    parser.add_argument("--overload", type=float, nargs="*", default=[1.2],
                        help="loads run at the largest job count only (growing queue)")
    parser.add_argument("--depth", type=int, default=None,
                        help="scheduler.backfill_depth (default: the scheduler's, 1,000)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--record", action="store_true",
                        help="append the table and its command to benchmarks/FLEET_RESULTS.md")
    args = parser.parse_args()

    cases = [(jobs, load_factor, policy) for policy in args.policies
             for load_factor in args.loads for jobs in args.jobs]
    cases += [(max(args.jobs), load_factor, policy) for policy in args.policies
              for load_factor in args.overload]
    lines = ["| policy | load | jobs | simulated days | failures | SimPy events | "
             "longest queue | mean wait (h) | GPUs allocated | wall (s) | µs per job |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for jobs, load_factor, policy in cases:
        stats = measure(jobs, load_factor, policy, args.profile, args.depth)
        line = (f"| {policy} | {load_factor:.1f} | {stats['jobs']:,} | {stats['days']:.0f} | "
                f"{stats['failures']:,} | {stats['events']:,} | {stats['longest_queue']:,} | "
                f"{stats['wait_h']:.2f} | {stats['allocated']:.3f} | {stats['seconds']:.1f} | "
                f"{stats['seconds'] / stats['jobs'] * 1e6:,.0f} |")
        print(line, flush=True)
        lines.append(line)
    table = "\n".join(lines)
    print(table)
    if args.record:
        machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}, SimPy {simpy.__version__}")
        today = datetime.date.today().isoformat()
        command = " ".join(["python benchmarks/bench_fleet.py", *sys.argv[1:]])
        text = (f"\n## Recorded {today}, {machine}\n\n    {command}\n\n{table}\n")
        with open(ROOT / "benchmarks" / "FLEET_RESULTS.md", "a") as results:
            results.write(text)


if __name__ == "__main__":
    main()
