"""Wall time of short ``fleetsim`` commands (startup: imports, parser, loading a scenario).

::

    python benchmarks/bench_cli.py [--repeat 11] [CHECKOUT ...]

Runs each command of :data:`COMMANDS` ``--repeat`` times in a fresh interpreter (as a user's
shell does) with ``PYTHONPATH`` set to each CHECKOUT (default: this repository), and prints
the median wall time with its spread (min-max) and the median CPU time (user + system) in
seconds as a Markdown table. Compare two checkouts,
e.g. before and after a change: ``python benchmarks/bench_cli.py /path/to/main .``.
Bytecode is cached (in a temporary ``PYTHONPYCACHEPREFIX``, after one warm-up run) as for an
installed package; ``--no-bytecode-cache`` compiles every module each run instead, as in an
environment with ``PYTHONDONTWRITEBYTECODE=1``. Results are recorded in
benchmarks/CLI_STARTUP.md. The machine's load moves these numbers:
run on a quiet machine, and compare checkouts in the same invocation (runs are interleaved).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
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


def environment(checkout: Path, pycache: Path | None) -> dict[str, str]:
    """``checkout`` first on the import path; bytecode cached under ``pycache`` (as an
    installed package has it), or never written (``None``: every module compiled each run)."""
    variables = dict(os.environ, PYTHONPATH=str(checkout))
    if pycache is None:
        variables["PYTHONDONTWRITEBYTECODE"] = "1"
        variables.pop("PYTHONPYCACHEPREFIX", None)
    else:
        variables.pop("PYTHONDONTWRITEBYTECODE", None)
        variables["PYTHONPYCACHEPREFIX"] = str(pycache)  # keeps the checkouts clean
    return variables


def timed(arguments: list[str], checkout: Path, variables: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one ``python ARGUMENTS`` run in ``checkout``. CPU time (user +
    system) moves less than wall time when the machine is shared."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, *arguments], cwd=checkout, env=variables, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="*", type=Path, default=[ROOT])
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="compile every module on every run (PYTHONDONTWRITEBYTECODE=1)")
    args = parser.parse_args()
    checkouts = [path.resolve() for path in args.checkouts]
    with tempfile.TemporaryDirectory(prefix="fleetsim-bench-pycache-") as pycache:
        variables = {checkout: environment(checkout, None if args.no_bytecode_cache
                                           else Path(pycache) / checkout.name)
                     for checkout in checkouts}
        for label, arguments in COMMANDS:  # a first run writes the bytecode cache
            for checkout in checkouts:
                timed(arguments, checkout, variables[checkout])
        times: dict[tuple[str, Path], list[tuple[float, float]]] = {}
        for _ in range(args.repeat):  # interleaved, so that a burst of load hits every command
            for label, arguments in COMMANDS:
                for checkout in checkouts:
                    times.setdefault((label, checkout), []).append(
                        timed(arguments, checkout, variables[checkout]))
    report(times, checkouts, args)


def report(times: dict[tuple[str, Path], list[tuple[float, float]]], checkouts: list[Path],
           args: argparse.Namespace) -> None:
    """The Markdown table of medians."""
    header = " | ".join(f"{path.name}: wall median (min-max) | {path.name}: CPU median"
                        for path in checkouts)
    print(f"| command | {header} |")
    print("|---" * (2 * len(checkouts) + 1) + "|")
    for label, _ in COMMANDS:
        cells = []
        for checkout in checkouts:
            walls = [wall for wall, _ in times[(label, checkout)]]
            cpus = [cpu for _, cpu in times[(label, checkout)]]
            cells.append(f"{statistics.median(walls):.3f} ({min(walls):.3f}-{max(walls):.3f})")
            cells.append(f"{statistics.median(cpus):.3f}")
        print(f"| `{label}` | {' | '.join(cells)} |")
    cache = "no bytecode cache" if args.no_bytecode_cache else "bytecode cached"
    print(f"\n{args.repeat} runs each ({cache}), {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
