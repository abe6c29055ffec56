"""Read a graph as paths: the chains of nodes that carry the most influence from the prompt to the top logit.

A path's weight is the product of its edges' shares of their targets' inputs (|weight| over the sum of |weights|
into the target): exactly the term the path adds to its root's influence on the output. The best path from every
node is found by one pass over the nodes in layer order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .graph import AttributionGraph
from .prune import Pruned, normalise_rows


@dataclass(frozen=True)
class Path:
    nodes: list[int]  # root first, the output node last
    share: float  # product of the edges' input shares
    labels: list[str]

    def __str__(self) -> str:
        return " -> ".join(self.labels) + f"  (share {self.share:.3g})"


def _order(graph: AttributionGraph) -> list[int]:
    """Nodes sorted so every edge goes forward: by layer (embeddings -1, outputs last), then position."""
    info = [graph.describe(n) for n in range(graph.n_nodes)]
    return sorted(range(graph.n_nodes), key=lambda n: (info[n]["layer"], info[n]["pos"]))


def best_paths(
    graph: AttributionGraph,
    pruned: Pruned,
    k: int = 3,
    logit: int = 0,
    name: Callable[[int], str] | None = None,
    through_features: bool = True,
) -> list[Path]:
    """The ``k`` strongest paths into logit node ``logit`` in the pruned graph, at most one per root (embedding or
    error node); with ``through_features`` only paths that cross at least one feature."""
    share = normalise_rows(graph.adjacency * pruned.edge_mask)
    target, n_f = graph.logit_start + logit, graph.n_features
    # any[n]: best share from n to the target; feat[n]: the same among paths that contain a feature (n included)
    best = {key: torch.zeros(graph.n_nodes, dtype=torch.float64) for key in ("any", "feat")}
    step = {key: torch.full((graph.n_nodes,), -1, dtype=torch.long) for key in best}
    best["any"][target] = 1.0
    for n in reversed(_order(graph)):
        if n == target or not share[:, n].any():
            continue
        for key in ("any", "feat"):
            cand = share[:, n] * best[key]
            step[key][n] = int(cand.argmax())
            best[key][n] = cand[step[key][n]]
        if n < n_f:  # a feature: every path from it contains one
            best["feat"][n], step["feat"][n] = best["any"][n], step["any"][n]
    key0 = "feat" if through_features else "any"
    label = name or (lambda n: graph.describe(n)["label"])
    roots = sorted(range(graph.error_start, graph.logit_start), key=lambda r: -float(best[key0][r]))
    out = []
    for r in roots[:k]:
        if best[key0][r] <= 0:
            break
        nodes, key = [r], key0
        while nodes[-1] != target:
            n = nodes[-1]
            key = "any" if n < n_f else key
            nodes.append(int(step[key][n]))
        out.append(Path(nodes, float(best[key0][r]), [label(x) for x in nodes]))
    return out


def feature_name(graph: AttributionGraph, node: int, pages: dict[str, Any] | None = None) -> str:
    """A short name: the auto-interp explanation when there is one, else the tokens its decoder promotes."""
    d = graph.describe(node)
    if d["kind"] != "feature":
        return d["label"] if d["kind"] != "embedding" else repr(d["label"])
    page = (pages or {}).get(str(node), {})
    if page.get("explanation"):
        return f'L{d["layer"]}/{d["feature"]} "{page["explanation"]}"'
    ups = [t for t, _ in page.get("logits", {}).get("up", [])[:3]]
    return f"L{d['layer']}/{d['feature']}@{d['pos']}" + (f" (+{'|'.join(ups)})" if ups else "")
