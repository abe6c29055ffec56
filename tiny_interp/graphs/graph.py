"""The attribution graph of one prompt: nodes, the adjacency of direct linear effects, and what it was made with.

Node order is circuit-tracer's: selected features, then one error node per (layer, position) layer-major, then one
embedding node per position, then the output (logit) nodes, most probable first. ``adjacency[target, source]`` is
the direct effect of the source (at its real value) on the target's input (a feature's pre-activation, a logit);
``bias[target]`` is what constant terms (norm biases, attention output bias, transcoder biases) add to that input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from .config import GraphConfig


@dataclass
class AttributionGraph:
    prompt: str
    input_ids: list[int]
    tokens: list[str]
    n_layers: int
    features: Int[Tensor, "n_features 3"]  # (layer, position, feature index) of each selected feature
    activations: Float[Tensor, "n_features"]
    logit_ids: list[int]
    logit_tokens: list[str]
    logit_probs: Float[Tensor, "n_logits"]
    adjacency: Float[Tensor, "nodes nodes"]
    bias: Float[Tensor, " nodes"]
    node_input: Float[Tensor, " nodes"]  # the real pass's value of each node's input (0 for errors and tokens)
    error_norms: Float[Tensor, "layer pos"]
    n_active: int  # active features in the prompt; more than n_features when max_feature_nodes cut some
    kl_without_errors: float  # KL(real || replacement with error nodes zeroed) at the last position, nats
    config: GraphConfig = field(default_factory=GraphConfig)
    model_name: str = ""
    transcoder_names: list[str] = field(default_factory=list)

    @property
    def n_pos(self) -> int:
        return len(self.input_ids)

    @property
    def n_features(self) -> int:
        return int(self.features.shape[0])

    @property
    def n_logits(self) -> int:
        return len(self.logit_ids)

    @property
    def error_start(self) -> int:
        return self.n_features

    @property
    def token_start(self) -> int:
        return self.n_features + self.n_layers * self.n_pos

    @property
    def logit_start(self) -> int:
        return self.token_start + self.n_pos

    @property
    def n_nodes(self) -> int:
        return self.logit_start + self.n_logits

    def error_index(self, layer: int, pos: int) -> int:
        return self.error_start + layer * self.n_pos + pos

    def feature_index(self, layer: int, pos: int, feature: int) -> int:
        hit = (self.features[:, 0] == layer) & (self.features[:, 1] == pos) & (self.features[:, 2] == feature)
        found = hit.nonzero().flatten()
        if found.numel() == 0:
            raise KeyError(f"feature {feature} at layer {layer}, position {pos} is not a node of this graph")
        return int(found[0])

    def kind(self, node: int) -> str:
        if node < self.error_start:
            return "feature"
        if node < self.token_start:
            return "error"
        return "embedding" if node < self.logit_start else "logit"

    def describe(self, node: int) -> dict[str, Any]:
        """Layer, position and a short label of one node (layer -1 for embeddings, n_layers for logits)."""
        kind = self.kind(node)
        if kind == "feature":
            layer, pos, feat = (int(v) for v in self.features[node])
            return {
                "kind": kind,
                "layer": layer,
                "pos": pos,
                "feature": feat,
                "label": f"L{layer}/{feat}",
                "activation": float(self.activations[node]),
            }
        if kind == "error":
            layer, pos = divmod(node - self.error_start, self.n_pos)
            return {
                "kind": kind,
                "layer": layer,
                "pos": pos,
                "label": f"err L{layer}",
                "activation": float(self.error_norms[layer, pos]),
            }
        if kind == "embedding":
            pos = node - self.token_start
            return {"kind": kind, "layer": -1, "pos": pos, "label": self.tokens[pos], "token": self.input_ids[pos]}
        k = node - self.logit_start
        return {
            "kind": kind,
            "layer": self.n_layers,
            "pos": self.n_pos - 1,
            "label": self.logit_tokens[k],
            "token": self.logit_ids[k],
            "probability": float(self.logit_probs[k]),
        }

    def logit_weights(self, only_top: bool = False) -> Float[Tensor, " nodes"]:
        """Output weights for influence: each logit node's probability (or the top logit alone)."""
        w = torch.zeros(self.n_nodes, dtype=self.adjacency.dtype)
        if only_top:
            w[self.logit_start] = 1.0
        else:
            w[self.logit_start :] = self.logit_probs.to(w.dtype)
        return w
