"""``fleetsim plot``: a PNG of a sweep's mean result with CI bands."""

from __future__ import annotations

import pytest

from fleetsim.cli import main
from fleetsim.sweep.driver import execute_sweep
from fleetsim.sweep.plot import make_axis, quantity

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def swept(tmp_path, sweep_file):
    out = tmp_path / "out"
    execute_sweep(sweep_file, out, workers=1)
    return out


def test_quantities_are_sorted_by_value_and_labelled_as_written():
    axis = make_axis(["2h", "10min", "1h", "30min", "2h"])
    assert axis.labels == ("10min", "30min", "1h", "2h")
    assert axis.positions == (600.0, 1800.0, 3600.0, 7200.0)
    assert axis.numeric and axis.log
    assert quantity(["16GiB", "1TB"]) == [16 * 2**30, 1e12]
    assert quantity([1, 2.5]) == [1.0, 2.5]
    categories = make_axis(["fixed", "young", "daly"])
    assert not categories.numeric and categories.labels == ("fixed", "young", "daly")
    assert make_axis(["1h", None]).labels == ("1h", "null")


def test_plot_writes_a_png_and_never_overwrites_unless_forced(swept, capsys):
    argv = ["plot", str(swept), "--x", "faults.causes.gpu.mtbf", "--y",
            "jobs.pretrain.goodput", "--hue", "jobs.pretrain.checkpoint.interval"]
    assert main(argv) == 0
    target = swept / "plots" / "goodput_vs_gpu-mtbf_by_checkpoint-interval.png"
    assert f"plot written to {target}" in capsys.readouterr().out
    data = target.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0


def test_default_name_and_where(swept, tmp_path, capsys):
    assert main(["plot", str(swept), "--x", "jobs.pretrain.checkpoint.interval", "--y",
                 "cluster.failures", "--where", "faults.causes.gpu.mtbf=5000h"]) == 0
    target = swept / "plots" / "cluster-failures_vs_checkpoint-interval.png"
    assert target.read_bytes().startswith(PNG_SIGNATURE)
    chosen = tmp_path / "mine.png"
    assert main(["plot", str(swept), "--x", "jobs.pretrain.checkpoint.interval", "--y",
                 "jobs.pretrain.goodput", "--where", "faults.causes.gpu.mtbf=50000h",
                 "--out", str(chosen)]) == 0
    assert chosen.read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.parametrize("extra, message", [
    (["--x", "faults.causes.gpu.mtbf", "--y", "jobs.pretrain.goodput"],
     "the sweep also varies jobs.pretrain.checkpoint.interval: pass it as --hue"),
    (["--x", "faults.causes.gpu.mtbff", "--y", "jobs.pretrain.goodput"],
     "--x: no parameter 'faults.causes.gpu.mtbff' in the results (did you mean "
     "faults.causes.gpu.mtbf?)"),
    (["--x", "faults.causes.gpu.mtbf", "--y", "jobs.pretrain.goodputt", "--hue",
      "jobs.pretrain.checkpoint.interval"], "--y: no numeric result column"),
    (["--x", "faults.causes.gpu.mtbf", "--y", "end", "--hue",
      "jobs.pretrain.checkpoint.interval"], "--y: no numeric result column 'end'"),
    (["--x", "faults.causes.gpu.mtbf", "--y", "jobs.pretrain.goodput", "--hue",
      "jobs.pretrain.checkpoint.interval", "--out", "plot.svg"], "ending in .png"),
])
def test_bad_plot_requests_are_one_line(swept, capsys, extra, message):
    assert main(["plot", str(swept), *extra]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_a_directory_without_results(tmp_path, capsys):
    assert main(["plot", str(tmp_path), "--x", "a", "--y", "b"]) == 2
    assert "no results.parquet or results.csv" in capsys.readouterr().err
