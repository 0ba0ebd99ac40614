"""Activation memory of one transformer layer for one micro-batch on one GPU (pure).

Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models",
arXiv 2205.05198, section 4 and Table 2) count the bytes a GPT-3 layer keeps for its backward,
per token and hidden unit (16-bit activations, s tokens, b sequences, h hidden, a heads, t-way
tensor parallelism)::

    no parallelism                       s b h (34 + 5 a s / h)
    tensor parallel                      s b h (10 + 24 / t + 5 a s / (h t))
    tensor + sequence parallel           s b h (34 / t + 5 a s / (h t))
    ... + selective recomputation        s b h 34 / t
    full recomputation                   s b h 2 (the layer input; / t when it is kept sharded)

The 34 splits into parts this module sizes per architecture instead of assuming GPT-3's:

* kept whole unless sequence parallelism shards them over t (Korthikanti's "10"): the two
  norms' inputs (2 + 2), the attention and MLP inputs (2 + 2), and with dropout the two
  dropout masks (1 + 1);
* sharded over t (the "24"): the attention block's Q (2), K and V (2 + 2 times kv_heads / heads
  with grouped-query attention), its output, which is the projection's input (2); the MLP's
  inner activations: GELU MLP 2 x 2 ffn/h (the first GEMM's output and the GELU's output: 16
  for ffn = 4h), SwiGLU 3 x 2 ffn/h (gate, up, and their product, the last GEMM's input);
* the attention scores, with unfused ("standard") attention: softmax output 2 a s/h, plus with
  dropout its mask (1) and output (2): Korthikanti's 5 a s/h. FlashAttention (Dao et al. 2022)
  keeps none of them, only a log-sum-exp per row and head (4 a/h bytes, < 0.1%, neglected), so
  with ``attention: flash`` selective recomputation saves nothing.

With context parallelism each GPU holds s/cp of the tokens. The K and V it all-gathers from its
context-parallel group (Llama 3's all-gather based context parallelism, arXiv 2407.21783
section 3.3.2) are not kept: the backward gathers them again (as Transformer Engine's
all-gather context parallelism does), so they cost communication, not activation memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleetsim.training.plan import Plan

BYTES = 2.0  # bf16/fp16


def activation_bytes_per_layer(plan: "Plan") -> float:
    """Bytes one GPU keeps for the backward of one layer and one micro-batch."""
    arch = plan.arch
    t = plan.tp
    tokens = plan.micro_batch * arch.seq_len / plan.cp  # this GPU's share of the micro-batch
    token_hidden = tokens * arch.hidden
    if plan.recompute == "full":
        kept = token_hidden * BYTES
        return kept / t if plan.sequence_parallel else kept
    outside = 4 * BYTES + (2.0 if plan.dropout else 0.0)  # Korthikanti's "10"
    kv_share = arch.kv_heads_count / arch.heads
    inside = BYTES * (2 + 2 * kv_share)  # Q, K and V, the attention output
    ffn_ratio = arch.ffn_width / arch.hidden * arch.experts_per_token
    inside += (3 if arch.gated_mlp else 2) * BYTES * ffn_ratio  # the MLP's inner activations
    if plan.attention == "standard" and plan.recompute == "none":  # the attention scores
        inside += (BYTES + (3.0 if plan.dropout else 0.0)) * arch.heads * arch.seq_len \
            / arch.hidden
    bytes_per = (outside + inside) / t if plan.sequence_parallel else outside + inside / t
    return token_hidden * bytes_per
