"""Validation of the serving cost model against published sizes and roofline regimes."""

from __future__ import annotations

import math

import pytest

from fleetsim.hardware import Catalogue
from fleetsim.serving.cost import (ServingCost, ServingCostError, kv_bytes_per_token,
                                   speculative_expected_tokens, speculative_speedup)
from fleetsim.scenario.architecture import Architecture


@pytest.fixture(scope="module")
def h100():
    return Catalogue.load().accelerator("h100-sxm")


def test_kv_bytes_llama31_8b_exact():
    """Llama-3.1-8B, bf16: 2 * 32 layers * 8 kv heads * 128 head dim * 2 B = 131,072 B
    (128 KiB/token, shared/REFERENCE.md "Serving" [D]). Exact."""
    assert kv_bytes_per_token("llama3-8b", 2) == 131_072


def test_kv_bytes_opt13b_vllm_paper():
    """vLLM paper (Kwon et al., SOSP'23) §3: OPT-13B needs 800 KB per token
    (2 * 40 layers * 5120 hidden * 2 B = 819,200 B = 800 KiB). Exact."""
    opt13b = Architecture(layers=40, hidden=5120, heads=40, vocab=50272, seq_len=2048,
                          gated_mlp=False)
    assert kv_bytes_per_token(opt13b, 2) == 800 * 1024


def test_decode_memory_bound_prefill_compute_bound(h100):
    """Roofline regimes on H100 for Llama-3-8B (DESIGN.md "Models"; Sarathi-Serve §2): a
    2,048-token prefill is compute-bound; a decode of 32 sequences of 1,000-token context
    is memory-bound (arithmetic intensity ~ batch FLOP/byte, far below H100's ~300)."""
    cost = ServingCost("llama3-8b", h100)
    prefill = cost.prefill_roofline([2048])
    decode = cost.decode_roofline([1000] * 32)
    assert prefill.bound == "compute" and prefill.compute_s > 2 * prefill.memory_s
    assert decode.bound == "memory" and decode.memory_s > 5 * decode.compute_s
    # both rooflines are memory-bound; the CPU overhead (3 ms + 0.2 ms per sequence) is
    # added on top
    assert cost.decode_time([1000] * 32) == pytest.approx(decode.memory_s + 3e-3 + 32 * 2e-4)


def test_decode_time_grows_with_context_and_batch(h100):
    cost = ServingCost("llama3-8b", h100)
    assert cost.decode_time([100] * 8) < cost.decode_time([4000] * 8)
    assert cost.decode_time([1000] * 8) < cost.decode_time([1000] * 64)


def test_tensor_parallel_divides_and_adds_allreduces(h100):
    """TP divides FLOPs and bytes by tp and adds 2 all-reduces per layer of
    tokens * hidden * dtype bytes (Megatron-LM, Shoeybi et al. 2019)."""
    sizes = []

    def allreduce(size_bytes: float) -> float:
        sizes.append(size_bytes)
        return 1e-5

    one = ServingCost("llama3-70b", h100, tp=1, reserve_fraction=0.0)
    four = ServingCost("llama3-70b", h100, tp=4, allreduce_time=allreduce)
    r1, r4 = one.decode_roofline([1000] * 16), four.decode_roofline([1000] * 16)
    assert r4.memory_s == pytest.approx(r1.memory_s / 4)
    assert r4.compute_s == pytest.approx(r1.compute_s / 4)
    assert sizes[-1] == 16 * 8192 * 2
    assert r4.communication_s == pytest.approx(2 * 80 * 1e-5)
    # 8-bit weights still all-reduce 16-bit activations
    ServingCost("llama3-70b", h100, dtype="fp8", tp=4, allreduce_time=allreduce).decode_roofline(
        [1000] * 16)
    assert sizes[-1] == 16 * 8192 * 2


def test_kv_capacity_formula_and_no_fit(h100):
    """(HBM * tp * (1 - reserve) - weights) / KV bytes per token, whole 16-token blocks."""
    cost = ServingCost("llama3-8b", h100)
    free = 80e9 * 0.9 - cost.weight_bytes
    assert cost.kv_capacity_tokens == math.floor(free / 131_072 / 16) * 16
    with pytest.raises(ServingCostError, match="no room"):
        ServingCost("llama3-70b", h100).kv_capacity_tokens


def test_speculative_decoding_limits():
    """Leviathan et al. (ICML 2023) eq. 1: E[tokens] = (1 - a^(k+1)) / (1 - a): 1 at a = 0,
    k + 1 as a -> 1; speedup divides by k*c + 1."""
    assert speculative_expected_tokens(0.0, 4) == 1.0
    assert speculative_expected_tokens(1.0, 4) == 5.0
    assert speculative_expected_tokens(1 - 1e-9, 4) == pytest.approx(5.0, rel=1e-6)
    assert speculative_expected_tokens(0.8, 4) == pytest.approx((1 - 0.8 ** 5) / 0.2)
    assert speculative_speedup(0.8, 4, 0.05) == pytest.approx(((1 - 0.8 ** 5) / 0.2) / 1.2)
    with pytest.raises(ServingCostError):
        speculative_expected_tokens(1.5, 4)


def test_pipeline_stages_add_memory_not_speed(h100):
    """pp stages of tp GPUs hold the layers between them: KV capacity counts tp x pp GPUs'
    memory (2 x 80 GB x 0.9 - 16.06 GB of Llama 3 8B weights, over 128 KiB per token);
    stages run one after another, so an iteration takes as long as on tp GPUs alone."""
    one = ServingCost("llama3-8b", h100)
    two = ServingCost("llama3-8b", h100, pp=2)
    free = 2 * h100.memory * 0.9 - one.weight_bytes
    assert two.kv_capacity_tokens == 16 * int(free // (one.kv_bytes_per_token * 16))
    assert two.kv_capacity_tokens > 2 * one.kv_capacity_tokens
    assert two.decode_time([1000] * 8) == one.decode_time([1000] * 8)
    with pytest.raises(ServingCostError, match="pp=1"):
        ServingCost("llama3-70b", h100).kv_capacity_tokens


def test_power_cap_slows_compute_not_memory(h100):
    """A cap's compute slowdown divides the FLOP rate: the compute parts of the roofline grow
    by exactly that factor, the HBM reads (weights, KV cache) and overheads do not, so a
    compute-bound prefill slows by nearly the factor and a memory-bound decode hardly."""
    free = ServingCost("llama3-8b", h100)
    capped = ServingCost("llama3-8b", h100, compute_slowdown=1.1)
    prefill, prefill_capped = free.prefill_roofline([2048] * 8), capped.prefill_roofline([2048] * 8)
    assert prefill_capped.compute_s == pytest.approx(1.1 * prefill.compute_s)
    assert prefill_capped.memory_s == pytest.approx(prefill.memory_s)
    decode, decode_capped = free.decode_roofline([1000] * 8), capped.decode_roofline([1000] * 8)
    assert decode_capped.memory_s == pytest.approx(decode.memory_s)
    assert decode_capped.total_s / decode.total_s < 1.01
    assert 1.05 < prefill_capped.total_s / prefill.total_s <= 1.1
    with pytest.raises(ServingCostError):
        ServingCost("llama3-8b", h100, compute_slowdown=0.9)
