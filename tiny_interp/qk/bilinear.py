"""One head's pre-softmax score as a bilinear form of the query's and the key's residual vectors.

With the layer's input-norm scale frozen at the value the real pass measured (one number per position, as the
attribution graphs freeze it), the norm is affine: ``weight * centre(x) / scale + bias``. Queries and keys are then
linear in the residual (plus the norm bias's image), and llama's rotary embedding is a fixed rotation per position,
so rotating each part's query or key vector at its own position keeps the form exact:
``score = s * sum_a sum_b (R_i q_a) . (R_j k_b)`` with ``s`` the model's own scaling (1 for gpt-neo, 1/sqrt(d_head)
for llama). The scale is computed here from the cached residual by the norm's own definition, not read from a norm
hook.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..graphs.frozen import DTYPE
from ..model.block import Block
from ..model.rotary import apply_rotary
from ..model.transformer import TinyLM


@dataclass(frozen=True)
class HeadForm:
    """Layer ``layer``'s head ``head``: its query and key maps with the norm frozen at ``norm_scale``."""

    layer: int
    head: int
    W_Q: Float[Tensor, "d_model d_head"]
    W_K: Float[Tensor, "d_model d_head"]
    weight: Float[Tensor, " d_model"]
    bias: Float[Tensor, " d_model"] | None
    centred: bool
    norm_scale: Float[Tensor, " pos"]
    cos: Float[Tensor, "pos d_head"] | None
    sin: Float[Tensor, "pos d_head"] | None
    attn_scale: float

    def project(
        self, parts: Float[Tensor, "... n d_model"], pos: Int[Tensor, " n"], side: str
    ) -> Float[Tensor, "... n d_head"]:
        """Each part's share of the query (``side="q"``) or key: frozen norm, projection, rotation at ``pos``."""
        # the gain and the centring folded into the projection: centre(x) . (w * W) = x . centre_rows(w * W),
        # one small matrix instead of three passes over every part
        W = self.weight[:, None] * (self.W_Q if side == "q" else self.W_K)
        if self.centred:
            W = W - W.mean(0, keepdim=True)
        return self._rotate((parts @ W) / self.norm_scale[pos][:, None], pos)

    def bias_term(self, pos: Int[Tensor, " n"], side: str) -> Float[Tensor, "n d_head"] | None:
        """The norm bias's image (LayerNorm only; RMSNorm has none), rotated at each position."""
        if self.bias is None:
            return None
        v = (self.bias @ (self.W_Q if side == "q" else self.W_K)).expand(len(pos), -1)
        return self._rotate(v, pos)

    def _rotate(self, v: Float[Tensor, "... n d_head"], pos: Int[Tensor, " n"]) -> Float[Tensor, "... n d_head"]:
        if self.cos is None or self.sin is None:
            return v
        return apply_rotary(v, self.cos[pos], self.sin[pos])


def block(model: TinyLM, layer: int) -> Block:
    """Block ``layer`` typed as a Block (``nn.ModuleList`` indexing returns a plain Module)."""
    return cast(Block, model.blocks[layer])


def norm_scale(model: TinyLM, layer: int, resid: Float[Tensor, "pos d_model"]) -> Float[Tensor, " pos"]:
    """The divisor layer ``layer``'s input norm applied at each position in the real pass."""
    eps = float(block(model, layer).norm1.eps)
    if model.cfg.family == "gpt-neo":
        return (resid.var(-1, unbiased=False) + eps).sqrt()
    return (resid.pow(2).mean(-1) + eps).sqrt()


def head_form(
    model: TinyLM, layer: int, head: int, resid: Float[Tensor, "pos d_model"], measured: Tensor | None = None
) -> HeadForm:
    """The bilinear form of (layer, head) at the point the real pass visited (``resid``: its ``hook_resid_pre``;
    ``measured``: its norm scale when already computed)."""
    attn, norm = block(model, layer).attn, block(model, layer).norm1
    H, K, dh = attn.n_heads, attn.kv_heads, attn.d_head
    W = attn.qkv.weight.detach().to("cpu", DTYPE)
    kv = head // (H // K)  # grouped KV heads: query head h reads KV head h // groups
    W_Q = W[head * dh : (head + 1) * dh].T
    W_K = W[(H + kv) * dh : (H + kv + 1) * dh].T
    bias = cast(Tensor | None, getattr(norm, "bias", None))
    cos = sin = None
    if model.rotary is not None:
        T = resid.shape[0]
        cos, sin = (t[:T].to("cpu", DTYPE) for t in (model.rotary.cos, model.rotary.sin))
    scale = attn.scale if attn.scale is not None else 1.0 / math.sqrt(dh)
    return HeadForm(
        layer=layer,
        head=head,
        W_Q=W_Q.contiguous(),
        W_K=W_K.contiguous(),
        weight=cast(Tensor, norm.weight).detach().to("cpu", DTYPE),
        bias=bias.detach().to("cpu", DTYPE) if bias is not None else None,
        centred=model.cfg.family == "gpt-neo",
        norm_scale=norm_scale(model, layer, resid) if measured is None else measured,
        cos=cos,
        sin=sin,
        attn_scale=float(scale),
    )


def as_positions(pos: int | Int[Tensor, " n"], n: int) -> Int[Tensor, " n"]:
    return torch.full((n,), pos, dtype=torch.long) if isinstance(pos, int) else pos
