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
from jaxtyping import Bool, Float, UInt8, UInt16
from torch import Tensor

from ..interp.common import as_bridge, read_stories
from .base import DEFAULT_STORY, Explorer, ViewWidget, set_text, status_line, story_ids, token_strings
from .render import PageState, b64


class StoryAttention:
    """One story's attention. The forward pass keeps only each layer's queries and keys; a layer's pattern is
    formed and sparsified (top-k keys per query, weights as uint8) when a view first asks for it."""

    def __init__(self, tokens: list[str], qk: list[Any], top_k: int, note: str):
        self.tokens, self.qk, self.top_k, self.note = tokens, qk, top_k, note
        self._sparse: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def n_layers(self) -> int:
        return len(self.qk)

    @property
    def n_heads(self) -> int:
        return int(self.qk[0].q.shape[0])

    def pattern(self, layer: int) -> Float[Tensor, "heads q k"]:
        return self.qk[layer].pattern()

    def sparse(self, layer: int) -> tuple[UInt16[np.ndarray, "heads seq k"], UInt8[np.ndarray, "heads seq k"]]:
        if layer not in self._sparse:
            self._sparse[layer] = sparsify(self.pattern(layer), self.top_k)
        return self._sparse[layer]

    def view_data(self, layers: Iterable[int] | None = None, layer: int = 0, head: int = 0,
                  labels: dict[tuple[int, int], str] | None = None, map_id: str | None = None) -> dict[str, Any]:
        chosen = range(self.n_layers) if layers is None else sorted(set(layers))
        out = []
        for l in chosen:
            idx, val = self.sparse(l)
            out.append({"layer": l, "idx": b64(idx.astype("<u2")), "val": b64(val)})
        return {
            "kind": "attention", "tokens": self.tokens, "k": min(self.top_k, len(self.tokens)), "n_heads": self.n_heads,
            "n_layers": self.n_layers, "layer": layer, "head": head, "note": self.note, "map": map_id,
            "labels": {f"{l},{h}": s for (l, h), s in (labels or {}).items()}, "layers": out,
        }


@dataclass(frozen=True)
class QK:
    """One layer's attention inputs: queries and keys after rotary, keys repeated for grouped-query heads."""

    q: Float[Tensor, "heads seq d_head"]
    k: Float[Tensor, "heads seq d_head"]
    scale: float
    allowed: Bool[Tensor, "seq seq"] | None  # None: plain causal

    def pattern(self) -> Float[Tensor, "heads q k"]:
        T = self.q.shape[1]
        allowed = self.allowed if self.allowed is not None else torch.ones(T, T, dtype=torch.bool).tril_()
        scores = torch.matmul(self.q, self.k.transpose(-1, -2)).mul_(self.scale)
        return scores.masked_fill_(~allowed, float("-inf")).softmax(-1)


class _Stop(Exception):
    """Raised after the last layer's attention inputs are captured: the rest of the forward pass is not needed."""


def capture_qk(net: Any, ids: Tensor) -> list[QK]:
    """Queries and keys of every layer of our TinyLM, from pre-hooks on the attention modules (batch of one)."""
    from ..model.rotary import apply_rotary

    out: list[QK] = []
    last = len(net.blocks) - 1

    def make(i: int) -> Any:
        def hook(mod: Any, args: tuple) -> None:
            x, mask = args[0], args[1]
            rope = args[2] if len(args) > 2 else None
            B, T, _ = x.shape
            nh, kv, dh = mod.n_heads, mod.kv_heads, mod.d_head
            q, k, _ = mod.qkv(x).split([nh * dh, kv * dh, kv * dh], dim=-1)
            q, k = q.view(B, T, nh, dh).transpose(1, 2), k.view(B, T, kv, dh).transpose(1, 2)
            if rope is not None:
                q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
            if kv != nh:
                k = k.repeat_interleave(nh // kv, dim=1)
            scale = mod.scale if mod.scale is not None else dh ** -0.5
            out.append(QK(q[0].float(), k[0].float(), float(scale), None if mask is None else mask[0, 0]))
            if i == last:
                raise _Stop

        return hook

    handles = [b.attn.register_forward_pre_hook(make(i)) for i, b in enumerate(net.blocks)]
    try:
        with torch.no_grad():
            net(ids)
    except _Stop:
        pass
    finally:
        for h in handles:
            h.remove()
    return out


def fast_module(bridge: Any) -> Any | None:
    """Our own TinyLM for the bridge's model directory (several times faster than the bridge on CPU), kept on the
    bridge; None when the directory cannot be opened that way."""
    if not hasattr(bridge, "_tiny_interp_fast"):
        net = None
        path = getattr(bridge, "model_path", None)
        if path is not None:
            from ..model.checkpoint import load_tinylm

            try:
                net = load_tinylm(path, device=str(bridge.cfg.device))
            except Exception:  # noqa: BLE001 - any layout our module cannot open falls back to the bridge's hooks
                net = None
        bridge._tiny_interp_fast = net
    return bridge._tiny_interp_fast


@dataclass(frozen=True)
class FixedPattern:
    """A pattern read from the bridge's hook (when our module cannot open the model)."""

    p: Float[Tensor, "heads q k"]

    @property
    def q(self) -> Tensor:
        return self.p

    def pattern(self) -> Float[Tensor, "heads q k"]:
        return self.p


def bridge_patterns(bridge: Any, ids: Tensor) -> list[FixedPattern]:
    with torch.no_grad():
        _, cache = bridge.run_with_cache(ids, names_filter=lambda n: n.endswith("attn.hook_pattern"))
    return [FixedPattern(cache[f"blocks.{l}.attn.hook_pattern"][0].float().cpu()) for l in range(bridge.cfg.n_layers)]


def sparsify(pattern: Float[Tensor, "heads q k"], top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k keys per query, weights quantised to 0..255 (a weight under 1/510 rounds to 0 and is not drawn)."""
    T = pattern.shape[-1]
    if T > 65535:
        raise ValueError(f"{T} tokens do not fit uint16 key indices")
    vals, idx = pattern.topk(min(top_k, T), dim=-1)
    q = (vals * 255).round_().clamp_(0, 255).to(torch.uint8)
    return idx.to(torch.int32).numpy().astype(np.uint16), q.numpy()


def story_attention(model: Any, story: str, top_k: int = 8, max_tokens: int | None = None) -> StoryAttention:
    """Tokenise and run once, keeping every layer's queries and keys: everything a view of this story needs."""
    bridge = as_bridge(model)
    ids, note = story_ids(bridge, story, max_tokens)
    net = fast_module(bridge)
    if net is None:
        qk: list[Any] = bridge_patterns(bridge, ids)
    else:
        qk = [QK(x.q.cpu(), x.k.cpu(), x.scale, None if x.allowed is None else x.allowed.cpu())
              for x in capture_qk(net, ids.to(net.device))]
    return StoryAttention(token_strings(bridge.tokenizer, ids[0].tolist()), qk, top_k, note)


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
