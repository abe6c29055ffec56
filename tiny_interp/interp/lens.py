"""Logit lens and direct logit attribution (DLA), with the final LayerNorm/RMSNorm handled exactly.

The final norm is linear in its input once its scale (the rms or std of the residual at that position) is fixed;
we freeze it from the actual run, so the residual's components (embeddings, every head, every attention bias,
every MLP) each map to a share of the logit and the shares add up to the logit the model produced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from .common import as_bridge, to_ids, token_index


@dataclass(frozen=True)
class FinalNorm:
    """The model's final norm as (centre?, weight, bias, eps)."""

    center: bool
    weight: Tensor
    bias: Tensor | None
    eps: float

    def scale(self, x: Float[Tensor, "... d"]) -> Float[Tensor, "... 1"]:
        x = x.float()
        if self.center:
            return (x.var(-1, unbiased=False, keepdim=True) + self.eps).sqrt()
        return (x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt()

    def apply_frozen(self, x: Float[Tensor, "... d"], scale: Float[Tensor, "... 1"]) -> Float[Tensor, "... d"]:
        """The linear part only (no bias): what a component of the residual contributes after the norm."""
        if self.center:
            x = x - x.mean(-1, keepdim=True)
        return x / scale * self.weight

    def __call__(self, x: Float[Tensor, "... d"]) -> Float[Tensor, "... d"]:
        y = self.apply_frozen(x.float(), self.scale(x))
        return y + self.bias if self.bias is not None else y


def final_norm(bridge: Any) -> FinalNorm:
    mod = bridge.ln_final.original_component
    weight = mod.weight.detach().float()
    bias = getattr(mod, "bias", None)
    eps = getattr(mod, "eps", None) or getattr(mod, "variance_epsilon", None) or 1e-5
    center = isinstance(mod, torch.nn.LayerNorm)
    return FinalNorm(center, weight, bias.detach().float() if bias is not None else None, float(eps))


def unembed_weights(bridge: Any) -> tuple[Float[Tensor, "vocab d"], Tensor | None]:
    mod = bridge.unembed.original_component
    bias = getattr(mod, "bias", None)
    return mod.weight.detach().float(), (bias.detach().float() if bias is not None else None)


def logit_lens(model: Any, story: Any, position: int = -1, top_k: int = 5) -> Any:
    """Top-k next-token predictions read from the residual stream after the embeddings and after every layer.

    Each residual is passed through the final norm (its own scale) and the unembedding. Returns a DataFrame
    with columns stage, layer (-1 = embeddings), rank, token_id, token, prob, logit.
    """
    import pandas as pd

    bridge = as_bridge(model)
    ids = to_ids(bridge, story)
    L = bridge.cfg.n_layers
    names = ["blocks.0.hook_resid_pre"] + [f"blocks.{l}.hook_resid_post" for l in range(L)]
    with torch.no_grad():
        _, cache = bridge.run_with_cache(ids, names_filter=lambda n: n in names)
    norm, (W_U, b_U) = final_norm(bridge), unembed_weights(bridge)
    pos = _position(ids, position)
    records = []
    for layer, name in zip(range(-1, L), names):
        logits = norm(cache[name][0, pos].float().cpu()) @ W_U.T
        if b_U is not None:
            logits = logits + b_U
        probs = logits.softmax(-1)
        top = probs.topk(min(top_k, probs.numel()))
        stage = "embed" if layer < 0 else f"layer {layer}"
        for rank, (p, i) in enumerate(zip(top.values.tolist(), top.indices.tolist())):
            records.append({"stage": stage, "layer": layer, "rank": rank, "token_id": i,
                            "token": bridge.tokenizer.decode([i]), "prob": p, "logit": float(logits[i])})
    return pd.DataFrame.from_records(records)


def _position(ids: Tensor, position: int) -> int:
    T = ids.shape[1]
    if not -T <= position < T:
        raise IndexError(f"position {position} is outside the story's {T} tokens")
    return position % T


def direct_logit_attribution(model: Any, story: Any, token: int | str | None = None, position: int = -1) -> Any:
    """Each component's direct contribution to the logit of ``token`` at ``position`` (default: the model's top
    prediction there).

    Rows: the token embedding, the position embedding (gpt-neo), every head (``L{l}H{h}``), every attention
    output bias, every MLP, and the constant ``bias`` (final norm bias + unembedding bias). Columns: component,
    kind, layer, head, contribution. ``df.attrs`` holds ``logit`` (the model's actual logit), ``total`` (the sum
    of contributions), ``token_id``, ``token`` and ``position``.
    """
    import pandas as pd

    bridge = as_bridge(model)
    ids = to_ids(bridge, story)
    pos = _position(ids, position)
    L, H = bridge.cfg.n_layers, bridge.cfg.n_heads
    with torch.no_grad():
        logits, cache = bridge.run_with_cache(ids, names_filter=_dla_hook)
    logits = logits[0, pos].float().cpu()
    tid = int(logits.argmax()) if token is None else token_index(bridge, token)
    norm, (W_U, b_U) = final_norm(bridge), unembed_weights(bridge)
    resid = cache["ln_final.hook_in"][0, pos].float().cpu()
    scale = norm.scale(resid)
    direction = W_U[tid]

    def share(vec: Tensor) -> float:
        return float(norm.apply_frozen(vec, scale) @ direction)

    records: list[dict[str, Any]] = [
        {"component": "embed", "kind": "embed", "layer": -1, "head": -1, "contribution": share(cache["hook_embed"][0, pos].float().cpu())}
    ]
    if "hook_pos_embed" in cache:
        records.append({"component": "pos_embed", "kind": "embed", "layer": -1, "head": -1,
                        "contribution": share(cache["hook_pos_embed"][0, pos].float().cpu())})
    for l in range(L):
        out = bridge.blocks[l].attn.o.original_component
        W_O = out.weight.detach().float().view(out.weight.shape[0], H, -1)  # [d_model, heads, d_head]
        z = cache[f"blocks.{l}.attn.hook_z"][0, pos].float().cpu()  # [heads, d_head]
        per_head = torch.einsum("hk,dhk->hd", z, W_O)
        for h in range(H):
            records.append({"component": f"L{l}H{h}", "kind": "head", "layer": l, "head": h, "contribution": share(per_head[h])})
        if getattr(out, "bias", None) is not None:
            records.append({"component": f"L{l} attn bias", "kind": "attn_bias", "layer": l, "head": -1,
                            "contribution": share(out.bias.detach().float())})
        records.append({"component": f"L{l} MLP", "kind": "mlp", "layer": l, "head": -1,
                        "contribution": share(cache[f"blocks.{l}.hook_mlp_out"][0, pos].float().cpu())})
    constant = 0.0
    if norm.bias is not None:
        constant += float(norm.bias @ direction)
    if b_U is not None:
        constant += float(b_U[tid])
    records.append({"component": "bias", "kind": "bias", "layer": L, "head": -1, "contribution": constant})
    df = pd.DataFrame.from_records(records)
    df.attrs.update(logit=float(logits[tid]), total=float(df["contribution"].sum()), token_id=tid,
                    token=bridge.tokenizer.decode([tid]), position=pos)
    return df


def _dla_hook(name: str) -> bool:
    return name in ("hook_embed", "hook_pos_embed", "ln_final.hook_in") or name.endswith(("attn.hook_z", "hook_mlp_out"))
