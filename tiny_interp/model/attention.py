"""Causal self-attention on ``scaled_dot_product_attention`` for both families.

gpt-neo: no 1/sqrt(d_head) scaling (scale=1.0), output projection with bias, "local" layers see only the last
``window_size`` tokens (the token itself included). llama: RoPE on queries and keys, grouped KV heads.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float
from torch import Tensor, nn

from .config import ModelConfig
from .hooks import HookPoint
from .kv_cache import KVCache
from .linear import Linear
from .norm import make_dropout
from .rotary import apply_rotary

HOOK_NAMES = ("hook_q", "hook_k", "hook_v", "hook_rot_q", "hook_rot_k", "hook_attn_scores", "hook_pattern", "hook_z")


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.n_heads, self.kv_heads, self.d_head = cfg.n_heads, cfg.kv_heads, cfg.d_head
        self.is_neo = cfg.family == "gpt-neo"
        self.kind = cfg.layer_kinds()[layer]
        self.qkv = Linear(cfg.d_model, (self.n_heads + 2 * self.kv_heads) * self.d_head, bias=False)
        self.out = Linear(cfg.d_model, cfg.d_model, bias=self.is_neo)
        self.scale = 1.0 if self.is_neo else None
        self.attn_dropout = cfg.attn_dropout
        self.resid_dropout = make_dropout(cfg.dropout)
        self.rotary = cfg.family == "llama"
        self.hook_q, self.hook_k, self.hook_v = HookPoint("hook_q"), HookPoint("hook_k"), HookPoint("hook_v")
        self.hook_rot_q, self.hook_rot_k = HookPoint("hook_rot_q"), HookPoint("hook_rot_k")
        self.hook_attn_scores, self.hook_pattern = HookPoint("hook_attn_scores"), HookPoint("hook_pattern")
        self.hook_z = HookPoint("hook_z")

    def hook_points(self) -> dict[str, HookPoint]:
        # the rotated queries and keys exist only where there is a rotation (llama)
        return {name: getattr(self, name) for name in HOOK_NAMES if self.rotary or "rot" not in name}

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
        q = self.hook_q(q.view(B, T, self.n_heads, self.d_head)).transpose(1, 2)
        k = self.hook_k(k.view(B, T, self.kv_heads, self.d_head)).transpose(1, 2)
        v = self.hook_v(v.view(B, T, self.kv_heads, self.d_head)).transpose(1, 2)
        if rope is not None:
            q = self.hook_rot_q.heads_first(apply_rotary(q, *rope))
            k = self.hook_rot_k.heads_first(apply_rotary(k, *rope))
        if cache is not None:
            k, v = cache.append(self.layer, k, v)
        if self.hook_pattern.active or self.hook_attn_scores.active:
            y = self._explicit_attention(q, k, v, mask)
        else:
            y = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=mask,
                is_causal=mask is None,
                dropout_p=self.attn_dropout if self.training else 0.0,
                scale=self.scale,
                enable_gqa=self.kv_heads != self.n_heads,
            )
        y = self.hook_z(y.transpose(1, 2))
        return self.resid_dropout(self.out(y.reshape(B, T, self.n_heads * self.d_head)))

    def _explicit_attention(
        self,
        q: Float[Tensor, "batch heads seq d_head"],
        k: Float[Tensor, "batch kv keys d_head"],
        v: Float[Tensor, "batch kv keys d_head"],
        mask: Bool[Tensor, "batch 1 seq keys"] | None,
    ) -> Float[Tensor, "batch heads seq d_head"]:
        """The same attention as SDPA with its scores and pattern formed, for hooks that read or edit them."""
        groups = self.n_heads // self.kv_heads
        if groups > 1:
            k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        scale = self.scale if self.scale is not None else 1.0 / math.sqrt(self.d_head)
        scores = (q @ k.transpose(-1, -2)) * scale
        T, K = q.shape[2], k.shape[2]
        if mask is None:
            mask = torch.ones(T, K, dtype=torch.bool, device=q.device).tril(K - T)
        scores = self.hook_attn_scores(scores.masked_fill(~mask, float("-inf")))
        pattern = self.hook_pattern(scores.float().softmax(-1).to(q.dtype))
        if self.training and self.attn_dropout > 0:
            pattern = F.dropout(pattern, self.attn_dropout)
        return pattern @ v
