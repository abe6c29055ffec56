"""What an attribution graph was made with: one frozen dataclass, saved beside every graph it produced."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..cli_args import opt
from ..config_keys import build_config, config_from_dict
from ..errors import ConfigError
from ..jsontypes import JSONObject, JSONValue


@dataclass(frozen=True)
class GraphConfig:
    """Settings of ``attribute`` and ``prune`` (pruning defaults are circuit-tracer's)."""

    logit_mass: float = field(
        default=0.95, metadata=opt("output nodes: the top logits covering this much probability", 0, 1, True)
    )
    max_logits: int = field(default=10, metadata=opt("output nodes: at most this many logits", low=1))
    max_feature_nodes: int = field(
        default=4096, metadata=opt("above this many active features, keep the most influential ones", low=1)
    )
    batch_size: int = field(default=128, metadata=opt("target nodes per backward pass", low=1))
    node_threshold: float = field(
        default=0.8, metadata=opt("pruning: keep nodes covering this share of the influence on the outputs", 0, 1, True)
    )
    edge_threshold: float = field(default=0.98, metadata=opt("pruning: keep edges covering this share", 0, 1, True))
    # circuit-tracer's three choices, each off by default (``circuit_tracer()`` turns all on); with them on, its
    # ``attribute`` gives the same nodes and adjacency as ours (tests/test_peers_circuit_tracer.py)
    zero_first_position: bool = field(
        default=False,
        metadata=opt("circuit-tracer's zero_positions: the first position's features and error are not nodes"),
    )
    token_only_embeddings: bool = field(
        default=False,
        metadata=opt("circuit-tracer's token_vectors = W_E[tokens]: embedding nodes without the position embedding"),
    )
    demean_logits: bool = field(
        default=False, metadata=opt("circuit-tracer's demeaned unembedding: a logit node reads logit - mean logit")
    )

    def __post_init__(self) -> None:
        for name in ("logit_mass", "node_threshold", "edge_threshold"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ConfigError(f"{name} must be in (0, 1], got {value}")
        for name in ("max_logits", "max_feature_nodes", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")

    @classmethod
    def circuit_tracer(cls, **overrides: float | bool) -> "GraphConfig":
        """circuit-tracer 0.5's conventions, for graphs to compare with its ``attribute``."""
        conventions = {"zero_first_position": True, "token_only_embeddings": True, "demean_logits": True}
        return build_config(cls, {**conventions, **overrides})

    def to_dict(self) -> JSONObject:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, JSONValue], source: str | os.PathLike | None = None) -> "GraphConfig":
        """The settings saved beside a graph (``source``: their file); an unknown key is an error."""
        return config_from_dict(cls, d, source)
