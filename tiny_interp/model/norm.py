"""Normalisation layers (LayerNorm for gpt-neo, RMSNorm for llama, in float32 as HF does) and dropout."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor, nn

from .config import ModelConfig


class RMSNorm(nn.Module):
    def __init__(self, d_model: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        # float32 statistics keep bf16 training stable and match HF Llama bit-for-bit in float32
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


def make_dropout(p: float) -> nn.Module:
    # nn.Dropout(0.0) still draws a mask in training mode: that cost ~40% on an elementwise-heavy tiny model
    return nn.Dropout(p) if p > 0 else nn.Identity()


def make_norm(cfg: ModelConfig) -> nn.Module:
    if cfg.family == "llama":
        return RMSNorm(cfg.d_model, cfg.norm_eps)
    return nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
