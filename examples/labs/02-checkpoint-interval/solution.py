"""Lab 02 solution: goodput against the checkpoint interval, with Young's and Daly's optima.

Runs sweep.yaml (scenario.yaml at 12 checkpoint intervals x 10 seeds) through
``fleetsim.sweep``, finds the simulated optimum, and compares it with Young's sqrt(2 delta M),
Daly's higher-order interval and Daly's expected goodput curve. It also runs the scenario with
``policy: young`` and ``policy: daly`` on the same seeds.

    python examples/labs/02-checkpoint-interval/solution.py [--out DIR]
    FLEETSIM_FAST=1 python examples/labs/02-checkpoint-interval/solution.py   # 5 intervals, 2 seeds

Writes ``goodput_vs_interval.png`` and the sweep's store and tables (``sweep/``) into ``--out``
(default: ``out/`` next to this file).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import yaml

import fleetsim
from fleetsim.sweep import stats as sweep_stats
from fleetsim.scenario import load_scenario
from fleetsim.training.checkpoint import daly_expected_wall_s, daly_interval, young_interval

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "scenario.yaml"
SWEEP = HERE / "sweep.yaml"
FAST = os.environ.get("FLEETSIM_FAST", "") not in ("", "0")
JOB = "jobs.pretrain"
INTERVAL = f"{JOB}.checkpoint.interval"


def sweep_spec() -> dict:
    """sweep.yaml as a dict, its base made absolute; in fast mode 5 intervals and 2 seeds."""
    spec = yaml.safe_load(SWEEP.read_text())
    spec["base"] = str((SWEEP.parent / spec["base"]).resolve())
    if FAST:
        spec["grid"][INTERVAL] = ["20min", "45min", "90min", "2h", "4h"]
        spec["seeds"] = 2
    return spec


def recovery_s() -> float:
    """Daly's R: detection + re-initialisation + checkpoint load, from the scenario."""
    spec = load_scenario(SCENARIO).spec
    job = spec.jobs[0]
    return spec.faults.detection + job.restart + job.checkpoint.load


def summarise(runs) -> list[dict[str, float]]:
    """Per interval: mean goodput with its 95% CI, and the stall and lost-work shares."""
    runs = runs.assign(
        stall=runs[f"{JOB}.buckets_s.checkpoint_stall"] / runs[f"{JOB}.wall_time_s"],
        lost=runs[f"{JOB}.buckets_s.lost_work"] / runs[f"{JOB}.wall_time_s"])
    rows = []
    for interval_s, group in runs.groupby(f"{JOB}.checkpoint_interval_s"):
        goodput = group[f"{JOB}.goodput"].to_numpy()
        _mean, low, high = sweep_stats.mean_ci(goodput)
        half = (high - low) / 2 if len(goodput) > 1 else 0.0
        rows.append({"interval_s": float(interval_s), "label": group[INTERVAL].iloc[0],
                     "goodput": float(goodput.mean()), "ci": float(half),
                     "stall": float(group["stall"].mean()), "lost": float(group["lost"].mean())})
    return rows


def policy_goodput(policy: str, seeds: list[int]) -> tuple[float, float]:
    """Mean goodput and the interval chosen with ``checkpoint.policy: policy``."""
    overrides = {f"{JOB}.checkpoint.policy": policy, INTERVAL: None}
    jobs = [fleetsim.run(SCENARIO, seed=seed, overrides=overrides).summary["jobs"]["pretrain"]
            for seed in seeds]
    return float(np.mean([job["goodput"] for job in jobs])), jobs[0]["checkpoint_interval_s"]


def plot(rows, mtbf_s, save_s, restart_s, young_s, daly_s, path: Path) -> None:
    minutes = np.array([row["interval_s"] for row in rows]) / 60
    goodput = np.array([row["goodput"] for row in rows])
    half = np.array([row["ci"] for row in rows])
    curve_s = np.geomspace(minutes.min() * 60 * 0.8, minutes.max() * 60 * 1.2, 200)
    daly_goodput = [1 / daly_expected_wall_s(1.0, tau, save_s, restart_s, mtbf_s)
                    for tau in curve_s]
    best = rows[int(np.argmax(goodput))]

    figure, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.4))
    left.fill_between(minutes, goodput - half, goodput + half, alpha=0.25, color="C0")
    left.plot(minutes, goodput, "o-", color="C0", label="simulated (mean, 95% CI)")
    left.plot(curve_s / 60, daly_goodput, "--", color="C1", label="Daly's expected goodput")
    left.axvline(young_s / 60, color="C2", ls=":", label=f"Young √(2δM) = {young_s / 60:.0f} min")
    left.axvline(daly_s / 60, color="C3", ls="-.", label=f"Daly = {daly_s / 60:.0f} min")
    left.plot([best["interval_s"] / 60], [best["goodput"]], "*", color="k", markersize=13,
              label=f"best simulated: {best['label']}")
    left.set(xscale="log", xlabel="checkpoint interval (minutes of compute)", ylabel="goodput",
             title=f"M = {mtbf_s / 3600:.1f} h, δ = {save_s / 60:.0f} min, "
                   f"R = {restart_s / 60:.0f} min")
    left.legend(fontsize=8, loc="lower center")
    left.grid(True, which="both", alpha=0.3)

    right.plot(minutes, [row["stall"] for row in rows], "s-", label="checkpoint_stall")
    right.plot(minutes, [row["lost"] for row in rows], "^-", label="lost_work")
    right.plot(minutes, [row["stall"] + row["lost"] for row in rows], "k.-", label="sum")
    right.set(xscale="log", xlabel="checkpoint interval (minutes of compute)",
              ylabel="share of wall time", title="Saving too often vs losing too much")
    right.legend(fontsize=8)
    right.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out", help="output directory")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    spec = sweep_spec()
    # force: a store left by an earlier (e.g. fast) run is taken over, shared runs reused
    runs = fleetsim.sweep(spec, out=args.out / "sweep", force=True)
    seeds = sorted(int(seed) for seed in runs["seed"].unique())
    mtbf_s = float(runs[f"{JOB}.job_mtbf_s"].iloc[0])
    save_s = float(runs[f"{JOB}.checkpoint_save_s"].iloc[0])
    restart_s = recovery_s()
    young_s, daly_s = young_interval(save_s, mtbf_s), daly_interval(save_s, mtbf_s)

    rows = summarise(runs)
    print(f"job MTBF M = {mtbf_s / 3600:.2f} h, save delta = {save_s:.0f} s, "
          f"recovery R = {restart_s:.0f} s; seeds {seeds[0]}..{seeds[-1]}")
    print(f"{'interval':>9} {'goodput':>16} {'Daly':>7} {'stall':>7} {'lost':>7}")
    for row in rows:
        expected = 1 / daly_expected_wall_s(1.0, row["interval_s"], save_s, restart_s, mtbf_s)
        print(f"{row['label']:>9} {row['goodput']:>8.2%} ± {row['ci']:<5.2%} {expected:>7.2%} "
              f"{row['stall']:>7.2%} {row['lost']:>7.2%}")
    best = max(rows, key=lambda row: row["goodput"])
    print(f"best simulated interval: {best['label']} ({best['goodput']:.2%})")
    print(f"Young sqrt(2 delta M): {young_s / 60:.1f} min; Daly: {daly_s / 60:.1f} min "
          f"(Daly's expected goodput there: "
          f"{1 / daly_expected_wall_s(1.0, daly_s, save_s, restart_s, mtbf_s):.2%})")
    for policy in ("young", "daly"):
        goodput, interval_s = policy_goodput(policy, seeds)
        print(f"policy {policy}: interval {interval_s / 60:.1f} min, simulated goodput "
              f"{goodput:.2%}")
    path = args.out / "goodput_vs_interval.png"
    plot(rows, mtbf_s, save_s, restart_s, young_s, daly_s, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
