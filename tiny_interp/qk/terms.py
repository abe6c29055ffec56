"""One query's and one key's parts as labelled terms: the pair table, its marginals and the ids a graph uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .residual import PartKey


def term_id(key: PartKey, pos: int, token_id: int, layer: int) -> str:
    """A string id per part at a position; features, errors and token embeddings use the attribution graph's node
    ids (``{layer}_{feature}_{pos}``, ``{layer}_-1_{pos}``, ``E_{token}_{pos}``) so a graph can link them."""
    kind, l, index = key
    return {
        "token": f"E_{token_id}_{pos}",
        "position": f"P_{pos}",
        "head": f"A{l}.{index}_{pos}",
        "attn_bias": f"AB{l}_{pos}",
        "mlp": f"M{l}_{pos}",
        "feature": f"{l}_{index}_{pos}",
        "dict_bias": f"DB{l}_{pos}",
        "skip": f"S{l}_{pos}",
        "error": f"{l}_-1_{pos}",
        "norm_bias": f"NB{layer}_{pos}",
    }[kind]


@dataclass(frozen=True)
class Term:
    """One part's contribution to a score: ``label`` in words, ``value`` in the score's units."""

    id: str
    label: str
    value: float
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "value": self.value, **self.detail}


@dataclass(frozen=True)
class PairTerm:
    query: Term
    key: Term
    value: float

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query.label,
            "key": self.key.label,
            "value": self.value,
            "query_id": self.query.id,
            "key_id": self.key.id,
        }


@dataclass(frozen=True)
class Contrast:
    """Why this key and not the head's other keys: the score minus the attention-weighted mean score of the other
    keys (weights renormalised without this key), split by part on both sides; each side sums to ``value``."""

    value: float
    mean_other: float
    query: list[Term]
    key: list[Term]

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "mean_other_score": self.mean_other,
            "query": [t.to_json() for t in self.query],
            "key": [t.to_json() for t in self.key],
        }
