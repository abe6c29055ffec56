"""NeuronExplorer: a neuron's top atlas examples as coloured-token snippets (and its quantile examples: a few
from each activation band, drawn by ``static/features.js`` below the shared neuron view), its activation
histogram, the tokens it likes, the neurons most selective for any token (click a token in a snippet, or type
one), the neuron's auto-interpretation explanations with their scores, and a search box over every neuron's
explanations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ipywidgets as w
import numpy as np

from ..errors import CheckpointError, ConfigError
from ..interp.neurons import STAT_COLUMNS, Atlas, build_atlas, open_atlas
from ..shipped import find_results, results_path
from .base import Explorer, set_text, status_line
from .render import PageState, quantise


def token_neurons(atlas: Atlas, token_ids: np.ndarray, n: int = 6) -> dict[int, list[list]]:
    """For each token id seen in the atlas corpus: the n neurons whose mean activation on it stands furthest above
    their overall mean, as [layer, neuron, z] (one vectorised pass over the token rows)."""
    ids = np.unique(token_ids[token_ids >= 0]).astype(np.int64)
    counts = np.asarray(atlas.a["token_count"])[ids]
    ids = ids[counts > 0]
    if not len(ids):
        return {}
    stats = np.asarray(atlas.a["neuron_stats"], dtype=np.float32)
    means = atlas.token_means(rows=ids)  # [ids, N]
    z = (means - stats[:, 0]) / np.maximum(stats[:, 1], 1e-6)
    n = min(n, z.shape[1])
    top = np.argpartition(-z, n - 1, axis=1)[:, :n]
    out = {}
    for row, tid in enumerate(ids):
        order = top[row][np.argsort(-z[row, top[row]])]
        out[int(tid)] = [[int(f // atlas.d_mlp), int(f % atlas.d_mlp), round(float(z[row, f]), 2)] for f in order]
    return out


def neuron_data(
    atlas: Atlas, layer: int, neuron: int, n_examples: int = 16, focus: str | None = None, per_band: int | None = None
) -> dict[str, Any]:
    """Everything the neuron view draws, from the memory-mapped atlas. ``quantiles``: per activation band (lowest
    first) its range and up to ``per_band`` examples (None: all kept); None when the atlas has no quantiles."""
    f = atlas.flat_index(layer, neuron)
    k = min(n_examples, atlas.a["top_values"].shape[1])
    vals = np.asarray(atlas.a["top_values"][f, :k], dtype=np.float32)
    toks = np.asarray(atlas.a["top_window_tokens"][f, :k])
    acts = np.asarray(atlas.a["top_window_acts"][f, :k], dtype=np.float32)
    amax = max(float(np.nanmax(acts)), 1e-6) if acts.size and np.isfinite(acts).any() else 1.0
    bands = atlas.quantile_bands(layer, neuron)
    q_vals, q_toks, q_acts = (
        _band_windows(atlas, f, len(bands), k, per_band) if bands else (vals[:0], toks[:0], acts[:0])
    )
    tok = atlas.tokenizer
    used = np.unique(np.concatenate([toks[toks >= 0], q_toks[q_toks >= 0]]))
    strings = dict(zip(used.tolist(), tok.batch_decode([[int(i)] for i in used]))) if len(used) else {}
    W = int(atlas.meta["config"]["window"])
    snip = lambda v, t, a: _snippets(v, t, np.asarray(a, dtype=np.float32), W, strings, amax)  # noqa: E731
    quantiles = [
        {"lo": lo, "hi": hi, "examples": snip(q_vals[j], q_toks[j], q_acts[j])} for j, (lo, hi) in enumerate(bands)
    ]
    edges, counts = atlas.histogram(layer, neuron)
    stats = np.asarray(atlas.a["neuron_stats"][f], dtype=np.float64)
    top_tokens = atlas.top_tokens(layer, neuron, n=10)
    by_id = token_neurons(atlas, toks)
    by_token = {strings[i]: v for i, v in by_id.items() if i in strings}
    if focus:
        ids = tok(focus, add_special_tokens=False)["input_ids"]
        if len(ids) == 1:
            by_token[focus] = token_neurons(atlas, np.array(ids)).get(int(ids[0]), [])
    return {
        "kind": "neuron",
        "layer": layer,
        "neuron": neuron,
        "n_layers": atlas.n_layers,
        "d_mlp": atlas.d_mlp,
        "stats": {c: float(stats[i]) for i, c in enumerate(STAT_COLUMNS)},
        "amax": amax,
        "examples": snip(vals, toks, acts),
        "quantiles": quantiles if atlas.has_quantiles else None,
        "hist": {"lo": float(edges[0]), "hi": float(edges[-1]), "counts": [int(c) for c in counts]},
        "top_tokens": [
            [str(t), round(float(m), 4)] for t, m in zip(top_tokens["token"], top_tokens["mean_activation"])
        ],
        "token_neurons": by_token,
        "focus": focus,
        **explanation_data(atlas, layer, neuron),
    }


def _band_windows(
    atlas: Atlas, f: int, n_bands: int, k_top: int, per_band: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The unit's quantile windows (values, tokens, activations) of its first ``n_bands`` bands, at most
    ``per_band`` each; a window that is also one of the ``k_top`` top examples shown above gets value NaN (the
    top band of a rare unit is often just its top examples again)."""
    at = (f, slice(None, n_bands), slice(None, per_band))
    vals = np.array(atlas.a["quantile_values"][at], dtype=np.float32)
    where = lambda story, pos: np.asarray(story).astype(np.int64) << 32 | np.asarray(pos)  # noqa: E731
    top = where(atlas.a["top_story"][f, :k_top], atlas.a["top_position"][f, :k_top])
    vals[np.isin(where(atlas.a["quantile_story"][at], atlas.a["quantile_position"][at]), top)] = np.nan
    return vals, np.asarray(atlas.a["quantile_window_tokens"][at]), np.asarray(atlas.a["quantile_window_acts"][at])


def _snippets(
    vals: np.ndarray, toks: np.ndarray, acts: np.ndarray, window: int, strings: dict[int, str], amax: float
) -> list[dict[str, Any]]:
    """Example windows as the views draw them: value, centre index, token strings, activations as 0..255 of amax."""
    out = []
    for v, t, a in zip(np.asarray(vals, dtype=np.float32), toks, acts):
        if not np.isfinite(v):
            continue
        ok = t >= 0
        out.append(
            {
                "act": round(float(v), 4),
                "centre": int(ok[:window].sum()),
                "tokens": [strings[int(i)] for i in t[ok]],
                "acts": quantise(a[ok], amax).tolist(),
            }
        )
    return out


MAX_INDEX = 5000  # explanations carried for the search box (best detection first): a page stays small


def explanation_data(atlas: Atlas, layer: int, neuron: int) -> dict[str, Any]:
    """This neuron's explanations and scores, and the search index over every explained neuron of the atlas
    (``tiny-interp autointerp`` results beside it; empty when there are none)."""
    from ..autointerp.store import parse_unit_key, unit_explanations
    from ..autointerp.units import Unit
    from ..autointerp.view import table_rows

    kind = "feature" if atlas.meta.get("unit_kind") == "feature" else "neuron"
    index = []
    for row in table_rows(atlas.path)[:MAX_INDEX]:
        unit = parse_unit_key(row["unit"])  # neurons are L0/N12, features D0/F17
        if unit is not None:
            index.append({**row, "layer": unit[0], "neuron": unit[1]})
    return {"explanations": unit_explanations(atlas.path, Unit(kind, layer, neuron).key), "explained": index}


def strongest_neuron(atlas: Atlas, layer: int) -> int:
    s = np.asarray(atlas.a["neuron_stats"][layer * atlas.d_mlp : (layer + 1) * atlas.d_mlp, 2])
    return int(np.nanargmax(s))


def _neuron_widget() -> Any:
    from .features import NeuronWidget  # features.py imports this module: imported when first needed

    return NeuronWidget()


def _model_dir(model: Any) -> Path:
    if isinstance(model, (str, os.PathLike)):
        from ..loading import resolve_model_dir

        return resolve_model_dir(model)
    path = getattr(model, "model_path", None)
    if path is None:
        raise TypeError("NeuronExplorer needs a model directory or a bridge from tiny_interp.load")
    return Path(path)


class NeuronExplorer(Explorer):
    """``NeuronExplorer(model)``: layer/neuron pickers, top-k atlas examples, histogram, neurons for a token.

    ``atlas``: an ``Atlas`` or its directory; by default ``<model_dir>/atlas``. When there is none, the explorer
    offers to build it from ``stories`` (a TinyStories .txt file or a list of stories).
    """

    def __init__(
        self,
        model: Any,
        atlas: Any = None,
        layer: int = 0,
        neuron: int | None = None,
        stories: Any = None,
        n_examples: int = 16,
    ):
        self.model_dir = _model_dir(model)
        self.n_examples = n_examples
        self.atlas = self._open(atlas)
        self.status = status_line()
        self.view = _neuron_widget()
        self.layer_pick = w.BoundedIntText(
            value=layer, min=0, max=0, description="layer", layout=w.Layout(width="150px")
        )
        self.neuron_pick = w.BoundedIntText(value=0, min=0, max=0, description="neuron", layout=w.Layout(width="170px"))
        self.token_box = w.Text(
            placeholder='a token, e.g. " Lily"', description="token", layout=w.Layout(width="260px")
        )
        self.stories_box = w.Text(
            value=str(stories) if isinstance(stories, (str, os.PathLike)) else "",
            placeholder="stories .txt for the atlas",
            description="stories",
            layout=w.Layout(width="420px"),
        )
        self.build_button = w.Button(description="Build atlas", button_style="warning")
        self._stories = stories
        self.build_button.on_click(lambda _: self.build())
        self.layer_pick.observe(lambda _: self._push(), names="value")
        self.neuron_pick.observe(lambda _: self._push(), names="value")
        self.token_box.observe(lambda _: self._push(), names="value")
        self.view.observe(self._from_view, names="selection")
        super().__init__()
        self._layout(layer, neuron)

    def _open(self, atlas: Any) -> Atlas | None:
        if isinstance(atlas, Atlas):
            return atlas
        try:
            return open_atlas(atlas if atlas is not None else find_results(self.model_dir / "atlas", "atlas.json"))
        except CheckpointError:
            if atlas is not None:
                raise
            return None

    def _layout(self, layer: int, neuron: int | None) -> None:
        if self.atlas is None:
            set_text(
                self.status,
                f"no neuron atlas in {self.model_dir / 'atlas'}: give a stories file and build one "
                "(a few minutes on CPU for ~2k stories)",
            )
            self.children = [w.HBox([self.stories_box, self.build_button]), self.status]
            return
        a = self.atlas
        for name, value, size in (("layer", layer, a.n_layers), ("neuron", neuron, a.d_mlp)):
            if value is not None and not 0 <= value < size:
                raise ConfigError(f"{name} {value} is out of range: this atlas has {name}s 0..{size - 1}")
        self.layer_pick.max, self.neuron_pick.max = a.n_layers - 1, a.d_mlp - 1
        with self.hold_trait_notifications():
            self.layer_pick.value = layer
            self.neuron_pick.value = strongest_neuron(a, self.layer_pick.value) if neuron is None else neuron
        self.children = [w.HBox([self.layer_pick, self.neuron_pick, self.token_box]), self.status, self.view]
        self._push()

    def build(self, n_stories: int | None = 2000) -> None:
        """Build the atlas beside the model from the stories box (or ``stories``) and show it."""
        source = self.stories_box.value.strip() or self._stories
        if not source:
            set_text(
                self.status, "give a TinyStories .txt file (e.g. ../shared/data/tinystories/valid.txt) to build from"
            )
            return
        set_text(self.status, "building the neuron atlas...")
        # a shipped model's atlas is rebuilt under runs/, never over the shipped one
        self.atlas = build_atlas(
            self.model_dir, source, out=results_path(self.model_dir / "atlas"), n_stories=n_stories
        )
        set_text(self.status, "")
        self._layout(self.layer_pick.value, None)

    def data(self) -> dict[str, Any]:
        if self.atlas is None:
            raise CheckpointError(f"no neuron atlas for {self.model_dir}; call .build() or build_atlas(model, stories)")
        focus = self.token_box.value or None
        return neuron_data(self.atlas, self.layer_pick.value, self.neuron_pick.value, self.n_examples, focus)

    def _push(self) -> None:
        if self.atlas is not None:
            self.view.show(self.data())

    def to_html(self, page: PageState | None = None) -> str:
        from .features import feature_html  # the page carries our bundle too: it draws the quantile examples

        return feature_html(self.static_data(), page)

    def static_data(self) -> dict[str, Any]:
        if self.atlas is None:
            return {
                "kind": "neuron",
                "layer": 0,
                "neuron": 0,
                "n_layers": 0,
                "d_mlp": 0,
                "stats": {},
                "amax": 1,
                "examples": [],
                "hist": None,
                "top_tokens": [],
                "token_neurons": {},
                "explanations": [],
                "explained": [],
                "note": "no neuron atlas for this model yet (build_atlas)",
            }
        return self.data()

    def select(self, layer: int, neuron: int) -> None:
        with self.hold_trait_notifications():
            self.layer_pick.value, self.neuron_pick.value = int(layer), int(neuron)

    def _from_view(self, change: dict[str, Any]) -> None:
        sel = change["new"]
        if "neuron" in sel:
            self.select(sel["layer"], sel["neuron"])
