"""AttentionExplorer: every head's attention over a story, one head large with token labels on both axes, the
head-taxonomy map; hover, pin a token, flip through heads and layers in the view itself.

Attention travels as the top ``top_k`` keys of every query (uint16 key index + uint8 weight) plus the mass left
outside them per query (uint8): 16 heads x 256 tokens x 16 keys is ~260 KB of base64 instead of megabytes of
floats, and it grows linearly with the story. Every layer is sent at once, so changing head or layer happens in
the browser and keeps the pinned token (the live lab and exported HTML behave the same).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import ipywidgets as w
import numpy as np
import torch
from jaxtyping import Float, UInt8, UInt16
from torch import Tensor

from ..data.stories import read_stories
from ..interp.common import as_model
from .base import DEFAULT_STORY, Explorer, ViewWidget, set_text, status_line, story_ids, token_strings
from .render import b64
from .taxonomy import TaxonomySource, changed_labels, measure, taxonomy_data


class StoryAttention:
    """One story's attention patterns, sparsified per layer (top-k keys per query) when a view first asks."""

    def __init__(self, tokens: list[str], patterns: list[Float[Tensor, "heads q k"]], top_k: int, note: str):
        self.tokens, self.patterns, self.top_k, self.note = tokens, patterns, top_k, note
        self._sparse: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    @property
    def n_layers(self) -> int:
        return len(self.patterns)

    @property
    def n_heads(self) -> int:
        return int(self.patterns[0].shape[0])

    def pattern(self, layer: int) -> Float[Tensor, "heads q k"]:
        return self.patterns[layer]

    def sparse(
        self, layer: int
    ) -> tuple[UInt16[np.ndarray, "heads seq k"], UInt8[np.ndarray, "heads seq k"], UInt8[np.ndarray, "heads seq"]]:
        if layer not in self._sparse:
            self._sparse[layer] = sparsify(self.pattern(layer), self.top_k)
        return self._sparse[layer]

    def view_data(
        self,
        layers: Iterable[int] | None = None,
        layer: int = 0,
        head: int = 0,
        labels: dict[tuple[int, int], str] | None = None,
        taxonomy: dict[str, Any] | None = None,
        pin: int | None = None,
    ) -> dict[str, Any]:
        chosen = range(self.n_layers) if layers is None else sorted(set(layers))
        out = []
        for l in chosen:
            idx, val, rest = self.sparse(l)
            out.append({"layer": l, "idx": b64(idx.astype("<u2")), "val": b64(val), "rest": b64(rest)})
        return {
            "kind": "attention",
            "tokens": self.tokens,
            "k": min(self.top_k, len(self.tokens)),
            "n_heads": self.n_heads,
            "n_layers": self.n_layers,
            "layer": layer,
            "head": head,
            "note": self.note,
            "pin": pin,
            "labels": {f"{l},{h}": s for (l, h), s in (labels or {}).items()},
            "layers": out,
            "taxonomy": taxonomy,
        }


def layer_patterns(bridge: Any, ids: Tensor) -> list[Float[Tensor, "heads q k"]]:
    """Every layer's attention pattern for one story (batch of one), through the seam's one pattern function."""
    from ..interp.patterns import attention_patterns

    found = attention_patterns(bridge, ids)
    return [found[l][0] for l in sorted(found)]


def sparsify(pattern: Float[Tensor, "heads q k"], top_k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k keys per query, weights quantised to 0..255 (a weight under 1/510 rounds to 0 and is not drawn), and
    the mass outside those keys per query, quantised the same way."""
    T = pattern.shape[-1]
    if T > 65535:
        raise ValueError(f"{T} tokens do not fit uint16 key indices")
    vals, idx = pattern.topk(min(top_k, T), dim=-1)
    q = (vals * 255).round_().clamp_(0, 255).to(torch.uint8)
    rest = ((1 - vals.sum(-1)).clamp_(0, 1) * 255).round_().to(torch.uint8)
    return idx.to(torch.int32).numpy().astype(np.uint16), q.numpy(), rest.numpy()


def story_attention(model: Any, story: str, top_k: int = 16, max_tokens: int | None = None) -> StoryAttention:
    """Tokenise and run once, keeping every layer's pattern: everything a view of this story needs."""
    bridge = as_model(model)
    ids, note = story_ids(bridge, story, max_tokens)
    return StoryAttention(token_strings(bridge.tokenizer, ids[0].tolist()), layer_patterns(bridge, ids), top_k, note)


class AttentionExplorer(Explorer):
    """``AttentionExplorer(model)``: a story box (or ``stories`` to pick from), the attention view (layer select,
    head thumbnails, the chosen head large) and the head-taxonomy map. ``model``: a bridge from
    ``tiny_interp.load`` or a model path.

    ``taxonomy``: a table from ``head_taxonomy``; "auto" (default) measures it on up to 48 of ``stories``, or on
    48 stories sampled from the model itself; None shows no map. "Measure heads again" re-measures on fresh
    samples. ``.layer``, ``.head`` and ``.pin`` follow the view; ``select(layer, head)`` drives it.

    Pinning a token (or clicking a cell) opens a "why" panel: the head's score for that query and key split into
    query-side and key-side parts (``tiny_interp.qk``; ``transcoders``: a directory whose dictionaries split earlier
    MLP outputs into features). ``explain(query, key)`` does it from code; every cell explained is kept, so an
    exported report carries the cells the author pinned. A clicked feature opens in ``features`` (a
    FeatureExplorer over the same dictionaries) when one is given; a clicked head is shown in the view.
    """

    def __init__(
        self,
        model: Any,
        story: str | None = None,
        stories: Any = None,
        taxonomy: Any = "auto",
        top_k: int = 16,
        layer: int = 0,
        head: int = 0,
        max_tokens: int | None = None,
        source: TaxonomySource = TaxonomySource(),
        transcoders: Any = None,
        features: Any = None,
    ):
        self.bridge = as_model(model)
        self.transcoders, self.features = transcoders, features
        self.whys: dict[str, dict[str, Any]] = {}
        self.why_sel: dict[str, int] | None = None
        self._qk: Any = None
        self.top_k, self.max_tokens, self.source, self.seed = top_k, max_tokens, source, 0
        self.stories = read_stories(stories, limit=500) if stories is not None else []
        story = story if story is not None else (self.stories[0] if self.stories else DEFAULT_STORY)
        self.selection: dict[str, Any] = {"layer": int(layer), "head": int(head), "pin": None}
        self.text = w.Textarea(value=story, rows=4, layout=w.Layout(width="100%"), description="story")
        self.show_button = w.Button(description="Show", button_style="primary")
        self.status = status_line()
        self.view = ViewWidget()
        controls: list[Any] = [self.show_button]
        if self.stories:
            self.picker = w.Dropdown(
                options=[(s[:60].replace("\n", " "), i) for i, s in enumerate(self.stories)],
                description="dataset",
                layout=w.Layout(width="420px"),
            )
            self.picker.observe(lambda ch: self._pick(ch["new"]), names="value")
            controls.insert(0, self.picker)
        self.table, self.tax_note = self._taxonomy(taxonomy, story)
        if self.table is not None:
            self.remeasure_button = w.Button(
                description="Measure heads again", tooltip="fresh samples from the model", layout=w.Layout(width="auto")
            )
            self.remeasure_button.on_click(lambda _: self.remeasure())
            controls.append(self.remeasure_button)
        self.show_button.on_click(lambda _: self.set_story(self.text.value))
        self.view.observe(self._from_view, names="selection")
        super().__init__(children=[self.text, w.HBox(controls), self.status, self.view])
        self.set_story(story)

    # ---- data ----
    def _taxonomy(self, taxonomy: Any, story: str) -> tuple[Any, str]:
        if isinstance(taxonomy, str) and taxonomy == "auto":
            return measure(self.bridge, self.stories, story, self.source, self.seed)
        return taxonomy, "" if taxonomy is None else "measured on the table passed in"

    @property
    def labels(self) -> dict[tuple[int, int], str]:
        if self.table is None:
            return {}
        return {(int(r.layer), int(r.head)): str(r.label) for r in self.table.itertuples()}

    @property
    def layer(self) -> int:
        return int(self.selection["layer"])

    @property
    def head(self) -> int:
        return int(self.selection["head"])

    @property
    def pin(self) -> int | None:
        return self.selection.get("pin")

    def set_story(self, story: str) -> None:
        """Recompute for new text (one forward pass); the view keeps its head, layer and (when it still fits) pin."""
        if not story.strip():
            set_text(self.status, "the story is empty: type or pick one")
            return
        self.attention = story_attention(self.bridge, story, self.top_k, self.max_tokens)
        self.story = story
        self.whys, self.why_sel = {}, None  # explanations belong to one story
        set_text(self.status, self.attention.note)
        self._push()

    def remeasure(self) -> None:
        """Measure the taxonomy again on fresh samples (or the given stories) and redraw the map."""
        before = self.table
        self.seed += 1
        self.table, self.tax_note = measure(self.bridge, self.stories, self.story, self.source, self.seed)
        changed = changed_labels(before, self.table) if before is not None else 0
        set_text(self.status, f"heads measured again: {changed} of {len(self.table)} labels changed")
        self._push()

    def data(self) -> dict[str, Any]:
        tax = None if self.table is None else taxonomy_data(self.table, self.tax_note)
        data = self.attention.view_data(None, self.layer, self.head, self.labels, tax, self.pin)
        return {**data, "why": self.whys, "why_sel": self.why_sel}

    def _push(self) -> None:
        self.view.show(self.data())

    def static_data(self) -> dict[str, Any]:
        return self.data()

    def circuitsvis(self, layer: int | None = None) -> Any:
        """This story's ``layer`` (default: the shown one) as CircuitsVis' attention_heads view (inline bundle,
        ~1.3 MB, no network)."""
        from .circuits import attention_heads_html

        layer = self.layer if layer is None else layer
        names = [
            f"L{layer}H{h}" + (f" {self.labels[(layer, h)]}" if (layer, h) in self.labels else "")
            for h in range(self.attention.n_heads)
        ]
        return attention_heads_html(self.attention.tokens, self.attention.pattern(layer).numpy(), names)

    # ---- events ----
    def select(self, layer: int, head: int) -> None:
        """Show ``head`` of ``layer`` (the pinned token stays)."""
        self.selection = {**self.selection, "layer": int(layer), "head": int(head)}
        self.view.selection = {**self.selection, "_from": "kernel"}

    def _pick(self, i: int) -> None:
        self.text.value = self.stories[i]
        self.set_story(self.stories[i])

    def explain(self, query: int, key: int | None = None, layer: int | None = None, head: int | None = None) -> Any:
        """Why the shown head (or ``layer``/``head``) attends from ``query`` to ``key`` (default: its strongest
        key): an ``AttentionWhy``, also kept for the view's "why" panel and the exported report."""
        from ..qk.panel import panel_data
        from ..qk.why import explain, explainer_for

        layer, head = self.layer if layer is None else int(layer), self.head if head is None else int(head)
        if self._qk is None:
            self._qk = explainer_for(self.bridge, self.transcoders)
        ids, _ = story_ids(self.bridge, self.story, self.max_tokens)
        why = explain(self._qk, ids[0].cpu(), layer, head, int(query), key)
        self.whys[f"{layer},{head},{why.query},{why.key}"] = panel_data(why)
        self.why_sel = {"query": why.query, "key": why.key}
        self.selection = {**self.selection, "layer": layer, "head": head, "pin": why.query, "why": self.why_sel}
        self._push()
        return why

    def _visible(self, layer: int, head: int, query: int, key: int) -> bool:
        """Whether the query sees the key in the real pass (the view may ask for any cell)."""
        T = len(self.attention.tokens)
        return 0 <= key <= query < T and float(self.attention.pattern(layer)[head, query, key]) > 0

    def _from_view(self, change: dict[str, Any]) -> None:
        sel = change["new"]
        if sel.get("_from") != "view":
            return
        self.selection = {k: sel.get(k) for k in ("layer", "head", "pin", "mode", "why") if k in sel}
        opened = sel.get("open") or {}
        if opened.get("kind") == "feature" and self.features is not None:
            self.features.select(int(opened["layer"]), int(opened["index"]))
        why = sel.get("why") or {}
        if "query" in why and "key" in why:
            layer, head, q, k = self.layer, self.head, int(why["query"]), int(why["key"])
            if f"{layer},{head},{q},{k}" not in self.whys and self._visible(layer, head, q, k):
                self.explain(q, k)
