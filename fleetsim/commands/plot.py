"""``fleetsim plot``: draw a sweep's mean result against a parameter, with 95% CI bands.

::

    fleetsim plot DIR --x KEY --y COLUMN [--hue KEY] [--where KEY=VALUE ...]
                  [--baseline KEY=VALUE] [--out FILE.png] [--force]

Reads ``DIR/results.parquet`` (or ``results.csv``) written by ``fleetsim sweep --out DIR`` and
writes a PNG: by default a short name such as ``DIR/plots/goodput_vs_checkpoint-interval.png``
(``..._by_<hue>.png`` with ``--hue``, ``..._diff.png`` with ``--baseline``), never over an
existing file unless ``--force``. Quantity parameters (``25000h``, ``30min``) are placed by
value on an axis with a unit; ``--baseline`` plots paired differences from the runs with
that value, seed by seed (fleetsim/sweep/plot.py has the rules).
"""

from __future__ import annotations

import argparse
from typing import Any

from fleetsim.commands.arguments import output_file


def add_parser(subparsers: Any) -> None:
    """Register ``fleetsim plot``."""
    parser = subparsers.add_parser(
        "plot", help="plot a sweep's mean result against a parameter, with 95%% CIs")
    parser.add_argument("dir", metavar="DIR", help="a sweep's --out directory")
    parser.add_argument("--x", required=True, metavar="KEY", help="the parameter on the x axis")
    parser.add_argument("--y", required=True, metavar="COLUMN",
                        help="the result column to plot, e.g. jobs.pretrain.goodput")
    parser.add_argument("--hue", metavar="KEY", help="one line per value of this parameter")
    parser.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                        help="keep only runs whose parameter has this value (as written; "
                        "repeatable)")
    parser.add_argument("--baseline", metavar="KEY=VALUE",
                        help="plot each point's paired difference (same seed) from the runs "
                        "where the --x or --hue parameter KEY has VALUE, with its 95%% CI")
    parser.add_argument("--out", metavar="FILE.png", type=output_file,
                        help="the PNG to write (default DIR/plots/<y>_vs_<x>.png, short names)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing PNG")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``fleetsim plot``; returns the exit code."""
    from fleetsim.sweep.plot import parse_where, plot_sweep

    baseline = None
    if args.baseline is not None:
        [baseline] = parse_where([args.baseline], option="--baseline")
    target = plot_sweep(args.dir, args.x, args.y, hue=args.hue, where=parse_where(args.where),
                        output=args.out, force=args.force, baseline=baseline)
    print(f"plot written to {target}")
    return 0
