"""How long a run near the event budget takes (issue 13): the rate at which fleetsim works
through the events that :mod:`fleetsim.budget` counts, to check that 10^7 of them finish in
well under an hour rather than running for hours.

Three runs whose budget terms are dominated by one kind of event: failures (quickstart with a
100 h and a 10 h GPU MTBF, detection and restart 0 so that failures are the work) and serving
requests (chat-serving, one hour). Each reports the expected events the budget counted, the
wall time of the simulation (the scenario already loaded) and the events per second.

    python benchmarks/bench_budget.py             # the table
    python benchmarks/bench_budget.py --record    # also append to BUDGET_RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fleetsim.budget import EVENT_BUDGET, _terms, run_span_s  # noqa: E402
from fleetsim.prepare import load  # noqa: E402
from fleetsim.runner import simulate  # noqa: E402

CASES = {
    "failures, GPU MTBF 100h": ("scenarios/quickstart.yaml", [
        ("faults.causes.gpu.mtbf", "100h"), ("jobs.pretrain.restart", "0s"),
        ("faults.detection", "0s")]),
    "failures, GPU MTBF 10h": ("scenarios/quickstart.yaml", [
        ("faults.causes.gpu.mtbf", "10h"), ("jobs.pretrain.restart", "0s"),
        ("faults.detection", "0s")]),
    "serving requests, 1 h": ("scenarios/chat-serving.yaml", [("horizon", "1h")]),
}


def expected_events(prepared) -> float:
    """The summed terms of the budget (leaf switches counted as nodes)."""
    loaded = prepared.loaded
    nodes, per_node = loaded.spec.cluster.nodes, loaded.gpus_per_node
    units = lambda scope: nodes * per_node if scope == "gpu" else nodes  # noqa: E731
    return sum(term.events for term in _terms(loaded, run_span_s(loaded), units, 0)
               if term.summed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    rows = []
    for name, (path, overrides) in CASES.items():
        prepared = load(ROOT / path, overrides=overrides)
        events = expected_events(prepared)
        start = time.perf_counter()
        simulate(prepared)
        wall = time.perf_counter() - start
        rows.append(f"| {name} | {events:,.0f} | {wall:.2f} | {events / wall:,.0f} | "
                    f"{EVENT_BUDGET / (events / wall) / 60:.0f} |")
    header = ("| run | expected events | wall s | events/s | minutes for the budget |\n"
              "|---|---|---|---|---|")
    table = "\n".join([header, *rows])
    print(table)
    if args.record:
        load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        with open(ROOT / "benchmarks" / "BUDGET_RESULTS.md", "a", encoding="utf-8") as out:
            out.write(f"\n## {datetime.date.today()} ({platform.python_version()}, "
                      f"{os.cpu_count()} cores, load average {load_average:.1f})\n\n"
                      f"{table}\n")


if __name__ == "__main__":
    main()
