"""Normalisation layers (LayerNorm for gpt-neo, RMSNorm for llama, in float32 as HF does) and dropout.

Each norm carries TransformerLens' three hook points, named as the bridge names them: ``hook_scale`` (the
divisor ``sqrt(mean(x'^2) + eps)``, shape ``[..., 1]``, where ``x'`` is the centred input for LayerNorm and the
input itself for RMSNorm), ``hook_normalized`` (``x' / scale``, *before* the gain and bias) and ``hook_out`` (the
norm's output, after them). The two inner points are formed only while a function is attached to one of them;
otherwise the norm runs the fused kernel (LayerNorm) or the one expression HF uses (RMSNorm).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from .config import ModelConfig
from .hooks import HookPoint

NORM_HOOKS = ("hook_scale", "hook_normalized", "hook_out")


class _NormHooks:
    """The hook points every norm here has, and the split into its statistics when one of them is watched."""

    hook_scale: HookPoint
    hook_normalized: HookPoint
    hook_out: HookPoint

    def _make_hooks(self) -> None:
        for name in NORM_HOOKS:
            setattr(self, name, HookPoint(name))

    def hook_points(self) -> dict[str, HookPoint]:
        return {name: getattr(self, name) for name in NORM_HOOKS}

    @property
    def inner_hooked(self) -> bool:
        return bool(self.hook_scale.fns or self.hook_normalized.fns)

    def _normalized(self, x32: Float[Tensor, "... d_model"], eps: float) -> Float[Tensor, "... d_model"]:
        """``x32 / scale`` through hook_scale and hook_normalized (either may be replaced by its functions)."""
        var = x32.pow(2).mean(-1, keepdim=True) + eps
        scale = var.sqrt()
        hooked = self.hook_scale(scale)
        # an untouched scale keeps the unhooked expression (x * rsqrt): reading RMSNorm's points changes no bit
        normed = x32 * torch.rsqrt(var) if hooked is scale else x32 / hooked
        return self.hook_normalized(normed)


class LayerNorm(_NormHooks, nn.LayerNorm):
    """``nn.LayerNorm`` (same parameters and state-dict keys) with TransformerLens' hook points."""

    def __init__(self, d_model: int, eps: float):
        super().__init__(d_model, eps=eps)
        self._make_hooks()

    def plain(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        """The norm with no hook point: the fused kernel (the decoder calls it directly)."""
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def forward(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        if not self.inner_hooked:
            return self.hook_out(self.plain(x))
        x32 = x.float()
        normed = self._normalized(x32 - x32.mean(-1, keepdim=True), self.eps)
        return self.hook_out((normed * self.weight + self.bias).to(x.dtype))


class RMSNorm(_NormHooks, nn.Module):
    def __init__(self, d_model: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self._make_hooks()

    def plain(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        """The norm with no hook point (the decoder calls it directly)."""
        # float32 statistics keep bf16 training stable and match HF Llama bit-for-bit in float32
        x32 = x.float()
        return self.weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)

    def forward(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        if not self.inner_hooked:
            return self.hook_out(self.plain(x))
        return self.hook_out(self.weight * self._normalized(x.float(), self.eps).to(x.dtype))


Norm = LayerNorm | RMSNorm


def make_dropout(p: float) -> nn.Module:
    # nn.Dropout(0.0) still draws a mask in training mode: that cost ~40% on an elementwise-heavy tiny model
    return nn.Dropout(p) if p > 0 else nn.Identity()


def make_norm(cfg: ModelConfig) -> Norm:
    if cfg.family == "llama":
        return RMSNorm(cfg.d_model, cfg.norm_eps)
    return LayerNorm(cfg.d_model, cfg.norm_eps)
