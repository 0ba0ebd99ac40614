"""``fleetsim topo``: describe a scenario's cluster graph and where its jobs' ranks land.

::

    fleetsim topo S.yaml [--seed N] [--set k=v ...] [--export FILE [--force]] [--json]

Builds the graph of ``cluster`` (``build_cluster(node, nodes, fabric)``), prints the fabric,
switch counts per tier, bisection bandwidth and diameter (topology/metrics.py names the
methods), and places each job as the simulator does: jobs in scenario order, each with its
``placement`` strategy on the GPUs that earlier jobs did not take, never on the hot spares (the
last ``spares`` nodes, as in cluster/fleet.py). ``random`` draws from the seed's ``placement``
stream. A job that does not fit beside the earlier ones waits for them, and is shown where it
will run once they finish (all non-spare GPUs), as the runner places it.

``--export FILE`` writes the graph as GraphML (attributes GraphML cannot hold, such as tuples,
become JSON strings); an existing file is never replaced without ``--force``, and never when it
is the scenario itself. ``--json`` prints one JSON object (SI units, names carry the unit).
"""

from __future__ import annotations

import argparse
import json
import math
import numbers
import os
import sys
from pathlib import Path
from typing import Any, Iterable

from typing import TYPE_CHECKING

from fleetsim.commands.arguments import output_file
from fleetsim.errors import FleetsimError, OutputError

if TYPE_CHECKING:  # imported by the handler: the parser is built for every command
    import networkx as nx

#: Graphs of at least this many nodes show a spinner while bisection and diameter are computed
#: (16k GPUs take a few seconds).
SPINNER_NODES = 256

BISECTION_METHOD = "max-flow min-cut between the node-index halves, at line rate"
DIAMETER_METHOD = "most links on any GPU-to-GPU route"

#: The first network vertex kinds a GPU (or its NIC) plugs into.
ACCESS_KINDS = ("leaf", "switch", "router")
PLURALS = {"leaf": "leaves", "switch": "switches", "router": "routers", "SU": "SUs",
           "pod": "pods"}


def add_parser(subparsers: Any) -> None:
    """Register ``fleetsim topo``."""
    from fleetsim.cli import _scenario_options

    parser = subparsers.add_parser(
        "topo", help="describe a scenario's cluster graph and its jobs' placement")
    parser.add_argument("scenario", help="scenario YAML file")
    _scenario_options(parser)
    parser.add_argument("--export", metavar="FILE", type=output_file,
                        help="write the cluster graph as GraphML")
    parser.add_argument("--force", action="store_true",
                        help="overwrite an existing --export FILE")
    parser.add_argument("--json", action="store_true",
                        help="print the description as JSON on stdout and nothing else")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``fleetsim topo``; returns the exit code."""
    from rich.console import Console

    from fleetsim.cli import _load
    from fleetsim.engine import RandomStreams
    from fleetsim.topology import build_cluster, summarize

    scenario = _load(args)
    spec = scenario.spec
    export = _check_export(args.export, args.force, scenario.file) if args.export else None
    try:
        graph = build_cluster(scenario.node, spec.cluster.nodes, spec.cluster.fabric)
    except FleetsimError as error:
        raise FleetsimError(f"{scenario.file}: cluster.fabric: {error}") from error
    stderr = Console(stderr=True)
    if not args.json and stderr.is_terminal and spec.cluster.nodes >= SPINNER_NODES:
        with stderr.status(f"bisection bandwidth and diameter of {spec.cluster.nodes:,} "
                           "nodes ..."):
            summary = summarize(graph)
    else:
        summary = summarize(graph)
    rng = RandomStreams(spec.seed).stream("placement")
    jobs = place_jobs(graph, spec, rng)
    description = {
        "scenario": spec.name,
        "seed": spec.seed,
        "node": scenario.node.name,
        "fabric": summary.fabric,
        "tiers": graph.graph.get("tiers"),
        "scalable_units": graph.graph.get("scalable_units"),
        "torus_dims": list(graph.graph["torus_dims"]) if "torus_dims" in graph.graph else None,
        "nodes": summary.nodes,
        "spares": spec.cluster.spares,
        "gpus": summary.gpus,
        "gpus_per_node": scenario.gpus_per_node,
        "switches": summary.switches,
        "bisection_bandwidth_bytes_per_s": summary.bisection_bandwidth,
        "bisection_method": BISECTION_METHOD,
        "diameter_hops": summary.diameter_hops,
        "jobs": jobs,
    }
    if export is not None:
        write_graphml(graph, export)
        description["export"] = str(export)
    if args.json:
        sys.stdout.write(json.dumps(description, indent=2) + "\n")
    else:
        print(render(description))
    return 0


def place_jobs(graph: nx.DiGraph, spec: Any, rng: Any) -> list[dict]:
    """Each job's placement, in scenario order, off the spares and earlier jobs' GPUs.

    A job that does not fit beside the earlier ones waits for them (``waits``) and is placed
    as it will run once they are done: on all non-spare GPUs (as fleetsim/runner.py does).
    """
    from fleetsim.topology import gpus, place

    first_spare = spec.cluster.nodes - spec.cluster.spares
    usable = [gpu for gpu in gpus(graph) if graph.nodes[gpu].get("node", 0) < first_spare]
    taken: set[str] = set()
    placed_jobs = []
    for job in spec.jobs:
        free = [gpu for gpu in usable if gpu not in taken]
        waits = job.gpus > len(free)
        ranks = place(graph, job.gpus, job.placement, available=usable if waits else free,
                      rng=rng)
        taken.update(ranks)
        placed_jobs.append({"name": job.name, "gpus": job.gpus, "placement": job.placement,
                            "waits": waits, **footprint(graph, ranks)})
    return placed_jobs


def footprint(graph: nx.DiGraph, ranks: list[str]) -> dict[str, Any]:
    """Where ``ranks`` sit: nodes (count and ranges), access switches, SUs and pods."""
    nodes = sorted({graph.nodes[gpu].get("node", 0) for gpu in ranks})
    access: set[str] = set()
    for gpu in ranks:
        for neighbour in graph.successors(gpu):
            kind = graph.nodes[neighbour].get("kind")
            if kind in ACCESS_KINDS:
                access.add(neighbour)
            elif kind == "nic":
                access.update(up for up in graph.successors(neighbour)
                              if graph.nodes[up].get("kind") in ACCESS_KINDS)
    result: dict[str, Any] = {"nodes": len(nodes), "node_ranges": node_ranges(nodes),
                              "first_rank": ranks[0], "last_rank": ranks[-1]}
    by_kind: dict[str, int] = {}
    for vertex in access:
        kind = graph.nodes[vertex]["kind"]
        by_kind[kind] = by_kind.get(kind, 0) + 1
    result["access_switches"] = dict(sorted(by_kind.items()))
    sus = {graph.nodes[vertex]["su"] for vertex in access if "su" in graph.nodes[vertex]}
    if sus:
        result["scalable_units"] = len(sus)
    if graph.graph.get("tiers") == 3:
        result["pods"] = len({graph.nodes[vertex]["pod"] for vertex in access
                              if "pod" in graph.nodes[vertex]})
    return result


def node_ranges(nodes: Iterable[int], limit: int = 4) -> str:
    """``[0, 1, 2, 5]`` -> ``"n0-n2,n5"``; past ``limit`` ranges, ``" ... (k ranges)"``."""
    ranges: list[tuple[int, int]] = []
    for node in sorted(nodes):
        if ranges and node == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], node)
        else:
            ranges.append((node, node))
    text = [f"n{a}" if a == b else f"n{a}-n{b}" for a, b in ranges]
    if len(text) > limit:
        return ",".join(text[:limit]) + f",... ({len(text)} ranges)"
    return ",".join(text)


def _count(number: int, word: str) -> str:
    return f"{number:,} {word if number == 1 else PLURALS.get(word, word + 's')}"


def render(description: dict) -> str:
    """The plain-text report of ``fleetsim topo``."""
    d = description
    fabric = d["fabric"]
    details = []
    if d["tiers"]:
        details.append(f"{d['tiers']} switch tiers")
    if d["scalable_units"]:
        details.append(_count(d["scalable_units"], "SU"))
    if d["torus_dims"]:
        details.append("dims " + "x".join(str(size) for size in d["torus_dims"]))
    if details:
        fabric += f" ({', '.join(details)})"
    nodes = f"{d['nodes']:,} x {d['node']}"
    if d["spares"]:
        first = d["nodes"] - d["spares"]
        nodes += f", {_count(d['spares'], 'spare')}: {node_ranges(range(first, d['nodes']))}"
    switches = ", ".join(f"{count:,} {kind}" for kind, count in d["switches"].items()) or "none"
    bisection = d["bisection_bandwidth_bytes_per_s"]
    if math.isfinite(bisection) and bisection > 0:
        half = d["gpus"] // 2
        if d["nodes"] > 1:
            middle = d["nodes"] // 2
            cut = (f"nodes {node_ranges(range(middle))} | "
                   f"{node_ranges(range(middle, d['nodes']))}")
        else:
            cut = "the node's GPUs in halves"
        bisection_text = (f"{bisection / 1e9:,.0f} GB/s = {bisection / 1e9 / half:,.1f} GB/s "
                          f"per GPU (max-flow min-cut, {cut}, line rate)")
    else:
        bisection_text = "n/a (a single GPU)"
    rows = [
        ("fabric", fabric),
        ("nodes", nodes),
        ("GPUs", f"{d['gpus']:,} ({d['gpus_per_node']} per node)"),
        ("switches", switches),
        ("bisection", bisection_text),
        ("diameter", f"{d['diameter_hops']} hops ({DIAMETER_METHOD})"),
    ]
    lines = [f"{d['scenario']} (seed {d['seed']})"]
    lines += [f"  {label:<10} {value}" for label, value in rows]
    lines.append("jobs")
    width = max(len(job["name"]) for job in d["jobs"])
    for job in d["jobs"]:
        lines.append(f"  {job['name']:<{width}}  {_job_line(job)}")
    if "export" in d:
        lines.append(f"graph written to {d['export']} (GraphML)")
    return "\n".join(lines)


def _job_line(job: dict) -> str:
    where = [_count(count, kind) for kind, count in job["access_switches"].items()]
    if "scalable_units" in job:
        where.insert(0, _count(job["scalable_units"], "SU"))
    if "pods" in job:
        where.insert(0, _count(job["pods"], "pod"))
    text = (f"{job['gpus']:,} GPUs on {_count(job['nodes'], 'node')} {job['node_ranges']} "
            f"({job['placement']})")
    if where:
        text += f", {', '.join(where)}"
    if job["waits"]:
        text += "; waits for earlier jobs (too few GPUs beside them), placed as after them"
    return text


def _check_export(target: str, force: bool, scenario_file: str) -> Path:
    """The export path, or :class:`OutputError` if writing it could lose the user's data."""
    path = Path(target)
    if path.is_dir():
        raise OutputError(f"{path}: --export: is a directory (give a file name, e.g. "
                          f"{path / 'cluster.graphml'})")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: --export: directory {path.parent} does not exist")
    if path.exists():
        if path.resolve() == Path(scenario_file).resolve():
            raise OutputError(f"{path}: --export: is the scenario file itself")
        if not force:
            raise OutputError(f"{path}: --export: already exists (choose another file, or pass "
                              "--force to overwrite)")
    return path


def graphml_safe(graph: nx.DiGraph) -> nx.DiGraph:
    """A copy of ``graph`` whose attributes GraphML can hold: str, int, float, bool.

    Tuples, lists and dicts become JSON strings (``locality`` ``(0, 1)`` -> ``"[0, 1]"``),
    ``None`` values are left out, and a key holding both ints and floats is written as float
    (GraphML declares one type per key).
    """
    def clean(attributes: dict) -> dict:
        out: dict[str, object] = {}
        for key, value in attributes.items():
            if value is None:
                continue
            if isinstance(value, (bool, str)):
                out[key] = value
            elif isinstance(value, numbers.Integral):
                out[key] = int(value)
            elif isinstance(value, numbers.Real):
                out[key] = float(value)
            else:
                out[key] = json.dumps(value, default=str)
        return out

    import networkx as nx

    safe = nx.DiGraph(**clean(graph.graph))
    safe.add_nodes_from((vertex, clean(data)) for vertex, data in graph.nodes(data=True))
    safe.add_edges_from((u, v, clean(data)) for u, v, data in graph.edges(data=True))
    for records in (list(safe.nodes.values()), [data for _, _, data in safe.edges(data=True)]):
        floats = {key for data in records for key, value in data.items()
                  if isinstance(value, float)}
        for data in records:
            for key in floats & data.keys():
                if not isinstance(data[key], bool):
                    data[key] = float(data[key])
    return safe


def write_graphml(graph: nx.DiGraph, path: Path) -> None:
    """Write ``graph`` as GraphML to ``path`` through a temporary file (no half-written file)."""
    import networkx as nx

    temporary = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        nx.write_graphml(graphml_safe(graph), temporary)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"{path}: --export: cannot write ({error.strerror or error})") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
