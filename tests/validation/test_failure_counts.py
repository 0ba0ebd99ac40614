"""Failure and interruption counts against the Poisson process they must follow.

Ground truth: superposed exponential units form a Poisson process whose rate is the sum of the
units' rates (superposition theorem; e.g. Ross, Introduction to Probability Models, 5.3); the
count over T is Poisson(lambda T), the failing cause has probability rate_c / lambda, and a
job of n_g GPUs and n_n nodes is hit at rate n_g/MTBF_gpu + n_n/MTBF_node. Repair is 0 so no
unit is ever down (no thinning), and detection is 0 so every hit of the job interrupts it.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import fleetsim

HOURS = 3600.0
GPU_MTBF_H = 4000.0
NODE_MTBF_H = 1000.0
HORIZON_H = 500.0
NODES = 8
SEEDS = range(200)


def _scenario(seed: int) -> dict:
    return {
        "name": "poisson", "seed": seed, "horizon": f"{HORIZON_H}h",
        "cluster": {"node": "dgx-h100", "nodes": NODES, "spares": 2},
        "faults": {"causes": [{"name": "gpu", "scope": "gpu", "mtbf": f"{GPU_MTBF_H}h"},
                              {"name": "host", "scope": "node", "mtbf": f"{NODE_MTBF_H}h"}],
                   "detection": 0, "repair": 0},
        "jobs": [{"name": "job", "type": "training", "gpus": 32, "step_time": "10s",
                  "steps": 10**6, "restart": "1min",
                  "checkpoint": {"policy": "fixed", "interval": "1h", "save": "1min"}}],
    }


@pytest.fixture(scope="module")
def runs() -> list[dict]:
    return [fleetsim.run(_scenario(seed)).summary for seed in SEEDS]


def test_cluster_failure_count_is_poisson(runs):
    """Mean within 4 standard errors of lambda T = 8 nodes x (8/4000 + 1/1000) x 500 = 12;
    dispersion (variance/mean) passes a chi-squared test at p > 0.001."""
    counts = np.array([run["cluster"]["failures"] for run in runs])
    expected = NODES * (8 / GPU_MTBF_H + 1 / NODE_MTBF_H) * HORIZON_H
    assert abs(counts.mean() - expected) < 4 * np.sqrt(expected / len(counts))
    statistic = (len(counts) - 1) * counts.var(ddof=1) / counts.mean()
    p_value = 2 * min(stats.chi2.cdf(statistic, len(counts) - 1),
                      stats.chi2.sf(statistic, len(counts) - 1))
    assert p_value > 0.001


def test_cause_mix_follows_the_rates(runs):
    """Failures by cause agree with the rate shares 2/3 gpu, 1/3 host (chi-squared, p > 0.001)."""
    gpu = sum(run["cluster"]["failures_by_cause"].get("gpu", 0) for run in runs)
    host = sum(run["cluster"]["failures_by_cause"].get("host", 0) for run in runs)
    total = gpu + host
    share_gpu = (8 / GPU_MTBF_H) / (8 / GPU_MTBF_H + 1 / NODE_MTBF_H)
    result = stats.chisquare([gpu, host], [total * share_gpu, total * (1 - share_gpu)])
    assert result.pvalue > 0.001


def test_job_interruptions_follow_the_job_rate(runs):
    """Interruptions per run: Poisson with mean wall / MTBF_job, MTBF_job = 1 / (32/4000 h +
    4/1000 h) = 83.3 h, so 6 per 500 h; the total over 200 runs within 4 standard errors."""
    interruptions = np.array([run["jobs"]["job"]["interruptions"] for run in runs])
    job_rate_per_h = 32 / GPU_MTBF_H + 4 / NODE_MTBF_H
    expected = job_rate_per_h * HORIZON_H * len(runs)
    assert abs(interruptions.sum() - expected) < 4 * np.sqrt(expected)
    assert runs[0]["jobs"]["job"]["job_mtbf_s"] == pytest.approx(HOURS / job_rate_per_h)
