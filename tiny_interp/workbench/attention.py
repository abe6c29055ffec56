"""Attention patterns of one text through a bridge, as arrays and heatmaps (for reports and quick looks)."""

from __future__ import annotations

from typing import Any

import numpy as np


def attention_patterns(bridge: Any, text: str, layer: int, max_tokens: int = 64) -> tuple[list[str], np.ndarray]:
    """(token strings, pattern [head, query, key]) of ``text`` (BOS first, cut to ``max_tokens``) at ``layer``."""
    import torch

    from ..interp.common import to_ids

    tokens = to_ids(bridge, text)[:, :max_tokens]
    ids = tokens[0].tolist()
    with torch.no_grad():
        _, cache = bridge.run_with_cache(tokens, names_filter=lambda n: n == f"blocks.{layer}.attn.hook_pattern")
    pattern = cache[f"blocks.{layer}.attn.hook_pattern"][0].float().cpu().numpy()
    return [bridge.tokenizer.decode([t]) for t in ids], pattern


def pattern_figure(tokens: list[str], pattern: np.ndarray, heads: list[int], titles: list[str] | None = None) -> Any:
    """The chosen heads' patterns side by side (row = query token, column = key token), drawn by the views' bundle."""
    from ..widgets.figures import patterns_view

    return patterns_view(tokens, pattern, heads, titles)
