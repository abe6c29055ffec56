"""The decomposition against the real model: remove one key-side part from the key's residual (norms live,
nothing frozen) and compare the score's change with minus the part's key marginal, which the frozen form predicts."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..graphs.frozen import block_name
from .bilinear import norm_scale
from .engine import QKExplainer, pair_table
from .residual import PartKey


@dataclass(frozen=True)
class Removal:
    """One removed part: what the decomposition predicts and what the real model does to the score."""

    key: PartKey
    predicted: float
    actual: float
    chosen: str  # "top" (one of the key side's largest) or "random"
    # the same marginal with the live norm's new scale s' applied: score' = (s / s') (score - m_bias - m) + m_bias
    predicted_live: float


def pick(marg: Tensor, n_top: int, n_random: int, generator: torch.Generator | None) -> tuple[Tensor, int]:
    """The ``n_top`` parts with the largest |marginal| and ``n_random`` of the others."""
    order = marg.abs().argsort(descending=True)
    rest = order[n_top:]
    rand = rest[torch.randperm(len(rest), generator=generator)[:n_random]]
    return torch.cat([order[:n_top], rand]), min(n_top, len(order))


@torch.no_grad()
def removals(
    ex: QKExplainer,
    ids: Tensor,
    layer: int,
    head: int,
    query: int,
    key: int,
    n_top: int = 5,
    n_random: int = 5,
    generator: torch.Generator | None = None,
) -> list[Removal]:
    """Each chosen part removed in its own row of one batch: the real pass up to ``layer``'s scores."""
    split = ex.split(ids, layer)
    ak = ex.all_keys(split, head, query)
    vecs, keys = split.residual.at(key)
    # the norm bias (last on the key side) is no part of the residual stream: it cannot be removed from it
    full = pair_table(ak, ex.key_side(split, ak, key)).sum(0)
    marg, m_bias = full[: len(keys)], float(full[len(keys) :].sum())
    chosen, n_first = pick(marg, n_top, n_random, generator)
    delta = torch.zeros(len(chosen), *split.residual.resid.shape, dtype=torch.float32)
    delta[torch.arange(len(chosen)), key] = vecs[chosen].float()
    model = ex.model

    def remove(x: Tensor, name: str) -> Tensor:
        return x - delta.to(x.device, x.dtype)

    scores_name = block_name(layer, "attn.hook_attn_scores")
    with model.hooks([(block_name(layer, "hook_resid_pre"), remove)]):
        _, cache = model.run_with_cache(
            ids[None].expand(len(chosen), -1).to(model.device), names=scores_name, stop_at_layer=layer + 1
        )
    score = float(split.scores[head, query, key])
    actual = cache[scores_name][:, head, query, key].double().cpu() - score
    s = float(ak.form.norm_scale[key])
    s_new = norm_scale(model, layer, split.residual.resid[key] - vecs[chosen])
    live = (s / s_new) * (score - m_bias - marg[chosen]) + m_bias - score
    return [
        Removal(keys[c], -float(marg[c]), float(a), "top" if i < n_first else "random", float(lv))
        for i, (c, a, lv) in enumerate(zip(chosen.tolist(), actual.tolist(), live.tolist()))
    ]
