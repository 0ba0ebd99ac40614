"""The run plots' choices: the time unit, the goodput axis zoomed to the data, interruptions
as a rug and a histogram, the badput plot of loss buckets only, SLO lines on serving panels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection

from fleetsim.report.plots import (badput_figure, bin_width, goodput_figure, loss_shares,
                                   serving_figure, time_unit, zoomed_limits)

HOUR = 3600.0


@pytest.mark.parametrize("span_s, unit", [
    (90.0, "s"), (20 * 60.0, "min"), (4 * HOUR, "h"), (2 * 86400.0, "h"),
    (54 * 86400.0, "d")])
def test_the_time_unit_follows_the_span(span_s, unit):
    """A 4-hour run is read in hours, a 54-day one in days, never a 4-hour run in days."""
    scale, name = time_unit(span_s)
    assert name == unit
    assert 1.0 <= span_s / scale <= 200.0 or unit == "d"


def _training_run(hours: float = 4.0, interruptions: int = 300):
    """A synthetic training run of ``hours`` with goodput between 0.97 and 0.99."""
    times = np.linspace(0.0, hours * HOUR, 241)
    goodput = 0.98 + 0.01 * np.sin(times / HOUR)
    goodput[0] = np.nan
    timeseries = pd.DataFrame({"time_s": times, "goodput.pretrain": goodput,
                               "gpus_busy": 256, "gpus_spare": 16, "gpus_idle": 0,
                               "gpus_down": 0})
    stops = np.sort(np.random.default_rng(1).uniform(0.0, hours * HOUR, interruptions))
    events = pd.DataFrame({"time_s": stops, "job": "pretrain", "kind": "interruption"})
    wall = hours * HOUR
    summary = {"scenario": "synthetic", "seed": 1, "cluster": {"gpus": 272},
               "jobs": {"pretrain": {"type": "training", "wall_time_s": wall, "goodput": 0.98,
                                     "buckets_s": {"productive": 0.98 * wall,
                                                   "checkpoint_stall": 0.015 * wall,
                                                   "lost_work": 0.005 * wall,
                                                   "restart": 0.0}}}}
    return summary, timeseries, events


def test_goodput_axis_is_zoomed_to_the_data_and_the_time_axis_in_hours():
    summary, timeseries, events = _training_run()
    figure = goodput_figure(summary, ["pretrain"], timeseries, events)
    top, histogram, bottom = figure.axes
    low, high = top.get_ylim()
    values = timeseries["goodput.pretrain"].dropna()
    assert low <= values.min() and high >= values.max()
    assert low > 0.9 and high <= 1.0  # not the 0-1 axis
    assert "not 0" in top.get_title()
    assert bottom.get_xlabel() == "simulated time (h)"
    assert max(line.get_xdata().max() for line in top.get_lines()) == pytest.approx(4.0)


def test_interruptions_are_a_rug_and_a_histogram_not_a_curtain():
    """300 interruptions: 300 short ticks at the foot of the goodput axis (no line spanning
    it) and bins of the histogram adding up to 300."""
    summary, timeseries, events = _training_run(interruptions=300)
    top, histogram, _bottom = goodput_figure(summary, ["pretrain"], timeseries, events).axes
    [rug] = [collection for collection in top.collections
             if isinstance(collection, LineCollection)]
    segments = rug.get_segments()
    assert len(segments) == 300
    assert all(segment[1][1] - segment[0][1] <= 0.1 for segment in segments)  # axes fraction
    assert sum(patch.get_height() for patch in histogram.patches) == 300
    assert "interruptions" in histogram.get_ylabel() and "per 10 min" in histogram.get_ylabel()


def test_zoomed_limits_enclose_the_data_within_zero_and_one():
    assert zoomed_limits([0.97, 0.99]) == pytest.approx((0.965, 0.995))  # margin >= 0.005
    assert zoomed_limits([0.8, 0.89]) == pytest.approx((0.7865, 0.9035))  # 15% of 0.09
    assert zoomed_limits([0.9, 0.99])[1] == 1.0  # a ratio axis stops at 1
    assert zoomed_limits([0.2, 1.0]) == (pytest.approx(0.08), 1.0)
    low, high = zoomed_limits([0.5, 0.5])
    assert low < 0.5 < high
    assert zoomed_limits([np.nan]) == (0.0, 1.0)
    assert bin_width(54 * 86400.0) == 2 * 86400.0 and bin_width(4 * HOUR) == 600.0


def test_badput_shows_only_the_loss_buckets_with_their_share():
    summary, _timeseries, _events = _training_run()
    shares = loss_shares(summary["jobs"]["pretrain"])
    assert [bucket for bucket, _seconds, _share in shares] == ["checkpoint_stall", "lost_work"]
    assert sum(share for *_rest, share in shares) == pytest.approx(0.02)
    figure = badput_figure(summary, ["pretrain"])
    [axes] = figure.axes
    labels = [label.get_text() for label in axes.get_yticklabels()]
    assert labels == ["checkpoint_stall", "lost_work"]
    texts = [text.get_text() for text in axes.texts]
    assert any(text.strip().startswith("1.50%") for text in texts)
    assert any(text.strip().startswith("0.50%") for text in texts)
    assert "%" in axes.get_xlabel()


def test_serving_latency_panel_has_the_ttft_slo_line():
    times = np.arange(0.0, 2 * HOUR + 1, 60.0)
    timeseries = pd.DataFrame({"time_s": times, "throughput_rps.chat": 5.0,
                               "goodput_rps.chat": 4.9, "e2e_p99_s.chat": 20.0,
                               "ttft_p99_s.chat": 0.3, "replicas_up.chat": 4})
    events = pd.DataFrame({"time_s": [1800.0], "job": ["chat"], "kind": ["replica_down"]})
    summary = {"scenario": "s", "seed": 1,
               "jobs": {"chat": {"type": "serving", "slo": {"ttft": 2.0, "tpot": 0.1}}}}
    _top, latency, _bottom = serving_figure(summary, ["chat"], timeseries, events).axes
    flat = [line for line in latency.get_lines() if "SLO" in line.get_label()]
    assert [line.get_label() for line in flat] == ["chat TTFT SLO (2 s)"]
    assert list(flat[0].get_ydata()) == [2.0, 2.0]
    assert latency.get_xlabel() == "" and _bottom.get_xlabel() == "simulated time (min)"
