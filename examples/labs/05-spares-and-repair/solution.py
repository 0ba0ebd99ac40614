"""Lab 05 solution: spare-pool size against waiting time, with ideal and AIReSim repairs.

Runs sweep-pipeline.yaml (AIReSim's repair pipeline: escalation to manual repair, false
repairs) and sweep-constant.yaml (every repair takes exactly 2 h) through ``fleetsim.sweep``:
0 to 8 hot spares, without and with 15% bad nodes, 6 seeds each. Plots the share of wall time
the job waits for a replacement node (``waiting_for_resources``) and its goodput against the
number of spares, next to the M/G/inf estimate: nodes in repair ~ Poisson(failure rate x mean
repair time), and the job waits while more nodes are in repair than there are spares.

    python examples/labs/05-spares-and-repair/solution.py [--out DIR]
    FLEETSIM_FAST=1 python examples/labs/05-spares-and-repair/solution.py  # 3 pool sizes, 1 seed

Writes ``waiting_vs_spares.png`` and the sweeps' stores and tables (``sweep-*/``) into
``--out`` (default: ``out/`` next to this file).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import yaml
from scipy import stats

import fleetsim
from fleetsim.sweep import stats as sweep_stats
from fleetsim.units import parse_duration

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "scenario.yaml"
SWEEPS = {"AIReSim pipeline": HERE / "sweep-pipeline.yaml",
          "constant 2 h": HERE / "sweep-constant.yaml"}
FAST = os.environ.get("FLEETSIM_FAST", "") not in ("", "0")
JOB = "jobs.pretrain"
JOB_NODES = 64


def sweep_spec(path: Path) -> dict:
    """A sweep file as a dict, its base made absolute; in fast mode 3 pool sizes and 1 seed."""
    spec = yaml.safe_load(path.read_text())
    spec["base"] = str((path.parent / spec["base"]).resolve())
    if FAST:
        spec["zip"] = {"cluster.spares": [0, 2, 8],
                       "cluster.nodes": [JOB_NODES, JOB_NODES + 2, JOB_NODES + 8]}
        spec["seeds"] = 1
    return spec


def mean_repair_s(repair) -> float:
    """Mean time in repair: a constant, or automatic + escalation x manual."""
    if not isinstance(repair, dict):
        return parse_duration(repair)
    return parse_duration(repair["automatic"]) + repair.get("escalation", 0) * parse_duration(
        repair.get("manual", 0))


def expected_waiting(spares: int, bad_fraction: float, repair) -> float:
    """M/G/inf estimate: P(more nodes in repair than spares), nodes in repair ~ Poisson(m),
    m = cluster nodes x failure rate per node x mean repair time. Bad nodes fail ``factor``
    times faster; the extra failures of falsely repaired nodes are left out."""
    scenario = yaml.safe_load(SCENARIO.read_text())
    mtbf_s = parse_duration(scenario["faults"]["causes"][0]["mtbf"])
    factor = scenario["faults"]["bad_nodes"]["factor"]
    rate = (JOB_NODES + spares) / mtbf_s * (1 - bad_fraction + bad_fraction * factor)
    return float(stats.poisson.sf(spares, rate * mean_repair_s(repair)))


def summarise(runs) -> list[dict]:
    wall = runs[f"{JOB}.wall_time_s"]
    runs = runs.assign(waiting=runs[f"{JOB}.buckets_s.waiting_for_resources"] / wall)
    rows = []
    for (bad, spares), group in runs.groupby(["faults.bad_nodes.fraction", "cluster.spares"]):
        waiting = group["waiting"].to_numpy()
        _mean, low, high = sweep_stats.mean_ci(waiting)
        half = (high - low) / 2 if len(waiting) > 1 else 0.0
        kinds = {column.rsplit(".", 1)[1]: float(group[column].mean())
                 for column in group.columns if column.startswith("cluster.repairs_by_kind.")}
        rows.append({"bad": float(bad), "spares": int(spares), "waiting": float(waiting.mean()),
                     "ci": float(half), "goodput": float(group[f"{JOB}.goodput"].mean()),
                     "failures": float(group["cluster.failures"].mean()), "repairs": kinds})
    return rows


def plot(results: dict, path: Path) -> None:
    figure, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.4))
    for index, (name, (rows, repair)) in enumerate(results.items()):
        for bad, style in ((0.0, "-"), (0.15, "--")):
            subset = [row for row in rows if row["bad"] == bad]
            spares = np.array([row["spares"] for row in subset])
            waiting = np.array([row["waiting"] for row in subset])
            half = np.array([row["ci"] for row in subset])
            label = f"{name}, {bad:.0%} bad nodes"
            color = f"C{2 * index + (bad > 0)}"
            left.errorbar(spares, 100 * waiting, yerr=100 * half, fmt="o" + style, color=color,
                          capsize=3, label=label)
            dense = np.arange(0, spares.max() + 1)
            left.plot(dense, [100 * expected_waiting(int(s), bad, repair) for s in dense], ":",
                      color=color, alpha=0.8)
            right.plot(spares, [row["goodput"] for row in subset], "o" + style, color=color,
                       label=label)
    left.plot([], [], "k:", label="M/G/∞ estimate P(in repair > spares)")
    left.set_yscale("symlog", linthresh=0.1, linscale=0.5)  # linear below 0.1%, log above
    left.set(xlabel="hot spares", ylabel="waiting_for_resources (% of wall time)",
             title="Waiting for a replacement node")
    left.set_ylim(bottom=0)
    left.set_yticks([0, 0.1, 1, 10, 100])
    left.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}%"))
    left.legend(fontsize=7)
    right.set(xlabel="hot spares", ylabel="goodput", title="Goodput")
    right.legend(fontsize=7)
    for axis in (left, right):
        axis.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out", help="output directory")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    scenario = yaml.safe_load(SCENARIO.read_text())
    results = {}
    for name, path in SWEEPS.items():
        spec = sweep_spec(path)
        repair = spec.get("set", {}).get("faults.repair", scenario["faults"]["repair"])
        runs = fleetsim.sweep(spec, out=args.out / path.stem, force=True)
        seeds = sorted(int(seed) for seed in runs["seed"].unique())
        rows = summarise(runs)
        results[name] = (rows, repair)
        print(f"{name} (mean repair {mean_repair_s(repair) / 3600:.1f} h), seeds "
              f"{seeds[0]}..{seeds[-1]}, 60 days:")
        print(f"  {'bad':>4} {'spares':>6} {'waiting':>16} {'M/G/inf':>8} {'goodput':>8} "
              f"{'failures':>8}  repairs by kind")
        for row in rows:
            kinds = ", ".join(f"{kind} {count:.1f}" for kind, count in row["repairs"].items()
                              if count)
            print(f"  {row['bad']:>4.0%} {row['spares']:>6} {row['waiting']:>8.2%} ± "
                  f"{row['ci']:<5.2%} {expected_waiting(row['spares'], row['bad'], repair):>8.2%}"
                  f" {row['goodput']:>8.2%} {row['failures']:>8.1f}  {kinds}")
    path = args.out / "waiting_vs_spares.png"
    plot(results, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
