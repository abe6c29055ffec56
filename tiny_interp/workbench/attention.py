"""One text's attention at one layer, as arrays and as heatmaps drawn by the views' bundle (reports, quick looks)."""

from __future__ import annotations

from typing import Any

import numpy as np


def text_pattern(bridge: Any, text: str, layer: int, max_tokens: int = 64) -> tuple[list[str], np.ndarray]:
    """(token strings, pattern [head, query, key]) of ``text`` (BOS first, cut to ``max_tokens``) at ``layer``."""
    from ..interp.common import to_ids
    from ..interp.patterns import attention_patterns

    ids = to_ids(bridge, text)[:, :max_tokens]
    pattern = attention_patterns(bridge, ids, [layer])[layer][0].numpy()
    return [bridge.tokenizer.decode([t]) for t in ids[0].tolist()], pattern


def pattern_figure(tokens: list[str], pattern: np.ndarray, heads: list[int], titles: list[str] | None = None) -> Any:
    """The chosen heads' patterns side by side (row = query token, column = key token), labelled axes."""
    from ..widgets.figures import patterns_view

    return patterns_view(tokens, pattern, heads, titles)
