"""Causal self-attention on ``scaled_dot_product_attention`` for both families.

gpt-neo: no 1/sqrt(d_head) scaling (scale=1.0), output projection with bias, "local" layers see only the last
``window_size`` tokens (the token itself included). llama: RoPE on queries and keys, grouped KV heads.
"""

from __future__ import annotations

import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor, nn

from .config import ModelConfig
from .norm import make_dropout
from .kv_cache import KVCache
from .rotary import apply_rotary


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.n_heads, self.kv_heads, self.d_head = cfg.n_heads, cfg.kv_heads, cfg.d_head
        self.is_neo = cfg.family == "gpt-neo"
        self.kind = cfg.layer_kinds()[layer]
        self.qkv = nn.Linear(cfg.d_model, (self.n_heads + 2 * self.kv_heads) * self.d_head, bias=False)
        self.out = nn.Linear(cfg.d_model, cfg.d_model, bias=self.is_neo)
        self.scale = 1.0 if self.is_neo else None
        self.attn_dropout = cfg.attn_dropout
        self.resid_dropout = make_dropout(cfg.dropout)

    def forward(
        self,
        x: Float[Tensor, "batch seq d_model"],
        mask: Bool[Tensor, "batch 1 seq keys"] | None,
        rope: tuple[Tensor, Tensor] | None = None,
        cache: KVCache | None = None,
    ) -> Float[Tensor, "batch seq d_model"]:
        """``mask`` None means plain causal attention over ``x`` alone."""
        B, T, _ = x.shape
        q, k, v = self.qkv(x).split(
            [self.n_heads * self.d_head, self.kv_heads * self.d_head, self.kv_heads * self.d_head], dim=-1
        )
        q = q.view(B, T, self.n_heads, self.d_head).transpose(1, 2)
        k = k.view(B, T, self.kv_heads, self.d_head).transpose(1, 2)
        v = v.view(B, T, self.kv_heads, self.d_head).transpose(1, 2)
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        if cache is not None:
            k, v = cache.append(self.layer, k, v)
        y = F.scaled_dot_product_attention(
            q, k, v,
            attn_mask=mask,
            is_causal=mask is None,
            dropout_p=self.attn_dropout if self.training else 0.0,
            scale=self.scale,
            enable_gqa=self.kv_heads != self.n_heads,
        )
        y = y.transpose(1, 2).reshape(B, T, self.n_heads * self.d_head)
        return self.resid_dropout(self.out(y))
