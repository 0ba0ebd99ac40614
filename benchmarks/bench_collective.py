"""Speed of ``fleetsim collective``'s costing on a fleet-scale graph (issue 3, item 7).

1,024 DGX H100 nodes on a rail-optimised fat tree (8,192 GPUs, 3 switch tiers). All-reduce with
ring, tree and ``auto`` (what NCCL runs, every protocol, as the command's default), on two groups:
all 8,192 GPUs packed, and 1,024 ranks with one GPU per node (``n{i}.g0``, a data-parallel
group across nodes). Sizes 8 B .. 8 GiB, x2 (31 sizes), as ``fleetsim collective`` sweeps them.

Reported:

* graph build: ``build_cluster`` (best of --repeat);
* first costing: routing the algorithm's flows and sharing links into a plan, on a fresh
  ``CommModel`` (cold caches; best of --repeat). For ``auto`` it is the first ``best()`` call,
  which routes every all-reduce algorithm;
* per size: evaluating the routed plan at one size, mean over the 31 sizes, microseconds.
  For ``auto`` it is a ``best()`` call (NCCL's algorithms x protocols), which also looks each
  plan up by its group: hashing an 8,192-name tuple five times is most of its cost;
* sweep: ``fleetsim.commands.collective.sweep`` over the 31 sizes from a cold model, i.e. the
  command's costing without graph build, imports and printing;
* end to end: ``fleetsim collective --nodes 1024 ...`` wall time as a user runs it.

    python benchmarks/bench_collective.py            # print the table
    python benchmarks/bench_collective.py --record   # also write benchmarks/COLLECTIVE_RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import networkx as nx

from fleetsim.comm import CommModel, busbw
from fleetsim.commands.collective import sweep
from fleetsim.hardware import Catalogue
from fleetsim.topology import FabricSpec, build_cluster, gpus

ROOT = Path(__file__).resolve().parent.parent
NODES = 1024
SIZES = [8 * 2**k for k in range(31)]  # 8 B .. 8 GiB
OP = "all-reduce"


def best_of(repeat: int, function) -> tuple[float, object]:
    """(fastest wall time in seconds, last result) of ``repeat`` calls."""
    fastest, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        fastest = min(fastest, time.perf_counter() - start)
    return fastest, result


def measure(graph: nx.DiGraph, group: list[str], algorithm: str, repeat: int) -> dict:
    """First-costing, per-size and sweep times of one (group, algorithm)."""
    plans: dict[CommModel, object] = {}
    if algorithm == "auto":
        def first():
            model = CommModel(graph)
            model.best(OP, SIZES[0], group)
            return model

        def evaluate(model, size):
            return model.best(OP, size, group).time
    else:
        def first():
            model = CommModel(graph)
            plans[model] = model.plan(OP, algorithm, group)
            return model

        def evaluate(model, size):  # as sweep() does: the plan is looked up once
            return plans[model].time(size, "simple")

    routing, model = best_of(repeat, first)
    start = time.perf_counter()
    for _ in range(repeat):
        for size in SIZES:
            evaluate(model, size)
    per_size = (time.perf_counter() - start) / (repeat * len(SIZES))
    protocol = "auto" if algorithm == "auto" else "simple"
    sweep_seconds, rows = best_of(1, lambda: sweep(graph, OP, group, SIZES, algorithm, protocol))
    last = rows[-1]
    return {"routing": routing, "per_size": per_size, "sweep": sweep_seconds,
            "busbw": busbw(OP, last.size_bytes, last.time_s, len(group)),
            "choice": f"{last.algorithm}/{last.protocol}"}


def cli_seconds(*argv: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fleetsim", "collective", *argv], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--record", action="store_true",
                        help="write benchmarks/COLLECTIVE_RESULTS.md")
    args = parser.parse_args()

    node = Catalogue.load().node("dgx-h100")
    build, graph = best_of(args.repeat, lambda: build_cluster(node, NODES, FabricSpec()))
    groups = {"all 8,192 GPUs (packed)": gpus(graph),
              "1,024 ranks, one GPU per node": [f"n{index}.g0" for index in range(NODES)]}
    lines = ["| group | algorithm | first costing (routing), s | per size, us | "
             "31-size sweep, s | busbw at 8 GiB, GB/s | chosen at 8 GiB |",
             "|---|---|---:|---:|---:|---:|---|"]
    for label, group in groups.items():
        for algorithm in ("ring", "tree", "auto"):
            stats = measure(graph, group, algorithm, args.repeat)
            lines.append(f"| {label} | {algorithm} | {stats['routing']:.3f} | "
                         f"{stats['per_size'] * 1e6:.1f} | {stats['sweep']:.3f} | "
                         f"{stats['busbw'] / 1e9:.1f} | {stats['choice']} |")
            print(lines[-1], flush=True)
    commands = [("--nodes", str(NODES), "--algorithm", "ring", "--protocol", "simple"),
                ("--nodes", str(NODES), "--algorithm", "tree", "--protocol", "simple"),
                ("--nodes", str(NODES))]
    cli = [(" ".join(argv), cli_seconds(*argv)) for argv in commands]
    stats = nx.number_of_nodes(graph), nx.number_of_edges(graph)
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
               f"Python {platform.python_version()}, networkx {nx.__version__}")
    report = (f"Graph: {NODES:,} x dgx-h100, rail-fat-tree, {len(gpus(graph)):,} GPUs, "
              f"{stats[0]:,} vertices, {stats[1]:,} directed edges, "
              f"{graph.graph.get('tiers')} switch tiers; built in {build:.3f} s.\n\n"
              + "\n".join(lines) + "\n\n"
              + "\n".join(f"- `fleetsim collective {argv}` end to end (process start, "
                          f"imports, build, 31 sizes): {seconds:.2f} s" for argv, seconds in cli)
              + "\n")
    print()
    print(report)
    if args.record:
        today = datetime.date.today().isoformat()
        text = (f"# Collective costing benchmark\n\nRecorded by "
                f"`python benchmarks/bench_collective.py --record` on {today}, {machine}. "
                f"All-reduce, sizes 8 B .. 8 GiB x2; first costing is the best of "
                f"{args.repeat} cold runs, per-size times the mean over {args.repeat} x 31 "
                f"evaluations (ring and tree at protocol simple, auto over the algorithms and "
                f"protocols NCCL runs, costed by its tuner profile).\n\n{report}")
        (ROOT / "benchmarks" / "COLLECTIVE_RESULTS.md").write_text(text)


if __name__ == "__main__":
    main()
