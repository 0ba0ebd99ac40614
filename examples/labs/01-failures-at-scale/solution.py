"""Lab 01 solution: job interruptions per day and job MTTF against job size.

Runs scenario.yaml (the Llama 3 failure preset on DGX H100) with the job shrunk from 16,384
GPUs down to 64 (``--set``-style overrides through ``fleetsim.run``), several seeds per size,
and plots the simulated interruptions per day and the job's MTTF against its GPU count with
the 1/N line through Llama 3's published 466 interruptions in 54 days.

    python examples/labs/01-failures-at-scale/solution.py [--out DIR]
    FLEETSIM_FAST=1 python examples/labs/01-failures-at-scale/solution.py   # 3 sizes, 2 seeds

Writes ``interruptions_vs_gpus.png`` into ``--out`` (default: ``out/`` next to this file).
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
from fleetsim.sweep import stats as sweep_stats

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "scenario.yaml"
FAST = os.environ.get("FLEETSIM_FAST", "") not in ("", "0")

GPU_COUNTS = [64, 1024, 16384] if FAST else [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
SEEDS = range(1, 3) if FAST else range(1, 17)

# Llama 3 405B (arXiv 2407.21783, section 3.3.4, Table 5): 16,384 GPUs, 54 days,
# 419 unexpected + 47 planned interruptions.
LLAMA3_GPUS, LLAMA3_DAYS, LLAMA3_UNEXPECTED, LLAMA3_PLANNED = 16384, 54.0, 419, 47


def overrides(gpus: int) -> dict[str, int]:
    """A cluster just big enough for a job of ``gpus``: its nodes + 1 spare per 64 (at least 2)."""
    nodes = gpus // 8
    spares = max(2, nodes // 64)
    return {"cluster.nodes": nodes + spares, "cluster.spares": spares, "jobs.pretrain.gpus": gpus}


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and 95% Student-t half-width over seeds (fleetsim's sweep statistics)."""
    mean, low, high = sweep_stats.mean_ci(values)
    return mean, (high - low) / 2 if high == high else 0.0


def simulate(gpus: int) -> dict[str, float]:
    """Interruptions per day (all and unexpected), mean and CI over SEEDS, and the job MTBF
    fleetsim computes from the per-unit rates (``job_mtbf_s``)."""
    per_day, unexpected_per_day, mtbf_h = [], [], 0.0
    for seed in SEEDS:
        job = fleetsim.run(SCENARIO, seed=seed, overrides=overrides(gpus)).summary["jobs"]["pretrain"]
        days = job["wall_time_s"] / 86400
        per_day.append(job["interruptions"] / days)
        unexpected_per_day.append(job["interruptions_unexpected"] / days)
        mtbf_h = job["job_mtbf_s"] / 3600
    mean, half = mean_ci(per_day)
    unexpected, unexpected_half = mean_ci(unexpected_per_day)
    return {"gpus": gpus, "per_day": mean, "per_day_ci": half, "unexpected_per_day": unexpected,
            "unexpected_ci": unexpected_half, "mttf_h": 24 / mean, "model_mtbf_h": mtbf_h}


def plot(rows: list[dict[str, float]], path: Path) -> None:
    gpus = np.array([row["gpus"] for row in rows], dtype=float)
    per_day = np.array([row["per_day"] for row in rows])
    half = np.array([row["per_day_ci"] for row in rows])
    model = 24 / np.array([row["model_mtbf_h"] for row in rows])
    line_n = np.geomspace(gpus.min() / 1.5, gpus.max() * 1.5, 50)
    llama_rate = (LLAMA3_UNEXPECTED + LLAMA3_PLANNED) / LLAMA3_DAYS  # per day at 16,384 GPUs
    one_over_n = llama_rate * line_n / LLAMA3_GPUS

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.3))
    left.errorbar(gpus, per_day, yerr=half, fmt="o", capsize=3,
                  label=f"simulated (mean, 95% CI, {len(SEEDS)} seeds)")
    left.plot(gpus, model, "x", color="C2", label="fleetsim's rate: 1 / job_mtbf_s")
    left.plot(line_n, one_over_n, "--", color="C1",
              label="rate ∝ N through Llama 3 (466 in 54 d)")
    left.plot([LLAMA3_GPUS], [llama_rate], "*", color="C3", markersize=14,
              label="Llama 3 405B, published")
    left.set(xscale="log", yscale="log", xlabel="GPUs in the job (N)",
             ylabel="interruptions per day", title="Interruptions grow with job size")
    left.legend(fontsize=8)

    right.errorbar(gpus, 24 / per_day, fmt="o", label="simulated MTTF")
    right.plot(line_n, 24 / one_over_n, "--", color="C1", label="MTTF ∝ 1/N")
    right.plot([LLAMA3_GPUS], [24 / llama_rate], "*", color="C3", markersize=14,
               label=f"Llama 3: {24 / llama_rate:.1f} h")
    right.set(xscale="log", yscale="log", xlabel="GPUs in the job (N)",
              ylabel="job MTTF (hours)", title="Job MTTF falls as 1/N")
    right.legend(fontsize=8)
    for axis in (left, right):
        axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out", help="output directory")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    print(f"seeds {SEEDS.start}..{SEEDS.stop - 1}, 54 simulated days per run")
    print(f"{'GPUs':>6} {'interruptions/day':>20} {'unexpected/day':>15} {'MTTF (h)':>9} "
          f"{'1/job_mtbf (per day)':>21} {'1/N line':>9}")
    rows = []
    for gpus in GPU_COUNTS:
        row = simulate(gpus)
        rows.append(row)
        line = (LLAMA3_UNEXPECTED + LLAMA3_PLANNED) / LLAMA3_DAYS * gpus / LLAMA3_GPUS
        print(f"{gpus:>6} {row['per_day']:>12.3f} ± {row['per_day_ci']:<5.3f} "
              f"{row['unexpected_per_day']:>15.3f} {row['mttf_h']:>9.1f} "
              f"{24 / row['model_mtbf_h']:>21.3f} {line:>9.3f}")
    big = rows[-1]
    days = LLAMA3_DAYS
    print(f"\n{big['gpus']:,} GPUs: {big['unexpected_per_day'] * days:.0f} unexpected "
          f"interruptions in 54 days (Llama 3: {LLAMA3_UNEXPECTED}), one every "
          f"{big['mttf_h']:.1f} h counting planned ones (Llama 3: "
          f"{24 * days / (LLAMA3_UNEXPECTED + LLAMA3_PLANNED):.1f} h)")
    small = rows[0]
    ratio = (24 / small["model_mtbf_h"]) / ((LLAMA3_UNEXPECTED + LLAMA3_PLANNED) / days
                                           * small["gpus"] / LLAMA3_GPUS)
    print(f"{small['gpus']} GPUs: fleetsim's rate is {ratio:.2f}x the 1/N line: a job on "
          f"{small['gpus'] // 8} nodes still spans all 8 rail leaf switches of its SU")
    path = args.out / "interruptions_vs_gpus.png"
    plot(rows, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
