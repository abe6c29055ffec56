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

BLOCK_HOOKS = (
    "hook_resid_pre",
    "ln1.hook_normalized",
    "hook_attn_out",
    "hook_resid_mid",
    "ln2.hook_normalized",
    "hook_mlp_out",
    "hook_resid_post",
)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.norm1 = make_norm(cfg)
        self.attn = Attention(cfg, layer)
        self.norm2 = make_norm(cfg)
        self.mlp = MLP(cfg)
        for name in BLOCK_HOOKS:
            setattr(self, name.replace(".", "_"), HookPoint(name))

    def hook_points(self) -> dict[str, HookPoint]:
        """This block's points under names relative to it (``attn.hook_q``, ``hook_resid_pre``)."""
        points = {name: getattr(self, name.replace(".", "_")) for name in BLOCK_HOOKS}
        points.update({f"attn.{n}": p for n, p in self.attn.hook_points().items()})
        points.update({f"mlp.{n}": p for n, p in self.mlp.hook_points().items()})
        return points

    def forward(
        self,
        x: Float[Tensor, "batch seq d_model"],
        mask: Bool[Tensor, "batch 1 seq keys"] | None,
        rope: tuple[Tensor, Tensor] | None = None,
        cache: KVCache | None = None,
    ) -> Float[Tensor, "batch seq d_model"]:
        x = self.hook_resid_pre(x)
        attn_out = self.hook_attn_out(self.attn(self.ln1_hook_normalized(self.norm1(x)), mask, rope, cache))
        x = self.hook_resid_mid(x + attn_out)
        mlp_out = self.hook_mlp_out(self.mlp(self.ln2_hook_normalized(self.norm2(x))))
        return self.hook_resid_post(x + mlp_out)
