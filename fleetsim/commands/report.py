"""``fleetsim report DIR``: redraw the plots and print the summary table of a finished run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fleetsim.errors import FleetsimError


def add_parser(commands) -> None:
    parser = commands.add_parser("report", help="redraw plots and the summary of a run's --out DIR")
    parser.add_argument("directory", help="a directory written by fleetsim run --out")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd
    from rich.console import Console

    from fleetsim.report.console import summary_tables
    from fleetsim.report.plots import plot_run

    directory = Path(args.directory)
    needed = ("summary.json", "timeseries.csv", "events.csv")
    missing = [name for name in needed if not (directory / name).is_file()]
    if missing:
        raise FleetsimError(f"{directory}: not a run directory (missing {', '.join(missing)}; "
                            "write one with fleetsim run S.yaml --out DIR)")
    try:
        summary = json.loads((directory / "summary.json").read_text(encoding="utf-8"))
        timeseries = pd.read_csv(directory / "timeseries.csv")
        events = pd.read_csv(directory / "events.csv", keep_default_na=False)
    except (ValueError, OSError) as exc:
        raise FleetsimError(f"{directory}: cannot read the run's files ({exc})") from None
    requests = None
    if (directory / "requests.csv").is_file():
        try:
            requests = pd.read_csv(directory / "requests.csv", keep_default_na=False,
                                   na_values=[""])
        except (ValueError, OSError) as exc:
            raise FleetsimError(f"{directory}: cannot read requests.csv ({exc})") from None
    paths = plot_run(summary, timeseries, events, directory / "plots", requests)
    console = Console()
    for table in summary_tables(summary):
        console.print(table)
    console.print(f"plots written: {', '.join(str(path) for path in paths)}")
    return 0
