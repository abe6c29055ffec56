"""The graph as the JSON that circuit-tracer's local server and Neuronpedia read (their ``Model`` schema).

Node ids follow their conventions: features ``{layer}_{feature}_{pos}``, error nodes ``{layer}_-1_{pos}``,
embeddings ``E_{token}_{pos}``, logits ``{n_layers + 1}_{token}_{pos}``; ``influence`` is the cumulative influence
share at the node's rank, as circuit-tracer writes it. Per-layer transcoders are the special case of a cross-layer
transcoder that writes to its own layer only, so features carry circuit-tracer's feature type for them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from ..atomic import write_json_atomic, write_text_atomic
from .graph import AttributionGraph
from .prune import Pruned
from .scores import score_metadata

FEATURE_TYPE = "cross layer transcoder"
SCHEMA_VERSION = 1


def cantor(x: int, y: int) -> int:
    """circuit-tracer's ``feature`` number of (layer, index): the Cantor pairing."""
    return (x + y) * (x + y + 1) // 2 + y


def cumulative_scores(influence: torch.Tensor) -> torch.Tensor:
    """Each node's cumulative share of the total influence at its rank (1.0 for the least influential)."""
    ranked, order = influence.sort(descending=True)
    cum = ranked.cumsum(0) / ranked.sum().clamp(min=1e-30)
    out = torch.zeros_like(influence)
    out[order] = cum
    return out


def node_record(graph: AttributionGraph, node: int, score: float) -> dict[str, Any]:
    d = graph.describe(node)
    L = graph.n_layers
    base = {
        "ctx_idx": d["pos"],
        "token_prob": 0.0,
        "is_target_logit": False,
        "run_idx": 0,
        "reverse_ctx_idx": 0,
        "clerp": "",
        "influence": score,
        "activation": None,
    }
    if d["kind"] == "feature":
        layer, feat, pos = d["layer"], d["feature"], d["pos"]
        return {
            **base,
            "node_id": f"{layer}_{feat}_{pos}",
            "feature": cantor(layer, feat),
            "layer": str(layer),
            "feature_type": FEATURE_TYPE,
            "jsNodeId": f"{layer}_{feat}-0",
            "activation": d["activation"],
        }
    if d["kind"] == "error":
        layer, pos = d["layer"], d["pos"]
        return {
            **base,
            "node_id": f"{layer}_-1_{pos}",
            "feature": -1,
            "layer": str(layer),
            "feature_type": "mlp reconstruction error",
            "jsNodeId": f"{layer}_-1-{pos}",
        }
    if d["kind"] == "embedding":
        tok, pos = d["token"], d["pos"]
        return {
            **base,
            "node_id": f"E_{tok}_{pos}",
            "feature": pos,
            "layer": "E",
            "feature_type": "embedding",
            "jsNodeId": f"E_{tok}-{pos}",
        }
    tok, pos, p = d["token"], d["pos"], d["probability"]
    return {
        **base,
        "node_id": f"{L + 1}_{tok}_{pos}",
        "feature": tok,
        "layer": str(L + 1),
        "feature_type": "logit",
        "token_prob": p,
        "is_target_logit": node == graph.logit_start,
        "jsNodeId": f"L_{tok}-{pos}",
        "clerp": f'Output "{d["label"]}" (p={p:.3f})',
        "influence": None,
    }


def graph_json(
    graph: AttributionGraph,
    pruned: Pruned,
    slug: str = "tiny-interp-graph",
    scan: str = "",
    qk: dict[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The pruned graph as circuit-tracer's ``Model``: metadata, qParams, nodes, links. ``qk``: graph node ->
    Neuronpedia's ``qk_tracing_results`` (from ``tiny_interp.qk.graph_qk``), attached to that node's record."""
    scores = cumulative_scores(pruned.node_influence)
    keep = pruned.node_mask.nonzero().flatten().tolist()
    nodes = {n: node_record(graph, n, float(scores[n])) for n in keep}
    for n, results in (qk or {}).items():
        if n in nodes:
            nodes[n]["qk_tracing_results"] = results
    dst, src = pruned.edge_mask.nonzero(as_tuple=True)
    links = [
        {"source": nodes[s]["node_id"], "target": nodes[t]["node_id"], "weight": float(graph.adjacency[t, s])}
        for t, s in zip(dst.tolist(), src.tolist())
        if s in nodes and t in nodes
    ]
    used = {x for link in links for x in (link["source"], link["target"])}
    kept = [r for r in nodes.values() if r["node_id"] in used or r["feature_type"] in ("embedding", "logit")]
    meta = {
        "slug": slug,
        "scan": scan or graph.model_name or "tiny-interp",
        "transcoder_list": graph.transcoder_names,
        "prompt_tokens": graph.tokens,
        "prompt": graph.prompt,
        "node_threshold": graph.config.node_threshold,
        "schema_version": SCHEMA_VERSION,
        # replacement / completeness as circuit-tracer computes them, beside ours (graphs/scores.py)
        "scores": score_metadata(graph),
    }
    qparams = {"pinnedIds": [], "supernodes": [], "linkType": "both", "clickedId": "", "sg_pos": ""}
    return {"metadata": meta, "qParams": qparams, "nodes": kept, "links": links}


def write_graph_json(path: str | os.PathLike, data: dict[str, Any]) -> Path:
    path = Path(path)
    write_text_atomic(path, json.dumps(data, ensure_ascii=False))
    return path


def write_graph_dir(directory: str | os.PathLike, data: dict[str, Any]) -> Path:
    """``<slug>.json`` plus the ``graph-metadata.json`` index circuit-tracer's local server lists graphs from."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    index_path = directory / "graph-metadata.json"
    index = json.loads(index_path.read_text(encoding="utf-8")) if index_path.is_file() else {"graphs": []}
    slug = data["metadata"]["slug"]
    index["graphs"] = [g for g in index.get("graphs", []) if g.get("slug") != slug] + [data["metadata"]]
    out = write_graph_json(directory / f"{slug}.json", data)
    write_json_atomic(index_path, index)
    return out
