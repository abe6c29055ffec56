"""AttentionExplorer: every head's attention over a story, hover a token to see what it attends to, and the head
taxonomy as a plotly map where clicking a head selects it.

Attention travels as the top ``top_k`` keys of every query (uint16 key index + uint8 weight): 16 heads x 256
tokens x 8 keys is ~130 KB of base64 instead of megabytes of floats, and it grows linearly with the story.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Iterable

import ipywidgets as w
import numpy as np
import torch
from jaxtyping import Float, UInt8, UInt16
from torch import Tensor

from ..interp.common import as_bridge, read_stories
from .base import DEFAULT_STORY, Explorer, ViewWidget, set_text, status_line, story_ids, token_strings
from .render import PageState, b64


@dataclass(frozen=True)
class StoryAttention:
    """One story's attention, sparsified: for each layer, head and query the top-k keys."""

    tokens: list[str]
    idx: UInt16[np.ndarray, "layers heads seq k"]
    val: UInt8[np.ndarray, "layers heads seq k"]
    note: str

    @property
    def n_layers(self) -> int:
        return int(self.idx.shape[0])

    @property
    def n_heads(self) -> int:
        return int(self.idx.shape[1])

    def view_data(self, layers: Iterable[int] | None = None, layer: int = 0, head: int = 0,
                  labels: dict[tuple[int, int], str] | None = None, map_id: str | None = None) -> dict[str, Any]:
        chosen = range(self.n_layers) if layers is None else sorted(set(layers))
        return {
            "kind": "attention", "tokens": self.tokens, "k": int(self.idx.shape[-1]), "n_heads": self.n_heads,
            "n_layers": self.n_layers, "layer": layer, "head": head, "note": self.note, "map": map_id,
            "labels": {f"{l},{h}": s for (l, h), s in (labels or {}).items()},
            "layers": [{"layer": l, "idx": b64(self.idx[l].astype("<u2")), "val": b64(self.val[l])} for l in chosen],
        }


def attention_patterns(bridge: Any, ids: Tensor) -> Float[Tensor, "layers heads q k"]:
    with torch.no_grad():
        _, cache = bridge.run_with_cache(ids, names_filter=lambda n: n.endswith("attn.hook_pattern"))
    return torch.stack([cache[f"blocks.{l}.attn.hook_pattern"][0] for l in range(bridge.cfg.n_layers)]).float().cpu()


def sparsify(patterns: Float[Tensor, "layers heads q k"], top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k keys per query, weights quantised to 0..255 (a weight under 1/510 rounds to 0 and is not drawn)."""
    T = patterns.shape[-1]
    if T > 65535:
        raise ValueError(f"{T} tokens do not fit uint16 key indices")
    vals, idx = patterns.topk(min(top_k, T), dim=-1)
    q = (vals * 255).round_().clamp_(0, 255).to(torch.uint8)
    return idx.to(torch.int32).numpy().astype(np.uint16), q.numpy()


def story_attention(model: Any, story: str, top_k: int = 8, max_tokens: int | None = None) -> StoryAttention:
    """Tokenise, run once with the attention hooks, sparsify: everything a view of this story needs."""
    bridge = as_bridge(model)
    ids, note = story_ids(bridge, story, max_tokens)
    idx, val = sparsify(attention_patterns(bridge, ids), top_k)
    return StoryAttention(token_strings(bridge.tokenizer, ids[0].tolist()), idx, val, note)


def taxonomy_figure(table: Any, widget: bool = False) -> Any:
    """The head taxonomy as a layer x head heatmap coloured by label (a FigureWidget when ``widget``)."""
    import plotly.colors
    import plotly.graph_objects as go

    L, H = int(table["layer"].max()) + 1, int(table["head"].max()) + 1
    names = sorted(set(table["label"]))
    code = {name: i for i, name in enumerate(names)}
    z = np.zeros((L, H))
    text = [["" for _ in range(H)] for _ in range(L)]
    for r in table.itertuples():
        z[r.layer, r.head] = code[r.label]
        text[r.layer][r.head] = (f"{r.label}<br>prev {r.prev_token:.2f} · induction {r.induction:.2f} · "
                                 f"sink {r.sink:.2f} · entropy {r.entropy:.2f}")
    palette = plotly.colors.qualitative.Plotly + plotly.colors.qualitative.Pastel
    n = max(len(names), 1)
    scale = []
    for i in range(n):
        colour = palette[i % len(palette)]
        scale += [[i / n, colour], [(i + 1) / n, colour]]
    heat = go.Heatmap(
        z=z, x=list(range(H)), y=list(range(L)), text=text, zmin=-0.5, zmax=n - 0.5, colorscale=scale,
        hovertemplate="layer %{y} head %{x}<br>%{text}<extra></extra>", xgap=2, ygap=2,
        colorbar=dict(tickvals=list(range(n)), ticktext=names, title="label"),
    )
    layout = dict(title="Head taxonomy (click a head)", xaxis=dict(title="head", dtick=1),
                  yaxis=dict(title="layer", dtick=1, autorange="reversed"), height=120 + 28 * L, width=260 + 30 * H,
                  margin=dict(l=50, r=20, t=40, b=40))
    return (go.FigureWidget if widget else go.Figure)(data=[heat], layout=layout)


class AttentionExplorer(Explorer):
    """``AttentionExplorer(model)``: a story box (or ``stories`` to pick from), layer/head choice, the attention
    view and the head-taxonomy map. ``model``: a bridge from ``tiny_interp.load`` or a model path.

    ``taxonomy``: a table from ``head_taxonomy``, "auto" (computed on up to 32 of ``stories``, or the story) or None.
    """

    def __init__(self, model: Any, story: str | None = None, stories: Any = None, taxonomy: Any = "auto",
                 top_k: int = 8, layer: int = 0, head: int = 0, max_tokens: int | None = None):
        self.bridge = as_bridge(model)
        self.top_k, self.max_tokens = top_k, max_tokens
        self.stories = read_stories(stories, limit=500) if stories is not None else []
        story = story if story is not None else (self.stories[0] if self.stories else DEFAULT_STORY)
        L, H = self.bridge.cfg.n_layers, self.bridge.cfg.n_heads
        self.table = self._taxonomy(taxonomy, story)
        self.labels = {} if self.table is None else {(int(r.layer), int(r.head)): str(r.label) for r in self.table.itertuples()}
        self.text = w.Textarea(value=story, rows=4, layout=w.Layout(width="100%"), description="story")
        self.show_button = w.Button(description="Show", button_style="primary")
        self.layer_pick = w.Dropdown(options=list(range(L)), value=layer, description="layer", layout=w.Layout(width="150px"))
        self.head_pick = w.Dropdown(options=list(range(H)), value=head, description="head", layout=w.Layout(width="150px"))
        self.status = status_line()
        self.view = ViewWidget()
        controls = [self.show_button, self.layer_pick, self.head_pick]
        if self.stories:
            self.picker = w.Dropdown(options=[(s[:60].replace("\n", " "), i) for i, s in enumerate(self.stories)],
                                     description="dataset", layout=w.Layout(width="420px"))
            self.picker.observe(lambda ch: self._pick(ch["new"]), names="value")
            controls.insert(0, self.picker)
        self.map = taxonomy_figure(self.table, widget=True) if self.table is not None else None
        if self.map is not None:
            self.map.data[0].on_click(self._map_click)
        self.show_button.on_click(lambda _: self.set_story(self.text.value))
        self.layer_pick.observe(lambda _: self._push(), names="value")
        self.head_pick.observe(lambda _: self._push(), names="value")
        self.view.observe(self._from_view, names="selection")
        children = [self.text, w.HBox(controls), self.status, self.view] + ([self.map] if self.map is not None else [])
        super().__init__(children=children)
        self.set_story(story)

    # ---- data ----
    def _taxonomy(self, taxonomy: Any, story: str) -> Any:
        if isinstance(taxonomy, str) and taxonomy == "auto":
            from ..interp.heads import head_taxonomy

            texts = self.stories[:32] or [story]
            return head_taxonomy(self.bridge, texts, max_len=128, induction_seqs=8)
        return taxonomy

    def set_story(self, story: str) -> None:
        """Recompute for new text (one forward pass)."""
        if not story.strip():
            set_text(self.status, "the story is empty: type or pick one")
            return
        self.attention = story_attention(self.bridge, story, self.top_k, self.max_tokens)
        self.story = story
        set_text(self.status, self.attention.note)
        self._push()

    def _push(self) -> None:
        layer, head = self.layer_pick.value, self.head_pick.value
        self.view.show(self.attention.view_data([layer], layer, head, self.labels))

    def static_data(self, map_id: str | None = None) -> dict[str, Any]:
        return self.attention.view_data(None, self.layer_pick.value, self.head_pick.value, self.labels, map_id)

    def to_html(self, page: PageState | None = None) -> str:
        from .render import KERNEL, view_html

        page = KERNEL if page is None else page
        if self.table is None:
            return view_html(self.static_data(), page)
        map_id = "ti-map-" + uuid.uuid4().hex[:12]
        fig = taxonomy_figure(self.table).to_html(
            include_plotlyjs=page.take_plotly(), full_html=False, div_id=map_id, config={"displayModeBar": False})
        return view_html(self.static_data(map_id), page, before=fig)

    # ---- events ----
    def select(self, layer: int, head: int) -> None:
        with self.hold_trait_notifications():
            self.layer_pick.value, self.head_pick.value = int(layer), int(head)

    def _pick(self, i: int) -> None:
        self.text.value = self.stories[i]
        self.set_story(self.stories[i])

    def _map_click(self, trace: Any, points: Any, state: Any) -> None:
        if points.xs:
            self.select(points.ys[0], points.xs[0])

    def _from_view(self, change: dict[str, Any]) -> None:
        sel = change["new"]
        if "layer" in sel and "head" in sel and (sel["layer"], sel["head"]) != (self.layer_pick.value, self.head_pick.value):
            self.select(sel["layer"], sel["head"])
