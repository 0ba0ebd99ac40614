"""Lab 07 solution: batching policies under load, SLO goodput, and a replica loss.

Part A runs single.yaml (one Llama 3 8B replica on one H100) at increasing arrival rates with
three batching policies and plots throughput and SLO attainment against the offered rate; the
goodput capacity of a policy is the highest rate at which 90% of requests meet the SLO
(DistServe's definition). Part B runs fleet.yaml (4 Llama 3 70B replicas) with one node
failure injected at t = 10 min and plots throughput, p99 TTFT and replicas up over time.

    python examples/labs/07-serving-under-load/solution.py [--out DIR]
    FLEETSIM_FAST=1 python examples/labs/07-serving-under-load/solution.py   # fewer rates

Writes ``batching.png`` and ``replica_loss.png`` into ``--out`` (default: ``out/`` next to
this file).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import fleetsim
from fleetsim.faults.clock import Failure
from fleetsim.runner import Run
from fleetsim.prepare import load

HERE = Path(__file__).resolve().parent
FAST = os.environ.get("FLEETSIM_FAST", "") not in ("", "0")

POLICIES = ("none", "static", "continuous")
RATES = [1, 4, 8, 15] if FAST else [0.5, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20]
HORIZON = "3min" if FAST else "5min"
FAILURE_AT_S = 600.0


def part_a() -> dict[str, list[dict]]:
    """Throughput and SLO attainment of each policy at each offered rate."""
    results: dict[str, list[dict]] = {}
    for policy in POLICIES:
        rows = []
        for rate in RATES:
            job = fleetsim.run(HERE / "single.yaml", overrides={
                "jobs.llm.batching.policy": policy, "jobs.llm.arrivals.rate": rate,
                "horizon": HORIZON}).summary["jobs"]["llm"]
            rows.append({"rate": rate, "throughput": job["throughput_rps"],
                         "attainment": job["slo_attainment"],
                         "ttft_p99": job["latency_s"]["ttft"]["p99"]})
        results[policy] = rows
    return results


def goodput_capacity(rows: list[dict], target: float = 0.9) -> float:
    """The highest offered rate at which at least ``target`` of requests met the SLO."""
    good = [row["rate"] for row in rows if row["attainment"] >= target]
    return max(good) if good else 0.0


def part_b():
    """The fleet with one node (two replicas) failing at FAILURE_AT_S."""
    run = Run(load(HERE / "fleet.yaml"))
    run.inject([Failure(FAILURE_AT_S, "host", "node", (0,), "node0", detection_s=30.0)])
    return run.execute()


def plot_a(results: dict[str, list[dict]], path: Path) -> None:
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for policy, rows in results.items():
        rates = [row["rate"] for row in rows]
        left.plot(rates, [row["throughput"] for row in rows], marker="o", label=policy)
        right.plot(rates, [row["attainment"] for row in rows], marker="o", label=policy)
    left.plot(RATES, RATES, color="grey", linestyle=":", label="offered")
    left.set_xlabel("offered load (requests/s)")
    left.set_ylabel("throughput (requests/s)")
    left.set_title("throughput: where each policy saturates")
    right.axhline(0.9, color="grey", linestyle="--", label="90% target")
    right.set_xlabel("offered load (requests/s)")
    right.set_ylabel("share of requests meeting the SLO")
    right.set_title("SLO attainment (TTFT 1 s, TPOT 50 ms)")
    for axes in (left, right):
        axes.set_xscale("log")
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)


def plot_b(result, path: Path) -> None:
    series = result.timeseries
    minutes = series["time_s"] / 60
    figure, (top, middle, bottom) = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    top.plot(minutes, series["throughput_rps.chat"], label="completed")
    top.plot(minutes, series["goodput_rps.chat"], linestyle="--", label="meeting the SLO")
    top.set_ylabel("requests / s")
    top.legend(fontsize="small")
    middle.plot(minutes, series["ttft_p99_s.chat"])
    middle.set_ylabel("TTFT p99 (s)")
    middle.set_yscale("log")
    bottom.step(minutes, series["replicas_up.chat"], where="post")
    bottom.set_ylabel("replicas up")
    bottom.set_xlabel("simulated time (min)")
    bottom.set_ylim(0, 4.5)
    for axes in (top, middle, bottom):
        axes.axvline(FAILURE_AT_S / 60, color="#d62728", alpha=0.5)
        axes.grid(alpha=0.3)
    top.set_title("a node failure takes 2 of 4 replicas down at 10 min")
    figure.tight_layout()
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    results = part_a()
    print("Part A: throughput (req/s) and SLO attainment by offered rate")
    print("rate   " + "".join(f"{policy:>24}" for policy in POLICIES))
    for index, rate in enumerate(RATES):
        cells = "".join(f"{results[p][index]['throughput']:>12.2f} {results[p][index]['attainment']:>10.1%} "
                        for p in POLICIES)
        print(f"{rate:<6g} {cells}")
    for policy in POLICIES:
        capacity = max(row["throughput"] for row in results[policy])
        print(f"{policy:>10}: capacity {capacity:.2f} req/s, goodput capacity (90% in SLO) "
              f"{goodput_capacity(results[policy]):g} req/s")
    plot_a(results, args.out / "batching.png")

    result = part_b()
    job = result.summary["jobs"]["chat"]
    counts = job["requests"]
    events = result.events
    back = events[events["kind"] == "replica_up"]["time_s"]
    series = result.timeseries
    during = series[(series["time_s"] > FAILURE_AT_S) & (series["time_s"] <= float(back.max()))]
    print("Part B: one node failure at 10 min")
    print(f"  replicas failed {job['replica_failures']}, back at "
          f"{', '.join(f'{t / 60:.1f} min' for t in back)}; availability "
          f"{job['availability']:.2%}")
    print(f"  requests arrived {counts['arrived']:,}, completed {counts['completed']:,}, "
          f"re-sent {counts['retried']}, dropped {counts['dropped']}, "
          f"in flight at the end {counts['in_flight']}")
    print(f"  SLO attainment {job['slo_attainment']:.2%}; TTFT p99 over the run "
          f"{job['latency_s']['ttft']['p99']:.2f} s, worst window during the outage "
          f"{np.nanmax(during['ttft_p99_s.chat']):.2f} s")
    plot_b(result, args.out / "replica_loss.png")
    print(f"figures written to {args.out}")


if __name__ == "__main__":
    main()
