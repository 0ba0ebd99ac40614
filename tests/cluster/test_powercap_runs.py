"""Runs under a power cap: step times stretched by the curve, re-timed when the busy set
changes, capped power in the energy accounting, bad caps refused."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fleetsim import prepare
from fleetsim.hardware.powercap import compute_slowdown
from fleetsim.power.profile import integral
from fleetsim.runner import simulate

HOST_W = 10_200.0 - 8 * 700.0  # DGX H100: node busy minus its GPUs' busy power


def _run(cap=None, second=True):
    jobs = [{"name": "a", "type": "training", "gpus": 16, "step_time": "10s", "steps": 360}]
    if second:
        jobs.append({"name": "b", "type": "training", "gpus": 16, "step_time": "10s",
                     "steps": 180, "submit": "10min"})
    data = {"name": "cap", "seed": 1, "cluster": {"node": "dgx-h100", "nodes": 4},
            "jobs": jobs}
    if cap is not None:
        data["power"] = {"cap": cap}
    return simulate(prepare.load(data)).summary


def test_accelerator_cap_stretches_steps_by_the_curve():
    """Closed form: a job of 360 steps of 10 s, all compute, under a 500 W GPU cap takes
    3600 x (700 / 500) ** CAP_EXPONENT s; the excess is its power_cap bucket; its nodes draw
    the host's 4.6 kW plus 8 x 500 W while computing, so its energy is 2 x 8.6 kW x wall."""
    free, capped = _run(second=False), _run({"accelerator": "500W"}, second=False)
    factor = compute_slowdown(500.0, 700.0)
    job = capped["jobs"]["a"]
    assert free["jobs"]["a"]["wall_time_s"] == pytest.approx(3600.0, rel=1e-12)
    assert job["wall_time_s"] == pytest.approx(3600.0 * factor, rel=1e-12)
    assert job["buckets_s"]["power_cap"] == pytest.approx(3600.0 * (factor - 1), rel=1e-9)
    assert job["energy"]["it_j"] == pytest.approx(2 * (HOST_W + 8 * 500.0)
                                                  * job["wall_time_s"], rel=1e-9)
    assert job["energy"]["buckets_j"]["slowdown"] == pytest.approx(
        2 * (HOST_W + 8 * 500.0) * 3600.0 * (factor - 1), rel=1e-9)


def test_node_cap_equals_its_accelerator_cap():
    """A node cap of 8.6 kW leaves (8.6 - 4.6) / 8 = 500 W per GPU: the same run."""
    by_node = _run({"node": "8.6kW"}, second=False)["jobs"]["a"]["wall_time_s"]
    by_gpu = _run({"accelerator": "500W"}, second=False)["jobs"]["a"]["wall_time_s"]
    assert by_node == pytest.approx(by_gpu, rel=1e-12)


def test_cluster_cap_retimes_running_jobs_when_the_busy_set_changes():
    """Closed form: 4 DGX H100 under 30 kW. Job a alone on 2 nodes gets (30 - 2 x 2.5) / 2
    = 12.5 kW per node, above its 10.2 kW: no slowdown. From 600 s b shares the cap: 7.5 kW
    per node, (7.5 - 4.6) / 8 = 362.5 W per GPU, slowdown s. b's 1800 s of steps take
    1800 s; a is re-timed mid-segment at 600 s and again when b leaves, so it ends at
    600 + 1800 s + 1200."""
    summary = _run({"cluster": "30kW"})
    s = compute_slowdown(362.5, 700.0)
    assert summary["power"]["cap"] == {  # a alone: (12.5 - 4.6) / 8 = 987.5 W, above 700 W
        "scope": "cluster", "cap_w": 30e3, "accelerator_cap_w": {"min": 362.5, "max": 987.5},
        "compute_slowdown": {"min": 1.0, "max": s}}
    assert summary["jobs"]["b"]["end_s"] == pytest.approx(600 + 1800 * s, rel=1e-12)
    assert summary["jobs"]["a"]["end_s"] == pytest.approx(600 + 1800 * s + 1200, rel=1e-12)
    assert summary["jobs"]["a"]["buckets_s"]["power_cap"] == pytest.approx(1800 * (s - 1),
                                                                          rel=1e-9)
    peak = summary["power"]["power_it_peak_w"]
    assert peak <= 30e3 * (1 + 1e-12)


def test_a_cap_above_the_busy_draw_costs_nothing():
    free = _run()
    loose = _run({"cluster": "1MW"})
    assert loose["jobs"] == free["jobs"]
    assert free["power"]["cap"] is None
    assert loose["power"]["cap"]["accelerator_cap_w"]["min"] > 700.0
    assert loose["power"]["cap"]["compute_slowdown"] == {"min": 1.0, "max": 1.0}


# quickstart: 34 DGX H100. A node's host draws 4.6 kW, waiting (stall, loading) 4.6 + 8 x
# 0.1 = 5.4 kW; an H100 accepts caps from 200 W (DGX H100 user guide, AllowableMin), so a
# node cap must be at least 4.6 + 8 x 0.2 = 6.2 kW, a cluster cap at least 32 x 6.2 kW + 2 x
# 2.5 kW (its 2 hot spares are never busy, they idle).
@pytest.mark.parametrize("overrides, key, words", [
    (["power.cap.accelerator=-5W"], "power.cap.accelerator", "must be > 0"),
    (["power.cap.accelerator=150W"], "power.cap.accelerator",
     "at least 200 W to leave h100-sxm's lowest settable power limit (200 W)"),
    (["power.cap.node=6kW"], "power.cap.node", "at least 6200 W"),
    (["power.cap.cluster=203kW"], "power.cap.cluster", "at least 203400 W"),
    (["power.cap.cluster=lots"], "power.cap.cluster", "invalid power"),
    # a waiting node's draw above what the cap leaves it
    (["power.node.stall=8kW", "power.cap.node=7kW"], "power.cap.node",
     "at least 8000 W to leave each node its waiting draw (8000 W"),
    # a high idle draw (the derived waiting draw too): 34 nodes x 9 kW
    (["power.node.idle=9kW", "power.cap.cluster=250kW"], "power.cap.cluster",
     "at least 306000 W"),
    # the catalogue's idle (2.5 kW) above a compute override
    (["power.node.compute=2kW"], "power.node.compute",
     "below the node's idle power (2500 W, dgx-h100's power.idle in the catalogue)"),
    (["power.node.stall=11kW"], "power.node.stall",
     "must not exceed the node's compute power (10200 W, dgx-h100's power.busy"),
    # a node waiting for its job below an unallocated one
    (["power.node.stall=1W"], "power.node.stall",
     "1 W is below the node's idle power (2500 W, dgx-h100's power.idle in the catalogue)"),
])
def test_bad_caps_are_one_line_exit_2(root, overrides, key, words):
    """A cap that leaves an accelerator less than its vendor's lowest limit or its idle draw,
    or a node less than its waiting draw, in any split of the cluster, and node power that
    contradicts the catalogue, are refused before the run (they used to pass and give a
    negative cap mid-run, or a cluster over its cap)."""
    sets = [arg for override in overrides for arg in ("--set", override)]
    process = subprocess.run(
        [sys.executable, "-m", "fleetsim", "run", str(root / "scenarios" / "quickstart.yaml"),
         *sets, "--quiet"], capture_output=True, text=True, cwd=root, timeout=120)
    assert process.returncode == 2
    lines = process.stderr.splitlines()
    assert len(lines) == 1 and f": {key}: " in lines[0] and words in lines[0], lines


def test_caps_at_their_least_are_accepted(root):
    """The bounds the errors state are inclusive where a vendor's minimum sets them: 200 W
    per H100, a 6.2 kW node, 32 x 6.2 kW + 2 x 2.5 kW for the quickstart cluster."""
    for override in ("power.cap.accelerator=200W", "power.cap.node=6.2kW",
                     "power.cap.cluster=203.4kW"):
        process = subprocess.run(
            [sys.executable, "-m", "fleetsim", "validate",
             str(root / "scenarios" / "quickstart.yaml"), "--set", override],
            capture_output=True, text=True, cwd=root, timeout=120)
        assert process.returncode == 0, (override, process.stderr)


def test_a_compute_override_below_the_accelerators_busy_power_stays_positive():
    """``power.node.compute`` below 8 x 700 W: no host share is left, and a capped
    accelerator draws min(compute / 8, cap) = min(375, 300) = 300 W while computing (it used
    to draw compute / 8 - (700 - 300) < 0). Closed form: the job's nodes draw 2 x 8 x 300 W
    while it runs."""
    data = {"name": "low", "seed": 1, "cluster": {"node": "dgx-h100", "nodes": 2},
            "power": {"node": {"compute": "3kW", "idle": "2kW"}, "cap": {"accelerator": "300W"}},
            "jobs": [{"name": "a", "type": "training", "gpus": 16, "step_time": "10s",
                      "steps": 36}]}
    job = simulate(prepare.load(data)).summary["jobs"]["a"]
    assert job["energy"]["running_power_per_gpu_w"] == pytest.approx(300.0, rel=1e-12)
    assert job["energy"]["it_j"] == pytest.approx(16 * 300.0 * job["wall_time_s"], rel=1e-9)
    assert min(job["energy"]["buckets_j"].values()) >= 0


@pytest.mark.parametrize("spares, cap_w", [(0, 62e3), (2, 8 * 6.2e3 + 2 * 2.5e3)])
def test_a_tight_cluster_cap_holds_through_restarts(spares, cap_w):
    """Invariant: the fleet's IT power never exceeds a cluster cap set at its least (10 DGX
    H100: 10 x 6.2 kW; with 2 hot spares, which never compute, 8 x 6.2 + 2 x 2.5 kW), with
    frequent failures: a job restarting, or waiting for replacements, keeps its share of the
    cap and draws 5.4 kW per node within it, and a failed node's share goes to the busy ones
    only once it is replaced."""
    data = {"name": "tight", "seed": 3, "horizon": "2d",
            "cluster": {"node": "dgx-h100", "nodes": 10, "spares": spares},
            "faults": {"causes": [{"name": "gpu", "scope": "gpu", "mtbf": "400h"}],
                       "detection": "5min", "repair": "2h"},
            "power": {"cap": {"cluster": f"{cap_w}W"}},
            "jobs": [{"name": f"train{i}", "type": "training", "gpus": 24 if spares == 0 else 16,
                      "step_time": "10s",
                      "steps": 20000, "restart": "20min",
                      "checkpoint": {"policy": "fixed", "interval": "30min", "save": "1min",
                                     "load": "5min"}} for i in range(3)]}
    result = simulate(prepare.load(data))
    summary = result.summary
    assert summary["cluster"]["failures"] >= 5
    assert sum(job["buckets_s"]["restart"] for job in summary["jobs"].values()) > 0
    assert float(result.power.it_w.max()) <= cap_w * (1 + 1e-9)


def test_energy_under_a_cluster_cap_is_the_integral_of_its_power():
    """Under a cluster cap whose share changes twice, each job's energy buckets add up to its
    IT energy, which equals the integral of its power step function; so does the fleet's."""
    data = {"name": "cap", "seed": 1, "cluster": {"node": "dgx-h100", "nodes": 4},
            "power": {"cap": {"cluster": "30kW"}},
            "jobs": [{"name": "a", "type": "training", "gpus": 16, "step_time": "10s",
                      "steps": 360},
                     {"name": "b", "type": "training", "gpus": 16, "step_time": "10s",
                      "steps": 180, "submit": "10min"}]}
    result = simulate(prepare.load(data))
    power, end = result.power, result.summary["sim_time_s"]
    for job in power.jobs.values():
        assert sum(job.buckets_j.values()) == pytest.approx(integral(job.times, job.watts, end),
                                                            rel=1e-12)
    assert power.energy_it_j == pytest.approx(integral(power.times, power.it_w, end), rel=1e-12)


def test_cluster_cap_holds_with_failures_and_a_serving_job():
    """Invariant: under a cluster cap the fleet's IT power never exceeds it, also when nodes
    fail and are replaced (the busy set follows the fleet's holdings) and a serving job's
    replicas share the cap (its nodes count as busy)."""
    data = {"name": "mixed", "seed": 5, "horizon": "12h",
            "cluster": {"node": "dgx-h100", "nodes": 10, "spares": 1},
            "faults": {"causes": [{"name": "gpu", "scope": "gpu", "mtbf": "300h"}],
                       "detection": "2min", "repair": "1h"},
            "power": {"cap": {"cluster": "70kW"}},
            "jobs": [
                {"name": "chat", "type": "serving", "model": "llama3-8b", "replicas": 2,
                 "arrivals": {"process": "poisson", "rate": "2/s"},
                 "prompt_tokens": {"distribution": "fixed", "value": 500},
                 "output_tokens": {"distribution": "fixed", "value": 200}},
                *({"name": f"train{i}", "type": "training", "gpus": 16, "step_time": "10s",
                   "steps": 3000, "submit": f"{i}h",
                   "checkpoint": {"policy": "fixed", "interval": "30min", "save": "1min"}}
                  for i in range(4))]}
    summary = simulate(prepare.load(data)).summary
    assert summary["cluster"]["failures"] > 0
    assert summary["power"]["power_it_peak_w"] <= 70e3 * (1 + 1e-9)
    assert sum(job["buckets_s"]["power_cap"] for name, job in summary["jobs"].items()
               if name.startswith("train")) > 0


def test_cap_energy_saving_against_mcdonald_et_al():
    """McDonald et al. 2022 (arXiv:2205.09646): GPUs capped at 0.6 of TDP trained 6.8 %
    slower (the curve's calibration point, so the time is exact) and used 13.7 % less energy
    (predicted here). A capped GPU draws min(its average draw, the cap). With GPUs at TDP
    while computing (fleetsim's default, an upper bound) the saving would be 1 - 0.6 x 1.068
    = 36 %. With GPUs averaging 76 % of TDP (Newkirk et al. 2025, arXiv 2506.14551, measured
    ~76 % of the DGX H100 maximum; applied to the GPUs here, an assumption) it is
    1 - 0.6 x 1.068 / 0.76 = 15.7 %: asserted within 3 points of the measured 13.7 %.
    Nodes are GPUs only (``power.node.compute`` = 8 x 0.76 x 700 W, no host)."""
    def run(cap):
        data = {"name": "mcdonald", "seed": 1, "cluster": {"node": "dgx-h100", "nodes": 1},
                "power": {"node": {"compute": f"{8 * 0.76 * 700}W", "idle": "800W"}},
                "jobs": [{"name": "a", "type": "training", "gpus": 8, "step_time": "10s",
                          "steps": 360}]}
        if cap:
            data["power"]["cap"] = {"accelerator": "420W"}
        return simulate(prepare.load(data)).summary["jobs"]["a"]

    free, capped = run(False), run(True)
    assert capped["wall_time_s"] / free["wall_time_s"] == pytest.approx(1.068, rel=1e-9)
    saving = 1 - capped["energy"]["it_j"] / free["energy"]["it_j"]
    assert saving == pytest.approx(1 - 0.6 * 1.068 / 0.76, rel=1e-9)
    assert saving == pytest.approx(0.137, abs=0.03)
