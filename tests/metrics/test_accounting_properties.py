"""Property tests of the goodput accounting over random scenarios (hypothesis).

Invariants (DESIGN.md, "Accounting"): every second of a job's wall clock lands in exactly one
bucket, so the buckets sum to the wall time to floating-point precision; goodput is in [0, 1];
a finished job's productive time is exactly its steps times the straggler-free step time (no
work is counted twice or lost from the books, the straggler excess is its own bucket); the
cluster's GPU states always add up to its size. Scenarios draw every failure scope and
lifetime law, planned stops, silent corruption, repair pipelines, bad nodes, jitter, slow
nodes, eviction, elastic jobs and every checkpoint mode.
"""

from __future__ import annotations

import math
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fleetsim
from fleetsim.metrics import BUCKETS


@st.composite
def scenarios(draw) -> dict:
    nodes = draw(st.integers(1, 6))
    spares = draw(st.integers(0, nodes - 1))
    usable = nodes - spares
    jobs = []
    for index in range(draw(st.integers(1, 2))):
        policy = draw(st.sampled_from(["fixed", "young", "daly", "none"]))
        checkpoint = {"policy": policy, "save": f"{draw(st.integers(0, 600))}s",
                      "load": f"{draw(st.integers(0, 600))}s",
                      "mode": draw(st.sampled_from(["sync", "async", "in-memory"])),
                      "snapshot": f"{draw(st.integers(0, 30))}s",
                      "memory_load": f"{draw(st.integers(0, 60))}s",
                      "remote_every": draw(st.integers(1, 5))}
        if policy == "fixed":
            checkpoint["interval"] = f"{draw(st.integers(1, 20000))}s"
        jobs.append({
            "name": f"job{index}", "type": "training",
            "gpus": 8 * draw(st.integers(1, usable)),
            "step_time": f"{draw(st.floats(0.5, 100.0))}s",
            "steps": draw(st.integers(1, 3000)),
            "restart": f"{draw(st.integers(0, 1800))}s",
            "checkpoint": checkpoint,
            **({"elastic": {"min_fraction": draw(st.floats(0.1, 1.0))}}
               if draw(st.booleans()) else {}),
        })
    causes = [{"name": "gpu", "scope": "gpu", "mtbf": f"{draw(st.floats(20, 5000))}h",
               "distribution": draw(st.sampled_from(["exponential", "weibull", "lognormal"])),
               "shape": draw(st.floats(0.5, 3))},
              {"name": "host", "scope": "node", "mtbf": f"{draw(st.floats(10, 5000))}h"},
              {"name": "switch", "scope": "leaf", "mtbf": f"{draw(st.floats(10, 5000))}h"},
              {"name": "bug", "scope": "job", "mtbf": f"{draw(st.floats(10, 5000))}h",
               "detection": f"{draw(st.integers(0, 900))}s"},
              {"name": "upgrade", "scope": "job", "planned": True,
               "mtbf": f"{draw(st.floats(10, 5000))}h"},
              {"name": "sdc", "scope": "gpu", "silent": True,
               "mtbf": f"{draw(st.floats(20, 5000))}h",
               "detection": f"{draw(st.integers(0, 20000))}s"}]
    repair = draw(st.one_of(
        st.integers(0, 36000).map(lambda seconds: f"{seconds}s"),
        st.fixed_dictionaries({"automatic": st.just("2h"), "manual": st.just("1d"),
                               "escalation": st.floats(0, 1),
                               "false_repair_automatic": st.floats(0, 0.5)})))
    scenario = {
        "name": "prop", "seed": draw(st.integers(0, 2**32 - 1)),
        "cluster": {"node": "dgx-h100", "nodes": nodes, "spares": spares},
        "faults": {
            "causes": draw(st.lists(st.sampled_from(causes), unique_by=lambda c: c["name"],
                                    max_size=6)),
            "detection": f"{draw(st.integers(0, 1800))}s",
            "repair": repair,
            "bad_nodes": {"fraction": draw(st.floats(0, 0.5)), "factor": 3},
        },
        "stragglers": {
            "jitter": draw(st.sampled_from([{"distribution": "none"},
                                            {"distribution": "exponential", "mean": 0.02},
                                            {"distribution": "lognormal", "sigma": 1.0}])),
            "slow_nodes": {"fraction": draw(st.floats(0, 0.5)), "slowdown": 1.3,
                           "mtbs": f"{draw(st.floats(10, 1000))}h", "duration": "20h"},
            "mitigation": {"policy": draw(st.sampled_from(["none", "evict"])),
                           "after_steps": draw(st.integers(1, 200))},
        },
        "jobs": jobs,
    }
    if draw(st.booleans()):
        scenario["horizon"] = f"{draw(st.floats(0.5, 200.0))}h"
    return scenario


@settings(max_examples=int(os.environ.get("FLEETSIM_PROPERTY_EXAMPLES", 60)), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_buckets_sum_to_wall_time(scenario):
    result = fleetsim.run(scenario)
    for spec in scenario["jobs"]:
        job = result.summary["jobs"][spec["name"]]
        assert set(job["buckets_s"]) == set(BUCKETS)
        assert all(value >= 0 for value in job["buckets_s"].values())
        total = math.fsum(job["buckets_s"].values())
        assert math.isclose(total, job["wall_time_s"], rel_tol=1e-9, abs_tol=1e-6)
        assert 0.0 <= job["goodput"] <= 1.0 + 1e-12
        if job["completed"]:
            step_s = float(spec["step_time"][:-1])
            assert job["steps_completed"] == spec["steps"]
            assert math.isclose(job["buckets_s"]["productive"], spec["steps"] * step_s,
                                rel_tol=1e-9)
    series = result.timeseries
    states = series[["gpus_busy", "gpus_down", "gpus_spare", "gpus_idle"]].sum(axis=1)
    assert (states == result.summary["cluster"]["gpus"]).all()
