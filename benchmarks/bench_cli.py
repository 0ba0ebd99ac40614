"""Wall time of short ``fleetsim`` commands (startup: imports, parser, loading a scenario).

::

    python benchmarks/bench_cli.py [--repeat 11] [CHECKOUT ...]

Runs each command of :data:`COMMANDS` ``--repeat`` times in a fresh interpreter (as a user's
shell does) with ``PYTHONPATH`` set to each CHECKOUT (default: this repository), and prints
the median and the spread (min-max) in seconds as a Markdown table. Compare two checkouts,
e.g. before and after a change: ``python benchmarks/bench_cli.py /path/to/main .``.
Results are recorded in benchmarks/CLI_STARTUP.md. The machine's load moves these numbers:
run on a quiet machine, and compare checkouts in the same invocation (runs are interleaved).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: (label, arguments after ``python``), run from the checkout's root.
COMMANDS = [
    ("python -c pass (interpreter alone)", ["-c", "pass"]),
    ("fleetsim --help", ["-m", "fleetsim", "--help"]),
    ("fleetsim run --help", ["-m", "fleetsim", "run", "--help"]),
    ("fleetsim validate scenarios/quickstart.yaml",
     ["-m", "fleetsim", "validate", "scenarios/quickstart.yaml"]),
    ("import fleetsim", ["-c", "import fleetsim"]),
]


def wall_time(arguments: list[str], checkout: Path) -> float:
    """Seconds of one ``python ARGUMENTS`` with ``checkout`` first on the import path."""
    environment = dict(os.environ, PYTHONPATH=str(checkout))
    start = time.perf_counter()
    subprocess.run([sys.executable, *arguments], cwd=checkout, env=environment, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="*", type=Path, default=[ROOT])
    parser.add_argument("--repeat", type=int, default=11)
    args = parser.parse_args()
    checkouts = [path.resolve() for path in args.checkouts]
    times: dict[tuple[str, Path], list[float]] = {}
    for _ in range(args.repeat):  # interleaved, so that a burst of load hits every command
        for label, arguments in COMMANDS:
            for checkout in checkouts:
                times.setdefault((label, checkout), []).append(wall_time(arguments, checkout))
    header = " | ".join(f"{path.name}: median (min-max) s" for path in checkouts)
    print(f"| command | {header} |")
    print("|---" * (len(checkouts) + 1) + "|")
    for label, _ in COMMANDS:
        cells = []
        for checkout in checkouts:
            samples = times[(label, checkout)]
            cells.append(f"{statistics.median(samples):.3f} ({min(samples):.3f}-"
                         f"{max(samples):.3f})")
        print(f"| `{label}` | {' | '.join(cells)} |")
    print(f"\n{args.repeat} runs each, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
