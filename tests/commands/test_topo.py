"""``fleetsim topo`` end to end, in-process: the quickstart's cluster, job placement, GraphML
export and its refusal to overwrite, JSON, and one-line errors."""

from __future__ import annotations

import json

import networkx as nx
import pytest
import yaml

from fleetsim.cli import main
from fleetsim.hardware import Catalogue
from fleetsim.topology import FabricSpec, build_cluster, switch_counts


def topo(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["topo", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def quickstart(root):
    return root / "scenarios" / "quickstart.yaml"


def test_quickstart_switch_counts_match_the_topology_package(capsys, quickstart):
    """34 DGX H100 on a rail fat tree: 2 SUs of 8 rail leaves, 8 spines, 4 NVSwitch chips per
    node (DGX H100 SuperPOD RA, and topology/trees.py)."""
    expected = switch_counts(build_cluster(Catalogue.load().node("dgx-h100"), 34, FabricSpec()))
    assert expected == {"nvswitch": 136, "leaf": 16, "spine": 8}
    code, out, err = topo(capsys, quickstart)
    assert code == 0 and err == ""
    switches = ", ".join(f"{count:,} {kind}" for kind, count in expected.items())
    assert f"switches   {switches}" in out
    assert "rail-fat-tree (2 switch tiers, 2 SUs)" in out
    assert "34 x dgx-h100, 2 spares: n32-n33" in out
    assert "GPUs       272 (8 per node)" in out
    assert "bisection  6,800 GB/s" in out  # 17 nodes x 8 NDR NICs x 50 GB/s, non-blocking
    assert "diameter   4 hops" in out  # GPU - leaf - spine - leaf - GPU
    assert "pretrain  256 GPUs on 32 nodes n0-n31 (packed), 1 SU, 8 leaves" in out


def test_json_matches_the_text(capsys, quickstart):
    code, out, _ = topo(capsys, quickstart, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["switches"] == {"nvswitch": 136, "leaf": 16, "spine": 8}
    assert data["bisection_bandwidth_bytes_per_s"] == pytest.approx(6.8e12)
    assert data["diameter_hops"] == 4
    assert (data["nodes"], data["spares"], data["gpus"]) == (34, 2, 272)
    [job] = data["jobs"]
    assert not job["waits"] and job["nodes"] == 32 and job["node_ranges"] == "n0-n31"
    assert job["access_switches"] == {"leaf": 8} and job["scalable_units"] == 1


def test_jobs_take_turns_and_never_use_spares(capsys, tmp_path, quickstart):
    data = yaml.safe_load(quickstart.read_text())
    base = data["jobs"][0]
    data["jobs"] = [dict(base, name="a", gpus=128), dict(base, name="b", gpus=64,
                                                                placement="random"),
                    dict(base, name="c", gpus=64), dict(base, name="d", gpus=8)]
    path = tmp_path / "four.yaml"
    path.write_text(yaml.safe_dump(data))
    code, out, _ = topo(capsys, path, "--json")
    assert code == 0
    a, b, c, d = json.loads(out)["jobs"]
    assert a["node_ranges"] == "n0-n15"
    # b is random on the 128 GPUs of n16-n31; c gets what b left there; d finds nothing free,
    # waits for them and is shown where it will run afterwards (packed: one node)
    for job in (b, c):
        nodes = [int(part) for text in job["node_ranges"].split(",")
                 for part in text.replace("n", "").split("-")]
        assert 16 <= min(nodes) and max(nodes) <= 31 and not job["waits"]
    assert d["waits"] and d["node_ranges"] == "n0"
    code, text, _ = topo(capsys, path)
    assert "d  8 GPUs on 1 node" in text and "waits for earlier jobs" in text


def test_random_placement_follows_the_seed(capsys, quickstart):
    argv = [quickstart, "--json", "--set", "jobs.pretrain.gpus=64",
            "--set", "jobs.pretrain.placement=random"]
    runs = [json.loads(topo(capsys, *argv, "--seed", seed)[1])["jobs"][0]
            for seed in (5, 5, 6)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_graphml_export_round_trips_and_never_overwrites(capsys, tmp_path, quickstart):
    target = tmp_path / "cluster.graphml"
    code, out, _ = topo(capsys, quickstart, "--export", target)
    assert code == 0 and f"graph written to {target}" in out
    built = build_cluster(Catalogue.load().node("dgx-h100"), 34, FabricSpec())
    read = nx.read_graphml(target)
    assert read.is_directed()
    assert (read.number_of_nodes(), read.number_of_edges()) == (built.number_of_nodes(),
                                                                 built.number_of_edges())
    assert read.edges["n0.g0", "leaf.su0.r0"]["bandwidth"] == pytest.approx(50e9)
    assert read.nodes["n3.g1"]["kind"] == "gpu" and read.nodes["n3.g1"]["node"] == 3
    assert tuple(json.loads(read.nodes["n3.g1"]["locality"])) == built.nodes["n3.g1"]["locality"]
    assert read.graph["fabric"] == "rail-fat-tree"

    target.write_text("mine")
    code, out, err = topo(capsys, quickstart, "--export", target)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "already exists" in err and "--force" in err
    assert target.read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["cluster.graphml"]  # no temporary left

    code, _, _ = topo(capsys, quickstart, "--export", target, "--force")
    assert code == 0 and nx.read_graphml(target).number_of_nodes() == built.number_of_nodes()


def test_export_refuses_the_scenario_itself_even_with_force(capsys, tmp_path, quickstart):
    copy = tmp_path / "q.yaml"
    copy.write_text(quickstart.read_text())
    code, _, err = topo(capsys, copy, "--export", copy, "--force")
    assert code == 2 and "scenario file itself" in err
    assert copy.read_text() == quickstart.read_text()


@pytest.mark.parametrize("argv, words", [
    (["--export", "{tmp}/missing/x.graphml"], "does not exist"),
    (["--export", "{tmp}"], "is a directory"),
    (["--set", "cluster.fabric={type: torus, dims: [4, 4]}"], "cluster.fabric: torus dims"),
    (["--set", "cluster.fabric.dims=[2, 17]"], "does not apply to fabric type"),
    (["--seed", "-1"], "--seed: must be >= 0"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, quickstart, argv, words):
    code, out, err = topo(capsys, quickstart, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 2 and out == ""
    # "fleetsim: ..." or, for an argument, "fleetsim topo: --export: ..."
    assert err.startswith(("fleetsim: ", "fleetsim topo: ")) and err.count("\n") == 1
    assert words in err


def test_missing_scenario_is_one_line(capsys, tmp_path):
    code, _, err = topo(capsys, tmp_path / "nope.yaml")
    assert code == 2 and err.count("\n") == 1


def test_graphml_safe_keeps_one_type_per_key():
    """GraphML declares one type per key: tuples become JSON, None is dropped, a key with ints
    and floats becomes float, numpy scalars become Python numbers."""
    import numpy as np

    from fleetsim.commands.topo import graphml_safe

    graph = nx.DiGraph(dims=(2, 3), missing=None)
    graph.add_node("a", count=np.int64(3), share=np.float64(0.5), locality=(0, 1), weight=1)
    graph.add_node("b", weight=1.5)
    safe = graphml_safe(graph)
    assert safe.graph == {"dims": "[2, 3]"}
    assert safe.nodes["a"] == {"count": 3, "share": 0.5, "locality": "[0, 1]", "weight": 1.0}
    assert type(safe.nodes["a"]["count"]) is int and type(safe.nodes["a"]["weight"]) is float
