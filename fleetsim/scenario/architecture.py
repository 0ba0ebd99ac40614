"""Transformer architectures: presets, parameter counts and FLOPs per token (pure functions).

Counts follow the standard decoder block: attention (Q, K, V with grouped-query K/V heads, and
the output projection), an MLP of ``ffn`` width (three matrices when gated, SwiGLU as in Llama;
two otherwise, as in GPT-3), ``experts`` MLPs per layer of which ``experts_per_token`` are
active (mixture of experts), untied input and output embeddings. Norms and biases are
neglected (< 0.1% of parameters).

FLOPs per token of training (forward + backward, Kaplan et al. 2020 and Narayanan et al. 2021):

    6 * active non-embedding params  +  12 * layers * seq_len * attention width  +  6 * vocab * hidden

For a GPT-3-style model this is exactly Megatron's count per iteration divided by B*s,
72 B s l h^2 (1 + s/6h + V/12lh) (Korthikanti et al. 2022, arXiv 2205.05198, eq. for model
FLOPs). Full activation recomputation repeats each layer's forward (x4/3 on the layer terms,
Megatron's 96 B s l h^2 (1 + s/6h + V/16lh)); selective recomputation repeats the attention
core only (+4 l s h per token).
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from fleetsim.kinds import Model, count, integer

#: the largest architecture dimensions accepted (10x to 100x beyond today's largest models)
MAX_LAYERS = 10_000
MAX_HIDDEN = 1_000_000
MAX_HEADS = 100_000
MAX_FFN = 10_000_000
MAX_VOCAB = 10_000_000
MAX_SEQ_LEN = 100_000_000
MAX_EXPERTS = 100_000


class Architecture(Model):
    """A decoder-only transformer, as a scenario's ``model:`` mapping or a preset."""

    layers: integer(1, MAX_LAYERS)
    hidden: integer(1, MAX_HIDDEN)
    heads: integer(1, MAX_HEADS)
    kv_heads: integer(1, MAX_HEADS) | None = None  # default: heads (no GQA)
    ffn: integer(1, MAX_FFN) | None = None  # default: 4 * hidden
    vocab: count(1, MAX_VOCAB)
    seq_len: count(1, MAX_SEQ_LEN)
    gated_mlp: bool = True  # SwiGLU (3 matrices) or plain GELU MLP (2)
    experts: integer(1, MAX_EXPERTS) = 1
    experts_per_token: integer(1, MAX_EXPERTS) = 1

    @model_validator(mode="after")
    def _shapes(self) -> "Architecture":
        if self.hidden % self.heads:
            raise ValueError(f"hidden {self.hidden} is not a multiple of heads {self.heads}")
        if self.heads % self.kv_heads_count:
            raise ValueError(f"heads {self.heads} is not a multiple of kv_heads "
                             f"{self.kv_heads_count}")
        if self.experts_per_token > self.experts:
            raise ValueError(f"experts_per_token {self.experts_per_token} exceeds experts "
                             f"{self.experts}")
        return self

    @property
    def kv_heads_count(self) -> int:
        return self.kv_heads or self.heads

    @property
    def ffn_width(self) -> int:
        return self.ffn or 4 * self.hidden

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def attention_params(self) -> int:
        """Per layer: Q and O (h x h each), K and V (h x kv_heads*head_dim each)."""
        h = self.hidden
        return 2 * h * h + 2 * h * self.kv_heads_count * self.head_dim

    @property
    def expert_params(self) -> int:
        """Per expert MLP."""
        return (3 if self.gated_mlp else 2) * self.hidden * self.ffn_width

    @property
    def router_params(self) -> int:
        """Per layer: the MoE router (hidden x experts), none for a dense model."""
        return self.hidden * self.experts if self.is_moe else 0

    @property
    def layer_params(self) -> int:
        return self.attention_params + self.experts * self.expert_params + self.router_params

    @property
    def embedding_params(self) -> int:
        """Input and (untied) output embeddings."""
        return 2 * self.vocab * self.hidden

    @property
    def params(self) -> int:
        return self.layers * self.layer_params + self.embedding_params

    @property
    def active_layer_params(self) -> int:
        """Per layer, the parameters one token uses."""
        return (self.attention_params + self.experts_per_token * self.expert_params
                + self.router_params)

    @property
    def is_moe(self) -> bool:
        return self.experts > 1

    def model_flops_per_token(self, causal: bool = False) -> float:
        """Training FLOPs per token without recomputation (the MFU numerator). Megatron's and
        PaLM's count takes the full s x s attention (12 s h per layer); ``causal`` counts only
        the unmasked half a causal attention kernel computes (6 s h)."""
        attention = (6 if causal else 12) * self.seq_len * self.hidden
        layers = 6 * self.active_layer_params + attention
        return self.layers * layers + 6 * self.vocab * self.hidden

    def hardware_flops_per_token(self, recompute: str) -> float:
        """FLOPs the hardware executes per token under a recomputation policy."""
        if recompute == "full":
            layers = 8 * self.active_layer_params + 16 * self.seq_len * self.hidden
            return self.layers * layers + 6 * self.vocab * self.hidden
        extra = 4 * self.layers * self.seq_len * self.hidden if recompute == "selective" else 0
        return self.model_flops_per_token() + extra


Recompute = Literal["none", "selective", "full"]

#: Presets by name. Sources: Llama 3 (arXiv 2407.21783, Table 3), GPT-3 (Brown et al. 2020,
#: Table 2.1), Megatron-LM's benchmark models (Korthikanti et al. 2022, arXiv 2205.05198,
#: Table 3: seq 2048, vocab 51200), Mixtral 8x7B (Jiang et al. 2024, arXiv 2401.04088, Table 1).
PRESETS: dict[str, dict] = {
    "llama3-8b": dict(layers=32, hidden=4096, heads=32, kv_heads=8, ffn=14336, vocab=128256,
                      seq_len=8192),
    "llama3-70b": dict(layers=80, hidden=8192, heads=64, kv_heads=8, ffn=28672, vocab=128256,
                       seq_len=8192),
    "llama3-405b": dict(layers=126, hidden=16384, heads=128, kv_heads=8, ffn=53248,
                        vocab=128256, seq_len=8192),
    "gpt3-175b": dict(layers=96, hidden=12288, heads=96, vocab=50257, seq_len=2048,
                      gated_mlp=False),
    "megatron-22b": dict(layers=48, hidden=6144, heads=64, vocab=51200, seq_len=2048,
                         gated_mlp=False),
    "megatron-175b": dict(layers=96, hidden=12288, heads=96, vocab=51200, seq_len=2048,
                          gated_mlp=False),
    "megatron-530b": dict(layers=105, hidden=20480, heads=128, vocab=51200, seq_len=2048,
                          gated_mlp=False),
    "megatron-1t": dict(layers=128, hidden=25600, heads=160, vocab=51200, seq_len=2048,
                        gated_mlp=False),
    "mixtral-8x7b": dict(layers=32, hidden=4096, heads=32, kv_heads=8, ffn=14336, vocab=32000,
                         seq_len=4096, experts=8, experts_per_token=2),
}


def architecture(model: str | Architecture) -> Architecture:
    """The architecture of a preset name (or the given one)."""
    if isinstance(model, Architecture):
        return model
    return Architecture(**PRESETS[model])
