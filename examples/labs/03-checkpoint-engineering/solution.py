"""Lab 03 solution: sync vs async vs in-memory checkpoints against storage bandwidth.

Part A runs sweep.yaml (scenario.yaml: Llama 3 70B on 256 H100, a ~988 GB checkpoint) over
9 storage bandwidths x 3 checkpoint modes x 5 seeds through ``fleetsim.sweep`` and plots
goodput, the checkpoint-stall share and the restart share against the bandwidth, per mode.
Part B puts two copies of the job on one shared storage system (``cluster.storage``, sync
saves) and measures how long a save takes when both jobs write at once.

    python examples/labs/03-checkpoint-engineering/solution.py [--out DIR]
    FLEETSIM_FAST=1 python examples/labs/03-checkpoint-engineering/solution.py  # 3 bandwidths, 1 seed

Writes ``checkpoint_modes.png`` and the sweep's store and tables (``sweep/``) into ``--out``
(default: ``out/`` next to this file).
"""

from __future__ import annotations

import argparse
import copy
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import yaml

import fleetsim
from fleetsim.units import parse_bandwidth

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "scenario.yaml"
SWEEP = HERE / "sweep.yaml"
FAST = os.environ.get("FLEETSIM_FAST", "") not in ("", "0")
JOB = "jobs.pretrain"
BANDWIDTH = f"{JOB}.checkpoint.storage_bandwidth"
MODE = f"{JOB}.checkpoint.mode"
MODES = ("sync", "async", "in-memory")


def sweep_spec() -> dict:
    """sweep.yaml as a dict, its base made absolute; in fast mode 3 bandwidths and 1 seed."""
    spec = yaml.safe_load(SWEEP.read_text())
    spec["base"] = str((SWEEP.parent / spec["base"]).resolve())
    if FAST:
        spec["grid"][BANDWIDTH] = ["1GB/s", "10GB/s", "100GB/s"]
        spec["seeds"] = 1
    return spec


def summarise(runs) -> dict[str, list[dict[str, float]]]:
    """Per mode, per bandwidth: mean goodput and bucket shares over the seeds."""
    wall = runs[f"{JOB}.wall_time_s"]
    runs = runs.assign(
        bandwidth=runs[BANDWIDTH].map(parse_bandwidth),
        stall=runs[f"{JOB}.buckets_s.checkpoint_stall"] / wall,
        restart=runs[f"{JOB}.buckets_s.restart"] / wall,
        lost=runs[f"{JOB}.buckets_s.lost_work"] / wall)
    table: dict[str, list[dict[str, float]]] = {}
    for (mode, bandwidth), group in runs.groupby([MODE, "bandwidth"]):
        table.setdefault(mode, []).append({
            "bandwidth": float(bandwidth), "label": group[BANDWIDTH].iloc[0],
            "goodput": float(group[f"{JOB}.goodput"].mean()),
            "stall": float(group["stall"].mean()), "restart": float(group["restart"].mean()),
            "lost": float(group["lost"].mean()),
            "save_s": float(group[f"{JOB}.checkpoint_save_s"].iloc[0])})
    return table


def shared_storage() -> dict[str, float]:
    """Part B: one or two copies of the job, sync saves, on a shared 10 GB/s storage."""
    base = yaml.safe_load(SCENARIO.read_text())
    base["jobs"][0]["checkpoint"].pop("storage_bandwidth")  # use the cluster's storage
    base["jobs"][0]["checkpoint"]["mode"] = "sync"
    base["cluster"]["storage"] = {"bandwidth": "10GB/s"}
    two = copy.deepcopy(base)
    two["cluster"].update(nodes=68, spares=4)
    two["jobs"].append({**copy.deepcopy(base["jobs"][0]), "name": "second"})
    quiet = copy.deepcopy(two)
    quiet.update(faults={"causes": []}, horizon="1d")  # no failures: the jobs stay in step

    def stall_per_save(data: dict) -> float:
        job = fleetsim.run(data).summary["jobs"]["pretrain"]
        return job["buckets_s"]["checkpoint_stall"] / job["checkpoints"]

    return {"alone": stall_per_save(base), "in_step": stall_per_save(quiet),
            "with_failures": stall_per_save(two)}


def plot(table, size_bytes: float, interval_s: float, path: Path) -> None:
    figure, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.4))
    styles = {"sync": ("C0", "o"), "async": ("C1", "s"), "in-memory": ("C2", "^")}
    for mode in MODES:
        rows = table.get(mode, [])
        if not rows:
            continue
        color, marker = styles[mode]
        bandwidth = np.array([row["bandwidth"] for row in rows]) / 1e9
        left.plot(bandwidth, [row["goodput"] for row in rows], marker=marker, color=color,
                  label=mode)
        right.plot(bandwidth, [row["stall"] for row in rows], marker=marker, color=color,
                   label=f"{mode}: checkpoint_stall")
        right.plot(bandwidth, [row["restart"] for row in rows], marker=marker, color=color,
                   ls="--", mfc="none", label=f"{mode}: restart")
    break_even = size_bytes / interval_s / 1e9
    for axis in (left, right):
        axis.axvline(break_even, color="grey", ls=":", lw=1)
        axis.set(xscale="log", xlabel="storage bandwidth (GB/s)")
        axis.grid(True, which="both", alpha=0.3)
    left.text(break_even * 1.08, 0.02, "write = interval", transform=left.get_xaxis_transform(),
              fontsize=8, color="grey")
    left.set(ylabel="goodput", title=f"{size_bytes / 1e9:.0f} GB checkpoint every "
                                     f"{interval_s / 60:.0f} min")
    left.legend(fontsize=9)
    right.set(yscale="log", ylabel="share of wall time", title="Where the checkpoints cost")
    right.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out", help="output directory")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    runs = fleetsim.sweep(sweep_spec(), out=args.out / "sweep", force=True)
    seeds = sorted(int(seed) for seed in runs["seed"].unique())
    size_bytes = float(runs[f"{JOB}.checkpoint_bytes"].iloc[0])
    interval_s = float(runs[f"{JOB}.checkpoint_interval_s"].iloc[0])
    print(f"checkpoint {size_bytes / 1e9:.0f} GB every {interval_s / 60:.0f} min of compute, "
          f"step {runs[f'{JOB}.step_time_s'].iloc[0]:.1f} s; seeds {seeds[0]}..{seeds[-1]}")
    table = summarise(runs)
    print(f"{'bandwidth':>9} {'save':>7} {'sync':>7} {'async':>7} {'in-mem':>7}   "
          f"{'stall: sync':>11} {'async':>6} {'in-mem':>6}   {'restart: sync':>13} {'in-mem':>6}")
    for index, row in enumerate(table["sync"]):
        a, m = table["async"][index], table["in-memory"][index]
        print(f"{row['label']:>9} {row['save_s']:>6.0f}s {row['goodput']:>7.2%} "
              f"{a['goodput']:>7.2%} {m['goodput']:>7.2%}   {row['stall']:>11.2%} "
              f"{a['stall']:>6.2%} {m['stall']:>6.2%}   {row['restart']:>13.2%} "
              f"{m['restart']:>6.2%}")
    print(f"sync stall, Young-style estimate save/(interval+save) at 10 GB/s: "
          f"{(size_bytes / 10e9) / (interval_s + size_bytes / 10e9):.2%}")
    print(f"async hides the write only while it fits in the interval: bandwidth > "
          f"{size_bytes / interval_s / 1e9:.2f} GB/s")

    shared = shared_storage()
    print(f"shared 10 GB/s storage, sync: one job alone {shared['alone']:.0f} s per save; "
          f"two jobs saving in step {shared['in_step']:.0f} s; two jobs over 30 days with "
          f"failures {shared['with_failures']:.0f} s (failures pull them apart)")
    path = args.out / "checkpoint_modes.png"
    plot(table, size_bytes, interval_s, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
