"""Influence, pruning and fidelity of an attribution graph (the definitions of circuit-tracer and the paper).

Influence: with |adjacency| normalised so each node's incoming weights sum to one, a node's influence on the outputs
is the sum over all paths of the products of normalised weights, the outputs weighted by their probability. Pruning
keeps the nodes covering ``node_threshold`` of the total influence, then the edges covering ``edge_threshold`` of
the edge scores, then drops features left without inputs or outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from .graph import AttributionGraph


def normalise_rows(adjacency: Float[Tensor, "n n"]) -> Float[Tensor, "n n"]:
    a = adjacency.abs()
    return a.div_(a.sum(1, keepdim=True).clamp(min=1e-12))


def influence(normalised: Float[Tensor, "n n"], weights: Float[Tensor, " n"], max_steps: int) -> Float[Tensor, " n"]:
    """weights @ (A + A^2 + ...): the graph is acyclic, so the sum ends after at most ``max_steps`` terms."""
    total = torch.zeros_like(weights)
    current = weights
    for _ in range(max_steps):
        current = current @ normalised
        if not current.any():
            return total
        total = total + current
    return total


def threshold_of(scores: Float[Tensor, " n"], share: float) -> float:
    """The smallest score among the top scores whose sum first reaches ``share`` of the total."""
    flat = scores.flatten()
    ranked = flat[flat > 0].double().sort(descending=True).values
    if ranked.numel() == 0:
        return 0.0
    cum = ranked.cumsum(0) / ranked.sum().clamp(min=1e-30)
    idx = min(int(torch.searchsorted(cum, torch.tensor(share, dtype=cum.dtype))), ranked.numel() - 1)
    return float(ranked[idx])


@dataclass
class Pruned:
    node_mask: Bool[Tensor, " n"]
    edge_mask: Bool[Tensor, "n n"]
    node_influence: Float[Tensor, " n"]  # on the outputs (probability-weighted), before pruning

    @property
    def n_nodes(self) -> int:
        return int(self.node_mask.sum())

    @property
    def n_edges(self) -> int:
        return int(self.edge_mask.sum())


def _steps(graph: AttributionGraph) -> int:
    return graph.n_layers + 3


def prune(
    graph: AttributionGraph,
    node_threshold: float | None = None,
    edge_threshold: float | None = None,
    only_top: bool = False,
) -> Pruned:
    """Keep what carries the influence on the outputs (probability-weighted; ``only_top``: the first output alone)."""
    node_threshold = graph.config.node_threshold if node_threshold is None else node_threshold
    edge_threshold = graph.config.edge_threshold if edge_threshold is None else edge_threshold
    weights = graph.logit_weights(only_top)
    node_inf = influence(normalise_rows(graph.adjacency), weights, _steps(graph))
    node_mask = node_inf >= threshold_of(node_inf, node_threshold)
    node_mask[graph.token_start :] = True  # embeddings and outputs always stay
    pruned = graph.adjacency.clone()
    pruned[~node_mask] = 0
    pruned[:, ~node_mask] = 0
    norm = normalise_rows(pruned)
    edge_scores = norm * (influence(norm, weights, _steps(graph)) + weights)[:, None]
    edge_mask = (edge_scores >= threshold_of(edge_scores, edge_threshold)) & (edge_scores > 0)
    _drop_dangling(graph, node_mask, edge_mask)
    return Pruned(node_mask, edge_mask, node_inf)


def _drop_dangling(graph: AttributionGraph, node_mask: Tensor, edge_mask: Tensor) -> None:
    """Features and errors need an outgoing edge and features an incoming one; repeat until nothing changes."""
    inner = graph.token_start
    while True:
        before = node_mask.clone()
        edge_mask[~node_mask] = False
        edge_mask[:, ~node_mask] = False
        node_mask[:inner] &= edge_mask[:, :inner].any(0)
        node_mask[: graph.n_features] &= edge_mask[: graph.n_features].any(1)
        if torch.equal(before, node_mask):
            return


@dataclass(frozen=True)
class Fidelity:
    """How much of the graph's explanation is real features rather than error terms.

    ``error_share``: of the influence that reaches the outputs from the graph's roots (embeddings and error nodes),
    the share that starts at error nodes (1 - circuit-tracer's replacement score), probability-weighted over the
    output nodes; ``error_share_top``: the same for the top logit alone; ``completeness``: the influence-weighted
    share of node inputs not coming straight from errors; ``kl_without_errors``: KL(real || local replacement with
    error nodes zeroed) of the next-token distribution, in nats."""

    error_share: float
    error_share_top: float
    completeness: float
    kl_without_errors: float


def _error_share(graph: AttributionGraph, norm: Tensor, weights: Tensor) -> float:
    inf = influence(norm, weights, _steps(graph))
    errors = float(inf[graph.error_start : graph.token_start].sum())
    tokens = float(inf[graph.token_start : graph.logit_start].sum())
    return errors / max(errors + tokens, 1e-30)


def fidelity(graph: AttributionGraph, pruned: Pruned | None = None) -> Fidelity:
    """Fidelity of the whole graph, or of the pruned graph when ``pruned`` is given."""
    adjacency = graph.adjacency
    if pruned is not None:
        adjacency = adjacency * pruned.edge_mask
    norm = normalise_rows(adjacency)
    weights = graph.logit_weights()
    inf = influence(norm, weights, _steps(graph))
    from_errors = norm[:, graph.error_start : graph.token_start].sum(1)
    has_inputs = norm.sum(1) > 0
    out = (inf + weights) * has_inputs
    completeness = float(((1 - from_errors) * out).sum() / out.sum().clamp(min=1e-30))
    return Fidelity(
        error_share=_error_share(graph, norm, weights),
        error_share_top=_error_share(graph, norm, graph.logit_weights(only_top=True)),
        completeness=completeness,
        kl_without_errors=graph.kl_without_errors,
    )
