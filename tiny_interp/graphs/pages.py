"""Feature pages for the graph view: what a feature writes (its logits), where it fires (feature atlas examples),
what it means (an auto-interp explanation), and what ablating or doubling it does to the next token."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..model.readout import readout_of
from .graph import AttributionGraph
from .interventions import FeatureEdit, intervene, intervene_each, next_token_table

# (layer, feature) -> {"examples": [...], "explanation": str} from a feature atlas / auto-interp, when there is one
FeatureInfo = Callable[[int, int], dict[str, Any]]
ATLAS_DIR = "atlas"


@torch.no_grad()
def decoder_logits(model: Any, transcoder: Any, feature: int, tokenizer: Any, k: int = 5) -> dict[str, list]:
    """Tokens the feature's decoder direction promotes and suppresses: the one readout's direction convention
    (``tiny_interp.model.readout``: the final norm's centring and gain, then the unembedding), the same numbers
    as the feature atlas' logit effects."""
    scores = readout_of(model).directions(transcoder.W_dec[feature])
    up, down = scores.topk(k), (-scores).topk(k)
    show = lambda ids, vals: [[tokenizer.decode([int(i)]), round(float(v), 3)] for i, v in zip(ids, vals)]  # noqa: E731
    return {"up": show(up.indices, up.values), "down": show(down.indices, -down.values)}


def feature_pages(
    model: Any,
    transcoders: Sequence[Any],
    graph: AttributionGraph,
    nodes: Sequence[int],
    tokenizer: Any,
    info: FeatureInfo | None = None,
) -> dict[str, dict[str, Any]]:
    """One page per feature node, keyed by node index: its logits, the next-token distribution after ablating it
    and after doubling it (beside the real one), and what ``info`` knows of it."""
    ids = torch.tensor(graph.input_ids)
    old = intervene(model, transcoders, ids, [])[-1]
    sets = []
    for n in nodes:
        layer, pos, feat = (int(v) for v in graph.features[n])
        act = float(graph.activations[n])
        sets += [[FeatureEdit(layer, feat, 0.0, pos)], [FeatureEdit(layer, feat, 2 * act, pos)]]
    new = intervene_each(model, transcoders, ids, sets)
    target = graph.logit_ids[:1]  # the traced output (the first logit node) keeps its row however unlikely it is
    pages = {}
    for j, n in enumerate(nodes):
        layer, _, feat = (int(v) for v in graph.features[n])
        page = {
            "logits": decoder_logits(model, transcoders[layer], feat, tokenizer),
            "interventions": {
                "ablate": next_token_table(old, new[2 * j], tokenizer, also=target),
                "double": next_token_table(old, new[2 * j + 1], tokenizer, also=target),
            },
        }
        page.update(info(layer, feat) if info is not None else {})
        pages[str(n)] = page
    return pages


def atlas_info(transcoder_dir: Path, names: Sequence[str], n_examples: int = 6) -> FeatureInfo | None:
    """Examples from the feature atlas the features work builds in ``<transcoder dir>/atlas`` (one block per
    dictionary, in its own order: matched to layers by directory name); None when no atlas was built."""
    from ..shipped import find_results

    path = find_results(Path(transcoder_dir) / ATLAS_DIR, "atlas.json")  # a shipped model's rebuilt one: runs/
    if not (path / "atlas.json").is_file():
        return None
    from ..features.feature_atlas import FeatureAtlas
    from ..widgets.features import explanation

    atlas = FeatureAtlas.open(path)
    block = {
        layer: atlas.dictionary_names.index(name) for layer, name in enumerate(names) if name in atlas.dictionary_names
    }

    def info(layer: int, feature: int) -> dict[str, Any]:
        if layer not in block:
            return {}
        top = atlas.top_examples(block[layer], feature, n_examples)
        page: dict[str, Any] = {
            "examples": [{"tokens": list(r.tokens), "acts": list(r.acts)} for r in top.itertuples()]
        }
        # the auto-interp explanation the FeatureExplorer shows, when `tiny-interp autointerp` exported one
        text = explanation(atlas, block[layer], feature)
        if text:
            page["explanation"] = text
        return page

    return info
