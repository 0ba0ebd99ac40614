"""Lab 09 solution: the energy and carbon of a training run, and what a checkpoint interval and
a power cap cost in joules and in time.

Three experiments on scenario.yaml, each over the same seeds (common random numbers):

1. the baseline run: IT and facility energy, energy by bucket, joules per useful step, kgCO2;
2. the checkpoint interval from 10 minutes to 4 hours: wall time and energy per useful step,
   and the energy of checkpoint stalls and lost work;
3. a GPU power cap from none to 300 W: wall time, energy and kgCO2 of the whole job, against
   the closed form of the cap curve (fleetsim.hardware.powercap).

    python examples/labs/09-energy/solution.py [--out DIR]
    FLEETSIM_FAST=1 python examples/labs/09-energy/solution.py   # fewer points and seeds

Writes ``interval_energy.png`` and ``cap_tradeoff.png`` into ``--out`` (default: ``out/``
next to this file).
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
from fleetsim.hardware.powercap import compute_slowdown

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "scenario.yaml"
FAST = os.environ.get("FLEETSIM_FAST", "") not in ("", "0")
SEEDS = [1, 2] if FAST else [1, 2, 3, 4, 5, 6]
INTERVALS = ["10min", "1h", "4h"] if FAST else ["10min", "20min", "30min", "1h", "2h", "4h"]
CAPS_W = [700, 450, 300] if FAST else [700, 600, 500, 450, 400, 350, 300]
KWH = 3.6e6


def job_runs(overrides: dict) -> list[dict]:
    """The job's summary entry in each seed's run."""
    return [fleetsim.run(SCENARIO, seed=seed, overrides=overrides).summary["jobs"]["pretrain"]
            for seed in SEEDS]


def mean(runs: list[dict], read) -> float:
    return float(np.mean([read(run) for run in runs]))


def baseline() -> None:
    """The run of scenario.yaml as given, seed 1: where its energy went."""
    result = fleetsim.run(SCENARIO)
    job = result.summary["jobs"]["pretrain"]
    energy = job["energy"]
    print(f"baseline (seed 1): wall {job['wall_time_s'] / 3600:.1f} h, goodput "
          f"{job['goodput']:.3f}, {job['interruptions']} interruptions")
    print(f"  IT {energy['it_kwh'] / 1e3:.1f} MWh, facility {energy['facility_kwh'] / 1e3:.1f} MWh"
          f" (PUE 1.2), {energy['per_step_j'] / 1e6:.2f} MJ per useful step, "
          f"{job['carbon_kg'] / 1e3:.2f} t CO2")
    for bucket, joules in energy["buckets_j"].items():
        print(f"  {bucket:<12} {joules / KWH / 1e3:8.2f} MWh  {joules / energy['it_j']:6.1%}")
    print(f"  fleet (34 nodes, spares and idle included): "
          f"{result.summary['power']['energy_facility_kwh'] / 1e3:.1f} MWh, "
          f"{result.summary['carbon']['facility_kg'] / 1e3:.2f} t CO2, mean intensity "
          f"{result.summary['carbon']['intensity_mean_g_per_kwh']:.0f} g/kWh")


def interval_study(out: Path) -> None:
    """Wall time and joules per useful step against the checkpoint interval."""
    rows = []
    for interval in INTERVALS:
        runs = job_runs({"jobs.pretrain.checkpoint.interval": interval})
        buckets = lambda name: mean(runs, lambda r: r["energy"]["buckets_j"][name]) / KWH / 1e3
        rows.append((interval, mean(runs, lambda r: r["wall_time_s"]) / 3600,
                     mean(runs, lambda r: r["energy"]["per_step_j"]) / 1e6,
                     buckets("checkpoint"), buckets("lost_work")))
    print("\ncheckpoint interval: wall (h), MJ per useful step, checkpoint and lost-work MWh "
          f"(mean of {len(SEEDS)} seeds)")
    for interval, wall, per_step, checkpoint, lost in rows:
        print(f"  {interval:>6}  {wall:7.1f}  {per_step:6.3f}  {checkpoint:6.2f}  {lost:6.2f}")
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    labels = [row[0] for row in rows]
    left.plot(labels, [row[2] for row in rows], "o-")
    left.set_ylabel("MJ per useful step")
    left.set_title("energy per useful step")
    right.bar(labels, [row[3] for row in rows], label="checkpoint stalls")
    right.bar(labels, [row[4] for row in rows], bottom=[row[3] for row in rows],
              label="lost work")
    right.set_ylabel("MWh (IT)")
    right.set_title("energy of checkpoints and lost work")
    right.legend()
    for axis in (left, right):
        axis.set_xlabel("checkpoint interval")
    figure.tight_layout()
    figure.savefig(out / "interval_energy.png", dpi=120)
    plt.close(figure)


def cap_study(out: Path) -> None:
    """Wall time, energy and carbon of the job against a GPU power cap."""
    rows = []
    for cap in CAPS_W:
        overrides = {"power.cap.accelerator": f"{cap}W"} if cap < 700 else {}
        runs = job_runs(overrides)
        rows.append((cap, mean(runs, lambda r: r["wall_time_s"]) / 3600,
                     mean(runs, lambda r: r["energy"]["facility_kwh"]) / 1e3,
                     mean(runs, lambda r: r["carbon_kg"]) / 1e3,
                     mean(runs, lambda r: r["buckets_s"]["power_cap"]) / 3600))
    base_wall, base_energy = rows[0][1], rows[0][2]
    print(f"\nGPU power cap: wall (h), facility MWh, t CO2, power_cap hours, and the curve's "
          f"compute slowdown (mean of {len(SEEDS)} seeds)")
    for cap, wall, energy, carbon, capped in rows:
        print(f"  {cap:4d} W  {wall:7.1f} ({wall / base_wall - 1:+6.1%})  {energy:6.1f} "
              f"({energy / base_energy - 1:+6.1%})  {carbon:5.2f}  {capped:6.1f}  "
              f"s = {compute_slowdown(cap, 700.0):.3f}")
    figure, axis = plt.subplots(figsize=(6, 4.5))
    axis.plot([row[1] / base_wall - 1 for row in rows],
              [row[2] / base_energy - 1 for row in rows], "o-")
    for cap, wall, energy, *_rest in rows:
        axis.annotate(f"{cap} W", (wall / base_wall - 1, energy / base_energy - 1),
                      textcoords="offset points", xytext=(5, 5))
    axis.axhline(0, color="grey", linewidth=0.5)
    axis.set_xlabel("job wall time vs uncapped")
    axis.set_ylabel("facility energy vs uncapped")
    axis.set_title("what a GPU power cap costs: time against energy")
    axis.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    axis.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    figure.tight_layout()
    figure.savefig(out / "cap_tradeoff.png", dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    baseline()
    interval_study(out)
    cap_study(out)
    print(f"\nfigures in {out}")


if __name__ == "__main__":
    main()
