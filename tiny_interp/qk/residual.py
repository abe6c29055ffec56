"""The residual stream entering a layer, split into the parts that wrote it, at every position.

What enters block L is a sum: token embedding, position embedding (gpt-neo), each earlier head's output, each
earlier attention output bias, and each earlier MLP's output. An MLP output is split further when a dictionary is
given for its layer: a transcoder's active features (activation x decoder row), its decoder bias, its skip term and
the reconstruction error (real output minus reconstruction); an SAE on ``hook_mlp_out`` the same without the skip.
Every part is read from the real pass through ``run_with_cache`` and the model's weights; nothing is re-derived
from a second copy of the forward pass, so the parts sum to the cached ``hook_resid_pre`` up to float32 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..features.sae import SAE
from ..graphs.frozen import DTYPE, block_name, ov_map
from ..model.transformer import TinyLM
from .bilinear import block

# (kind, layer, index): the identity of a part, the same at every position (index: head or feature, -1 for none)
PartKey = tuple[str, int, int]


@dataclass(frozen=True)
class Residual:
    """``dense``: parts present at every position (``dense_keys[c]`` names row c); ``feat_*``: the active
    dictionary features, one row per (position, feature) pair that fired."""

    dense: Float[Tensor, "part pos d_model"]
    dense_keys: list[PartKey]
    feat_vecs: Float[Tensor, "active d_model"]
    feat_pos: Int[Tensor, " active"]
    feat_keys: list[PartKey]
    feat_acts: Float[Tensor, " active"]
    resid: Float[Tensor, "pos d_model"]
    patterns: dict[int, Float[Tensor, "heads pos pos"]]
    # each earlier layer's value vectors (what a head's output is a pattern-weighted sum of)
    values: dict[int, Float[Tensor, "pos kv d_head"]] = field(default_factory=dict)

    @property
    def n_pos(self) -> int:
        return int(self.resid.shape[0])

    def at(self, pos: int) -> tuple[Float[Tensor, "part d_model"], list[PartKey]]:
        """Every part of one position's residual, dense parts first."""
        mask = self.feat_pos == pos
        keys = self.dense_keys + [k for k, m in zip(self.feat_keys, mask.tolist()) if m]
        return torch.cat([self.dense[:, pos], self.feat_vecs[mask]]), keys


def cache_names(model: TinyLM, layer: int) -> list[str]:
    """What the split needs from the real pass (the last layer's scores and pattern: the score to explain)."""
    names = ["hook_embed"] + (["hook_pos_embed"] if model.pos_embed is not None else [])
    for l in range(layer):
        points = ("attn.hook_z", "attn.hook_v", "attn.hook_pattern", "hook_resid_mid", "hook_mlp_out")
        names += [block_name(l, p) for p in points]
    return names + [block_name(layer, p) for p in ("hook_resid_pre", "attn.hook_attn_scores", "attn.hook_pattern")]


@torch.no_grad()
def run_cached(model: TinyLM, input_ids: Int[Tensor, " pos"], layer: int) -> dict[str, Tensor]:
    """One real forward pass up to and including ``layer``'s attention, batch of one, float64 copies (patterns,
    which only name a head's main source, stay float32: they are the largest tensors)."""
    _, cache = model.run_with_cache(
        input_ids[None].to(model.device), names=cache_names(model, layer), stop_at_layer=layer + 1
    )
    return {k: v[0].to("cpu", torch.float32 if k.endswith("hook_pattern") else DTYPE) for k, v in cache.items()}


def _mlp_parts(
    model: TinyLM, cache: dict[str, Tensor], l: int, sae: SAE | None
) -> tuple[list[Tensor], list[PartKey], tuple[Tensor, Tensor, list[PartKey], Tensor] | None]:
    """Layer ``l``'s MLP output: whole, or dictionary bias + skip + error dense and the active features sparse."""
    out = cache[block_name(l, "hook_mlp_out")]
    if sae is None:
        return [out], [("mlp", l, -1)], None
    if sae.cfg.is_transcoder:
        # the MLP's real input, from the model's own norm module on the cached residual (not a norm hook, whose
        # meaning is changing): what the transcoder was trained to read
        x = block(model, l).norm2(cache[block_name(l, "hook_resid_mid")].float()).to(DTYPE)
    else:
        x = out
    acts = sae.encode(x)
    recon = sae.decode(acts, x)
    dense = [sae.b_dec.detach().expand_as(out), out - recon]
    keys: list[PartKey] = [("dict_bias", l, -1), ("error", l, -1)]
    if sae.W_skip is not None:
        dense.append(x @ sae.W_skip.T)  # SAELens' orientation: [d_out, d_in]
        keys.append(("skip", l, -1))
    pos, feat = acts.nonzero(as_tuple=True)
    a = acts[pos, feat]
    vecs = a[:, None] * sae.W_dec.detach()[feat]
    return dense, keys, (vecs, pos, [("feature", l, int(f)) for f in feat.tolist()], a)


@torch.no_grad()
def split_residual(
    model: TinyLM, cache: dict[str, Tensor], layer: int, dictionaries: dict[int, SAE] | None = None
) -> Residual:
    """The parts of the residual entering ``layer`` (``dictionaries``: layer -> float64 SAE or transcoder)."""
    dictionaries = dictionaries or {}
    dense, keys = [cache["hook_embed"]], [("token", -1, -1)]
    if "hook_pos_embed" in cache:
        T = cache["hook_embed"].shape[0]
        dense.append(cache["hook_pos_embed"].expand(T, -1))
        keys.append(("position", -1, -1))
    feats: list[tuple[Tensor, Tensor, list[PartKey], Tensor]] = []
    for l in range(layer):
        ov = ov_map(model, l)
        z = cache[block_name(l, "attn.hook_z")]  # [pos, heads, d_head]
        heads = torch.einsum("phe,hed->hpd", z, ov.W_O)
        dense += list(heads)
        keys += [("head", l, h) for h in range(heads.shape[0])]
        if block(model, l).attn.out.bias is not None:
            dense.append(ov.b_O.expand_as(heads[0]))
            keys.append(("attn_bias", l, -1))
        mlp_dense, mlp_keys, sparse = _mlp_parts(model, cache, l, dictionaries.get(l))
        dense += mlp_dense
        keys += mlp_keys
        if sparse is not None:
            feats.append(sparse)
    d = dense[0].shape[-1]
    return Residual(
        dense=torch.stack(dense),
        dense_keys=keys,
        feat_vecs=torch.cat([f[0] for f in feats]) if feats else torch.zeros(0, d, dtype=DTYPE),
        feat_pos=torch.cat([f[1] for f in feats]) if feats else torch.zeros(0, dtype=torch.long),
        feat_keys=[k for f in feats for k in f[2]],
        feat_acts=torch.cat([f[3] for f in feats]) if feats else torch.zeros(0, dtype=DTYPE),
        resid=cache[block_name(layer, "hook_resid_pre")],
        patterns={l: cache[block_name(l, "attn.hook_pattern")] for l in range(layer + 1)},
        values={l: cache[block_name(l, "attn.hook_v")] for l in range(layer)},
    )
