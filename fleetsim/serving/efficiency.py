"""Kernel efficiencies of LLM serving per accelerator: the fractions of peak the cost model uses.

A serving iteration runs three kinds of kernels one after another (``cost.py``): the linear
layers (GEMMs: compute-bound for prompts, bound by streaming the weights for decodes), the
attention (bound by reading the KV cache in decode) and the TP all-reduces. Each reaches a
different fraction of the chip's peak, and none reaches STREAM's:

* ``gemm_fraction(dtype)``: FLOP/s of the linear layers and of prefill attention over the
  dtype's dense peak. For 16-bit dtypes it is the accelerator's ``achievable.flops_fraction``
  (the training calibration; on A100 the serving fit below gives 0.684 against the training
  0.68). An 8-bit peak is not reached at the 16-bit fraction: 8-bit GEMMs get
  ``EIGHT_BIT_GEMM_RATIO`` times the 16-bit fraction.
* ``weight_bandwidth_fraction``: HBM bandwidth reached while a decode streams the weights
  through the GEMMs (small-M GEMMs stay below STREAM's ~0.85-0.9).
* ``kv_bandwidth_fraction``: HBM bandwidth reached by the decode attention kernel reading
  the KV cache (paged/grouped-query attention at batch scale is far below STREAM).

CALIBRATION (``tests/serving/test_serving_validation.py``, docs/background/serving.md):
TensorRT-LLM v0.5.0's published performance tables (NVIDIA/TensorRT-LLM,
docs/source/performance.md, release 0.5.0 [V]) for Llama-2-70B, TP4, static batches of 64:
on A100 (FP16) and H100 (FP8 weights, FP8 KV cache) each fraction is fitted on three of the
seven published numbers (first-token latency at 2,048 tokens -> GEMM; 128/128 throughput ->
weights; 2,048/2,048 throughput -> KV), with the per-iteration CPU overhead at fleetsim's
default 3 ms; the other four are the validation. Results of the fit:

==========  ==============  =======================  ===================
chip        GEMM fraction   weight-stream fraction   KV-read fraction
==========  ==============  =======================  ===================
A100        0.684 (16-bit)  0.55                     0.21
H100        0.463 (FP8)     0.65                     0.11 (FP8 KV)
==========  ==============  =======================  ===================

H100's FP8 fraction over its 16-bit training fraction (0.65) gives ``EIGHT_BIT_GEMM_RATIO``
= 0.71. The KV fractions are those of TensorRT-LLM v0.5's generation kernels (NVIDIA later
reported up to 2.4x faster GQA generation kernels on Llama-70B), an engine property: newer
engines read the cache faster. Accelerators without a calibration entry take the fractions
of ``achievable.memory_bandwidth_fraction`` that A100 and H100 show on average
(ASSUMPTION): weights ``0.70 x``, KV ``0.19 x``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetsim.hardware.models import Accelerator

#: 8-bit GEMM fraction over the 16-bit one: 0.463 / 0.65 on H100 (TensorRT-LLM v0.5 FP8
#: first-token latency of Llama-2-70B at 2,048 tokens, see the module docstring).
EIGHT_BIT_GEMM_RATIO = 0.71

#: Weight-stream and KV-read fractions over ``achievable.memory_bandwidth_fraction`` for an
#: accelerator without a calibration entry: the mean of A100's (0.55 / 0.85, 0.21 / 0.85) and
#: H100's (0.65 / 0.85, 0.11 / 0.85). ASSUMPTION.
DEFAULT_WEIGHT_RATIO = 0.70
DEFAULT_KV_RATIO = 0.19

#: Calibrated (weight-stream, KV-read) fractions by accelerator name (module docstring).
CALIBRATED: dict[str, tuple[float, float]] = {
    "a100-80gb": (0.55, 0.21),
    "a100-40gb": (0.55, 0.21),
    "h100-sxm": (0.65, 0.11),
}


@dataclass(frozen=True)
class ServingEfficiency:
    """Fractions of peak reached by the kernels of one serving iteration."""

    gemm_16bit_fraction: float
    weight_bandwidth_fraction: float
    kv_bandwidth_fraction: float
    eight_bit_ratio: float = EIGHT_BIT_GEMM_RATIO

    def __post_init__(self) -> None:
        for name in ("gemm_16bit_fraction", "weight_bandwidth_fraction",
                     "kv_bandwidth_fraction", "eight_bit_ratio"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {value}")

    def gemm_fraction(self, dtype_bytes: float) -> float:
        """Fraction of the dense peak of a dtype of ``dtype_bytes`` bytes per element."""
        return self.gemm_16bit_fraction * (self.eight_bit_ratio if dtype_bytes < 2 else 1.0)


def serving_efficiency(accelerator: Accelerator) -> ServingEfficiency:
    """The calibrated fractions of ``accelerator``, or the documented default ratios."""
    achievable = accelerator.achievable
    if accelerator.name in CALIBRATED:
        weights, kv = CALIBRATED[accelerator.name]
    else:
        weights = DEFAULT_WEIGHT_RATIO * achievable.memory_bandwidth_fraction
        kv = DEFAULT_KV_RATIO * achievable.memory_bandwidth_fraction
    return ServingEfficiency(achievable.flops_fraction, weights, kv)
