"""FeatureExplorer: a dictionary feature's page, Neuronpedia-like and offline. Top examples as coloured tokens,
quantile examples under them (a few from each activation band, with its range), activation histogram, density,
top +/- logit effects, tokens it likes, an explanation slot, live activations on typed text with the top features
at any token, and steering: a story generated with the feature added or clamped, beside the unsteered one.
``export_features`` writes a static page of many features (a few KB each, gzipped).

Drawn by ``static/features.js`` (its own bundle beside the shared views bundle, whose CSS it reuses).
"""

from __future__ import annotations

import json
import os
import uuid
import weakref
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as w
import numpy as np
import torch
import traitlets

from ..atomic import write_text_atomic
from ..features.feature_atlas import FeatureAtlas
from ..features.sae import SAE
from ..model.handle import SAES_DIR, Model
from .base import Explorer, set_text, status_line
from .neurons import neuron_data
from .render import (
    KERNEL,
    PageState,
    _static,
    bundle_css,
    bundle_html,
    bundle_js,
    esm,
    lib_js,
    page_html,
    quantise,
    safe_json,
)

EXPLANATIONS_FILE = "explanations.json"  # {"<dictionary index>:<feature>": "text"} beside the atlas, if written
_PAGES_WITH_BUNDLE: "weakref.WeakSet[PageState]" = weakref.WeakSet()


def features_js() -> str:
    return _static("features.js")


def features_esm(with_views: bool = False) -> str:
    """The anywidget module: our bundle (after the shared views bundle ``with_views``), then the shared views'
    widget glue pointed at our renderer."""
    glue = esm()[len(bundle_js()) :]
    ours = features_js() + glue.replace("globalThis.tinyInterpViews.render", "globalThis.tinyInterpFeatures.render")
    return bundle_js() + ours if with_views else lib_js() + ours  # the views bundle starts with the shared helpers


class FeatureWidget(anywidget.AnyWidget):
    _esm = features_esm()
    _css = bundle_css() + _static("features.css")
    data = traitlets.Unicode("").tag(sync=True)
    selection = traitlets.Dict({}).tag(sync=True)

    def show(self, data: dict[str, Any]) -> None:
        self.data = safe_json(data)


class NeuronWidget(FeatureWidget):
    """The NeuronExplorer's view: the shared views bundle draws the neuron, ours adds its quantile examples."""

    _esm = features_esm(with_views=True)


# ---------------------------------------------------------------- data
def explanation(atlas: FeatureAtlas, block: int, feature: int) -> str | None:
    """A feature's explanation: one written into the atlas's ``explanations.json`` by hand or by a tool, else the
    best-scoring ``tiny-interp autointerp`` run's (beside the atlas, or under ``runs/`` for a shipped model)."""
    from ..autointerp.store import best_explanations

    key = f"{block}:{feature}"
    path = atlas.path / EXPLANATIONS_FILE
    if path.is_file():
        stat = path.stat()
        given = _explanations(str(path), stat.st_mtime_ns, stat.st_size).get(key)
        if given is not None:
            return given
    return best_explanations(atlas.path).get(key)


@lru_cache(maxsize=8)
def _explanations(path: str, mtime_ns: int, size: int) -> dict[str, str]:
    """One read per version of the file: a page or an inspector asks for hundreds of features' explanations."""
    from ..errors import DataError

    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is not valid JSON ({e}); fix or delete it") from None
    if not isinstance(value, dict):
        raise DataError(f"{path} holds {type(value).__name__}, not {{'block:feature': 'explanation'}}")
    return {str(k): str(v) for k, v in value.items()}


def feature_data(
    atlas: FeatureAtlas, block: int, feature: int, n_examples: int = 12, compact: bool = False
) -> dict[str, Any]:
    """One feature's page data from the atlas (``compact``: only what a static page draws)."""
    d = neuron_data(atlas, block, feature, n_examples=n_examples)
    logits = atlas.logit_effects(block, feature)
    pos, neg = logits[logits["sign"] == "+"], logits[logits["sign"] == "-"]
    d.update(
        {
            "kind": "feature",
            "block": block,
            "feature": feature,
            "name": atlas.dictionary_names[block] if block < len(atlas.dictionary_names) else str(block),
            "n_features": atlas.d_mlp,
            "logits_pos": [[t, round(float(v), 3)] for t, v in zip(pos["token"], pos["effect"])],
            "logits_neg": [[t, round(float(v), 3)] for t, v in zip(neg["token"], neg["effect"])],
            "explanation": explanation(atlas, block, feature),
        }
    )
    d["token_features"] = d.pop("token_neurons")
    if compact:
        centres = {ex["tokens"][ex["centre"]] for ex in d["examples"]}
        d["token_features"] = {t: v[:4] for t, v in d["token_features"].items() if t in centres}
        d["top_tokens"] = d["top_tokens"][:6]
        for key in ("layer", "neuron", "n_layers", "d_mlp", "focus"):
            d.pop(key, None)
    return d


def live_data(
    net: Any, tokenizer: Any, saes: Sequence[SAE], block: int, feature: int, text: str, n_top: int = 5
) -> dict[str, Any]:
    """Activations of the feature on typed text, and the top features (of every dictionary) at each token."""
    from ..interp.common import encode
    from ..interp.seam import run_with_cache

    ids = torch.tensor([encode(tokenizer, [text], int(net.cfg.n_ctx))[0]], device=net.device)
    with torch.inference_mode():
        _, cache = run_with_cache(net, ids, names=sorted({s.cfg.hook_name for s in saes}))
        codes = [s.encode(cache[s.cfg.hook_name][0].float()) for s in saes]  # each [T, d_sae]
    acts = codes[block][:, feature].numpy()
    amax = float(max(acts.max(initial=0.0), 1e-6))
    both = torch.stack(codes, 1)  # [T, blocks, d_sae]
    T, nb, nf = both.shape
    top = both.reshape(T, -1).topk(min(n_top, nb * nf), dim=-1)
    tops = [
        [[int(i // nf), int(i % nf), round(float(v), 2)] for i, v in zip(ix, vs) if v > 0]
        for ix, vs in zip(top.indices.tolist(), top.values.tolist())
    ]
    return {
        "tokens": [tokenizer.decode([int(t)]) for t in ids[0]],
        "acts": quantise(acts, amax).tolist(),
        "amax": amax,
        "top": tops,
        "text": text,
    }


def steering_hooks(sae: SAE, feature: int, value: float, mode: str) -> list[tuple[str, Callable]]:
    """Hooks that add ``value`` x the feature's decoder direction at the dictionary's output point ("add"), or set
    the feature's activation to ``value`` there ("clamp": the difference to what it was, times the direction)."""
    direction = sae.W_dec[feature].detach()
    if mode == "add":
        return [(sae.cfg.out_hook, lambda x, name: x + value * direction.to(x.dtype))]
    if mode != "clamp":
        raise ValueError(f"steering mode must be 'add' or 'clamp', got {mode!r}")
    seen: dict[str, torch.Tensor] = {}

    def read(x: torch.Tensor, name: str) -> None:
        seen["x"] = x

    def write(x: torch.Tensor, name: str) -> torch.Tensor:
        current = sae.encode(seen["x"].float())[..., feature : feature + 1]
        return x + ((value - current) * direction).to(x.dtype)

    def read_then_write(x: torch.Tensor, name: str) -> torch.Tensor:
        read(x, name)
        return write(x, name)

    if sae.cfg.hook_name == sae.cfg.out_hook:
        return [(sae.cfg.out_hook, read_then_write)]
    return [(sae.cfg.hook_name, read), (sae.cfg.out_hook, write)]


def steer(
    net: Any,
    tokenizer: Any,
    sae: SAE,
    feature: int,
    prompt: str,
    value: float,
    mode: str = "add",
    max_new_tokens: int = 60,
    seed: int = 0,
) -> dict[str, Any]:
    """The same sampled continuation (same seed) without and with the feature steered."""
    from ..model.generate import generate_text
    from ..model.sampling import SamplingConfig

    sampling = SamplingConfig(max_new_tokens=max_new_tokens, temperature=0.7, seed=seed)
    plain = generate_text(net, tokenizer, prompt, sampling)[0]
    with net.hooks(steering_hooks(sae, feature, value, mode)):
        steered = generate_text(net, tokenizer, prompt, sampling)[0]
    return {"prompt": prompt, "value": value, "mode": mode, "unsteered": plain, "steered": steered}


# ---------------------------------------------------------------- static pages
def feature_html(data: dict[str, Any], page: PageState | None = None) -> str:
    """One feature view (or report) as HTML: the shared CSS/views bundle and ours once per page, then its data."""
    page = KERNEL if page is None else page
    head = bundle_html() if page.take_bundle() else ""
    if page not in _PAGES_WITH_BUNDLE:
        _PAGES_WITH_BUNDLE.add(page)
        js = features_js().replace("</", "<\\/")
        head += f'<style data-tiny-interp="features">{_static("features.css")}</style>\n<script>{js}</script>\n'
    vid = "tif-" + uuid.uuid4().hex[:12]
    return (
        f'{head}<div class="ti-view" id="{vid}"></div>\n'
        f'<script type="application/json" id="{vid}-data">{safe_json(data)}</script>\n'
        f'<script>window.tinyInterpFeatures.mount("{vid}");</script>\n'
    )


def export_features(
    path: str | os.PathLike,
    atlas: FeatureAtlas,
    features: Sequence[tuple[int, int]],
    title: str = "tiny-interp features",
) -> Path:
    """A self-contained page browsing ``features`` [(dictionary, feature), ...] offline."""
    for b, f in features:
        check_feature(atlas, b, f)
    pages = [feature_data(atlas, b, f, compact=True) for b, f in features]
    data = {"kind": "feature_report", "features": pages, "title": title}
    path = Path(path)
    write_text_atomic(path, page_html([feature_html(data, PageState())], title))
    return path


def check_feature(atlas: FeatureAtlas, block: int, feature: int | None) -> None:
    """A (dictionary, feature) the atlas has; anything else is refused naming the ranges (never clamped)."""
    from ..errors import ConfigError

    for name, value, size in (("block", block, atlas.n_layers), ("feature", feature, atlas.d_mlp)):
        if value is None and name == "feature":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) < size:
            raise ConfigError(f"{name} {value!r} is out of range: this atlas has {name}s 0..{size - 1}")


# ---------------------------------------------------------------- the explorer
class FeatureExplorer(Explorer):
    """``FeatureExplorer(run_dir)``: a dictionary run with its atlas (``tiny-interp sae atlas``), e.g.
    ``trained_models/ts-1L/saes``, or a ``tiny_interp.Model`` (its shipped ``saes``). Pick a feature or click one;
    type text to see it fire; steer a story."""

    def __init__(
        self,
        run_dir: str | os.PathLike | Model,
        block: int = 0,
        feature: int | None = None,
        text: str = "",
        n_examples: int = 12,
    ):
        from ..features.card import model_dir_for

        handle: Model | None = None
        if isinstance(run_dir, Model):
            handle, run_dir = run_dir, Path(run_dir.model_path or ".") / SAES_DIR
        self.atlas = FeatureAtlas.open(run_dir)
        check_feature(self.atlas, block, feature)
        self.saes = self.atlas.dictionaries()
        if handle is None:
            handle = Model.from_pretrained(model_dir_for(self.atlas.run_dir))
        self.net, self.tokenizer = handle.module, handle.tokenizer
        self.n_examples = n_examples
        self.steered: dict[str, Any] | None = None
        self.status = status_line()
        self.view = FeatureWidget()
        a = self.atlas
        start = (
            feature
            if feature is not None
            else int(np.nanargmax(np.asarray(a.a["neuron_stats"][block * a.d_mlp : (block + 1) * a.d_mlp, 4])))
        )
        self.block_pick = w.BoundedIntText(
            value=block, min=0, max=a.n_layers - 1, description="dictionary", layout=w.Layout(width="180px")
        )
        self.feature_pick = w.BoundedIntText(
            value=start, min=0, max=a.d_mlp - 1, description="feature", layout=w.Layout(width="180px")
        )
        self.text_box = w.Textarea(
            value=text, placeholder="type text to see the feature fire", layout=w.Layout(width="520px")
        )
        self.prompt_box = w.Text(value="Once upon a time", description="prompt", layout=w.Layout(width="320px"))
        self.value_box = w.FloatText(value=8.0, description="value", layout=w.Layout(width="160px"))
        self.mode_pick = w.Dropdown(options=["add", "clamp"], value="add", layout=w.Layout(width="90px"))
        self.steer_button = w.Button(description="Generate steered", button_style="info")
        self.steer_button.on_click(lambda _: self.run_steering())
        for box in (self.block_pick, self.feature_pick, self.text_box):
            box.observe(lambda _: self._push(), names="value")
        self.view.observe(self._from_view, names="selection")
        super().__init__()
        self.children = [
            w.HBox([self.block_pick, self.feature_pick]),
            self.text_box,
            w.HBox([self.prompt_box, self.value_box, self.mode_pick, self.steer_button]),
            self.status,
            self.view,
        ]
        self._push()

    def data(self) -> dict[str, Any]:
        b, f = self.block_pick.value, self.feature_pick.value
        d = feature_data(self.atlas, b, f, self.n_examples)
        if self.text_box.value.strip():
            d["live"] = live_data(self.net, self.tokenizer, self.saes, b, f, self.text_box.value)
        if self.steered is not None and self.steered.get("key") == [b, f]:
            d["steer"] = self.steered
        return d

    def static_data(self) -> dict[str, Any]:
        return self.data()

    def to_html(self, page: PageState | None = None) -> str:
        return feature_html(self.static_data(), page)

    def run_steering(self) -> dict[str, Any]:
        b, f = self.block_pick.value, self.feature_pick.value
        set_text(self.status, "generating...")
        result = steer(
            self.net, self.tokenizer, self.saes[b], f, self.prompt_box.value, self.value_box.value, self.mode_pick.value
        )
        self.steered = {**result, "key": [b, f]}
        set_text(self.status, "")
        self._push()
        return result

    def _push(self) -> None:
        self.view.show(self.data())

    def select(self, block: int, feature: int) -> None:
        with self.hold_trait_notifications():
            self.block_pick.value, self.feature_pick.value = int(block), int(feature)

    def _from_view(self, change: dict[str, Any]) -> None:
        sel = change["new"]
        if "feature" in sel:
            self.select(sel["block"], sel["feature"])
