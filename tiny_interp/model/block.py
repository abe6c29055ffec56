"""One pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

from __future__ import annotations

from jaxtyping import Bool, Float
from torch import Tensor, nn

from .attention import Attention
from .config import ModelConfig
from .kv_cache import KVCache
from .mlp import MLP
from .norm import make_norm


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.norm1 = make_norm(cfg)
        self.attn = Attention(cfg, layer)
        self.norm2 = make_norm(cfg)
        self.mlp = MLP(cfg)

    def forward(
        self,
        x: Float[Tensor, "batch seq d_model"],
        mask: Bool[Tensor, "batch 1 seq keys"] | None,
        rope: tuple[Tensor, Tensor] | None = None,
        cache: KVCache | None = None,
    ) -> Float[Tensor, "batch seq d_model"]:
        x = x + self.attn(self.norm1(x), mask, rope, cache)
        return x + self.mlp(self.norm2(x))
