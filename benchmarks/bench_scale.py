"""Speed and scale of a fleet-scale training run (issue: foundation, item 8).

(a) Llama 3 405B as in scenarios/llama3-405b-16k.yaml: 16,384 GPUs, 54 simulated days,
    ~419 failures, 30-minute checkpoints, step time derived from the model on the fabric. The
    one-time setup (cluster graph, placement, step model) is reported apart from the run.
(b) The same job at 1,024, 16,384 and 131,072 GPUs with its step time given explicitly (the
    value (a) derives), twice: with the per-unit failure rates unchanged (failures grow with
    the GPU count), and with rates rescaled so every size sees ~419 failures (isolates the
    cost of GPU count itself, which must not grow).
(d) Every fault feature at once on (a): the llama3 preset (all scopes, leaf blast radius,
    planned stops), a repair pipeline with false repairs, 5% bad nodes, lognormal step jitter by
    order statistics, slow nodes with eviction, asynchronous checkpoints. Must stay within 2x
    of (a)'s explicit-step run.
(e) Per-GPU Weibull renewal clocks (one heap entry per GPU) at 131,072 GPUs.
(c) Engine overhead: bare SimPy timeouts per second measured in this process, and each run's
    cost expressed as that many bare timeouts, beside the SimPy events it actually processed.

Times are the best of --repeat runs of the simulation itself (scenario already loaded);
"CLI" is the wall time of ``fleetsim run --quiet`` as a user runs it (process start included).

    python benchmarks/bench_scale.py            # print the table
    python benchmarks/bench_scale.py --record   # also write benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import simpy

from fleetsim.runner import Run
from fleetsim.prepare import load as load_prepared

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "llama3-405b-16k.yaml"
BASE_GPUS = 16384


def bare_timeouts_per_second(count: int = 300_000) -> float:
    """How many plain ``env.timeout`` events SimPy processes per second here."""
    env = simpy.Environment()

    def ticker():
        for _ in range(count):
            yield env.timeout(1.0)

    env.process(ticker())
    start = time.perf_counter()
    env.run()
    return count / (time.perf_counter() - start)


def _explicit(gpus: int, step_s: float | None) -> list[tuple[str, object]]:
    """Overrides resizing the job to ``gpus`` (and giving its step time explicitly)."""
    nodes = gpus // 8
    spares = max(2, nodes // 64)
    overrides: list[tuple[str, object]] = [
        ("jobs.pretrain.gpus", gpus), ("cluster.nodes", nodes + spares),
        ("cluster.spares", spares)]
    if gpus > BASE_GPUS:  # beyond a three-tier tree of 64-port switches
        overrides.append(("cluster.fabric.radix", 128))
    if step_s is not None:  # explicit step time: no model, no fabric graph
        overrides += [("jobs.pretrain.model", None), ("jobs.pretrain.global_batch", None),
                      ("jobs.pretrain.parallelism", None), ("jobs.pretrain.micro_batch", None),
                      ("jobs.pretrain.precision", None), ("jobs.pretrain.step_time", f"{step_s}s"),
                      ("jobs.pretrain.checkpoint.storage_bandwidth", None),
                      ("jobs.pretrain.checkpoint.save", "3s"),
                      ("jobs.pretrain.checkpoint.load", "3s")]
    return overrides


def load(gpus: int, keep_failures: bool, step_s: float | None = None):
    overrides = _explicit(gpus, step_s)
    if keep_failures:  # more units -> proportionally lower rates, the same total
        overrides.append(("faults.scale", BASE_GPUS / gpus))
    return load_prepared(SCENARIO, overrides=overrides)


def measure(scenario, repeat: int) -> dict:
    best = float("inf")
    for _ in range(repeat):
        run = Run(scenario)
        events = 0
        step = run.env.step

        def counting_step():
            nonlocal events
            events += 1
            step()

        run.env.step = counting_step  # count the events env.run processes
        start = time.perf_counter()
        result = run.execute()
        best = min(best, time.perf_counter() - start)
    job = result.summary["jobs"]["pretrain"]
    return {"seconds": best, "events": events, "failures": result.summary["cluster"]["failures"],
            "interruptions": job["interruptions"], "goodput": job["goodput"],
            "checkpoints": job["checkpoints"]}


def cli_seconds(repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fleetsim", "run", str(SCENARIO), "--quiet"],
                       check=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--record", action="store_true", help="write benchmarks/RESULTS.md")
    args = parser.parse_args()

    rate = bare_timeouts_per_second()
    scenario = load(BASE_GPUS, False)
    start = time.perf_counter()
    step_s = Run(scenario)._static[0].costs.step_s  # cold: builds the graph, costs the step
    setup = time.perf_counter() - start
    rows = [("(a) llama3 405B, 54 d, step model", BASE_GPUS, measure(scenario, args.repeat))]
    cases = [("(b) explicit step, per-unit rates kept", 1024, False),
             ("(b) explicit step, per-unit rates kept", BASE_GPUS, False),
             ("(b) explicit step, per-unit rates kept", 131072, False),
             ("(b) explicit step, ~419 failures at any size", 1024, True),
             ("(b) explicit step, ~419 failures at any size", 131072, True)]
    for label, gpus, keep in cases:
        stats = measure(load(gpus, keep, step_s), args.repeat)
        rows.append((label, gpus, stats))
    everything = [
        ("faults.repair", {"automatic": "2h", "manual": "2d", "escalation": 0.2,
                           "false_repair_automatic": 0.1}),
        ("faults.bad_nodes", {"fraction": 0.05, "factor": 3}),
        ("stragglers", {"jitter": {"distribution": "lognormal", "sigma": 0.5},
                        "slow_nodes": {"fraction": 0.005, "slowdown": 1.1, "mtbs": "1400d",
                                       "duration": "7d"},
                        "mitigation": {"policy": "evict", "after_steps": 200}}),
        ("jobs.pretrain.checkpoint.mode", "async"),
        ("jobs.pretrain.checkpoint.snapshot", "5s"),
    ]
    full = load_prepared(SCENARIO, overrides=_explicit(BASE_GPUS, step_s) + everything)
    rows.append(("(d) every fault feature, explicit step", BASE_GPUS, measure(full, args.repeat)))
    weibull = load_prepared(SCENARIO, overrides=_explicit(131072, step_s) + [
        ("faults.preset", None),
        ("faults.causes", [{"name": "gpu_ageing", "scope": "gpu", "mtbf": "143471h",
                            "distribution": "weibull", "shape": 1.5}])])
    rows.append(("(e) Weibull clock per GPU", 131072, measure(weibull, args.repeat)))
    cli = cli_seconds(max(1, args.repeat // 2))

    lines = [
        "| case | GPUs | failures | interruptions | checkpoints | SimPy events | "
        "simulation (s) | bare-timeout equivalents | goodput |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, gpus, stats in rows:
        lines.append(
            f"| {label} | {gpus:,} | {stats['failures']:,} | {stats['interruptions']:,} | "
            f"{stats['checkpoints']:,} | {stats['events']:,} | {stats['seconds']:.3f} | "
            f"{stats['seconds'] * rate:,.0f} | {stats['goodput']:.3f} |")
    table = "\n".join(lines)
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
               f"Python {platform.python_version()}, SimPy {simpy.__version__}")
    explicit_16k = next(stats for label, gpus, stats in rows
                        if label.startswith("(b) explicit step, per-unit") and gpus == BASE_GPUS)
    everything_16k = next(stats for label, _, stats in rows if label.startswith("(d)"))
    ratio = everything_16k["seconds"] / explicit_16k["seconds"]
    report = (f"{table}\n\n"
              f"- (d) / (b) at 16,384 GPUs: {ratio:.1f}x the simulation time with every fault "
              f"feature on ({everything_16k['events']:,} vs {explicit_16k['events']:,} SimPy "
              "events)\n"
              f"- one-time setup of (a), cold: cluster graph of 2,080 nodes, placement, step "
              f"model: {setup:.2f} s (step {step_s:.2f} s); the graph is cached per process\n"
              f"- bare SimPy: {rate:,.0f} timeouts/s in the same process\n"
              f"- `fleetsim run scenarios/llama3-405b-16k.yaml --quiet` end to end (process "
              f"start, imports, load, setup, run, no outputs): {cli:.2f} s\n")
    print(report)
    if args.record:
        today = datetime.date.today().isoformat()
        text = (f"# Benchmark results\n\nRecorded by `python benchmarks/bench_scale.py --record` "
                f"on {today}, {machine}. Simulation times are the best of {args.repeat} runs "
                f"with the scenario already loaded.\n\n{report}")
        (ROOT / "benchmarks" / "RESULTS.md").write_text(text)


if __name__ == "__main__":
    main()
