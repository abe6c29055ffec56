"""Interventions on transcoder features in the real model, through the hook seam.

A feature is edited where its transcoder writes: the real MLP output (``blocks.L.hook_mlp_out``) moves by
``(new - current) * W_dec[feature]``, where ``current`` is the feature's activation in this same (edited) run, read
from the MLP's input. Everything downstream (attention, norms, later MLPs) is the real model's computation, so later
features respond to the edit as the model does.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..errors import ConfigError
from ..features.sae import SAE
from ..interp.seam import run_with_hooks

Mode = Literal["set", "add"]


@dataclass(frozen=True)
class FeatureEdit:
    """Set (clamp; 0 ablates) or add to feature ``feature`` of layer ``layer`` at ``pos`` (None: every position),
    in batch row ``row`` (None: every row)."""

    layer: int
    feature: int
    value: float = 0.0
    pos: int | None = None
    mode: Mode = "set"
    row: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("set", "add"):
            raise ConfigError(f"intervention mode must be 'set' or 'add', got {self.mode!r}")
        if not isinstance(self.value, numbers.Real) or not math.isfinite(self.value):
            raise ConfigError(f"intervention value {self.value!r} is not a finite number; pass e.g. 0 (ablate) or 5")


def check_positions(edits: Sequence[FeatureEdit], n_pos: int) -> None:
    """Each edit's position lies in the prompt (0..n_pos - 1, or -n_pos..-1 from its end)."""
    for e in edits:
        if e.pos is not None and not -n_pos <= e.pos < n_pos:
            raise ConfigError(f"intervention position {e.pos} is outside the prompt's {n_pos} tokens (0..{n_pos - 1})")


def ablate(layer: int, feature: int, pos: int | None = None) -> FeatureEdit:
    return FeatureEdit(layer, feature, 0.0, pos, "set")


def _delta(tc: SAE, x2: Tensor, edits: Sequence[FeatureEdit]) -> Tensor:
    """The change of one MLP output [batch, pos, d] that the edits of its layer ask for."""
    acts = tc.encode(x2)
    delta = torch.zeros(*x2.shape[:-1], tc.W_dec.shape[1], dtype=x2.dtype, device=x2.device)
    for e in edits:
        where = (slice(None) if e.row is None else e.row, slice(None) if e.pos is None else e.pos)
        current = acts[where + (e.feature,)]
        target = torch.full_like(current, e.value) if e.mode == "set" else current + e.value
        delta[where] += (target - current).unsqueeze(-1) * tc.W_dec[e.feature].to(x2.dtype)
    return delta


def edit_hooks(transcoders: Sequence[SAE], edits: Sequence[FeatureEdit]) -> list[tuple[str, Any]]:
    """``(name, fn)`` hooks that apply ``edits``: read each edited layer's MLP input, move its MLP output."""
    inputs: dict[int, Tensor] = {}
    hooks: list[tuple[str, Any]] = []
    for layer in sorted({e.layer for e in edits}):
        if not 0 <= layer < len(transcoders):
            raise ConfigError(f"layer {layer} has no transcoder (layers 0..{len(transcoders) - 1})")
        mine = [e for e in edits if e.layer == layer]
        tc = transcoders[layer]
        bad = [e.feature for e in mine if not 0 <= e.feature < tc.cfg.d_sae]
        if bad:
            raise ConfigError(
                f"feature {bad[0]} does not exist in layer {layer}'s transcoder ({tc.cfg.d_sae} features)"
            )

        def read(x: Tensor, name: str, layer: int = layer) -> None:
            inputs[layer] = x

        def write(x: Tensor, name: str, layer: int = layer, tc: SAE = tc, mine: list = mine) -> Tensor:
            return x + _delta(tc, inputs[layer], mine)

        hooks += [(tc.cfg.hook_name, read), (tc.cfg.out_hook, write)]
    return hooks


@torch.no_grad()
def intervene(
    model: Any, transcoders: Sequence[SAE], input_ids: Int[Tensor, " pos"], edits: Sequence[FeatureEdit]
) -> Float[Tensor, "pos vocab"]:
    """The real model's logits with the feature edits applied (a TinyLM or a bridge)."""
    check_positions(edits, int(input_ids.shape[-1]))
    logits = run_with_hooks(model, input_ids[None], edit_hooks(transcoders, edits))
    return logits[0].float()


@torch.no_grad()
def intervene_each(
    model: Any,
    transcoders: Sequence[SAE],
    input_ids: Int[Tensor, " pos"],
    edit_sets: Sequence[Sequence[FeatureEdit]],
    chunk: int = 64,
) -> Float[Tensor, "n vocab"]:
    """Next-token logits for each set of edits, many sets per forward pass (one batch row each)."""
    check_positions([e for edits in edit_sets for e in edits], int(input_ids.shape[-1]))
    out = []
    for start in range(0, len(edit_sets), chunk):
        sets = edit_sets[start : start + chunk]
        rows = [dataclasses.replace(e, row=i) for i, edits in enumerate(sets) for e in edits]
        ids = input_ids[None].expand(len(sets), -1)
        out.append(run_with_hooks(model, ids, edit_hooks(transcoders, rows))[:, -1].float())
    return torch.cat(out) if out else torch.zeros(0, 0)


def next_token_table(
    old_logits: Float[Tensor, " vocab"],
    new_logits: Float[Tensor, " vocab"],
    tokenizer: Any = None,
    k: int = 5,
    also: Sequence[int] = (),
) -> list[dict[str, Any]]:
    """The next-token distribution before and after, side by side: the top ``k`` of either, by the larger
    probability, and the tokens ``also`` (e.g. a traced target) wherever they rank."""
    p_old, p_new = old_logits.float().softmax(-1), new_logits.float().softmax(-1)
    ids = torch.cat([p_old.topk(k).indices, p_new.topk(k).indices]).unique()
    ids = ids[torch.maximum(p_old[ids], p_new[ids]).argsort(descending=True)][:k]
    ids = torch.cat([ids, torch.tensor([i for i in also if i not in ids.tolist()], dtype=ids.dtype)])
    decode = (lambda i: tokenizer.decode([i])) if tokenizer is not None else str
    return [{"token": decode(int(i)), "id": int(i), "old": float(p_old[i]), "new": float(p_new[i])} for i in ids]
