"""The training step-time model against closed forms (published MFU: test_published_mfu.py)."""

from __future__ import annotations

import math

import pytest

from fleetsim.hardware import Catalogue
from fleetsim.scenario.models import TrainingJobSpec
from fleetsim.topology import build_cluster, place
from fleetsim.scenario.architecture import PRESETS, architecture
from fleetsim.training.kernels import CALIBRATION
from fleetsim.training.plan import (PlanError, activation_bytes_per_layer, make_plan,
                                    memory_per_gpu, params_per_gpu, stage_layers)
from fleetsim.training.stepmodel import BREAKDOWN, estimate_step, rank_groups


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


KORTHIKANTI_TABLE2 = [  # (tp, sequence parallel, recompute, bytes per s b h as f(a s / h, t))
    (1, False, "none", lambda r, t: 34 + 5 * r),
    (8, False, "none", lambda r, t: 10 + 24 / t + 5 * r / t),
    (8, True, "none", lambda r, t: 34 / t + 5 * r / t),
    (8, False, "selective", lambda r, t: 10 + 24 / t),
    (8, True, "selective", lambda r, t: 34 / t),
    (8, False, "full", lambda r, t: 2),
    (8, True, "full", lambda r, t: 2 / t),  # the kept input in its sequence-parallel shard
]


@pytest.mark.parametrize("tp, sequence_parallel, recompute, expected", KORTHIKANTI_TABLE2)
def test_activation_memory_matches_korthikanti(tp, sequence_parallel, recompute, expected):
    """Korthikanti et al. 2022 (arXiv 2205.05198), Table 2: activations per GPT-3 layer (with
    dropout, unfused attention) for each combination of tensor and sequence parallelism and
    recomputation. Exact (1e-12)."""
    spec = _job(gpus=tp, model="gpt3-175b", global_batch=8, attention="standard", dropout=True,
                parallelism={"tp": tp, "sequence_parallel": sequence_parallel,
                             "recompute": recompute})
    plan = make_plan(spec)
    arch = plan.arch
    sbh = arch.seq_len * arch.hidden
    ratio = arch.heads * arch.seq_len / arch.hidden
    assert activation_bytes_per_layer(plan) == pytest.approx(sbh * expected(ratio, tp),
                                                             rel=1e-12)


def test_activations_per_architecture_llama3_405b():
    """Korthikanti's accounting per architecture (fleetsim/training/activations.py): with
    grouped-query attention K and V take kv_heads/heads of Q's bytes, SwiGLU keeps gate, up and
    their product (3 x 2 ffn/h), no dropout masks, and FlashAttention keeps no s x s scores.
    Llama 3 405B (h 16384, ffn 53248, 128 heads, 8 KV heads), TP 8 with sequence parallelism:
    (8 + 2 (2 + 2/16) + 6 x 3.25) / 8 = 31.75 / 8 bytes per token and hidden unit, against
    GPT-3's 34/8 + 5 a s / (8 h) = 4.25 + 25 unfused without recomputation."""
    def per_layer(**fields) -> float:
        spec = _job(gpus=8, model="llama3-405b", global_batch=8, **fields)
        return activation_bytes_per_layer(make_plan(spec))

    arch = architecture("llama3-405b")
    sbh = arch.seq_len * arch.hidden
    flash = per_layer(parallelism={"tp": 8, "recompute": "none"})
    assert flash == pytest.approx(sbh * 31.75 / 8, rel=1e-12)
    assert per_layer(parallelism={"tp": 8, "recompute": "selective"}) == flash
    unfused = per_layer(attention="standard", parallelism={"tp": 8, "recompute": "none"})
    assert unfused - flash == pytest.approx(sbh * 2 * arch.heads * arch.seq_len
                                            / arch.hidden / 8, rel=1e-12)


def test_context_parallelism_shards_the_sequence():
    """With cp ranks per sequence each GPU holds s/cp of the tokens' activations, computes its
    queries' share of the layer (the attention of s/cp queries against all s keys), and pays
    an all-gather of K and V per layer that cp = 1 does not. Its compute is a quarter for
    cp = 4, within 10% (GEMMs of s/cp rows are less efficient)."""
    def run(cp: int):
        spec = _job(gpus=8 * cp, model="llama3-8b", global_batch=16, attention="flash",
                    parallelism={"tp": 8, "cp": cp, "recompute": "none"})
        return _estimate(spec, "dgx-h100", cp)

    (plain, one), (split, four) = run(1), run(4)
    assert activation_bytes_per_layer(split) == pytest.approx(
        activation_bytes_per_layer(plain) / 4, rel=1e-12)
    assert one.breakdown["cp_comm"] == 0 < four.breakdown["cp_comm"]
    quarter = one.breakdown["compute"] / 4  # a bit more: GEMMs of s/cp rows run less efficiently
    assert quarter < four.breakdown["compute"] < 1.1 * quarter


def test_rank_order_places_each_dimension():
    """Llama 3's order [TP, CP, PP, DP] (arXiv 2407.21783 section 3.3.2): a GPU's CP peers are
    tp ranks apart, its next pipeline stage tp x cp, its DP peers tp x cp x pp; Megatron's
    default tp-cp-dp-pp puts DP inside PP."""
    ranks = [f"g{index}" for index in range(2 * 2 * 2 * 2)]
    llama = make_plan(_job(gpus=16, model="llama3-8b", global_batch=4,
                           parallelism={"tp": 2, "cp": 2, "pp": 2, "order": "tp-cp-pp-dp"}))
    groups = rank_groups(llama, ranks)
    assert list(groups.tp) == ["g0", "g1"] and list(groups.cp) == ["g0", "g2"]
    assert groups.pp_next == ("g0", "g4")
    assert list(groups.dp) == ["g0", "g2", "g8", "g10"]  # gradients: dp x cp replicas
    megatron = make_plan(_job(gpus=16, model="llama3-8b", global_batch=4,
                              parallelism={"tp": 2, "cp": 2, "pp": 2}))
    groups = rank_groups(megatron, ranks)
    assert groups.pp_next == ("g0", "g8") and list(groups.dp) == ["g0", "g2", "g4", "g6"]


def test_stage_layers():
    """An even split with the remainder on the first stages, or first/last stages fixed (Llama
    3: one layer fewer on the first and last of 16 stages for 126 layers)."""
    assert stage_layers(126, 16, None, None) == (8,) * 14 + (7, 7)
    assert stage_layers(126, 16, 7, 7) == (7,) + (8,) * 14 + (7,)
    assert stage_layers(10, 2, 4, 6) == (4, 6)
    with pytest.raises(ValueError):
        stage_layers(10, 3, 6, 6)


def test_gemm_efficiency_grows_with_every_dimension():
    """The shape model (fleetsim/training/kernels.py) is monotone and tends to the large-GEMM
    efficiency; a GEMM one half-dimension wide in one dimension runs at half of it."""
    kernels = CALIBRATION["a100-80gb"]
    d = kernels.half_dim
    big = 1e9
    assert kernels.gemm_fraction(big, big, big) == pytest.approx(kernels.gemm, rel=1e-6)
    assert kernels.gemm_fraction(big, d, big) == pytest.approx(kernels.gemm / 2, rel=1e-6)
    widths = [256, 768, 1536, 4096, 16384]
    fractions = [kernels.gemm_fraction(2048, width, width) for width in widths]
    assert fractions == sorted(fractions)


def test_flash_attention_skips_the_masked_half():
    """FlashAttention computes the unmasked half of a causal s x s attention; its backward
    recomputes the scores (2.5 x the forward's FLOPs). At 32K tokens Llama 3 8B's attention
    core is a large share of the step, so flash is faster than unfused attention."""
    def step(attention: str) -> float:
        arch = {**PRESETS["llama3-8b"], "seq_len": 32768}
        spec = _job(gpus=8, model=arch, global_batch=8, attention=attention,
                    parallelism={"tp": 8, "recompute": "full"})
        return _estimate(spec, "dgx-h100", 1)[1].step_s

    assert step("flash") < step("standard")


def test_plan_rejects_what_does_not_split():
    with pytest.raises(PlanError, match="does not divide gpus"):
        make_plan(_job(gpus=16, model="llama3-8b", global_batch=16,
                       parallelism={"tp": 8, "cp": 4}))
    with pytest.raises(PlanError, match="2 x cp"):
        make_plan(_job(gpus=8 * 3, model={**PRESETS["llama3-8b"], "seq_len": 8188},
                       global_batch=16, parallelism={"tp": 8, "cp": 3}))
    with pytest.raises(PlanError, match="too few"):
        make_plan(_job(gpus=32, model="llama3-8b", global_batch=16,
                       parallelism={"tp": 8, "pp": 4, "virtual_stages": 9}))
    with pytest.raises(ValueError, match="order"):
        _job(gpus=8, model="llama3-8b", global_batch=8, parallelism={"order": "tp-dp-pp"})


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
