"""Words for the parts of a residual stream, in the style the atlases and graphs use.

``token " Tom"@7``, ``position 7``, ``L2H5 from " Tom"@7`` (the head's output at that position and the key it
attended to most), ``L3 feature 123`` with the feature atlas's top tokens and the auto-interp explanation when they
exist, ``L3 error`` (what the dictionary misses of the MLP output).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaxtyping import Float
from torch import Tensor

from .residual import PartKey

# (layer, feature) -> {"top_tokens": [...], "explanation": str}, from a feature atlas when there is one
FeatureInfo = Callable[[int, int], dict[str, Any]]

KIND_WORDS = {
    "token": "token embedding",
    "position": "position embedding",
    "head": "earlier head",
    "attn_bias": "attention bias",
    "mlp": "MLP output",
    "feature": "dictionary feature",
    "dict_bias": "dictionary bias",
    "skip": "transcoder skip",
    "error": "dictionary error",
    "norm_bias": "norm bias",
}


def quoted(token: str) -> str:
    return '"' + token.replace("\n", "\\n") + '"'


@dataclass
class Labeller:
    """Labels parts at positions of one prompt; ``patterns[l]`` (heads, q, k) names each head's main source."""

    tokens: Sequence[str]
    layer: int
    patterns: dict[int, Float[Tensor, "heads pos pos"]]
    feature_info: FeatureInfo | None = None
    _info: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)

    def at(self, pos: int) -> str:
        return f"{quoted(self.tokens[pos])}@{pos}"

    def info(self, layer: int, feature: int) -> dict[str, Any]:
        if self.feature_info is None:
            return {}
        if (layer, feature) not in self._info:
            self._info[(layer, feature)] = self.feature_info(layer, feature)
        return self._info[(layer, feature)]

    def describe(self, key: PartKey, pos: int, rich: bool = True) -> dict[str, Any]:
        """``label`` (words) plus what a view links or shows: kind, layer, head/feature, source position.
        ``rich=False`` leaves out the feature atlas's words (a lookup per feature; only shown terms need them)."""
        kind, layer, index = key
        out: dict[str, Any] = {"kind": kind, "pos": pos, "layer": layer if layer >= 0 else None}
        if kind == "token":
            out["label"] = f"token {self.at(pos)}"
        elif kind == "position":
            out["label"] = f"position {pos}"
        elif kind == "head":
            src = int(self.patterns[layer][index, pos].argmax())
            share = float(self.patterns[layer][index, pos, src])
            out.update(head=index, source=src, source_share=round(share, 4))
            out["label"] = f"L{layer}H{index} from {self.at(src)}"
        elif kind == "feature":
            info = self.info(layer, index) if rich else {}
            out.update(feature=index, **info)
            words = f" ({info['explanation']})" if info.get("explanation") else ""
            tops = info.get("top_tokens") or []
            fires = f" fires on {', '.join(quoted(t) for t in tops[:3])}" if tops else ""
            out["label"] = f"L{layer} feature {index}{words}{fires}"
        elif kind == "norm_bias":
            out["label"] = f"L{self.layer} norm bias"
        else:
            out["label"] = f"L{layer} {KIND_WORDS[kind]}"
        return out


def atlas_feature_info(
    dictionary_dir: str | os.PathLike, names: dict[int, str], n_tokens: int = 5
) -> FeatureInfo | None:
    """Top tokens and explanations from the feature atlas in ``DIR/atlas`` (matched to layers by dictionary
    directory name, as the graph pages match them); None when no atlas was built."""
    from ..graphs.pages import ATLAS_DIR

    path = Path(dictionary_dir) / ATLAS_DIR
    if not (path / "atlas.json").is_file():
        return None
    from ..features.feature_atlas import FeatureAtlas
    from ..widgets.features import explanation

    atlas = FeatureAtlas.open(path)
    block = {l: atlas.dictionary_names.index(n) for l, n in names.items() if n in atlas.dictionary_names}

    def info(layer: int, feature: int) -> dict[str, Any]:
        if layer not in block:
            return {}
        tops = atlas.top_tokens(block[layer], feature, n=n_tokens)
        page: dict[str, Any] = {"top_tokens": [str(t) for t in tops["token"]]}
        text = explanation(atlas, block[layer], feature)
        if text:
            page["explanation"] = text
        return page

    return info
