"""Inputs that would spin a loop for hours are refused before the run, in one line naming the
key; the shipped scenarios stay well inside the budget.

The hangs reported in issue 13 (a bad-node factor of inf or 1e308, a 1 s MTBF with a long
horizon, a gamma cv of 1e30) and every other loop whose count comes from the user (arrivals
x horizon for serving and workload classes, timeseries rows, steps drawn at once) are each
tried here.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fleetsim.budget import EVENT_BUDGET, _renewals, _terms, run_span_s
from fleetsim.errors import ScenarioError
from fleetsim.prepare import load
from fleetsim.scenario.faults import FaultCause

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
CHAT = ROOT / "scenarios" / "chat-serving.yaml"
CAMPUS = ROOT / "scenarios" / "campus-fleet.yaml"
STEP = ROOT / "examples" / "labs" / "06-collectives-and-topology" / "step.yaml"

REFUSED = [
    (QUICKSTART, {"faults.bad_nodes": {"fraction": 0.1, "factor": float("inf")}},
     "faults.bad_nodes.factor: must be <= 1000, got inf"),
    (QUICKSTART, {"faults.bad_nodes": {"fraction": 0.1, "factor": 1e308}},
     "faults.bad_nodes.factor: must be <= 1000, got 1e+308"),
    (QUICKSTART, {"faults.causes.gpu.mtbf": "1s", "horizon": "10y"},
     "faults.causes.gpu.mtbf: expects ~8.6e+10 failures of 'gpu' over 3.65e+03 d"),
    (QUICKSTART, {"faults.causes.host.per_1000_node_days": 1e6, "faults.causes.host.mtbf": None,
                  "horizon": "10y"},
     "faults.causes.host.per_1000_node_days: expects"),
    (QUICKSTART, {"faults.bad_nodes": {"fraction": 0.5, "factor": 1000},
                  "faults.causes.gpu.mtbf": "10h"}, "faults.bad_nodes.factor: expects"),
    (QUICKSTART, {"output.resolution": "1ms"}, "output.resolution: expects ~2.6e+09 timeseries"),
    (QUICKSTART, {"jobs.pretrain.checkpoint": {"policy": "none"}, "jobs.pretrain.steps": "1T"},
     "jobs.pretrain.steps: expects ~1e+12 steps drawn at once"),
    (STEP, {"jobs.train.steps": 2**31}, "jobs.train.steps: expects ~2.1e+09 steps"),
    (CHAT, {"jobs.chat.arrivals": {"process": "gamma", "rate": 1, "cv": 1e30}},
     "jobs.chat.arrivals.cv: must be <= 100"),
    (CHAT, {"jobs.chat.arrivals": {"process": "poisson", "rate": "1M/s"}},
     "jobs.chat.arrivals.rate: expects ~2.2e+10 arrivals drawn over 6 h"),
    (CHAT, {"jobs.chat.arrivals.peak_to_trough": float("inf")},
     "jobs.chat.arrivals.peak_to_trough: must be <= 1e+06, got inf"),
    (CAMPUS, {"workload.classes.pretrain.arrivals.rate": "100/s"},
     "workload.classes.pretrain.arrivals.rate: expects ~6e+07 job arrivals drawn over 7 d"),
]


@pytest.mark.parametrize("path, overrides, words", REFUSED)
def test_a_run_that_would_spin_is_refused_in_one_line(path, overrides, words):
    with pytest.raises(ScenarioError) as caught:
        load(path, overrides=list(overrides.items()))
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}:--set: "), message
    assert words in message, message


def test_the_failure_count_is_units_times_span_over_mtbf():
    """Expected failures of an exponential cause over the horizon = units x T / MTBF
    (superposition of independent Poisson processes; exact arithmetic, tolerance 1e-9):
    quickstart's 272 GPUs at 50,000 h over 30 d give 272 x 720 / 50,000 = 3.9168."""
    prepared = load(QUICKSTART)
    loaded = prepared.loaded
    span = run_span_s(loaded)
    assert span == 30 * 86400.0
    units = {"gpu": 272, "node": 34}
    terms = {term.what: term.events for term in _terms(loaded, span, units.__getitem__, 0)}
    assert terms["failures of 'gpu'"] == pytest.approx(272 * 720 / 50_000, rel=1e-9)
    assert terms["failures of 'host'"] == pytest.approx(34 * 720 / (2 * 365 * 24), rel=1e-9)


def _shipped() -> list[Path]:
    return sorted(ROOT.glob("scenarios/*.yaml")) + sorted(
        path for path in ROOT.glob("examples/labs/*/*.yaml") if "sweep" not in path.name)


@pytest.mark.parametrize("path", _shipped(), ids=lambda path: path.name)
def test_the_shipped_scenarios_stay_far_inside_the_budget(path):
    """Each shipped scenario expects under a tenth of the budget (headroom for sweeps)."""
    prepared = load(path)
    loaded = prepared.loaded
    nodes, per_node = loaded.spec.cluster.nodes, loaded.gpus_per_node
    rows = (len(prepared.workload.trace)
            if prepared.workload is not None and prepared.workload.trace is not None else 0)
    terms = list(_terms(loaded, run_span_s(loaded),
                        lambda scope: nodes * per_node if scope in ("gpu", "leaf") else nodes,
                        rows))
    assert all(term.events < EVENT_BUDGET / 10 for term in terms), max(
        (term.events, term.what) for term in terms)


def _simulated_renewals(draw, span: float, units: int = 4000) -> float:
    """Mean renewals per unit in [0, span] (vectorised over units)."""
    elapsed = np.zeros(units)
    count = np.zeros(units)
    alive = np.ones(units, dtype=bool)
    while alive.any():
        elapsed[alive] += draw(int(alive.sum()))
        ended = alive & (elapsed <= span)
        count[ended] += 1
        alive = ended
    return float(count.mean())


@pytest.mark.parametrize("distribution, parameter, span_h", [
    ("lognormal", {"sigma": 4.0}, 100.0),
    ("lognormal", {"sigma": 1.0}, 10_000.0),
    ("weibull", {"shape": 0.3}, 100.0),
    ("weibull", {"shape": 2.0}, 10_000.0),
])
def test_the_renewal_bound_holds_for_heavy_and_light_tails(distribution, parameter, span_h):
    """Expected renewals of one unit in [0, T] are at most 2T / E[min(L, T)] - 1 (Wald's
    identity on lifetimes capped at T); for T >> MTBF that is at most twice T / MTBF, the
    elementary renewal theorem's count. Ground truth: a Monte Carlo of 4000 units (seed 7);
    the bound must hold within 5% of its noise, the Monte Carlo match T / MTBF within 15%.
    Heavy tails (lognormal sigma 4, Weibull shape 0.3) renew far more often than T / MTBF."""
    mtbf = 1000.0 * 3600
    cause = FaultCause(name="c", scope="gpu", mtbf="1000h", distribution=distribution,
                       **parameter)
    rng = np.random.default_rng(7)
    if distribution == "lognormal":
        sigma = parameter["sigma"]
        mu = math.log(mtbf) - sigma**2 / 2
        draw = lambda n: rng.lognormal(mu, sigma, n)  # noqa: E731
    else:
        shape = parameter["shape"]
        draw = lambda n: rng.weibull(shape, n) * mtbf / math.gamma(1 + 1 / shape)  # noqa: E731
    span = span_h * 3600
    simulated = _simulated_renewals(draw, span)
    bound = _renewals(cause, span, gpus_per_node=8)
    assert bound >= 0.95 * simulated
    if span > 5 * mtbf:
        assert span / mtbf <= bound <= 2 * span / mtbf
        assert simulated == pytest.approx(span / mtbf, rel=0.15)
    else:
        assert simulated > 10 * span / mtbf  # the long-run rate alone would miss them


def test_heavy_tailed_failures_are_refused_not_run():
    """A lognormal lifetime of sigma 10 and mean 1000 h has a median of 7e-16 s: each GPU
    fails ~3e5 times in six hours; the run is refused at the cause."""
    with pytest.raises(ScenarioError) as caught:
        load(QUICKSTART, overrides=[("horizon", "6h"), ("faults.causes.gpu", {
            "name": "gpu", "scope": "gpu", "mtbf": "1000h", "distribution": "lognormal",
            "sigma": 10})])
    assert "faults.causes.gpu.mtbf: expects" in str(caught.value), caught.value


def test_a_job_submitted_after_the_horizon_is_refused():
    with pytest.raises(ScenarioError) as caught:
        load(QUICKSTART, overrides=[("jobs.pretrain.submit", "100y")])
    assert "jobs.pretrain.submit: submitted at 3.65e+04 d, at or after the horizon" in str(
        caught.value), caught.value
