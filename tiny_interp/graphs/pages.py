"""Feature pages for the graph view: what a feature writes (its logits), where it fires (feature atlas examples),
what it means (an auto-interp explanation), and what ablating or doubling it does to the next token."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from .graph import AttributionGraph
from .interventions import FeatureEdit, intervene, next_token_table

# (layer, feature) -> {"examples": [...], "explanation": str} from a feature atlas / auto-interp, when there is one
FeatureInfo = Callable[[int, int], dict[str, Any]]


@torch.no_grad()
def decoder_logits(model: Any, transcoder: Any, feature: int, tokenizer: Any, k: int = 5) -> dict[str, list]:
    """Tokens the feature's decoder direction promotes and suppresses through the unembedding (the final norm
    left out: a direction, not a prediction)."""
    scores = transcoder.W_dec[feature].detach().float() @ model.unembed.weight.detach().float().T
    up, down = scores.topk(k), (-scores).topk(k)
    show = lambda ids, vals: [[tokenizer.decode([int(i)]), round(float(v), 3)] for i, v in zip(ids, vals)]  # noqa: E731
    return {"up": show(up.indices, up.values), "down": show(down.indices, -down.values)}


def intervention_tables(model: Any, transcoders: Sequence[Any], graph: AttributionGraph, node: int,
                        tokenizer: Any, old: torch.Tensor) -> dict[str, list]:
    """The next-token distribution after ablating the feature node, and after doubling it, beside the real one."""
    layer, pos, feat = (int(v) for v in graph.features[node])
    ids = torch.tensor(graph.input_ids)
    act = float(graph.activations[node])
    out = {}
    for name, value in (("ablate", 0.0), ("double", 2 * act)):
        new = intervene(model, transcoders, ids, [FeatureEdit(layer, feat, value, pos)])[-1]
        out[name] = next_token_table(old, new, tokenizer, k=5)
    return out


def feature_pages(model: Any, transcoders: Sequence[Any], graph: AttributionGraph, nodes: Sequence[int],
                  tokenizer: Any, info: FeatureInfo | None = None) -> dict[str, dict[str, Any]]:
    """One page per feature node, keyed by node index."""
    old = intervene(model, transcoders, torch.tensor(graph.input_ids), [])[-1]
    pages = {}
    for n in nodes:
        layer, _, feat = (int(v) for v in graph.features[n])
        page = {"logits": decoder_logits(model, transcoders[layer], feat, tokenizer),
                "interventions": intervention_tables(model, transcoders, graph, n, tokenizer, old)}
        page.update(info(layer, feat) if info is not None else {})
        pages[str(n)] = page
    return pages
