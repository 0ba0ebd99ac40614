"""``fleetsim plot``: a PNG of a sweep's mean result with CI bands."""

from __future__ import annotations

import pytest

from fleetsim.cli import main
from fleetsim.sweep.driver import execute_sweep
from fleetsim.sweep.labels import default_name, metric_label, parameter_label
from fleetsim.sweep.plot import make_axis, quantity, series
from fleetsim.sweep.stats import paired_ci
from fleetsim.sweep.table import read_results

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


@pytest.mark.parametrize("key, kind, values, expected", [
    ("jobs.pretrain.checkpoint.interval", "duration", [600, 1800, 3600, 7200],
     ("checkpoint interval (min)", 60.0)),
    ("jobs.pretrain.checkpoint.interval", "duration", [3600, 7200, 21600],
     ("checkpoint interval (h)", 3600.0)),
    ("faults.causes.gpu.mtbf", "duration", [1.8e7, 1.8e8], ("GPU MTBF (h)", 3600.0)),
    ("cluster.nodes", "number", [32, 64], ("cluster nodes", 1.0)),
    ("jobs.pretrain.checkpoint.policy", "category", [0, 1], ("checkpoint policy", 1.0)),
    ("cluster.node.hbm", "size", [80 * 2**30, 141 * 2**30], ("cluster node HBM (GiB)", 2**30)),
])
def test_parameter_labels_have_words_and_units(key, kind, values, expected):
    """Durations in a unit the values are round in (5000h stays hours, not 208.333 d)."""
    assert parameter_label(key, kind, values) == expected


def test_metric_labels_and_short_file_names():
    assert metric_label("jobs.pretrain.goodput", [0.9]) == ("goodput", 1.0)
    assert metric_label("jobs.pretrain.jct_s", [5 * 3600.0]) == ("JCT (h)", 3600.0)
    assert metric_label("jobs.pretrain.buckets_s.lost_work", [40.0]) == ("lost work (s)", 1.0)
    assert metric_label("jobs.chat.energy_j", [1.0]) == ("energy (J)", 1.0)
    assert default_name("jobs.pretrain.checkpoint.interval", "jobs.pretrain.goodput",
                        "faults.causes.gpu.mtbf") == \
        "goodput_vs_checkpoint-interval_by_gpu-mtbf.png"
    assert default_name("faults.causes.gpu.mtbf", "jobs.pretrain.buckets_s.lost_work",
                        baseline=True, job="pretrain") == "pretrain-lost-work_vs_gpu-mtbf_diff.png"


def test_numeric_parameter_columns_sort_by_value(swept):
    """results.parquet: ``faults.causes.gpu.mtbf_s`` holds the MTBF in seconds, so 5000h
    sorts before 50000h (as text, "50000h" < "5000h")."""
    results = read_results(swept)
    assert sorted(["5000h", "50000h"]) == ["50000h", "5000h"]  # why the column exists
    assert list(results["faults.causes.gpu.mtbf_s"]) == [5000 * 3600.0] * 4 + [50000 * 3600.0] * 4
    assert list(results["jobs.pretrain.checkpoint.interval_s"]) == [1800.0, 1800.0, 7200.0,
                                                                    7200.0] * 2
    ordered = results.sort_values("faults.causes.gpu.mtbf_s", kind="stable")
    assert list(ordered["faults.causes.gpu.mtbf"].drop_duplicates()) == ["5000h", "50000h"]
    assert list(results.columns[:6]) == [
        "point", "faults.causes.gpu.mtbf", "jobs.pretrain.checkpoint.interval", "seed",
        "faults.causes.gpu.mtbf_s", "jobs.pretrain.checkpoint.interval_s"]


def test_baseline_series_are_paired_differences_by_seed(swept):
    """With a baseline interval of 30min, each point's value is the mean and t-interval of
    goodput(point, seed) - goodput(30min at the same MTBF, seed); the baseline is 0."""
    results = read_results(swept)
    x, hue, y = "jobs.pretrain.checkpoint.interval", "faults.causes.gpu.mtbf", \
        "jobs.pretrain.goodput"
    _axis, lines = series(results, x, y, hue, baseline=(x, "30min"))
    by_hue = dict(lines)
    for mtbf in ("5000h", "50000h"):
        runs = results[results[hue] == mtbf]
        two = runs[runs[x] == "2h"].set_index("seed")[y].to_dict()
        half = runs[runs[x] == "30min"].set_index("seed")[y].to_dict()
        points = {label: rest for label, *rest in by_hue[mtbf]}
        assert points["30min"][0] == 0.0
        expected = paired_ci(two, half)[:3]
        assert points["2h"] == pytest.approx(list(expected), nan_ok=True)
        assert points["2h"][0] == pytest.approx(
            sum(two[seed] - half[seed] for seed in two) / len(two))
    _axis, lines = series(results, x, y, hue, baseline=(hue, "50000h"))
    assert [value for value, _points in lines] == ["5000h"]


def test_baseline_plot_and_its_errors(swept, capsys):
    argv = ["plot", str(swept), "--x", "jobs.pretrain.checkpoint.interval", "--y",
            "jobs.pretrain.goodput", "--hue", "faults.causes.gpu.mtbf"]
    assert main([*argv, "--baseline", "jobs.pretrain.checkpoint.interval=2h"]) == 0
    target = swept / "plots" / "goodput_vs_checkpoint-interval_by_gpu-mtbf_diff.png"
    assert target.read_bytes().startswith(PNG_SIGNATURE)
    for bad, message in (("seed=1", "must be a value of the --x or --hue parameter"),
                         ("jobs.pretrain.checkpoint.interval=3h", "no run has that value "
                          "(one of 30min, 2h)"),
                         ("interval", "--baseline: expected KEY=VALUE")):
        assert main([*argv, "--baseline", bad, "--force"]) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1
