"""StoryInspector: generate or paste a story, click a token, see why the model predicted what it did there:
the logit lens, the top head/MLP direct attributions and the top neurons at that position.

One forward pass serves every position: the lens, the attributions (final norm frozen at its actual scale, as in
``interp.lens``) and the neurons are computed for all positions at once, so clicking needs no kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as w
import torch

from ..interp import lens
from ..interp.common import as_model
from .base import DEFAULT_STORY, Explorer, ViewWidget, set_text, status_line, story_ids, token_strings
from .story_features import (
    N_FEATURES,
    InspectedDictionary,
    default_dictionaries,
    features_panel,
    hooks_of,
    open_dictionaries,
)


def story_data(
    model: Any,
    story: str,
    lens_k: int = 3,
    n_attr: int = 8,
    n_neurons: int = 8,
    max_tokens: int | None = None,
    dictionaries: Sequence[InspectedDictionary] = (),
    n_features: int = N_FEATURES,
) -> dict[str, Any]:
    """The inspector's data for every position of the story (with the ``dictionaries``' top features, if any)."""
    model = as_model(model)
    ids, note = story_ids(model, story, max_tokens)
    L = model.cfg.n_layers
    wanted = hooks_of(dictionaries)
    logits, cache = lens.run_cache(model, ids, also=lambda name: name.endswith("mlp.hook_post") or name in wanted)
    get = cache.__getitem__
    probs = logits.softmax(-1)  # [T, V]
    T = probs.shape[0]
    pred_p, pred = probs.max(-1)
    nxt = ids[0, 1:].cpu()
    next_p = probs[torch.arange(T - 1), nxt]
    top = lens.lens_top(model, cache, lens_k)
    lens_p, lens_i = top.probs, top.token_ids  # [stages, T, k]
    # direct attribution to each position's predicted token
    attr = lens.attribution(model, cache, pred)
    names, share = attr.names, attr.shares  # [T, components]
    attr_v, attr_i = share.abs().topk(min(n_attr, share.shape[1]), dim=-1)
    attr_signed = share.gather(1, attr_i)
    # neurons: the strongest activations at each position, all layers together
    acts = torch.cat([get(f"blocks.{l}.mlp.hook_post") for l in range(L)], -1)  # [T, L * d_mlp]
    d_mlp = acts.shape[1] // L
    neu_v, neu_i = acts.topk(min(n_neurons, acts.shape[1]), dim=-1)
    id_list = ids[0].tolist()
    used = sorted(set(pred.tolist()) | set(lens_i.flatten().tolist()) | set(id_list))
    where = {t: i for i, t in enumerate(used)}
    strings = token_strings(model.tokenizer, used)
    positions = []
    for p in range(T):
        positions.append(
            {
                "pred": where[int(pred[p])],
                "pred_p": round(float(pred_p[p]), 4),
                "next": where[id_list[p + 1]] if p + 1 < T else None,
                "next_p": round(float(next_p[p]), 5) if p + 1 < T else None,
                "lens": [
                    [[where[int(lens_i[s, p, j])], round(float(lens_p[s, p, j]), 3)] for j in range(lens_k)]
                    for s in range(L + 1)
                ],
                "attr": [
                    [names[int(attr_i[p, j])], round(float(attr_signed[p, j]), 3)] for j in range(attr_i.shape[1])
                ],
                "neurons": [[int(f) // d_mlp, int(f) % d_mlp, round(float(v), 3)] for v, f in zip(neu_v[p], neu_i[p])],
            }
        )
    data = {
        "kind": "story",
        "tokens": token_strings(model.tokenizer, id_list),
        "strings": strings,
        "stages": ["embed"] + [f"layer {l}" for l in range(L)],
        "positions": positions,
        "note": note,
        "position": T - 1,
    }
    if dictionaries:
        data["features"] = features_panel(dictionaries, cache, n_features)
    return data


class StoryInspector(Explorer):
    """``StoryInspector(model)``: paste or generate a story, click any token.

    ``dictionaries``: whose top features to show at the clicked token. ``"auto"`` (the default): the model
    directory's shipped ``saes/`` when it has one; or a run directory, one dictionary's directory, an ``SAE``, or a
    list of these; ``None`` turns the features panel off. ``n_features``: features per dictionary and position."""

    def __init__(
        self,
        model: Any,
        story: str | None = None,
        max_tokens: int | None = None,
        dictionaries: Any = "auto",
        n_features: int = N_FEATURES,
    ):
        self.model = as_model(model)
        self.max_tokens = max_tokens
        auto = isinstance(dictionaries, str) and dictionaries == "auto"
        self.dictionaries = (
            default_dictionaries(getattr(self.model, "model_path", None)) if auto else open_dictionaries(dictionaries)
        )
        self.n_features = n_features
        self.text = w.Textarea(
            value=story if story is not None else DEFAULT_STORY,
            rows=4,
            layout=w.Layout(width="100%"),
            description="story",
        )
        self.inspect_button = w.Button(description="Inspect", button_style="primary")
        self.generate_button = w.Button(description="Generate from prompt", layout=w.Layout(width="auto"))
        self.temperature = w.FloatSlider(value=0.8, min=0.0, max=1.5, step=0.05, description="temperature")
        self.status = status_line()
        self.view = ViewWidget()
        self.selected: dict[str, Any] = {}
        self.inspect_button.on_click(lambda _: self.set_story(self.text.value))
        self.generate_button.on_click(lambda _: self.generate())
        self.neurons: Any = None  # the NeuronExplorer a clicked neuron opens in, made on the first click
        self.features: Any = None  # the FeatureExplorer a clicked feature opens in, likewise
        self.neuron_box = w.VBox()
        self.view.observe(self._from_view, names="selection")
        super().__init__(
            children=[
                self.text,
                w.HBox([self.inspect_button, self.generate_button, self.temperature]),
                self.status,
                self.view,
                self.neuron_box,
            ]
        )
        self.set_story(self.text.value)

    def set_story(self, story: str) -> None:
        if not story.strip():
            set_text(self.status, "the story is empty: type a story or a prompt and press Generate")
            return
        self.story = story
        self._data = story_data(
            self.model, story, max_tokens=self.max_tokens, dictionaries=self.dictionaries, n_features=self.n_features
        )
        set_text(self.status, self._data["note"])
        self.view.show(self._data)

    def generate(self, max_new_tokens: int = 200, seed: int | None = None) -> str:
        """Continue the text box as a prompt with the model, then inspect the whole story."""
        from ..interp.seam import fast_module
        from ..model.generate import generate_text
        from ..model.sampling import SamplingConfig

        net = fast_module(self.model)
        if net is None:
            raise ValueError("generating needs our fast module: open the model with tiny_interp.Model.from_pretrained")
        prompt = self.text.value
        cfg = SamplingConfig(max_new_tokens=max_new_tokens, temperature=self.temperature.value, seed=seed)
        story = prompt + generate_text(net, self.model.tokenizer, prompt, cfg)[0]
        self.text.value = story
        self.set_story(story)
        return story

    def static_data(self) -> dict[str, Any]:
        return self._data

    def open_neuron(self, layer: int, neuron: int) -> Any:
        """Show ``layer``/``neuron`` in a NeuronExplorer under the inspector (the same one for later clicks)."""
        from .neurons import NeuronExplorer

        if self.neurons is None:
            self.neurons = NeuronExplorer(self.model, layer=layer, neuron=neuron)
        else:
            self.neurons.select(layer, neuron)
        self.neuron_box.children = [self.neurons]  # the box holds the last opened explorer, neuron or feature
        return self.neurons

    def open_feature(self, dictionary: int, feature: int) -> Any:
        """Show ``feature`` of the inspector's ``dictionary`` (index) in a FeatureExplorer under the inspector; None
        when that dictionary has no feature atlas to draw its page from."""
        from .features import FeatureExplorer

        d = self.dictionaries[dictionary]
        if d.atlas is None:
            set_text(self.status, f"{d.name} has no feature atlas: build one with `tiny-interp sae atlas`")
            return None
        run_dir, block = d.atlas.path.parent, d.block or 0
        if self.features is None or self.features.atlas.path != d.atlas.path:
            self.features = FeatureExplorer(run_dir, block=block, feature=feature)
        else:
            self.features.select(block, feature)
        self.neuron_box.children = [self.features]
        return self.features

    def _from_view(self, change: dict[str, Any]) -> None:
        self.selected = dict(change["new"])
        if "neuron" in self.selected:
            self.open_neuron(int(self.selected["layer"]), int(self.selected["neuron"]))
        elif "feature" in self.selected:
            self.open_feature(int(self.selected["dictionary"]), int(self.selected["feature"]))
