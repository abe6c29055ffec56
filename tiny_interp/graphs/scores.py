"""circuit-tracer's two graph scores, computed on our graph, for the graph JSON beside our own fidelity figures.

Its ``graph.compute_graph_scores``: the replacement score is the share of the end-to-end influence on the outputs
that starts at embedding nodes rather than error nodes (our ``Fidelity.error_share`` is one minus it); the
completeness score is the output-influence-weighted share of every node's normalised input not coming straight
from error nodes, over all nodes (ours counts only nodes that have inputs, so the two differ on roots).
"""

from __future__ import annotations

from typing import Any

from .graph import AttributionGraph
from .prune import fidelity, influence, normalise_rows


def circuit_tracer_scores(graph: AttributionGraph) -> dict[str, float]:
    """``replacement_score`` and ``completeness_score`` as circuit-tracer defines them, on the unpruned graph."""
    norm = normalise_rows(graph.adjacency.double())
    weights = graph.logit_weights().double()
    inf = influence(norm, weights, graph.n_layers + 3)  # acyclic: paths are at most n_layers + 2 edges long
    tokens = inf[graph.token_start : graph.logit_start].sum()
    errors = inf[graph.error_start : graph.token_start].sum()
    non_error = 1 - norm[:, graph.error_start : graph.token_start].sum(1)
    out = inf + weights
    return {
        "replacement_score": float(tokens / (tokens + errors).clamp(min=1e-30)),
        "completeness_score": float((non_error * out).sum() / out.sum().clamp(min=1e-30)),
    }


def score_metadata(graph: AttributionGraph) -> dict[str, Any]:
    """Ours and circuit-tracer's fidelity figures of the unpruned graph, side by side."""
    ours = fidelity(graph)
    return {
        "tiny_interp": {"error_share": ours.error_share, "completeness": ours.completeness},
        "circuit_tracer": circuit_tracer_scores(graph),
    }
