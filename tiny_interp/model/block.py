"""One pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

from __future__ import annotations

from jaxtyping import Bool, Float
from torch import Tensor, nn

from .attention import Attention
from .config import ModelConfig
from .hooks import HookPoint
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
        self.hook_resid_pre, self.hook_attn_out = HookPoint("hook_resid_pre"), HookPoint("hook_attn_out")
        self.hook_resid_mid, self.hook_mlp_out = HookPoint("hook_resid_mid"), HookPoint("hook_mlp_out")
        self.hook_resid_post = HookPoint("hook_resid_post")

    def hook_points(self) -> dict[str, HookPoint]:
        """This block's points under names relative to it (``attn.hook_q``, ``ln2.hook_scale``, ``hook_resid_pre``),
        in the order they fire."""
        points: dict[str, HookPoint] = {"hook_resid_pre": self.hook_resid_pre}
        points.update({f"ln1.{n}": p for n, p in self.norm1.hook_points().items()})
        points.update({f"attn.{n}": p for n, p in self.attn.hook_points().items()})
        points.update({"hook_attn_out": self.hook_attn_out, "hook_resid_mid": self.hook_resid_mid})
        points.update({f"ln2.{n}": p for n, p in self.norm2.hook_points().items()})
        points.update({f"mlp.{n}": p for n, p in self.mlp.hook_points().items()})
        points.update({"hook_mlp_out": self.hook_mlp_out, "hook_resid_post": self.hook_resid_post})
        return points

    def forward(
        self,
        x: Float[Tensor, "batch seq d_model"],
        mask: Bool[Tensor, "batch 1 seq keys"] | None,
        rope: tuple[Tensor, Tensor] | None = None,
        cache: KVCache | None = None,
    ) -> Float[Tensor, "batch seq d_model"]:
        x = self.hook_resid_pre(x)
        attn_out = self.hook_attn_out(self.attn(self.norm1(x), mask, rope, cache))
        x = self.hook_resid_mid(x + attn_out)
        mlp_out = self.hook_mlp_out(self.mlp(self.norm2(x)))
        return self.hook_resid_post(x + mlp_out)
