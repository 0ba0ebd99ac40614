"""The llama3 failure preset against Llama 3's Table 5 (arXiv 2407.21783, section 3.3.4).

Meta reports 419 unexpected interruptions of a 16,384-GPU job in a 54-day snapshot, by cause.
The preset sets each cause's per-unit MTBF so that the expected count on that fleet is the
table's count; the scenario is scenarios/llama3-405b-16k.yaml with an explicit step time (the
step-time model does not change failure counts). 20 seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import fleetsim
from fleetsim.scenario.fault_presets import LLAMA3_PLANNED, LLAMA3_TABLE5

EXPLICIT_STEP = {
    "jobs.pretrain.model": None, "jobs.pretrain.global_batch": None,
    "jobs.pretrain.parallelism": None, "jobs.pretrain.micro_batch": None,
    "jobs.pretrain.precision": None, "jobs.pretrain.step_time": "8s",
    "jobs.pretrain.checkpoint.storage_bandwidth": None, "jobs.pretrain.checkpoint.save": "3s",
}
UNEXPECTED = sum(count for *_, count, _ in LLAMA3_TABLE5)  # 419
DAY = 86400.0


@pytest.fixture(scope="module")
def jobs() -> list[dict]:
    path = Path(__file__).resolve().parents[2] / "scenarios" / "llama3-405b-16k.yaml"
    return [fleetsim.run(path, seed=seed, overrides=EXPLICIT_STEP).summary["jobs"]["pretrain"]
            for seed in range(20)]


def test_table5_count_is_a_plausible_draw(jobs):
    """Table 5's 419 lies within 3 run-to-run standard deviations of the simulated mean
    (Poisson: sd ~ sqrt(419) = 20)."""
    counts = np.array([job["interruptions_unexpected"] for job in jobs])
    assert UNEXPECTED == sum(count for *_, count, _ in LLAMA3_TABLE5) == 419
    assert abs(counts.mean() - UNEXPECTED) < 3 * counts.std(ddof=1)


def _exposed_s(jobs) -> float:
    """Time the jobs could be interrupted: not detecting a failure, not waiting for nodes."""
    return sum(job["wall_time_s"] - job["buckets_s"]["detection"]
               - job["buckets_s"]["waiting_for_resources"] for job in jobs)


def test_interruptions_are_poisson_over_the_time_the_job_can_be_hit(jobs):
    """A failure interrupts the job while it runs, saves or restarts; failures while it is
    already stopped (detecting, waiting for nodes) join the interruption in progress. So the
    count is Poisson with mean 419/54 d x (wall - detection - waiting): the total over 20
    seeds within 4 standard errors."""
    expected = UNEXPECTED / (54 * DAY) * _exposed_s(jobs)
    total = sum(job["interruptions_unexpected"] for job in jobs)
    assert abs(total - expected) < 4 * np.sqrt(expected)


def test_cause_mix_matches_table5(jobs):
    """Unexpected interruptions by cause, pooled over the seeds, against Table 5's counts:
    chi-squared goodness of fit (p > 0.001), causes with expected count < 5 pooled."""
    observed = {name: sum(job["interruptions_by_cause"].get(name, 0) for job in jobs)
                for name, *_ in LLAMA3_TABLE5}
    total = sum(observed.values())
    expected = {name: total * count / UNEXPECTED for name, _, count, _ in LLAMA3_TABLE5}
    big = [name for name in observed if expected[name] >= 5]
    small = [name for name in observed if expected[name] < 5]
    obs = [observed[name] for name in big]
    exp = [expected[name] for name in big]
    if small:
        obs.append(sum(observed[name] for name in small))
        exp.append(sum(expected[name] for name in small))
    assert stats.chisquare(obs, exp).pvalue > 0.001


def test_planned_interruptions(jobs):
    """47 planned interruptions in the 54 days (section 3.3.4): Poisson over the exposed time
    like the unexpected ones, the total over 20 seeds within 4 standard errors."""
    expected = LLAMA3_PLANNED / (54 * DAY) * _exposed_s(jobs)
    total = sum(job["interruptions_planned"] for job in jobs)
    assert abs(total - expected) < 4 * np.sqrt(expected)
