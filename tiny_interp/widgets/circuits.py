"""A story's attention as CircuitsVis' ``attention_heads`` view, for researchers who know that view.

CircuitsVis' own Python renderer fetches its code from a CDN when it finds the network, and puts tokens into the
page as raw JSON after removing "</script>" from its bundle; here the bundle shipped in the circuitsvis package is
inlined (every "</" written "<\\/", which JavaScript reads the same) and the props go through ``safe_json``, so a
token such as ``</script>`` stays text and the page needs no network."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from jaxtyping import Float


@lru_cache(maxsize=1)
def circuitsvis_bundle() -> str:
    from importlib import resources

    return resources.files("circuitsvis").joinpath("dist", "cdn", "iife.js").read_text(encoding="utf-8")


class CircuitsVisView:
    """HTML for one ``attention_heads`` view; displays in notebooks, ``.html`` gives the fragment."""

    def __init__(self, html: str):
        self.html = html

    def _repr_html_(self) -> str:
        return self.html


def attention_heads_html(
    tokens: Sequence[str], pattern: Float[np.ndarray, "heads q k"], head_names: Sequence[str] | None = None
) -> CircuitsVisView:
    """CircuitsVis' attention_heads view of ``pattern`` over ``tokens``, self-contained."""
    from .render import safe_json

    vid = "ti-cv-" + uuid.uuid4().hex[:12]
    props = {
        "attention": np.round(np.asarray(pattern, dtype=np.float32), 4).tolist(),
        "tokens": list(tokens),
        "attentionHeadNames": list(head_names) if head_names else [f"H{h}" for h in range(len(pattern))],
    }
    js = circuitsvis_bundle().replace("</", "<\\/")
    boot = f"CircuitsVis.render({safe_json(vid)}, CircuitsVis.AttentionHeads, {safe_json(props)});"
    return CircuitsVisView(f'<div id="{vid}" style="margin:12px 0"></div>\n<script>{js}\n{boot}</script>\n')
