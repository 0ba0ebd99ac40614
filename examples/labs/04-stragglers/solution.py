"""Lab 04 solution: the slowest rank sets the step, and evicting slow nodes.

Part A runs jitter.yaml (per-rank jitter only) from 8 to 16,384 GPUs for three jitter laws
with a ~1% mean excess (exponential, lognormal, half-normal) and compares the simulated
step-time inflation (straggler_delay / straggler-free compute) with the expected maximum of N
ranks, ``fleetsim.faults.stragglers.expected_max_factor``. Part B runs eviction.yaml (slow
nodes) with ``stragglers.mitigation.policy`` none and evict on the same seeds.

    python examples/labs/04-stragglers/solution.py [--out DIR]
    FLEETSIM_FAST=1 python examples/labs/04-stragglers/solution.py   # 4 sizes, 2 seeds

Writes ``stragglers.png`` into ``--out`` (default: ``out/`` next to this file).
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
from fleetsim.faults.stragglers import expected_max_factor, jitter_from

HERE = Path(__file__).resolve().parent
JITTER_SCENARIO = HERE / "jitter.yaml"
EVICTION_SCENARIO = HERE / "eviction.yaml"
FAST = os.environ.get("FLEETSIM_FAST", "") not in ("", "0")

GPU_COUNTS = [8, 128, 2048, 16384] if FAST else [8, 16, 32, 64, 128, 256, 512, 1024, 2048,
                                                 4096, 8192, 16384]
SEEDS = range(1, 3) if FAST else range(1, 11)
# Three per-rank jitter laws with about the same mean excess (~1%), as scenario mappings.
JITTERS = {
    "exponential, mean 1%": {"distribution": "exponential", "mean": 0.01},
    "lognormal, median 1%, σ 0.5": {"distribution": "lognormal", "sigma": 0.5, "median": 0.01},
    "half-normal, mean 1%": {"distribution": "normal", "cv": 0.01 / np.sqrt(2 / np.pi)},
}


def inflation(gpus: int, jitter: dict) -> float:
    """Simulated mean step-time inflation: straggler_delay / straggler-free compute."""
    overrides = {"cluster.nodes": gpus // 8, "jobs.pretrain.gpus": gpus,
                 "stragglers.jitter": jitter}
    job = fleetsim.run(JITTER_SCENARIO, overrides=overrides).summary["jobs"]["pretrain"]
    return job["buckets_s"]["straggler_delay"] / (job["steps_completed"] * job["step_time_s"])


def expected_inflation(gpus: int, jitter: dict) -> float:
    params = {key: value for key, value in jitter.items() if key != "distribution"}
    return expected_max_factor(jitter_from(jitter["distribution"], **params), gpus) - 1


def eviction(policy: str) -> dict[str, float]:
    """Means over SEEDS of eviction.yaml with ``stragglers.mitigation.policy: policy``."""
    shares: dict[str, list[float]] = {}
    for seed in SEEDS:
        job = fleetsim.run(EVICTION_SCENARIO, seed=seed, overrides={
            "stragglers.mitigation.policy": policy}).summary["jobs"]["pretrain"]
        wall = job["wall_time_s"]
        values = {"goodput": job["goodput"],
                  "straggler_delay": job["buckets_s"]["straggler_delay"] / wall,
                  "other badput": 1 - job["goodput"]
                  - job["buckets_s"]["straggler_delay"] / wall,
                  "evictions": job["evictions"], "interruptions": job["interruptions"],
                  "days": wall / 86400, "completed": float(job["completed"])}
        for key, value in values.items():
            shares.setdefault(key, []).append(value)
    return {key: float(np.mean(values)) for key, values in shares.items()}


def plot(scaling, policies, path: Path) -> None:
    figure, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.4),
                                         gridspec_kw={"width_ratios": [1.6, 1]})
    dense = np.unique(np.geomspace(min(GPU_COUNTS), max(GPU_COUNTS), 40).astype(int))
    for index, (name, jitter) in enumerate(JITTERS.items()):
        color = f"C{index}"
        left.plot(GPU_COUNTS, [100 * value for value in scaling[name]], "o", color=color,
                  label=f"{name}: simulated")
        left.plot(dense, [100 * expected_inflation(int(n), jitter) for n in dense], "-",
                  color=color, alpha=0.7, label="E[max of N] (order statistics)")
    left.set(xscale="log", xlabel="GPUs (ranks) in the job",
             ylabel="step-time inflation (%)", title="The slowest of N ranks sets the step")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=7)

    names = list(policies)
    bottom = np.zeros(len(names))
    for key, color in (("goodput", "C2"), ("straggler_delay", "C3"), ("other badput", "C7")):
        values = np.array([policies[name][key] for name in names])
        right.bar(names, values, bottom=bottom, color=color, label=key)
        for position, (value, base) in enumerate(zip(values, bottom)):
            if value > 0.02:
                right.text(position, base + value / 2, f"{value:.1%}", ha="center",
                           va="center", fontsize=9, color="white")
        bottom += values
    right.set(ylabel="share of wall time", ylim=(0, 1),
              title="Slow nodes: mitigation policy")
    right.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out", help="output directory")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    print("Part A: step-time inflation (%) vs GPUs, simulated / expected max (seed 1, "
          "20,000 steps each)")
    scaling = {name: [inflation(gpus, jitter) for gpus in GPU_COUNTS]
               for name, jitter in JITTERS.items()}
    print(f"{'GPUs':>6}" + "".join(f" {name[:22]:>24}" for name in JITTERS))
    for index, gpus in enumerate(GPU_COUNTS):
        cells = [f"{100 * scaling[name][index]:.2f} / "
                 f"{100 * expected_inflation(gpus, jitter):.2f}"
                 for name, jitter in JITTERS.items()]
        print(f"{gpus:>6}" + "".join(f" {cell:>24}" for cell in cells))

    print(f"\nPart B: eviction.yaml, seeds {SEEDS.start}..{SEEDS.stop - 1} (means)")
    policies = {"none": eviction("none"), "evict after 200 steps": eviction("evict")}
    for name, row in policies.items():
        print(f"  {name:<22} goodput {row['goodput']:.2%}, straggler_delay "
              f"{row['straggler_delay']:.2%}, evictions {row['evictions']:.1f}, "
              f"interruptions {row['interruptions']:.1f}, 15 days of work done in "
              f"{row['days']:.1f} days (completed in {row['completed']:.0%} of runs)")
    path = args.out / "stragglers.png"
    plot(scaling, policies, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
