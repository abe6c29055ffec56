"""What an attribution graph was made with: one frozen dataclass, saved beside every graph it produced."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True)
class GraphConfig:
    """Settings of ``attribute`` and ``prune`` (pruning defaults are circuit-tracer's)."""

    logit_mass: float = 0.95  # output nodes: the top logits covering this much probability ...
    max_logits: int = 10  # ... but at most this many
    max_feature_nodes: int = 4096  # above this many active features, keep the most influential ones
    batch_size: int = 128  # target nodes per backward pass
    node_threshold: float = 0.8  # pruning: keep nodes covering this share of the influence on the outputs
    edge_threshold: float = 0.98  # pruning: keep edges covering this share
    # circuit-tracer's three choices, each off by default (``circuit_tracer()`` turns all on); with them on, its
    # ``attribute`` gives the same nodes and adjacency as ours (tests/test_peers_circuit_tracer.py):
    # ReplacementModel's zero_positions = slice(0, 1): the first position's features and error are not nodes
    zero_first_position: bool = False
    # setup_attribution's token_vectors = W_E[tokens]: an embedding node is the token's row, the position's is a bias
    token_only_embeddings: bool = False
    # AttributionTargets' demeaned unembedding vectors: a logit node's input is its logit minus the mean logit
    demean_logits: bool = False

    def __post_init__(self) -> None:
        for name in ("logit_mass", "node_threshold", "edge_threshold"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ConfigError(f"{name} must be in (0, 1], got {value}")
        for name in ("max_logits", "max_feature_nodes", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")

    @classmethod
    def circuit_tracer(cls, **overrides: Any) -> "GraphConfig":
        """circuit-tracer 0.5's conventions, for graphs to compare with its ``attribute``."""
        return cls(**{"zero_first_position": True, "token_only_embeddings": True, "demean_logits": True, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GraphConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown graph settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)
