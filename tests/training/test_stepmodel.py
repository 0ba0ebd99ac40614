"""The training step-time model against closed forms and published figures."""

from __future__ import annotations

import math

import pytest

from fleetsim.hardware import Catalogue
from fleetsim.scenario.models import TrainingJobSpec
from fleetsim.topology import build_cluster, place
from fleetsim.scenario.architecture import PRESETS, architecture
from fleetsim.training.plan import (activation_bytes_per_layer, make_plan, memory_per_gpu,
                                    params_per_gpu)
from fleetsim.training.stepmodel import BREAKDOWN, estimate_step


def _job(**fields) -> TrainingJobSpec:
    base = dict(name="job", type="training", steps=10)
    return TrainingJobSpec(**{**base, **fields})


def _estimate(spec: TrainingJobSpec, node_name: str, nodes: int, fabric=None):
    catalogue = Catalogue.load()
    node = catalogue.node(node_name)
    accelerator = catalogue.accelerator(node.accelerator)
    graph = build_cluster(node, nodes, fabric)
    ranks = place(graph, spec.gpus, "packed")
    plan = make_plan(spec)
    return plan, estimate_step(spec, plan, accelerator, node, graph, ranks)


def test_flops_match_megatrons_formula():
    """Korthikanti et al. 2022 (arXiv 2205.05198), model FLOPs per iteration of a GPT model:
    72 B s l h^2 (1 + s/6h + V/12lh); with full recomputation 96 B s l h^2 (1 + s/6h + V/16lh).
    Exact (1e-12) for the 175B benchmark model."""
    arch = architecture("megatron-175b")
    batch, s, l, h, v = 64, arch.seq_len, arch.layers, arch.hidden, arch.vocab
    megatron = 72 * batch * s * l * h**2 * (1 + s / (6 * h) + v / (12 * l * h))
    assert arch.model_flops_per_token() * batch * s == pytest.approx(megatron, rel=1e-12)
    recompute = 96 * batch * s * l * h**2 * (1 + s / (6 * h) + v / (16 * l * h))
    assert arch.hardware_flops_per_token("full") * batch * s == pytest.approx(recompute,
                                                                               rel=1e-12)


@pytest.mark.parametrize("name, published, source", [
    ("llama3-8b", 8.03e9, "Llama 3 model card: 8.03B"),
    ("llama3-70b", 70.6e9, "Llama 3 model card: 70.6B"),
    ("llama3-405b", 405e9, "arXiv 2407.21783 Table 3: 405B"),
    ("gpt3-175b", 175e9, "Brown et al. 2020 Table 2.1: 175.0B"),
    ("mixtral-8x7b", 46.7e9, "arXiv 2401.04088: 47B total (46.7B)"),
])
def test_parameter_counts(name, published, source):
    """Parameter counts of the presets within 1% of the published totals."""
    assert architecture(name).params == pytest.approx(published, rel=0.01), source


def test_mixtral_active_parameters():
    """Mixtral 8x7B uses 13B active parameters per token (arXiv 2401.04088, section 2)."""
    arch = architecture("mixtral-8x7b")
    active = arch.layers * arch.active_layer_params + arch.embedding_params
    assert active == pytest.approx(13e9, rel=0.03)


@pytest.mark.parametrize("pp, micro_batches, virtual", [(4, 8, 1), (8, 8, 1), (8, 64, 1),
                                                         (4, 16, 2), (8, 32, 4)])
def test_pipeline_bubble_matches_the_1f1b_closed_form(pp, micro_batches, virtual):
    """1F1B idle fraction (p-1)/(m+p-1); interleaved with v chunks the bubble is (p-1)/(v m)
    of the ideal time (Narayanan et al., SC'21, section 2.2). tp = dp = 1 so nothing else is
    on the critical path but the (separately reported) point-to-point sends."""
    spec = _job(gpus=pp, model="llama3-8b", global_batch=micro_batches,
                parallelism={"tp": 1, "pp": pp, "virtual_stages": virtual})
    _, estimate = _estimate(spec, "dgx-h100", 1)
    compute, bubble = estimate.breakdown["compute"], estimate.breakdown["pp_bubble"]
    if virtual == 1:
        expected = (pp - 1) / (micro_batches + pp - 1)
        assert bubble / (compute + bubble) == pytest.approx(expected, rel=1e-12)
    assert bubble / compute == pytest.approx((pp - 1) / (virtual * micro_batches), rel=1e-12)


MEGATRON = [  # model, pipeline stages = nodes, global batch, published MFU, tolerance
    ("megatron-22b", 1, 4, 0.415, 0.35),
    ("megatron-175b", 8, 64, 0.514, 0.10),
    ("megatron-530b", 35, 280, 0.560, 0.10),
    ("megatron-1t", 64, 512, 0.563, 0.10),
]


@pytest.mark.parametrize("name, pp, batch, published, tolerance", MEGATRON,
                         ids=[row[0] for row in MEGATRON])
def test_megatron_a100_mfu(name, pp, batch, published, tolerance):
    """Megatron-LM on DGX A100 (README and Korthikanti et al. 2022 Table 3: TP 8, PP = nodes,
    DP 1, micro-batch 1, sequence parallelism with selective recomputation): MFU 41.5% (22B),
    51.4% (175B), 56.0% (530B), 56.3% (1T). With the A100's calibrated kernel efficiency
    (hardware/accelerators/a100-80gb.yaml) the model reproduces 175B-1T within 10% relative.
    The 22B point is over-predicted by ~30% (tolerance 35%): one kernel efficiency per chip
    ignores that GEMMs 768 columns wide (hidden 6144 / tp 8) run further below peak."""
    spec = _job(gpus=8 * pp, model=name, global_batch=batch,
                parallelism={"tp": 8, "pp": pp, "recompute": "selective"})
    _, estimate = _estimate(spec, "dgx-a100", pp)
    assert estimate.mfu == pytest.approx(published, rel=tolerance)


def test_breakdown_adds_up_to_the_step():
    spec = _job(gpus=64, model="llama3-8b", global_batch=256,
                parallelism={"tp": 4, "pp": 2, "zero": 1},
                data_loading={"time": "30s", "workers": 1, "prefetch": 2})
    _, estimate = _estimate(spec, "dgx-h100", 8)
    assert set(estimate.breakdown) == set(BREAKDOWN)
    assert math.fsum(estimate.breakdown.values()) == pytest.approx(estimate.step_s, rel=1e-12)


def test_input_pipeline_hides_behind_compute_or_stalls():
    """With prefetch the loader overlaps the step and stalls only for the excess; without
    prefetch it adds its whole time; enough workers hide it completely."""
    def step(loading: dict | None):
        spec = _job(gpus=8, model="llama3-8b", global_batch=16, parallelism={"tp": 8},
                    data_loading=loading)
        return _estimate(spec, "dgx-h100", 1)[1]

    base = step(None).step_s
    slow = step({"time": f"{3 * base}s", "workers": 1, "prefetch": 2})
    assert slow.step_s == pytest.approx(3 * base, rel=1e-12)
    assert slow.breakdown["input_stall"] == pytest.approx(2 * base, rel=1e-12)
    unprefetched = step({"time": f"{base / 2}s", "workers": 1, "prefetch": 0})
    assert unprefetched.step_s == pytest.approx(1.5 * base, rel=1e-12)
    parallel = step({"time": f"{3 * base}s", "workers": 4, "prefetch": 2})
    assert parallel.breakdown["input_stall"] == 0 and parallel.step_s == pytest.approx(base)


def test_parameter_server_against_ring_all_reduce():
    """A single parameter server receives every worker's gradients and sends back the
    weights: 2 n dp / B_server, against ring all-reduce's 2 n (dp-1)/dp / B (Patarasuk & Yuan
    2009). Here each ring member uses one NIC (its rail) and the server all k = 8 of its node's
    NICs, so PS / ring = dp^2 / (k (dp-1)) = 4.1 for dp = 32 (5%: the ring's latency terms)."""
    def exposed(mode: str) -> float:
        spec = _job(gpus=256, model="llama3-8b", global_batch=256,
                    parallelism={"tp": 8, "dp_mode": mode, "overlap": 0})
        return _estimate(spec, "dgx-h100", 32)[1].breakdown["dp_exposed"]

    ring, server = exposed("all-reduce"), exposed("parameter-server")
    catalogue = Catalogue.load()
    node = catalogue.node("dgx-h100")
    plan = make_plan(_job(gpus=256, model="llama3-8b", global_batch=256,
                          parallelism={"tp": 8}))
    gradients = 2 * params_per_gpu(plan)
    bandwidth = node.nics.count * node.nics.achievable
    assert server == pytest.approx(2 * gradients * 32 / bandwidth, rel=1e-12)
    assert server / ring == pytest.approx(32**2 / (8 * 31), rel=0.05)


def test_gradient_compression_divides_the_data_parallel_time():
    def exposed(ratio: float) -> float:
        spec = _job(gpus=256, model="llama3-8b", global_batch=256,
                    parallelism={"tp": 8, "overlap": 0, "compression": ratio})
        return _estimate(spec, "dgx-h100", 32)[1].breakdown["dp_exposed"]

    assert exposed(4.0) < exposed(1.0) / 2


def test_activation_memory_matches_korthikanti():
    """Korthikanti et al. 2022, Table 2: activations per layer with tensor and sequence
    parallelism and selective recomputation are 34 s b h / t bytes; with full recomputation
    only the layer input, 2 s b h / t."""
    spec = _job(gpus=8, model="gpt3-175b", global_batch=8, parallelism={"tp": 8})
    plan = make_plan(spec)
    arch = plan.arch
    assert activation_bytes_per_layer(plan) == 34 * arch.seq_len * arch.hidden / 8
    full = make_plan(_job(gpus=8, model="gpt3-175b", global_batch=8,
                          parallelism={"tp": 8, "recompute": "full"}))
    assert activation_bytes_per_layer(full) == 2 * arch.seq_len * arch.hidden / 8


def test_zero_stages_shard_optimizer_gradients_and_weights():
    """ZeRO (Rajbhandari et al. 2020): stage 1 divides the optimizer state by dp, stage 2
    also the gradients, stage 3 also the weights."""
    def memory(zero: int):
        return memory_per_gpu(make_plan(_job(gpus=64, model="llama3-8b", global_batch=64,
                                             parallelism={"tp": 8, "zero": zero})))

    plain, one, two, three = (memory(stage) for stage in range(4))
    assert one.optimizer == pytest.approx(plain.optimizer / 8)
    assert two.gradients == pytest.approx(plain.gradients / 8)
    assert three.weights == pytest.approx(plain.weights / 8)
    assert plain.total > one.total > two.total > three.total


def test_every_preset_builds():
    for name in PRESETS:
        assert architecture(name).params > 0
