"""Logit lens and direct logit attribution (DLA), for every position of a story at once: the one copy of this maths
(the StoryInspector widget and the DataFrame functions below all call it).

Predictions go through ``tiny_interp.model.readout`` (the one readout). The final norm is linear in its input once
its scale (the rms or std of the residual at that position) is fixed; we freeze it from the actual run, so the
residual's components (embeddings, every head, every attention bias, every MLP) each map to a share of the logit
and the shares add up to the logit the model produced. Activations come through the seam (``run_with_cache``);
the weights read are the final norm's, the unembedding's and each attention output projection's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from ..model.handle import Model
from ..model.readout import Readout, readout_of
from ..model.transformer import TinyLM
from .common import as_model, to_ids, token_index
from .seam import analysis_module, run_with_cache


def readout(model: Any) -> Readout:
    """The readout of a handle, our TinyLM or a bridge (``tiny_interp.model.readout``: the one copy)."""
    return model.readout if isinstance(model, Model) else readout_of(analysis_module(model))


def _out_projection(net: Any, layer: int) -> nn.Linear:
    """The attention output projection of a layer: W_O in its weight, b_O in its bias (gpt-neo only)."""
    blocks: Any = net.blocks  # a ModuleList of ours or the bridge's block wrappers
    proj = blocks[layer].attn.out if isinstance(net, TinyLM) else blocks[layer].attn.o.original_component
    assert isinstance(proj, nn.Linear)
    return proj


def stage_names(n_layers: int) -> list[str]:
    """The residual stream after the embeddings and after every layer: the logit lens's stages."""
    return ["blocks.0.hook_resid_pre"] + [f"blocks.{l}.hook_resid_post" for l in range(n_layers)]


def needed(name: str) -> bool:
    """The hook points the lens and the attribution read."""
    return name in ("hook_embed", "hook_pos_embed", "blocks.0.hook_resid_pre") or name.endswith(
        ("hook_resid_post", "attn.hook_z", "hook_mlp_out")
    )


def run_cache(model: Any, ids: Int[Tensor, "1 seq"], also: Any = None) -> tuple[Tensor, dict[str, Tensor]]:
    """One forward: (logits [seq, vocab], {name: activation [seq, ...]}) of the points the lens and attribution
    need, plus those the predicate ``also`` selects; float32 on the CPU."""
    names = needed if also is None else (lambda n: needed(n) or also(n))
    with torch.no_grad():
        logits, cache = run_with_cache(model, ids, names=names)
    assert logits is not None  # a full forward, not stopped early
    return logits[0].float().cpu(), {k: v[0].float().cpu() for k, v in cache.items()}


@dataclass(frozen=True)
class LensTop:
    """The top-k of each stage's lens prediction at each position."""

    token_ids: Int[Tensor, "stages seq k"]
    probs: Float[Tensor, "stages seq k"]
    logits: Float[Tensor, "stages seq k"]


def lens_top(model: Any, cache: dict[str, Tensor], k: int) -> LensTop:
    """Every stage's residual through the final norm (its own scale) and the unembedding, top-k at every position;
    one stage at a time so only [seq, vocab] logits are alive at once."""
    read = readout(model)
    ids, probs, logits = [], [], []
    for name in stage_names(int(analysis_module(model).cfg.n_layers)):
        stage = read.logits(cache[name])  # [seq, vocab]
        top = stage.topk(min(k, stage.shape[-1]), dim=-1)
        ids.append(top.indices)
        logits.append(top.values)
        probs.append((top.values - stage.logsumexp(-1, keepdim=True)).exp())
    return LensTop(torch.stack(ids), torch.stack(probs), torch.stack(logits))


@dataclass(frozen=True)
class Attribution:
    """Each component's direct share of the logit of each position's target token.

    ``shares`` [seq, components] plus ``constant`` [seq] (final norm bias + unembedding bias) add up to the logit.
    """

    names: list[str]
    kinds: list[str]
    layers: list[int]
    heads: list[int]
    shares: Float[Tensor, "seq components"]
    constant: Float[Tensor, " seq"]


def attribution(model: Any, cache: dict[str, Tensor], targets: Int[Tensor, " seq"]) -> Attribution:
    """Direct logit attribution to ``targets[p]`` at every position p, from a cache of ``run_cache``."""
    net = analysis_module(model)
    read = readout(model)
    L, H = int(net.cfg.n_layers), int(net.cfg.n_heads)
    scale = read.norm.scale(cache[f"blocks.{L - 1}.hook_resid_post"])  # [seq, 1]: the frozen scale
    g = read.norm.read_direction(read.W_U[targets]) / scale  # [seq, d]
    cols: list[tuple[str, str, int, int, Tensor]] = [("embed", "embed", -1, -1, (cache["hook_embed"] * g).sum(-1))]
    if "hook_pos_embed" in cache:
        cols.append(("pos_embed", "embed", -1, -1, (cache["hook_pos_embed"] * g).sum(-1)))
    for l in range(L):
        out = _out_projection(net, l)
        W_O = out.weight.detach().float().cpu().view(out.weight.shape[0], H, -1)  # [d_model, heads, d_head]
        per_head = torch.einsum("thk,dhk,td->th", cache[f"blocks.{l}.attn.hook_z"], W_O, g)
        cols += [(f"L{l}H{h}", "head", l, h, per_head[:, h]) for h in range(H)]
        if getattr(out, "bias", None) is not None:
            cols.append((f"L{l} attn bias", "attn_bias", l, -1, g @ out.bias.detach().float().cpu()))
        cols.append((f"L{l} MLP", "mlp", l, -1, (cache[f"blocks.{l}.hook_mlp_out"] * g).sum(-1)))
    constant = torch.zeros(len(targets))
    if read.norm.bias is not None:
        constant = constant + read.W_U[targets] @ read.norm.bias
    if read.b_U is not None:
        constant = constant + read.b_U[targets]
    names, kinds, layers, heads, shares = zip(*cols)
    return Attribution(list(names), list(kinds), list(layers), list(heads), torch.stack(shares, 1), constant)


def _position(ids: Tensor, position: int) -> int:
    T = ids.shape[1]
    if not -T <= position < T:
        raise IndexError(f"position {position} is outside the story's {T} tokens")
    return position % T


def logit_lens(model: Any, story: Any, position: int = -1, top_k: int = 5) -> Any:
    """Top-k next-token predictions read from the residual stream after the embeddings and after every layer.

    Each residual is passed through the final norm (its own scale) and the unembedding. Returns a DataFrame
    with columns stage, layer (-1 = embeddings), rank, token_id, token, prob, logit.
    """
    import pandas as pd

    bridge = as_model(model)
    ids = to_ids(bridge, story)
    pos = _position(ids, position)
    _, cache = run_cache(bridge, ids)
    top = lens_top(bridge, {k: v[pos : pos + 1] for k, v in cache.items()}, top_k)
    records = []
    for s in range(top.token_ids.shape[0]):
        layer = s - 1
        for rank in range(top.token_ids.shape[-1]):
            i = int(top.token_ids[s, 0, rank])
            records.append(
                {
                    "stage": "embed" if layer < 0 else f"layer {layer}",
                    "layer": layer,
                    "rank": rank,
                    "token_id": i,
                    "token": bridge.tokenizer.decode([i]),
                    "prob": float(top.probs[s, 0, rank]),
                    "logit": float(top.logits[s, 0, rank]),
                }
            )
    return pd.DataFrame.from_records(records)


def direct_logit_attribution(model: Any, story: Any, token: int | str | None = None, position: int = -1) -> Any:
    """Each component's direct contribution to the logit of ``token`` at ``position`` (default: the model's top
    prediction there).

    Rows: the token embedding, the position embedding (gpt-neo), every head (``L{l}H{h}``), every attention
    output bias, every MLP, and the constant ``bias`` (final norm bias + unembedding bias). Columns: component,
    kind, layer, head, contribution. ``df.attrs`` holds ``logit`` (the model's actual logit), ``total`` (the sum
    of contributions), ``token_id``, ``token`` and ``position``.
    """
    import pandas as pd

    bridge = as_model(model)
    ids = to_ids(bridge, story)
    pos = _position(ids, position)
    logits, cache = run_cache(bridge, ids)
    tid = int(logits[pos].argmax()) if token is None else token_index(bridge, token)
    attr = attribution(bridge, {k: v[pos : pos + 1] for k, v in cache.items()}, torch.tensor([tid]))
    records = [
        {"component": n, "kind": k, "layer": l, "head": h, "contribution": float(v)}
        for n, k, l, h, v in zip(attr.names, attr.kinds, attr.layers, attr.heads, attr.shares[0])
    ]
    records.append(
        {
            "component": "bias",
            "kind": "bias",
            "layer": int(bridge.cfg.n_layers),
            "head": -1,
            "contribution": float(attr.constant[0]),
        }
    )
    df = pd.DataFrame.from_records(records)
    df.attrs.update(
        logit=float(logits[pos, tid]),
        total=float(df["contribution"].sum()),
        token_id=tid,
        token=bridge.tokenizer.decode([tid]),
        position=pos,
    )
    return df
