"""``fleetsim collective`` end to end, in-process: nccl-tests columns and definitions, the
8x H100 busbw band of tests/comm, op spellings, JSON, and one-line errors."""

from __future__ import annotations

import json

import pytest

from fleetsim.cli import main
from fleetsim.comm import collective_time
from fleetsim.hardware import Catalogue
from fleetsim.topology import FabricSpec, build_cluster, gpus


def collective(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["collective", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows(capsys, *argv: str) -> list[dict]:
    code, out, err = collective(capsys, *argv, "--json")
    assert code == 0 and err == ""
    return json.loads(out)


def test_8x_h100_ring_busbw_in_the_nccl_tests_band_and_growing(capsys):
    """Same band as tests/comm/test_nccl_figures.py (nccl-tests issues #149/#212: ~370 GB/s
    busbw for 8x H100 ring all-reduce): 330-400 GB/s at the largest size (8 GiB); busbw grows
    with size (latency-bound to bandwidth-bound)."""
    table = rows(capsys, "--node", "dgx-h100", "--op", "all_reduce", "--algorithm", "ring",
                 "--protocol", "simple", "--min", "8B", "--max", "8GiB")
    assert [row["size_bytes"] for row in table] == [8 * 2**k for k in range(31)]
    assert 330e9 <= table[-1]["busbw_bytes_per_s"] <= 400e9
    busbw = [row["busbw_bytes_per_s"] for row in table]
    assert all(later >= 0.99 * earlier for earlier, later in zip(busbw, busbw[1:]))
    assert busbw[-1] > 100 * busbw[0]
    assert {(row["algorithm"], row["protocol"]) for row in table} == {("ring", "simple")}


def test_columns_follow_nccl_tests_definitions(capsys):
    """count = size / 4 (float); algbw = size / time; busbw = algbw x 2(n-1)/n for
    all-reduce (nccl-tests doc/PERFORMANCE.md); time = fleetsim.comm.collective_time."""
    table = rows(capsys, "--op", "all-reduce", "--algorithm", "tree", "--protocol", "ll128",
                 "--min", "1KiB", "--max", "1MiB", "--factor", "4", "--nodes", "2")
    graph = build_cluster(Catalogue.load().node("dgx-h100"), 2, FabricSpec())
    group = gpus(graph)
    for row in table:
        size = row["size_bytes"]
        assert row["count"] == size // 4
        assert row["time_s"] == pytest.approx(
            collective_time("all-reduce", "tree", size, group, graph, "ll128"), rel=1e-12)
        assert row["algbw_bytes_per_s"] == pytest.approx(size / row["time_s"])
        assert row["busbw_bytes_per_s"] == pytest.approx(row["algbw_bytes_per_s"] * 2 * 15 / 16)


def test_all_gather_counts_per_rank_like_nccl_tests(capsys):
    """nccl-tests prints the per-rank count for all-gather and rounds the size down to whole
    elements per rank; sizes below one element per rank are skipped."""
    table = rows(capsys, "--op", "all_gather", "--gpus", "8", "--min", "8B", "--max", "256B")
    assert [(row["size_bytes"], row["count"]) for row in table] == [
        (32, 1), (64, 2), (128, 4), (256, 8)]
    for row in table:
        assert row["busbw_bytes_per_s"] == pytest.approx(row["algbw_bytes_per_s"] * 7 / 8)


def test_op_spellings_agree(capsys):
    argv = ["--min", "1MiB", "--max", "4MiB"]
    assert rows(capsys, "--op", "all_reduce", *argv) == rows(capsys, "--op", "all-reduce", *argv)


def test_table_shows_the_auto_choice_and_the_average(capsys):
    code, out, err = collective(capsys, "--node", "dgx-a100", "--nodes", "1", "--op",
                                "all_reduce", "--min", "8B", "--max", "1GiB")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("# fleetsim collective: all-reduce on 8 GPUs (1 x dgx-a100")
    header = lines[1].split()
    assert header[1:] == ["size", "count", "type", "time", "algbw", "busbw", "algorithm",
                          "protocol"]
    body = [line.split() for line in lines if not line.startswith("#")]
    assert len(body) == 28  # 8 B .. 1 GiB
    assert all(len(cells) == 8 and cells[2] == "float" for cells in body)
    assert body[-1][7] == "simple" and body[0][7] in ("ll", "ll128")
    average = sum(float(cells[5]) for cells in body) / len(body)
    assert lines[-1].startswith("# Avg bus bandwidth")
    assert float(lines[-1].split(":")[1].split()[0]) == pytest.approx(average, abs=0.02)


def test_fixed_algorithm_and_protocol_are_in_the_header_not_columns(capsys):
    code, out, _ = collective(capsys, "--algorithm", "ring", "--protocol", "simple",
                              "--min", "1KiB", "--max", "2KiB")
    assert code == 0
    assert "# algorithm ring, protocol simple" in out
    assert "algorithm" not in out.splitlines()[2]


@pytest.mark.parametrize("argv, message", [
    (["--op", "x"], "collective: --op: unknown operation 'x' (allowed: all-reduce, "),
    (["--node", "dgx-h1000"], "collective: --node: unknown node type 'dgx-h1000'"),
    (["--algorithm", "mine"], "collective: --algorithm: unknown all-reduce algorithm 'mine'"),
    (["--protocol", "ll64"], "collective: --protocol: unknown protocol 'll64'"),
    (["--min", "8G"], "collective: --min: invalid size '8G'"),
    (["--max", "huge"], "collective: --max: invalid size 'huge'"),
    (["--min", "1GiB", "--max", "1MiB"], "collective: --min: 1GiB is larger than --max"),
    (["--factor", "1"], "collective: --factor: must be a number > 1"),
    (["--nodes", "0"], "collective: --nodes: must be >= 1"),
    (["--gpus", "9"], "collective: --gpus: 9 ranks do not fit"),
    (["--fabric", "mesh"], "collective: --fabric: unknown fabric 'mesh'"),
    (["--fabric", "torus"], "collective: --fabric: a torus fabric needs dims"),
    (["--op", "send-recv"], "collective: --gpus: send-recv runs between exactly 2 ranks"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = collective(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(f"fleetsim: {message}") and err.count("\n") == 1
