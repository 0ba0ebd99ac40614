"""A training job's energy against a published figure: BLOOM 176B.

Luccioni, Viguier and Ligozat, "Estimating the Carbon Footprint of BLOOM, a 176B Parameter
Language Model" (arXiv 2211.02001; JMLR 24(253), 2023): the final training ran on 384 A100
80GB (48 nodes of Jean Zay) for 1,082,990 GPU-hours; its *dynamic* energy, GPU-hours x the
A100's 400 W TDP, is 433,196 kWh ("433 MWh"); the idle consumption of the cluster
attributed to the training adds 256,646 kWh, 689,842 kWh together; Jean Zay's PUE is 1.2.
"""

from __future__ import annotations

import pytest

from fleetsim.prepare import load
from fleetsim.runner import simulate

GPU_HOURS = 1_082_990.0
GPUS = 384
DYNAMIC_KWH = 433_196.0
IDLE_KWH = 256_646.0
#: measured H100 training nodes draw ~76% of the 10.2 kW DGX maximum (Newkirk et al. 2025,
#: arXiv 2506.14551); applied to the DGX A100's 6.5 kW [assumption: the same ratio on A100]
MEASURED_SHARE_OF_MAXIMUM = 0.76


def _bloom(**power) -> dict:
    """384 A100 80GB as 48 DGX A100 computing for 1,082,990 / 384 hours, failure-free (the
    reported GPU-hours are the run's), one-minute steps."""
    return {"name": "bloom", "cluster": {"node": "dgx-a100", "nodes": GPUS // 8},
            "power": {"pue": 1.2, **power},
            "jobs": [{"name": "bloom", "type": "training", "gpus": GPUS, "step_time": "1min",
                      "work": f"{GPU_HOURS * 3600 / GPUS}s"}]}


def test_bloom_gpu_energy_at_tdp_is_the_reported_433_mwh():
    """Calibrated, not predicted: the paper's dynamic energy is GPU-hours x the A100's 400 W
    TDP. fleetsim's own job energy with the node drawing only its GPUs at TDP
    (``power.node.compute: 3.2kW`` = 8 x 400 W, no host share) gives 433,196 kWh within 0.1%
    (the step rounding). It checks the run's duration, its GPU-hours, that the catalogue's
    TDP is the paper's, and that the energy accounting integrates them."""
    result = simulate(load(_bloom(node={"compute": "3.2kW"})))
    job = result.summary["jobs"]["bloom"]
    gpu_hours = GPUS * job["wall_time_s"] / 3600
    assert gpu_hours == pytest.approx(GPU_HOURS, rel=1e-3)
    assert 8 * result.scenario.accelerator.power.busy == 3200.0
    assert job["energy"]["it_kwh"] == pytest.approx(DYNAMIC_KWH, rel=1e-3)
    assert job["energy"]["buckets_j"]["productive"] == pytest.approx(job["energy"]["it_j"])


def test_bloom_node_energy_against_dynamic_plus_idle():
    """Predicted: the nodes' IT energy (GPUs and host) against the paper's dynamic + idle
    689,842 kWh. At the catalogue's DGX A100 maximum (6.5 kW) the model is an upper bound:
    48 x 6.5 kW x 2,820 h = 880 MWh, +28% (asserted above the reported figure). At the
    measured ~76% of maximum (``power.node.compute: 4.94kW``, Newkirk et al. 2025 on H100,
    assumed for A100) it predicts 669 MWh, -3%: asserted within 10%. Facility energy is 1.2x
    IT (Jean Zay's PUE as reported)."""
    upper = simulate(load(_bloom())).summary["power"]
    assert upper["energy_it_kwh"] > DYNAMIC_KWH + IDLE_KWH
    measured = simulate(load(_bloom(node={"compute": f"{MEASURED_SHARE_OF_MAXIMUM * 6.5}kW"})))
    power = measured.summary["power"]
    assert power["energy_it_kwh"] == pytest.approx(DYNAMIC_KWH + IDLE_KWH, rel=0.10)
    assert power["energy_facility_kwh"] == pytest.approx(1.2 * power["energy_it_kwh"])
    energy = measured.summary["jobs"]["bloom"]["energy"]
    assert energy["per_step_j"] == pytest.approx(48 * 4_940.0 * 60.0, rel=1e-9)
