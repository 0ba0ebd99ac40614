"""Lab 06 solution: all-reduce algorithms on a rail-optimised fabric, and the step breakdown.

Part A costs an nccl-tests style sweep (8 B to 8 GiB) of all-reduce on 16 DGX H100 nodes
(128 GPUs, rail-optimised fat tree) for the ring, tree, hierarchical and halving-doubling
algorithms and NCCL-style ``auto``, with ``fleetsim.comm.collective_time`` and ``busbw``
(``fleetsim collective`` prints the same numbers), plus ring vs tree at 1 GiB as the cluster
grows. Part B runs step.yaml (an 8B model, pure data parallelism, a fixed 1M-token batch) from
32 to 512 GPUs on DGX H100 (8 NICs per node) and on a node with 2 NICs, with
``parallelism.overlap`` 1 and 0, and reads ``step_breakdown_s`` from the summary.

    python examples/labs/06-collectives-and-topology/solution.py [--out DIR]
    FLEETSIM_FAST=1 python examples/labs/06-collectives-and-topology/solution.py  # fewer points

Writes ``busbw_vs_size.png`` and ``step_breakdown.png`` into ``--out`` (default: ``out/`` next
to this file).
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

import fleetsim
from fleetsim.comm import busbw, collective_time
from fleetsim.hardware import Catalogue
from fleetsim.hardware.catalog import load_spec
from fleetsim.topology import FabricSpec, build_cluster, place

HERE = Path(__file__).resolve().parent
STEP_SCENARIO = HERE / "step.yaml"
TWO_NIC_NODE = HERE / "hardware" / "hgx-h100-2nic.yaml"
FAST = os.environ.get("FLEETSIM_FAST", "") not in ("", "0")

NODES = 16  # part A: 128 GPUs, one scalable unit
ALGORITHMS = ("ring", "tree", "hierarchical", "halving-doubling")
SIZES = [2**k for k in range(3, 34, 3 if FAST else 1)]  # 8 B .. 8 GiB, nccl-tests' -f 2
SCALING_NODES = [2, 16] if FAST else [2, 4, 8, 16, 32, 64]
GPU_COUNTS = [32, 128] if FAST else [32, 64, 128, 256, 512]
NODE_TYPES = {"DGX H100 (8 NICs)": "dgx-h100", "2 NICs per node": str(TWO_NIC_NODE)}


def group_on(node_type, nodes: int):
    """(graph, ranks) of ``nodes`` nodes on a rail-optimised fat tree, every GPU placed packed."""
    graph = build_cluster(node_type, nodes, FabricSpec(type="rail-fat-tree"))
    return graph, place(graph, nodes * node_type.accelerators, "packed")


def busbw_sweep(node_type, nodes: int, algorithm: str) -> list[float]:
    """All-reduce bus bandwidth (bytes/s) at each of SIZES; the protocol is the fastest for
    the algorithm (LL, LL128 or Simple), as NCCL picks it when NCCL_ALGO is fixed."""
    graph, group = group_on(node_type, nodes)
    return [busbw("all-reduce", size, collective_time("all-reduce", algorithm, size, group,
                                                      graph, protocol="auto"), len(group))
            for size in SIZES]


def step_breakdown(node: str, gpus: int, overlap: float) -> dict:
    overrides = {"cluster.node": node, "cluster.nodes": gpus // 8, "jobs.train.gpus": gpus,
                 "jobs.train.parallelism.overlap": overlap}
    job = fleetsim.run(STEP_SCENARIO, overrides=overrides).summary["jobs"]["train"]
    return {"step": job["step_time_s"], "mfu": job["mfu"], **job["step_breakdown_s"]}


def size_label(size: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} B"


def plot_busbw(curves: dict, two_nic_auto: list[float], scaling: dict, path: Path) -> None:
    figure, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.4),
                                         gridspec_kw={"width_ratios": [1.5, 1]})
    for index, (name, values) in enumerate(curves.items()):
        style = "k--" if name == "auto" else f"C{index}o-"
        left.plot(SIZES, np.array(values) / 1e9, style, markersize=3, lw=1.2,
                  label=f"{name}" + (" (NCCL-style tuner)" if name == "auto" else ""))
    left.plot(SIZES, np.array(two_nic_auto) / 1e9, ":", color="grey",
              label="auto, 2 NICs per node")
    left.set(xscale="log", xlabel="message size (bytes)", ylabel="all-reduce busbw (GB/s)",
             title=f"All-reduce on {NODES} x DGX H100 ({NODES * 8} GPUs), rail-optimised")
    left.set_xticks([8, 2**10, 2**20, 2**30], ["8 B", "1 KiB", "1 MiB", "1 GiB"])
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    for index, (name, values) in enumerate(scaling.items()):
        right.plot([n * 8 for n in SCALING_NODES], np.array(values) / 1e9, "o-",
                   color=f"C{ALGORITHMS.index(name)}", label=name)
    right.set(xscale="log", xlabel="GPUs (8 per node)", ylabel="busbw at 1 GiB (GB/s)",
              title="Ring pays 2(p-1) latencies", ylim=(0, None))
    right.set_xticks([n * 8 for n in SCALING_NODES], [str(n * 8) for n in SCALING_NODES])
    right.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_steps(steps: dict, path: Path) -> None:
    figure, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.4))
    styles = {(0, 1.0): "C0o-", (0, 0.0): "C0s--", (1, 1.0): "C3o-", (1, 0.0): "C3s--"}
    for (name, overlap), rows in steps.items():
        key = (list(NODE_TYPES).index(name), overlap)
        left.plot(GPU_COUNTS, [100 * row["dp_exposed"] / row["step"] for row in rows],
                  styles[key], label=f"{name}, overlap {overlap:g}")
    left.set(xscale="log", xlabel="GPUs (data-parallel ranks; 1M tokens per step)",
             ylabel="dp_exposed (% of the step)", title="Exposed gradient all-reduce")
    left.set_xticks(GPU_COUNTS, [str(n) for n in GPU_COUNTS])
    left.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)

    labels, compute, exposed = [], [], []
    for (name, overlap), rows in steps.items():
        labels.append(f"{name.split(' (')[0]}\noverlap {overlap:g}")
        compute.append(rows[-1]["compute"])
        exposed.append(rows[-1]["dp_exposed"])
    positions = np.arange(len(labels))
    right.bar(positions, compute, color="C2", label="compute")
    right.bar(positions, exposed, bottom=compute, color="C3", label="dp_exposed")
    for position, (c, e) in enumerate(zip(compute, exposed)):
        right.text(position, c + e, f"{c + e:.2f} s", ha="center", va="bottom", fontsize=8)
    right.set_xticks(positions, labels, fontsize=8)
    right.set(ylabel="seconds per step", title=f"Step breakdown at {GPU_COUNTS[-1]} GPUs")
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out", help="output directory")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    dgx = Catalogue.load().node("dgx-h100")
    two_nic = load_spec(TWO_NIC_NODE)
    curves = {name: busbw_sweep(dgx, NODES, name) for name in (*ALGORITHMS, "auto")}
    two_nic_auto = busbw_sweep(two_nic, NODES, "auto")
    print(f"Part A: all-reduce busbw (GB/s) on {NODES} x DGX H100 ({NODES * 8} GPUs)")
    print(f"{'size':>9}" + "".join(f"{name:>18}" for name in curves) + f"{'auto, 2 NICs':>14}")
    for index, size in enumerate(SIZES):
        if size in (2**10, 2**20, 2**24, 2**27, 2**30, 2**33):
            print(f"{size_label(size):>9}" + "".join(f"{values[index] / 1e9:>18.1f}"
                                                     for values in curves.values())
                  + f"{two_nic_auto[index] / 1e9:>14.1f}")
    one_gib = SIZES.index(2**30)
    scaling = {}
    for name in ("ring", "tree"):
        values = []
        for nodes in SCALING_NODES:
            graph, group = group_on(dgx, nodes)
            time_s = collective_time("all-reduce", name, 2**30, group, graph, protocol="simple")
            values.append(busbw("all-reduce", 2**30, time_s, len(group)))
        scaling[name] = values
    print("busbw at 1 GiB (GB/s), Simple protocol, vs cluster size:")
    print(f"{'GPUs':>6}" + "".join(f"{n * 8:>8}" for n in SCALING_NODES))
    for name, values in scaling.items():
        print(f"{name:>6}" + "".join(f"{value / 1e9:>8.1f}" for value in values))
    plot_busbw(curves, two_nic_auto, scaling, args.out / "busbw_vs_size.png")
    print(f"wrote {args.out / 'busbw_vs_size.png'} "
          f"(1 GiB auto on 2-NIC nodes: {two_nic_auto[one_gib] / 1e9:.1f} GB/s)")

    print("\nPart B: step.yaml, step time and breakdown (s)")
    print(f"{'node':>18} {'overlap':>7} {'GPUs':>5} {'step':>7} {'compute':>8} "
          f"{'dp_exposed':>10} {'share':>6} {'MFU':>6}")
    steps: dict = {}
    for name, node in NODE_TYPES.items():
        for overlap in (1.0, 0.0):
            rows = [step_breakdown(node, gpus, overlap) for gpus in GPU_COUNTS]
            steps[(name, overlap)] = rows
            for gpus, row in zip(GPU_COUNTS, rows):
                print(f"{name.split(' (')[0]:>18} {overlap:>7g} {gpus:>5} {row['step']:>7.3f} "
                      f"{row['compute']:>8.3f} {row['dp_exposed']:>10.3f} "
                      f"{row['dp_exposed'] / row['step']:>6.1%} {row['mfu']:>6.1%}")
    plot_steps(steps, args.out / "step_breakdown.png")
    print(f"wrote {args.out / 'step_breakdown.png'}")


if __name__ == "__main__":
    main()
