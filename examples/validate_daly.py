"""Simulated wall time and goodput against Daly's closed form, as in the validation test.

Daly (2006): with exponential failures of mean M striking during compute, saves and restarts,
a job of K segments of tau compute, each followed by a save delta, with restart R after each
failure, takes T_w = M e^(R/M) (e^((tau+delta)/M) - 1) K in expectation. The scenario matches
those assumptions (detection 0, repair 0 with a hot spare, load 0). Prints a Markdown table.

    python examples/validate_daly.py               # 10 seeds x 2000 segments per interval
    FLEETSIM_FAST=1 python examples/validate_daly.py   # 2 seeds x 200 segments
"""

from __future__ import annotations

import math
import os

import numpy as np

import fleetsim
from fleetsim.training.checkpoint import daly_interval, expected_wall_s, young_interval

FAST = bool(os.environ.get("FLEETSIM_FAST"))
MTBF_S, SAVE_S, RESTART_S = 10 * 3600.0, 300.0, 600.0
SEGMENTS = 200 if FAST else 2000
SEEDS = range(2 if FAST else 10)


def scenario(interval_s: int, seed: int) -> dict:
    return {
        "name": "daly", "seed": seed,
        "cluster": {"node": "dgx-h100", "nodes": 2, "spares": 1},
        "faults": {"causes": [{"name": "node", "scope": "node", "mtbf": f"{MTBF_S}s"}],
                   "detection": 0, "repair": 0},
        "jobs": [{"name": "job", "type": "training", "gpus": 8, "step_time": "1s",
                  "steps": interval_s * SEGMENTS, "restart": f"{RESTART_S}s",
                  "checkpoint": {"policy": "fixed", "interval": f"{interval_s}s",
                                 "save": f"{SAVE_S}s", "load": 0}}],
    }


def main() -> None:
    tau_daly = round(daly_interval(SAVE_S, MTBF_S))
    print(f"M = {MTBF_S / 3600:g} h, delta = {SAVE_S:g} s, R = {RESTART_S:g} s; "
          f"tau_Young = {young_interval(SAVE_S, MTBF_S):.0f} s, tau_Daly = {tau_daly} s; "
          f"{len(SEEDS)} seeds x {SEGMENTS} segments\n")
    print("| tau / tau_Daly | tau (s) | simulated goodput | Daly goodput | "
          "wall time error | standard error |")
    print("|---:|---:|---:|---:|---:|---:|")
    for factor in (0.25, 0.5, 1, 2, 4):
        tau = round(tau_daly * factor)
        jobs = [fleetsim.run(scenario(tau, seed)).summary["jobs"]["job"] for seed in SEEDS]
        walls = np.array([job["wall_time_s"] for job in jobs])
        expected = expected_wall_s(SEGMENTS, tau, SAVE_S, RESTART_S, MTBF_S)
        error = walls.mean() / expected - 1
        standard_error = walls.std(ddof=1) / math.sqrt(len(walls)) / expected
        goodput = np.mean([job["goodput"] for job in jobs])
        print(f"| {factor:g} | {tau} | {goodput:.4f} | {tau * SEGMENTS / expected:.4f} | "
              f"{error:+.2%} | {standard_error:.2%} |")


if __name__ == "__main__":
    main()
