"""One text's attention at one layer, as arrays and as heatmaps drawn by the views' bundle (reports, quick looks)."""

from __future__ import annotations

from typing import Any

import numpy as np


def text_pattern(model: Any, text: str, layer: int, max_tokens: int = 64) -> tuple[list[str], np.ndarray]:
    """(token strings, pattern [head, query, key]) of ``text`` (BOS first, cut to ``max_tokens``) at ``layer``;
    ``model``: a ``tiny_interp.Model``, a bridge or a model path."""
    from ..interp.common import as_model, to_ids
    from ..interp.patterns import attention_patterns

    model = as_model(model)
    ids = to_ids(model, text)[:, :max_tokens]
    pattern = attention_patterns(model, ids, [layer])[layer][0].numpy()
    return [model.tokenizer.decode([t]) for t in ids[0].tolist()], pattern


def pattern_figure(tokens: list[str], pattern: np.ndarray, heads: list[int], titles: list[str] | None = None) -> Any:
    """The chosen heads' patterns side by side (row = query token, column = key token), labelled axes."""
    from ..widgets.figures import patterns_view

    return patterns_view(tokens, pattern, heads, titles)
