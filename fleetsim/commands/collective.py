"""``fleetsim collective``: an nccl-tests style size sweep of one collective on a built cluster.

::

    fleetsim collective [--node dgx-h100] [--nodes 1] [--op all-reduce] [--algorithm auto]
                        [--protocol auto] [--min 8B] [--max 8GiB] [--factor 2]
                        [--fabric rail-fat-tree] [--gpus N] [--json]

Builds ``--nodes`` nodes of ``--node`` joined by ``--fabric`` (topology/), places ``--gpus``
ranks (default: every GPU) with the ``packed`` strategy, and costs the collective (comm/) at
sizes ``--min``, ``--min x factor``, ... up to ``--max``. Columns follow nccl-tests
(``doc/PERFORMANCE.md``): ``size`` in bytes and ``count`` in 4-byte float elements as
nccl-tests prints them — for all-gather, reduce-scatter and all-to-all the count is per rank
and the size is rounded down to a whole number of elements per rank (sizes under one element
per rank are skipped) — ``time`` in microseconds, ``algbw = size / time`` and ``busbw``
(algbw x 2(n-1)/n for all-reduce, (n-1)/n for all-gather, reduce-scatter and all-to-all, 1
otherwise) in GB/s (10^9 bytes/s). With ``auto`` the fastest algorithm and protocol are chosen
per size, as NCCL's tuner does, and shown in extra columns. The last line is nccl-tests'
``Avg bus bandwidth``: the mean busbw over the rows.

``--json`` prints only a list of row dicts in SI units: ``size_bytes``, ``count``, ``time_s``,
``algbw_bytes_per_s``, ``busbw_bytes_per_s``, ``algorithm``, ``protocol``.

Every bad value (unknown node, operation, algorithm, protocol or fabric; a size without a
unit; ``--min`` above ``--max``) is one line ``fleetsim: collective: --option: what is wrong
(allowed: ...)`` and exit code 2: options are read as strings and checked here, not by argparse.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from fleetsim.errors import FleetsimError, UnitError

#: Element size of nccl-tests' default data type (float).
ELEMENT_BYTES = 4
#: Ops whose nccl-tests count is per rank (the size is the whole, gathered buffer).
PER_RANK_COUNT = ("all-gather", "reduce-scatter", "all-to-all")
FABRICS = ("rail-fat-tree", "fat-tree", "ring", "single-switch", "torus")
MAX_ROWS = 10_000


@dataclass(frozen=True)
class Row:
    """One size of the sweep (SI units)."""

    size_bytes: int
    count: int
    time_s: float
    algbw_bytes_per_s: float
    busbw_bytes_per_s: float
    algorithm: str
    protocol: str


def add_parser(subparsers: Any) -> None:
    """Register ``fleetsim collective``."""
    parser = subparsers.add_parser(
        "collective", help="nccl-tests style sweep of one collective's time and bandwidth",
        description="Cost one collective over a range of sizes on a built cluster graph and "
        "print nccl-tests' columns (size, count, time, algbw, busbw).")
    parser.add_argument("--node", default="dgx-h100",
                        help="node type from the catalogue (default: dgx-h100)")
    parser.add_argument("--nodes", default="1", help="number of nodes (default: 1)")
    parser.add_argument("--op", default="all-reduce",
                        help="all-reduce, all-gather, reduce-scatter, all-to-all, broadcast, "
                        "send-recv (underscores accepted: all_reduce)")
    parser.add_argument("--algorithm", default="auto", help="algorithm name, or auto")
    parser.add_argument("--protocol", default="auto", help="simple, ll, ll128, or auto")
    parser.add_argument("--min", dest="min_size", default="8B",
                        help="smallest size (default: 8B; B KB MB GB, KiB MiB GiB)")
    parser.add_argument("--max", dest="max_size", default="8GiB",
                        help="largest size (default: 8GiB)")
    parser.add_argument("--factor", default="2", help="size multiplier between rows (> 1)")
    parser.add_argument("--fabric", default="rail-fat-tree",
                        help=f"fabric joining the nodes: {', '.join(FABRICS)} "
                        "(torus needs a scenario: fleetsim topo)")
    parser.add_argument("--gpus", default=None, help="ranks, placed packed (default: all GPUs)")
    parser.add_argument("--json", action="store_true",
                        help="print the rows as a JSON list on stdout and nothing else")
    parser.set_defaults(handler=run)


def _bad(option: str, message: str) -> FleetsimError:
    return FleetsimError(f"collective: {option}: {message}")


def canonical_op(name: str) -> str:
    """``all_reduce``, ``all-reduce``, ``AllReduce`` -> ``all-reduce``."""
    from fleetsim.comm import OPS

    def key(text: str) -> str:
        return text.lower().replace("-", "").replace("_", "")

    for op in OPS:
        if key(op) == key(name):
            return op
    raise _bad("--op", f"unknown operation {name!r} (allowed: {', '.join(OPS)})")


def parse_size(option: str, text: str) -> int:
    """Bytes from ``8GiB`` or a plain ``1024``, rounded down to whole float elements."""
    from fleetsim.units import SIZE_UNITS, parse_bytes

    try:
        size = float(text) if text.strip().isdigit() else parse_bytes(text)
    except UnitError:
        raise _bad(option, f"invalid size {text!r} (a number with a unit, e.g. 8GiB; units: "
                           f"{', '.join(SIZE_UNITS)})") from None
    if size < ELEMENT_BYTES:
        raise _bad(option, f"size {text!r} is less than one {ELEMENT_BYTES}-byte element")
    return int(size)


def parse_int(option: str, text: str, minimum: int) -> int:
    try:
        number = int(text)
    except ValueError:
        raise _bad(option, f"expected a whole number, got {text!r}") from None
    if number < minimum:
        raise _bad(option, f"must be >= {minimum}, got {number}")
    return number


def sizes(min_bytes: int, max_bytes: int, factor: float) -> list[int]:
    """``min, min·factor, ...`` up to ``max`` (bytes, whole elements, duplicates dropped)."""
    result: list[int] = []
    size = float(min_bytes)
    while size <= max_bytes * (1 + 1e-12):
        whole = int(size) // ELEMENT_BYTES * ELEMENT_BYTES
        if not result or whole != result[-1]:
            result.append(whole)
        if len(result) > MAX_ROWS:
            raise _bad("--factor", f"{factor:g} gives more than {MAX_ROWS:,} sizes from "
                                   f"{min_bytes} to {max_bytes} bytes; use a larger factor")
        size *= factor
    return result


def nccl_tests_size(op: str, size_bytes: int, ranks: int) -> tuple[int, int]:
    """(size, count) as nccl-tests prints them for a requested ``size_bytes`` (module doc)."""
    elements = size_bytes // ELEMENT_BYTES
    if op in PER_RANK_COUNT:
        per_rank = elements // ranks
        return per_rank * ranks * ELEMENT_BYTES, per_rank
    return elements * ELEMENT_BYTES, elements


def sweep(graph: Any, op: str, group: Sequence[str], size_list: Sequence[int],
          algorithm: str = "auto", protocol: str = "auto") -> list[Row]:
    """One :class:`Row` per size; ``auto`` picks the fastest algorithm/protocol per size."""
    from fleetsim.comm import Choice, CommModel, algbw, busbw

    model = CommModel(graph)
    ranks = len(group)
    plan = None if algorithm == "auto" else model.plan(op, algorithm, group)
    rows: list[Row] = []
    seen: set[int] = set()
    for requested in size_list:
        size, count = nccl_tests_size(op, requested, ranks)
        if count == 0 or size in seen:
            continue
        seen.add(size)
        if plan is not None and protocol != "auto":
            choice = Choice(plan.time(size, protocol), plan.algorithm, protocol)
        else:
            choice = model.best(op, size, group,
                                None if algorithm == "auto" else [algorithm],
                                None if protocol == "auto" else [protocol])
        rows.append(Row(size, count, choice.time, algbw(size, choice.time),
                        busbw(op, size, choice.time, ranks), choice.algorithm, choice.protocol))
    return rows


def run(args: argparse.Namespace) -> int:
    """Handler of ``fleetsim collective``; returns the exit code."""
    op, algorithm, protocol = _names(args)
    size_list = _sizes(args)
    graph, group, where = _cluster(args, op)
    try:
        rows = sweep(graph, op, group, size_list, algorithm, protocol)
    except FleetsimError as error:
        raise _bad("--algorithm" if algorithm != "auto" else "--op", str(error)) from None
    if not rows:
        raise _bad("--max", f"{args.max_size} is less than one {ELEMENT_BYTES}-byte element "
                            f"per rank for {op} on {len(group)} ranks")
    if args.json:
        sys.stdout.write(json.dumps([asdict(row) for row in rows], indent=1) + "\n")
        return 0
    print(f"# fleetsim collective: {op} on {len(group):,} GPUs ({where}, packed)")
    fixed = [f"{name} {value}" for name, value in (("algorithm", algorithm),
                                                   ("protocol", protocol)) if value != "auto"]
    if fixed:
        print(f"# {', '.join(fixed)}")
    print(render(rows, show_algorithm=algorithm == "auto", show_protocol=protocol == "auto"))
    return 0


def _names(args: argparse.Namespace) -> tuple[str, str, str]:
    """(op, algorithm, protocol), canonical, checked against the registries."""
    from fleetsim.comm import ALGORITHMS, PROTOCOLS, algorithm_names

    op = canonical_op(args.op)
    algorithm = args.algorithm.lower()
    if algorithm != "auto" and algorithm not in ALGORITHMS[op]:
        raise _bad("--algorithm", f"unknown {op} algorithm {args.algorithm!r} "
                                  f"(allowed: {', '.join(algorithm_names(op))}, auto)")
    protocol = args.protocol.lower()
    if protocol != "auto" and protocol not in PROTOCOLS:
        raise _bad("--protocol", f"unknown protocol {args.protocol!r} "
                                 f"(allowed: {', '.join(PROTOCOLS)}, auto)")
    return op, algorithm, protocol


def _sizes(args: argparse.Namespace) -> list[int]:
    """The requested sizes from --min, --max and --factor."""
    min_bytes = parse_size("--min", args.min_size)
    max_bytes = parse_size("--max", args.max_size)
    if min_bytes > max_bytes:
        raise _bad("--min", f"{args.min_size} is larger than --max {args.max_size}")
    try:
        factor = float(args.factor)
    except ValueError:
        raise _bad("--factor", f"expected a number > 1, got {args.factor!r}") from None
    if not 1 < factor < float("inf"):
        raise _bad("--factor", f"must be a number > 1, got {args.factor!r}")
    return sizes(min_bytes, max_bytes, factor)


def _cluster(args: argparse.Namespace, op: str) -> tuple[Any, list[str], str]:
    """(graph, the ranks placed packed, "N x node, fabric") from --node/--nodes/--fabric/--gpus."""
    from pydantic import ValidationError

    from fleetsim.hardware import Catalogue
    from fleetsim.topology import FabricSpec, build_cluster, gpus, place

    nodes = parse_int("--nodes", args.nodes, 1)
    try:
        node_type = Catalogue.load().node(args.node)
    except KeyError as error:  # the catalogue's UnknownHardware, with the known names
        raise _bad("--node", str(error.args[0]) if error.args else repr(args.node)) from None
    if args.fabric not in FABRICS:
        raise _bad("--fabric", f"unknown fabric {args.fabric!r} (allowed: {', '.join(FABRICS)})")
    try:
        fabric = FabricSpec(type=args.fabric)
    except ValidationError as error:
        raise _bad("--fabric", error.errors()[0]["msg"].removeprefix("Value error, ")) from None
    try:
        graph = build_cluster(node_type, nodes, fabric)
    except FleetsimError as error:
        raise _bad("--fabric", str(error)) from None
    available = len(gpus(graph))
    ranks = available if args.gpus is None else parse_int("--gpus", args.gpus, 2)
    if ranks < 2:
        raise _bad("--gpus", f"a collective needs at least 2 ranks, the cluster has {ranks}")
    if ranks > available:
        raise _bad("--gpus", f"{ranks} ranks do not fit {nodes} x {node_type.name} "
                             f"({available} GPUs)")
    if op == "send-recv" and ranks != 2:
        raise _bad("--gpus", f"send-recv runs between exactly 2 ranks (pass --gpus 2), the "
                             f"group has {ranks}")
    return graph, place(graph, ranks, "packed"), f"{nodes:,} x {node_type.name}, {fabric.type}"


def render(rows: Sequence[Row], *, show_algorithm: bool, show_protocol: bool) -> str:
    """nccl-tests' columns as aligned text, with the chosen algorithm/protocol when auto."""
    # (name, unit, width); numbers right-aligned, names left-aligned after two spaces
    numbers = [("size", "(B)", 12), ("count", "(elements)", 12), ("type", "", 6),
               ("time", "(us)", 11), ("algbw", "(GB/s)", 8), ("busbw", "(GB/s)", 8)]
    names = ([("algorithm", 18)] if show_algorithm else []) + (
        [("protocol", 8)] if show_protocol else [])

    def line(values: Sequence[str], labels: Sequence[str]) -> str:
        text = "".join(f"{value:>{width}}" for value, (_, _, width) in zip(values, numbers))
        text += "".join(f"  {label:<{width}}" for label, (_, width) in zip(labels, names))
        return text.rstrip()

    lines = ["#" + line([name for name, _, _ in numbers], [name for name, _ in names])[1:],
             "#" + line([unit for _, unit, _ in numbers], [])[1:]]
    for row in rows:
        values = [str(row.size_bytes), str(row.count), "float", f"{row.time_s * 1e6:.2f}",
                  f"{row.algbw_bytes_per_s / 1e9:.2f}", f"{row.busbw_bytes_per_s / 1e9:.2f}"]
        labels = ([row.algorithm] if show_algorithm else []) + (
            [row.protocol] if show_protocol else [])
        lines.append(line(values, labels))
    average = sum(row.busbw_bytes_per_s for row in rows) / len(rows) / 1e9
    lines.append(f"# Avg bus bandwidth    : {average:.2f} GB/s")
    return "\n".join(lines)
