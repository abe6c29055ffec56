"""Attention patterns: the one function every view and analysis uses to read them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from .seam import analysis_module, run_with_cache


def pattern_name(layer: int) -> str:
    return f"blocks.{layer}.attn.hook_pattern"


@torch.no_grad()
def attention_patterns(
    model: Any, input_ids: Int[Tensor, "batch seq"], layers: Iterable[int] | None = None
) -> dict[int, Float[Tensor, "batch heads q k"]]:
    """Each asked layer's attention pattern (every layer when ``layers`` is None), as float32 on the CPU.

    Only the asked layers form their pattern; the forward stops after the last of them."""
    n_layers = int(analysis_module(model).cfg.n_layers)
    wanted = sorted(set(range(n_layers) if layers is None else layers))
    bad = [l for l in wanted if not 0 <= l < n_layers]
    if bad:
        raise ValueError(f"layer {bad[0]} does not exist: the model has layers 0..{n_layers - 1}")
    names = [pattern_name(l) for l in wanted]
    stop = wanted[-1] + 1 if wanted and wanted[-1] + 1 < n_layers else None
    _, cache = run_with_cache(model, input_ids, names=names, stop_at_layer=stop)
    return {l: cache[pattern_name(l)].float().cpu() for l in wanted}
