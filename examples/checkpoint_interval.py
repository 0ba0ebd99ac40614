"""Sweep the checkpoint interval of the quickstart job and compare with Young and Daly.

Runs scenarios/quickstart.yaml at several fixed intervals (same seeds at every interval:
common random numbers), prints the mean goodput per interval beside Daly's expected goodput,
and the intervals that Young's and Daly's formulas choose. Failures are made 20x more frequent
than in the quickstart so that the interval matters.

    python examples/checkpoint_interval.py            # 8 seeds per interval
    FLEETSIM_FAST=1 python examples/checkpoint_interval.py   # 2 seeds (what the tests run)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import fleetsim
from fleetsim.training.checkpoint import daly_expected_wall_s, daly_interval, young_interval

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "quickstart.yaml"
SEEDS = range(2 if os.environ.get("FLEETSIM_FAST") else 8)
FAILURES = {"faults.causes.gpu.mtbf": "2500h", "faults.causes.host.mtbf": "0.1y"}


def simulate(interval: str) -> tuple[float, float]:
    """Mean goodput and mean share of wall time spent waiting for a replacement node."""
    overrides = {**FAILURES, "jobs.pretrain.checkpoint.interval": interval}
    jobs = [fleetsim.run(SCENARIO, seed=seed, overrides=overrides).summary["jobs"]["pretrain"]
            for seed in SEEDS]
    waiting = [job["buckets_s"]["waiting_for_resources"] / job["wall_time_s"] for job in jobs]
    return float(np.mean([job["goodput"] for job in jobs])), float(np.mean(waiting))


def main() -> None:
    probe = fleetsim.run(SCENARIO, overrides=FAILURES).summary["jobs"]["pretrain"]
    mtbf = probe["job_mtbf_s"]
    save, restart = 45.0, 120.0 + 300.0 + 120.0  # save; detection + restart + load
    print(f"job MTBF {mtbf / 3600:.1f} h, save {save:.0f} s, recovery {restart:.0f} s")
    print(f"Young: {young_interval(save, mtbf) / 60:.1f} min, "
          f"Daly: {daly_interval(save, mtbf) / 60:.1f} min")
    print(f"{'interval':>9} {'simulated':>10} {'Daly':>7} {'waiting for spares':>19}")
    for minutes in (5, 10, 20, 30, 45, 60, 120):
        expected = 1 / daly_expected_wall_s(1.0, minutes * 60.0, save, restart, mtbf)
        simulated, waiting = simulate(f"{minutes}min")
        print(f"{minutes:>5} min {simulated:>10.4f} {expected:>7.4f} {waiting:>19.2%}")
    print("Daly's model has no spare pool: with 2 spares and 4 h repairs the job sometimes "
          "waits for a node, which is most of the gap.")


if __name__ == "__main__":
    main()
