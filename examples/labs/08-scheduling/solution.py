"""Lab 08 solution: scheduling policies compared on JCT, wait, utilization and fragmentation.

Runs sweep.yaml through ``fleetsim.sweep``: fifo, sjf, las, priority and fair-share, each
without and with EASY backfill, over 8 seeds of a week on 128 GPUs (scenario.yaml). Prints,
per policy, the mean and 95% confidence interval over the seeds of the mean and p99 job
completion time (JCT, completed jobs), the mean queue wait, the GPU utilization (allocated and
productive), the fragmentation and the jobs completed; then the paired difference of each
point from fifo without backfill (the seeds are common random numbers: the same jobs at every
point); then, for seed 1, what happens to the large jobs under each policy (one run per point
with ``fleetsim.run``, reading jobs.csv's rows).

    python examples/labs/08-scheduling/solution.py [--out DIR]
    FLEETSIM_FAST=1 python examples/labs/08-scheduling/solution.py   # 2 seeds, 2 days

Writes ``policies.png`` and the sweep's store and tables (``sweep/``) into ``--out`` (default:
``out/`` next to this file).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml

import fleetsim
from fleetsim.sweep import stats as sweep_stats
from fleetsim.units import parse_duration
from fleetsim.workload.distributions import round_sizes

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "scenario.yaml"
SWEEP = HERE / "sweep.yaml"
FAST = os.environ.get("FLEETSIM_FAST", "") not in ("", "0")
FAST_HORIZON = "2d"
POLICY, BACKFILL, QUOTAS = "scheduler.policy", "scheduler.backfill", "scheduler.quotas"
HOUR = 3600.0

#: (label, result column, scale, format) of the metrics compared
METRICS = (("JCT mean (h)", "fleet.jct_s.mean", 1 / HOUR, "{:.2f}"),
           ("JCT p99 (h)", "fleet.jct_s.p99", 1 / HOUR, "{:.1f}"),
           ("wait mean (h)", "fleet.queue_wait_s.mean", 1 / HOUR, "{:.2f}"),
           ("allocated", "fleet.gpu_utilization.allocated", 100, "{:.1f}%"),
           ("productive", "fleet.gpu_utilization.productive", 100, "{:.1f}%"),
           ("fragmentation", "fleet.fragmentation", 100, "{:.1f}%"),
           ("completed", "fleet.jobs.completed", 1, "{:.0f}"),
           ("not completed", "unfinished", 1, "{:.0f}"))


def sweep_spec() -> dict:
    """sweep.yaml as a dict, its base made absolute; in fast mode 2 seeds and 2 days."""
    spec = yaml.safe_load(SWEEP.read_text())
    spec["base"] = str((SWEEP.parent / spec["base"]).resolve())
    if FAST:
        spec["seeds"] = 2
        spec["set"] = {**spec.get("set", {}), "horizon": FAST_HORIZON}
    return spec


def offered_load(scenario: dict, samples: int = 200_000) -> dict[str, float]:
    """Expected busy GPUs each class asks for: rate x E[rounded size] x E[duration] (sizes
    rounded as the workload rounds them: powers of two below a node, whole nodes above);
    and the total as a share of the GPUs."""
    rng = np.random.default_rng(0)
    gpus_per_node, total = 8, 8 * scenario["cluster"]["nodes"]
    result = {}
    for job_class in scenario["workload"]["classes"]:
        rate_per_s = _rate(job_class["arrivals"]["rate"])
        size = job_class["gpus"]
        if size["distribution"] == "empirical":
            mean_size = float(np.mean(size["values"]))
        else:
            sigma = size["sigma"]
            raw = rng.lognormal(np.log(size["mean"]) - sigma**2 / 2, sigma, samples)
            mean_size = float(round_sizes(raw, gpus_per_node, total).mean())
        duration = parse_duration(job_class["duration"]["mean"])
        result[job_class["name"]] = rate_per_s * mean_size * duration
    result["share"] = sum(result.values()) / total
    return result


def _rate(text: str) -> float:
    count, unit = str(text).split("/")
    return float(count) / parse_duration("1" + unit)


def label(policy: str, backfill) -> str:
    return f"{policy}{' + backfill' if _true(backfill) else ''}"


def _true(value) -> bool:
    return str(value).lower() in ("true", "1")


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per point: mean and 95% CI half-width of every metric, and the paired difference from
    fifo without backfill (same seed) with its CI."""
    runs = runs.assign(unfinished=runs["fleet.jobs.submitted"] - runs["fleet.jobs.completed"])
    baseline = runs[(runs[POLICY] == "fifo") & ~runs[BACKFILL].map(_true)].set_index("seed")
    rows = []
    for (backfill, policy), group in runs.groupby([runs[BACKFILL].map(_true), POLICY],
                                                  sort=False):
        row = {"policy": policy, "backfill": bool(backfill), "seeds": len(group)}
        paired = group.set_index("seed")
        for name, column, scale, _ in METRICS:
            mean, low, high = sweep_stats.mean_ci(group[column].to_numpy() * scale)
            row[name] = mean
            row[name + " ci"] = (high - low) / 2 if len(group) > 1 else np.nan
            difference = (paired[column] - baseline[column]).dropna().to_numpy() * scale
            mean, low, high = sweep_stats.mean_ci(difference)
            row[name + " diff"] = mean
            row[name + " diff ci"] = (high - low) / 2 if len(difference) > 1 else np.nan
        rows.append(row)
    order = ["fifo", "sjf", "las", "priority", "fair-share"]
    table = pd.DataFrame(rows)
    table["order"] = table["policy"].map(order.index) + 10 * table["backfill"]
    return table.sort_values("order").drop(columns="order").reset_index(drop=True)


def large_jobs(spec: dict) -> pd.DataFrame:
    """Seed 1, one run per point: the large class's jobs completed and started, mean wait (of
    those started) and mean JCT (of those completed), and the small class's mean JCT."""
    rows = []
    for policy, quotas in zip(spec["zip"][POLICY], spec["zip"][QUOTAS]):
        for backfill in spec["grid"][BACKFILL]:
            overrides = {POLICY: policy, BACKFILL: backfill, **spec.get("set", {})}
            if quotas is not None:
                overrides[QUOTAS] = quotas
            jobs = fleetsim.run(SCENARIO, seed=1, overrides=overrides).jobs
            large, small = jobs[jobs["class"] == "large"], jobs[jobs["class"] == "small"]
            done = large[large["outcome"] == "completed"]
            rows.append({"point": label(policy, backfill), "large jobs": len(large),
                         "large completed": len(done),
                         "large started": int(large["start_s"].notna().sum()),
                         "large wait (h)*": large["queue_wait_s"].mean() / HOUR,
                         "large JCT (h)": done["jct_s"].mean() / HOUR,
                         "small JCT (h)": small.loc[small["outcome"] == "completed",
                                                    "jct_s"].mean() / HOUR,
                         "preemptions": int(jobs["preemptions"].sum())})
    return pd.DataFrame(rows)


def plot(table: pd.DataFrame, path: Path) -> None:
    panels = (("JCT mean (h)", "mean JCT (h)"), ("JCT p99 (h)", "p99 JCT (h)"),
              ("allocated", "GPUs allocated (%)"), ("fragmentation", "fragmentation (% GPUs)"))
    policies = list(dict.fromkeys(table["policy"]))
    x = np.arange(len(policies))
    figure, axes = plt.subplots(2, 2, figsize=(11, 7))
    for axis, (metric, ylabel) in zip(axes.flat, panels):
        for offset, backfill in ((-0.2, False), (0.2, True)):
            rows = table[table["backfill"] == backfill].set_index("policy").loc[policies]
            axis.bar(x + offset, rows[metric], width=0.4, yerr=rows[metric + " ci"],
                     capsize=3, color="C1" if backfill else "C0",
                     label="EASY backfill" if backfill else "no backfill")
            if metric == "allocated":
                axis.scatter(x + offset, rows["productive"], marker="_", s=200, color="k",
                             zorder=3, label="productive" if backfill else None)
        axis.set_xticks(x, policies)
        axis.set_ylabel(ylabel)
        axis.grid(True, axis="y", alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    axes[1, 0].legend(fontsize=8)
    seeds = int(table["seeds"].max())
    figure.suptitle(f"Scheduling policies, 128 GPUs, mean ± 95% CI over {seeds} seeds")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out", help="output directory")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    scenario = yaml.safe_load(SCENARIO.read_text())
    load = offered_load(scenario)
    print("offered load (busy GPUs asked for): " + ", ".join(
        f"{name} {value:.1f}" for name, value in load.items() if name != "share")
        + f"; {load['share']:.0%} of {8 * scenario['cluster']['nodes']} GPUs")

    spec = sweep_spec()
    runs = fleetsim.sweep(spec, out=args.out / "sweep", force=True)
    seeds = sorted(int(seed) for seed in runs["seed"].unique())
    horizon = spec.get("set", {}).get("horizon", scenario["horizon"])
    table = summarise(runs)
    print(f"\nmean ± 95% CI over seeds {seeds[0]}..{seeds[-1]}, {horizon} each:")
    names = [name for name, *_ in METRICS]
    print(f"  {'policy':<22}" + "".join(f"{name:>17}" for name in names))
    for values in table.to_dict(orient="records"):
        cells = []
        for name, _, _, fmt in METRICS:
            cell = fmt.format(values[name])
            half = values[name + " ci"]
            if not np.isnan(half):
                cell += " ± " + fmt.format(half).rstrip("%")
            cells.append(f"{cell:>17}")
        print(f"  {label(values['policy'], values['backfill']):<22}" + "".join(cells))

    print("\npaired difference from fifo without backfill (same seeds), mean ± 95% CI:")
    print(f"  {'policy':<22}" + "".join(f"{name:>17}" for name in names[:6]))
    for values in table.to_dict(orient="records"):
        cells = []
        for name, _, _, _ in METRICS[:6]:
            cell = "{:+.2f}".format(values[name + " diff"])
            half = values[name + " diff ci"]
            if not np.isnan(half):
                cell += f" ± {half:.2f}"
            cells.append(f"{cell:>17}")
        print(f"  {label(values['policy'], values['backfill']):<22}" + "".join(cells))

    print(f"\nseed 1, {horizon}: the large jobs (64-128 GPUs) and the small ones")
    print(large_jobs(spec).to_string(index=False, float_format=lambda value: f"{value:.2f}"))
    print("  * mean queue wait of the large jobs that started")

    (args.out / "policies.json").write_text(json.dumps(
        table.replace({np.nan: None}).to_dict(orient="records"), indent=1))
    path = args.out / "policies.png"
    plot(table, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
