"""Cost of the power model (issue 14): the post-processing pass over a finished run's logs.

The power and energy are derived after the run from the logs it already keeps
(fleetsim/power/), adding no SimPy events; this measures that pass alone, on (a) Llama 3 405B
as in scenarios/llama3-405b-16k.yaml (16,384 GPUs, 54 days, one job) and (b) the fleet
scheduler benchmark's synthetic workload (benchmarks/bench_fleet.py) at 10,000 jobs, beside
the run itself (simulation and collection of every other result). Times are the best of
--repeat passes on the same finished run.

    python benchmarks/bench_power.py            # print the table
    python benchmarks/bench_power.py --record   # also write benchmarks/POWER_RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_fleet  # noqa: E402
from fleetsim.power import fleet_power  # noqa: E402
from fleetsim.prepare import load  # noqa: E402
from fleetsim.runner import Run  # noqa: E402


def measure(label: str, prepared, repeat: int) -> str:
    """One table row: the run's time, the power pass's best time, its size."""
    run = Run(prepared)
    started = time.perf_counter()
    result = run.execute()
    run_s = time.perf_counter() - started
    end = result.summary["sim_time_s"]
    grid = result.timeseries["time_s"].to_numpy()
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        power = fleet_power(run, end)
        power.columns(grid, grid[1] - grid[0])
        power.summary(1.0)
        best = min(best, time.perf_counter() - started)
    return (f"| {label} | {len(run.jobs):,} | {len(power.times):,} | {run_s:.3f} | "
            f"{best:.3f} | {best / run_s:.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    rows = [measure("(a) llama3 405B, 16,384 GPUs, 54 d",
                    load("scenarios/llama3-405b-16k.yaml"), args.repeat),
            measure("(b) bench_fleet workload, 10,000 GPUs, load 0.9",
                    load(bench_fleet.scenario(10_000, 0.9, "fifo")), args.repeat)]
    header = ["| case | jobs | power changes | run incl. collection (s) | power pass (s) | "
              "power / run |", "|---|---:|---:|---:|---:|---:|"]
    table = "\n".join(header + rows)
    print(table)
    if args.record:
        text = (f"# Power model benchmark\n\nRecorded by `python benchmarks/bench_power.py "
                f"--record` on {datetime.date.today()}, {platform.machine()}, Python "
                f"{platform.python_version()}. The power pass is the best of {args.repeat}; "
                "the run (which includes one power pass since issue 14) is one run. The "
                "machine is shared: read the ratios, not the third digit.\n\n" + table + "\n")
        Path(__file__).with_name("POWER_RESULTS.md").write_text(text)


if __name__ == "__main__":
    main()
