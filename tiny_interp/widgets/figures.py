"""Small figures drawn by the views' own bundle from data alone (no kernel, no plotly): dense attention patterns of
a few heads and a labelled scatter. They display as ``text/html``, so notebooks, saved notebooks and reports show
them the same way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from jaxtyping import Float

from .render import PageState, b64, quantise, view_html


class StaticView:
    """One bundle-drawn view of fixed data."""

    def __init__(self, data: dict[str, Any]):
        self.data = data

    def to_html(self, page: PageState | None = None) -> str:
        return view_html(self.data, page)

    def _repr_html_(self) -> str:
        return self.to_html()


def patterns_view(
    tokens: list[str],
    pattern: Float[np.ndarray, "heads q k"],
    heads: Sequence[int],
    titles: Sequence[str] | None = None,
    title: str = "",
) -> StaticView:
    """Chosen heads' full patterns side by side (row = query token, column = key token), labelled axes."""
    titles = list(titles) if titles else [f"head {h}" for h in heads]
    return StaticView(
        {
            "kind": "patterns",
            "tokens": list(tokens),
            "title": title,
            "n_heads": int(pattern.shape[0]),
            "heads": [
                {"head": int(h), "title": t, "val": b64(quantise(np.asarray(pattern[h], dtype=np.float32), 1.0))}
                for h, t in zip(heads, titles)
            ],
        }
    )


def scatter_view(points: list[dict[str, Any]], x_title: str, y_title: str, title: str = "") -> StaticView:
    """Points ``{"x", "y", "group", "text", "tip"}``: coloured by group, labelled by text, tip on hover."""
    clean = [
        {**p, "x": float(p["x"]), "y": float(p["y"])} for p in points if np.isfinite(p["x"]) and np.isfinite(p["y"])
    ]
    return StaticView({"kind": "scatter", "points": clean, "x_title": x_title, "y_title": y_title, "title": title})
