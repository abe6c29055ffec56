"""QK explanations for an attribution graph: for the heads on its strongest attention paths, why they attend from
the target's position to the source's, in Neuronpedia's ``qk_tracing_results`` fields.

A graph freezes attention, so an edge between two positions flows through heads of the layers between its source
and its target. For each of the strongest such edges (kept by pruning), the head of those layers that attends most
from the target's position to the source's is explained; the result is attached to the target node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..graphs.graph import AttributionGraph
from ..graphs.prune import Pruned
from .engine import QKExplainer
from .panel import panel_data
from .why import AttentionWhy, explain


@dataclass(frozen=True)
class GraphQK:
    """One explained head: the graph edge (source -> target node) it carries, and the explanation."""

    target: int
    source: int
    why: AttentionWhy


def attention_edges(graph: AttributionGraph, pruned: Pruned, n: int) -> list[tuple[int, int]]:
    """The ``n`` strongest kept edges whose ends sit at different positions, as (source, target) nodes."""
    dst, src = pruned.edge_mask.nonzero(as_tuple=True)
    w = graph.adjacency[dst, src].abs()
    out = []
    for i in w.argsort(descending=True).tolist():
        s, t = int(src[i]), int(dst[i])
        if graph.describe(s)["pos"] != graph.describe(t)["pos"]:
            out.append((s, t))
        if len(out) == n:
            break
    return out


def carrying_head(
    graph: AttributionGraph, patterns: dict[int, torch.Tensor], source: int, target: int
) -> tuple[int, int]:
    """(layer, head) between the source's write and the target's read attending most from target to source."""
    s, t = graph.describe(source), graph.describe(target)
    last = min(t["layer"], graph.n_layers - 1)
    layers = range(s["layer"] + 1, last + 1)
    best = max((float(patterns[l][h, t["pos"], s["pos"]]), l, h) for l in layers for h in range(patterns[l].shape[0]))
    return best[1], best[2]


def graph_qk(graph: AttributionGraph, pruned: Pruned, ex: QKExplainer, n_paths: int = 4, top: int = 8) -> list[GraphQK]:
    """Explanations for the heads on the ``n_paths`` strongest cross-position edges (one per target node)."""
    ids = torch.tensor(graph.input_ids)
    patterns = ex.split(ids, graph.n_layers - 1).residual.patterns
    seen: set[int] = set()
    out = []
    for source, target in attention_edges(graph, pruned, 4 * n_paths):
        if target in seen:
            continue
        layer, head = carrying_head(graph, patterns, source, target)
        q, k = graph.describe(target)["pos"], graph.describe(source)["pos"]
        out.append(GraphQK(target, source, explain(ex, ids, layer, head, q, k, top)))
        seen.add(target)
        if len(out) == n_paths:
            break
    return out


def qk_tracing_results(item: GraphQK, top: int = 8) -> dict[str, Any]:
    """Neuronpedia's fields (pairs as [q_id, k_id, value], marginals as [id, value]); ids of features, errors and
    token embeddings are the graph's node ids. ``labels`` names every id in words; the rest says which head."""
    w = item.why
    shown = w.query_marginals[:top] + w.key_marginals[:top] + [p.query for p in w.pairs] + [p.key for p in w.pairs]
    return {
        "pair_wise_contributors": [[p.query.id, p.key.id, p.value] for p in w.pairs[:top]],
        "top_q_marginal_contributors": [[t.id, t.value] for t in w.query_marginals[:top]],
        "top_k_marginal_contributors": [[t.id, t.value] for t in w.key_marginals[:top]],
        "labels": {t.id: t.label for t in shown},
        "head": f"L{w.layer}H{w.head}",
        "layer": w.layer,
        "query": w.query,
        "key": w.key,
        "score": w.score,
        "attention": w.attention,
        "rest": w.rest,
    }


def explainer_of(gm: Any) -> QKExplainer:
    """A QK explainer over a ``GraphModel``'s model and transcoders, labelled from their feature atlas."""
    from .dictionaries import as_float64
    from .labels import atlas_feature_info

    dicts = {l: as_float64(tc) for l, tc in enumerate(gm.transcoders)}
    info = None
    if gm.transcoder_dir is not None:
        info = atlas_feature_info(gm.transcoder_dir, dict(enumerate(gm.transcoder_names)))
    return QKExplainer(gm.model, gm.tokenizer, dicts, info)


def graph_qk_outputs(
    gm: Any, graph: AttributionGraph, pruned: Pruned, n_paths: int = 4
) -> tuple[dict[int, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(graph node -> ``qk_tracing_results`` for the JSON, view node index -> panel data for the graph view)."""
    if n_paths <= 0:
        return {}, {}
    items = graph_qk(graph, pruned, explainer_of(gm), n_paths)
    keep = pruned.node_mask.nonzero().flatten().tolist()
    index = {n: i for i, n in enumerate(keep)}
    results = {it.target: qk_tracing_results(it) for it in items}
    panels = {str(index[it.target]): panel_data(it.why) for it in items if it.target in index}
    return results, panels
