"""Attention patterns of one text through a bridge, as arrays and plotly heatmaps (for reports and quick looks)."""

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
    """Heatmaps of the chosen heads side by side: row = query token, column = key token."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    labels = [f"{i}:{t!r}"[:18] for i, t in enumerate(tokens)]
    titles = titles or [f"head {h}" for h in heads]
    fig = make_subplots(rows=1, cols=len(heads), subplot_titles=titles, horizontal_spacing=0.08)
    for c, h in enumerate(heads, start=1):
        fig.add_trace(go.Heatmap(z=pattern[h], x=labels, y=labels, colorscale="Blues", zmin=0, zmax=1,
                                 showscale=c == len(heads)), row=1, col=c)
        fig.update_yaxes(autorange="reversed", row=1, col=c)
    fig.update_layout(height=520, width=max(560, 480 * len(heads)), margin={"t": 60})
    return fig
