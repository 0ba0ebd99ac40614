"""``fleetsim sweep``: run a sweep file's grid of scenarios and seeds, resumably.

::

    fleetsim sweep SWEEP.yaml --out DIR [--workers N | --scheduler ADDRESS] [--force]
                   [--show COLUMN ...] [--json] [--quiet]

Validates the sweep file and every point's scenario first (one line ``FILE:LINE: key:
message``, exit 2), runs the runs not yet in ``DIR/runs.jsonl`` on local processes
(``--workers``, default the CPU count; 1 runs in this process) or a Dask cluster
(``--scheduler tcp://host:8786``), then writes ``results.parquet``, ``results.csv`` and
``aggregate.csv`` into DIR and prints the per-point table (mean ± 95% CI; ``--show`` picks its
columns). A progress bar with ETA shows on a terminal. ``--json`` prints one JSON object: the
files, the run counts and the aggregate rows. docs/guides/sweeps.md is the guide.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from fleetsim.commands.arguments import output_dir, workers
from fleetsim.errors import FleetsimError


def add_parser(subparsers: Any) -> None:
    """Register ``fleetsim sweep``."""
    parser = subparsers.add_parser(
        "sweep", help="run a scenario over a grid of overrides and seeds (resumable)")
    parser.add_argument("sweep", help="sweep YAML file (base scenario, grid/zip, seeds, set)")
    parser.add_argument("--out", metavar="DIR", required=True, type=output_dir,
                        help="directory for runs.jsonl (resumable), results.parquet, "
                        "results.csv, aggregate.csv")
    parser.add_argument("--workers", type=workers, metavar="N",
                        help="local worker processes (default: the CPU count; 1 runs in "
                        "this process)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on a Dask cluster, e.g. tcp://host:8786 (needs "
                        "Dask: pip install -e '.[dask]')")
    parser.add_argument("--force", action="store_true",
                        help="use --out DIR even if it holds another sweep (shared runs "
                        "are reused)")
    parser.add_argument("--show", action="append", default=[], metavar="COLUMN",
                        help="a result column for the terminal table (repeatable; default: "
                        "goodput and interruptions per job, cluster failures)")
    parser.add_argument("--json", action="store_true",
                        help="print the outcome as JSON on stdout and nothing else")
    parser.add_argument("--quiet", action="store_true", help="print nothing (errors excepted)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``fleetsim sweep``; returns the exit code."""
    from rich.console import Console

    from fleetsim.sweep.console import (ProgressBar, aggregate_table, measured_columns,
                                        shown_columns)
    from fleetsim.sweep.driver import execute_sweep
    from fleetsim.sweep.spec import load_sweep

    if args.workers is not None and args.workers < 1:
        raise FleetsimError(f"--workers: must be >= 1, got {args.workers}")
    if args.workers is not None and args.scheduler is not None:
        raise FleetsimError("--workers is for local processes; with --scheduler the Dask "
                            "cluster's workers run the sweep (give one or the other)")
    plan = load_sweep(args.sweep)
    stderr = Console(stderr=True)
    stdout = Console()
    quiet = args.quiet or args.json
    if not quiet and stderr.is_terminal:
        with ProgressBar(stderr, plan.name) as bar:
            result = execute_sweep(plan, args.out, args.workers, args.scheduler,
                                   force=args.force, progress=bar)
    else:
        result = execute_sweep(plan, args.out, args.workers, args.scheduler, force=args.force)
    if args.show and not args.quiet:
        measured = measured_columns(result.aggregate)
        for column in args.show:
            if column not in measured:
                examples = ", ".join(shown_columns(result.aggregate)[:3]) or "jobs.NAME.goodput"
                print(f"fleetsim: warning: --show: no numeric result column {column!r} "
                      f"(e.g. {examples})", file=sys.stderr)
    for message in result.warnings:
        if not args.quiet:
            print(f"fleetsim: warning: {message}", file=sys.stderr)
    if args.json:
        sys.stdout.write(json.dumps(_outcome(result), indent=2, default=str) + "\n")
    elif not args.quiet:
        stdout.print(aggregate_table(result, args.show))
        files = ", ".join(path.name for path in result.files.values())
        stdout.print(f"{len(result.results)} runs ({result.ran} new, {result.reused} "
                     f"reused); {files} written to {args.out}/")
    return 0


def _outcome(result) -> dict[str, Any]:
    """The ``--json`` object: counts, files and the aggregate rows (NaN as null)."""
    rows = []
    for record in result.aggregate.to_dict(orient="records"):
        rows.append({key: (None if isinstance(value, float) and math.isnan(value) else value)
                     for key, value in record.items()})
    return {
        "sweep": result.plan.name,
        "points": len(result.plan.points),
        "seeds": list(result.plan.seeds),
        "runs": len(result.results),
        "ran": result.ran,
        "reused": result.reused,
        "files": {name: str(path) for name, path in result.files.items()},
        "aggregate": rows,
    }
