"""What a "why" panel shows (attention view, graph view): one sentence first, then the terms, each with the link a
click follows (a feature's page, an earlier head)."""

from __future__ import annotations

from typing import Any

from .table import headline
from .terms import Term
from .why import AttentionWhy


def link(t: Term) -> dict[str, Any] | None:
    kind = t.detail.get("kind")
    if kind == "feature":
        return {"kind": "feature", "layer": t.detail["layer"], "index": t.detail["feature"]}
    if kind == "head":
        return {"kind": "head", "layer": t.detail["layer"], "index": t.detail["head"]}
    return None


def rows(ts: list[Term], top: int) -> list[list[Any]]:
    return [[t.label, round(t.value, 4), link(t)] for t in ts[:top]]


def panel_data(why: AttentionWhy, top: int = 6) -> dict[str, Any]:
    c = why.contrast
    contrast = None
    if c is not None:
        words = (
            f"Compared with the other keys (weighted by attention), this key scores {c.value:+.2f} more "
            f"({why.score:+.2f} against {c.mean_other:+.2f})."
        )
        contrast = {"words": words, "value": round(c.value, 4), "key": rows(c.key, top)}
    return {
        "layer": why.layer,
        "head": f"L{why.layer}H{why.head}",
        "query": why.query,
        "key": why.key,
        "headline": headline(why),
        "pairs": [[p.query.label, p.key.label, round(p.value, 4)] for p in why.pairs[:top]],
        "query_side": rows(why.query_marginals, top),
        "key_side": rows(why.key_marginals, top),
        "score": round(why.score, 4),
        "rest": round(why.rest, 4),
        "contrast": contrast,
    }
