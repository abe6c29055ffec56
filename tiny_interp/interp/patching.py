"""Activation patching: how much of a counterfactual's effect on a target logit runs through each layer and head.

We run the story ("clean") and a counterfactual of the same token length (e.g. the protagonist's name changed),
then rerun the clean story with one activation taken from the counterfactual ("noising"; ``direction="denoising"``
runs the counterfactual with one clean activation instead). The metric is ``logit(answer) - logit(wrong)`` at
``position`` (just ``logit(answer)`` without ``wrong``). ``effect`` is the patched metric minus the base run's;
``normalized`` divides it by the full difference between the two runs, so 1 means this activation alone carries
the whole change. Each sweep is one batched forward pass: row i of the batch patches the i-th site. Activations
are read and replaced through the seam (``run_with_cache`` / ``run_with_hooks``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from ..errors import DataError
from .common import as_model, to_ids, token_index
from .seam import run_with_cache, run_with_hooks

KINDS = ("resid_pre", "attn_out", "mlp_out", "head")


def activation_patching(
    model: Any,
    story: Any,
    counterfactual: Any,
    answer: int | str,
    wrong: int | str | None = None,
    position: int = -1,
    kinds: Sequence[str] = KINDS,
    direction: str = "noising",
) -> Any:
    """A DataFrame with one row per patched site: kind, layer, head (-1 if none), position (-1 = all positions),
    effect, normalized. ``df.attrs`` holds ``clean`` and ``counterfactual`` metric values.

    ``resid_pre`` patches the residual stream entering each layer at one position (layer x position grid);
    ``attn_out`` / ``mlp_out`` patch a layer's attention / MLP output at all positions; ``head`` one head's
    output (its ``hook_z``) at all positions.
    """
    import pandas as pd

    bad = set(kinds) - set(KINDS)
    if bad:
        raise ValueError(f"unknown patching kinds {sorted(bad)}; choose from {KINDS}")
    if direction not in ("noising", "denoising"):
        raise ValueError("direction must be 'noising' or 'denoising'")
    bridge = as_model(model)
    clean, corrupt = to_ids(bridge, story), to_ids(bridge, counterfactual)
    if clean.shape != corrupt.shape:
        raise DataError(
            f"the story is {clean.shape[1]} tokens but the counterfactual is {corrupt.shape[1]}: patching compares "
            "positions one to one, so they must tokenize to the same length (swap in a name of the same token count)"
        )
    T = clean.shape[1]
    pos = position % T
    a = token_index(bridge, answer)
    w = token_index(bridge, wrong) if wrong is not None else None
    metric = lambda logits: logits[:, pos, a] - (logits[:, pos, w] if w is not None else 0.0)  # noqa: E731
    base, source = (clean, corrupt) if direction == "noising" else (corrupt, clean)
    L, H = bridge.cfg.n_layers, bridge.cfg.n_heads
    with torch.no_grad():
        base_logits = run_with_hooks(bridge, base, fwd_hooks=[])
        src_logits, src_cache = run_with_cache(bridge, source, names=lambda n: n.endswith(_HOOKS))
    m_base, m_src = float(metric(base_logits)[0]), float(metric(src_logits)[0])
    m_clean, m_cf = (m_base, m_src) if direction == "noising" else (m_src, m_base)
    denom = m_src - m_base
    records: list[dict[str, Any]] = []

    def run(n_rows: int, hooks: list[tuple[str, Callable]]) -> Tensor:
        with torch.no_grad():
            logits = run_with_hooks(bridge, base.expand(n_rows, T), fwd_hooks=hooks)
        return metric(logits).float().cpu() - m_base

    def add(kind: str, layer: int, head: int, p: int, effect: float) -> None:
        records.append(
            {
                "kind": kind,
                "layer": layer,
                "head": head,
                "position": p,
                "effect": effect,
                "normalized": effect / denom if denom else float("nan"),
            }
        )

    if "resid_pre" in kinds:
        for l in range(L):
            src = src_cache[f"blocks.{l}.hook_resid_pre"]
            effects = run(T, [(f"blocks.{l}.hook_resid_pre", _patch_rows_at_positions(src))])
            for p in range(T):
                add("resid_pre", l, -1, p, float(effects[p]))
    for kind, hook in (("attn_out", "hook_attn_out"), ("mlp_out", "hook_mlp_out")):
        if kind in kinds:
            hooks = [(f"blocks.{l}.{hook}", _patch_row(l, src_cache[f"blocks.{l}.{hook}"])) for l in range(L)]
            effects = run(L, hooks)
            for l in range(L):
                add(kind, l, -1, -1, float(effects[l]))
    if "head" in kinds:
        hooks = [
            (f"blocks.{l}.attn.hook_z", _patch_heads(l * H, src_cache[f"blocks.{l}.attn.hook_z"])) for l in range(L)
        ]
        effects = run(L * H, hooks)
        for l in range(L):
            for h in range(H):
                add("head", l, h, -1, float(effects[l * H + h]))
    df = pd.DataFrame.from_records(records)
    df.attrs.update(clean=m_clean, counterfactual=m_cf, direction=direction, position=pos, answer=a, wrong=w)
    return df


_HOOKS = ("hook_resid_pre", "hook_attn_out", "hook_mlp_out", "attn.hook_z")


def _patch_rows_at_positions(src: Tensor) -> Callable:
    """Row p of the batch gets the source activation at position p."""

    def hook(act: Tensor, name: str) -> Tensor:
        act = act.clone()
        idx = torch.arange(act.shape[0], device=act.device)
        act[idx, idx] = src[0, idx].to(act.dtype)
        return act

    return hook


def _patch_row(row: int, src: Tensor) -> Callable:
    def hook(act: Tensor, name: str) -> Tensor:
        act = act.clone()
        act[row] = src[0].to(act.dtype)
        return act

    return hook


def _patch_heads(first_row: int, src: Tensor) -> Callable:
    """Row first_row + h gets head h's source output ([batch, seq, heads, d_head])."""

    def hook(act: Tensor, name: str) -> Tensor:
        act = act.clone()
        for h in range(act.shape[2]):
            act[first_row + h, :, h] = src[0, :, h].to(act.dtype)
        return act

    return hook
