"""The TinyStories paper's section 5 readings, as tables: distance-based vs semantic attention heads, and neurons
that fire on names, actions (verbs) and adjectives."""

from __future__ import annotations

from typing import Any

SEMANTIC_CLASSES = ("names", "objects")


def head_kinds(table: Any) -> Any:
    """Head-taxonomy rows with two scores and a kind: ``distance`` (attention set by relative position: one fixed
    offset, or most mass on the last few tokens, decaying with distance) vs ``semantic`` (attention concentrated on
    a word class far above its share), the paper's two families in its one-layer model; anything else is
    ``other``. ``distance_score`` is the mass on the nearest keys (offsets 0..distance_window)."""
    t = table.copy()
    lifts = [c for c in (f"lift_{k}" for k in SEMANTIC_CLASSES) if c in t.columns]
    t["distance_score"] = t[["offset_share", "local_mass"]].max(axis=1) if "local_mass" in t else t["offset_share"]
    t["semantic_lift"] = t[lifts].max(axis=1) if lifts else float("nan")
    label = t["label"].astype(str)
    t["kind"] = "other"
    t.loc[label.str.startswith(("previous-token", "current-token", "offset-", "distance")), "kind"] = "distance"
    t.loc[label.str.startswith("semantic:"), "kind"] = "semantic"
    return t


def head_kind_figure(kinds: Any, title: str = "distance vs semantic heads") -> Any:
    """Every head on the paper's two axes, coloured by kind, drawn by the views' bundle (no plotly on the page)."""
    import math

    from ..widgets.figures import scatter_view

    # a head whose text held no word of the classes has no lift: drawn at 0 and said so, never dropped
    points = [
        {
            "x": r.distance_score,
            "y": 0.0 if math.isnan(r.semantic_lift) else r.semantic_lift,
            "group": r.kind,
            "text": f"L{r.layer}H{r.head}",
            "tip": f"{r.label} · offset {r.dominant_offset} · entropy "
            f"{r.entropy:.2f}" + (" · no semantic lift (no such words)" if math.isnan(r.semantic_lift) else ""),
        }
        for r in kinds.itertuples()
    ]
    return scatter_view(points, "mass on the nearest keys", "best lift on names/objects", title)


def paper_word_classes(tokenizer: Any) -> dict[str, frozenset[int]]:
    """Token ids of the paper's neuron classes: character names (our lexicon), actions (the synthesis verb list)
    and adjectives (the synthesis adjective list); whole-word tokens only."""
    from ..lexicon import ADJECTIVES, NAMES, VERBS, class_token_ids

    return class_token_ids(
        tokenizer,
        {
            "names": NAMES,
            "actions": frozenset(w.lower() for w in VERBS),
            "adjectives": frozenset(w.lower() for w in ADJECTIVES),
        },
    )


def class_neurons(atlas: Any, n: int = 5) -> Any:
    """The ``n`` most selective neurons per paper class, with their top tokens, one table."""
    import pandas as pd

    frames = []
    for name, ids in paper_word_classes(atlas.tokenizer).items():
        try:
            top = atlas.selective_for_tokens(ids, n)
        except ValueError:
            continue  # no token of the class occurs in the atlas corpus
        top.insert(0, "class", name)
        top["top_tokens"] = [
            ", ".join(atlas.top_tokens(int(l), int(u), n=6)["token"].str.strip())
            for l, u in zip(top["layer"], top["neuron"])
        ]
        frames.append(top)
    if not frames:
        return pd.DataFrame(columns=["class", "layer", "neuron", "selectivity", "top_tokens"])
    return pd.concat(frames, ignore_index=True)


def neuron_model() -> Any:
    """The model the neuron notebooks open by default (``defaults.default_neuron_model``)."""
    from ..defaults import default_neuron_model

    return default_neuron_model()
