"""The StoryInspector's features panel: the top active features of sparse dictionaries (SAEs, transcoders) at every
position of a story, with what the feature atlas beside a dictionary knows of each one (its auto-interp
explanation, the tokens its decoder promotes).

Activations come from the inspector's one forward pass (``lens.run_cache``, the activation seam) at each
dictionary's input hook; each dictionary's own ``encode`` turns them into features. Every position is computed at
once, so the live view and an exported page show the same data without a kernel.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import CheckpointError, ConfigError
from ..features.sae import SAE

SAES_DIR = "saes"  # a model directory's shipped dictionaries: trained_models/<model>/saes/
N_FEATURES = 4  # features per dictionary and position: an exported page holds them for every position
N_PROMOTED = 3  # promoted tokens shown for a feature without an explanation


@dataclass(frozen=True)
class InspectedDictionary:
    """One dictionary the inspector encodes with, and its block in the feature atlas beside it (if any)."""

    name: str
    sae: SAE
    atlas: Any = None  # a FeatureAtlas
    block: int | None = None

    @property
    def hook(self) -> str:
        return self.sae.cfg.hook_name


def default_dictionaries(model_path: str | os.PathLike | None) -> list[InspectedDictionary]:
    """The model directory's shipped dictionaries (``<model>/saes/``), or none when it has no such folder."""
    if model_path is None or not (Path(model_path) / SAES_DIR).is_dir():
        return []
    return open_dictionaries(Path(model_path) / SAES_DIR)


def open_dictionaries(spec: Any) -> list[InspectedDictionary]:
    """Dictionaries from what a user passes: a run directory (every dictionary in it), one dictionary's directory,
    an ``SAE``, an ``InspectedDictionary``, or a list of these. ``None`` / ``False`` / ``[]``: none."""
    if spec is None or spec is False:
        return []
    if isinstance(spec, (SAE, InspectedDictionary, str, os.PathLike)):
        spec = [spec]
    out: list[InspectedDictionary] = []
    atlases: dict[Path, Any] = {}
    for item in spec:
        out += _open_one(item, atlases, len(out))
    return out


def _open_one(item: Any, atlases: dict[Path, Any], index: int) -> list[InspectedDictionary]:
    from ..features.card import dictionary_dirs
    from ..features.sae import load_sae

    if isinstance(item, InspectedDictionary):
        return [item]
    if isinstance(item, SAE):
        return [InspectedDictionary(item.cfg.hook_name or f"dictionary {index}", item)]
    if not isinstance(item, (str, os.PathLike)):
        raise ConfigError(f"dictionaries: expected a directory, an SAE or a list of them, got {type(item).__name__}")
    if not Path(item).is_dir():
        raise CheckpointError(
            f"dictionaries: {item} is not a directory; pass a dictionary's folder (cfg.json + "
            "sae_weights.safetensors) or a run folder holding several"
        )
    found = []
    for d in dictionary_dirs(item):
        sae = load_sae(d)
        atlas, block = _atlas_block(d, sae, atlases)
        found.append(InspectedDictionary(d.name, sae, atlas, block))
    return found


def _atlas_block(directory: Path, sae: SAE, atlases: dict[Path, Any]) -> tuple[Any, int | None]:
    """The feature atlas built over this dictionary (in its run directory, or its own folder) and its block there."""
    from ..features.feature_atlas import ATLAS_DIR, FeatureAtlas

    for run in (directory.parent, directory):
        if not (run / ATLAS_DIR / "atlas.json").is_file():
            continue
        if run not in atlases:
            atlases[run] = FeatureAtlas.open(run)
        atlas = atlases[run]
        if directory.name in atlas.dictionary_names and atlas.d_mlp == sae.cfg.d_sae:
            return atlas, atlas.dictionary_names.index(directory.name)
    return None, None


def hooks_of(dictionaries: Sequence[InspectedDictionary]) -> set[str]:
    """The hook points the inspector's forward pass must cache for these dictionaries."""
    return {d.hook for d in dictionaries}


def features_panel(dictionaries: Sequence[InspectedDictionary], cache: dict[str, Tensor], n: int) -> dict[str, Any]:
    """The panel's data: per position, per dictionary, its top ``n`` active features [[feature, activation], ...]
    (highest first), and ``info`` ("dictionary:feature" -> explanation / promoted tokens) for every feature shown."""
    if n < 1:
        raise ConfigError(f"n_features must be at least 1 (features shown per dictionary and position), got {n}")
    top = [_top_active(d, _input(d, cache), n) for d in dictionaries]
    T = len(top[0]) if top else 0
    shown = {(i, int(f)) for i, rows in enumerate(top) for row in rows for f, _ in row}
    return {
        "dictionaries": [{"name": d.name, "hook": d.hook, "atlas": d.atlas is not None} for d in dictionaries],
        "top": [[rows[p] for rows in top] for p in range(T)],
        "info": {f"{i}:{f}": _info(dictionaries[i], f) for i, f in sorted(shown)},
    }


def _input(d: InspectedDictionary, cache: dict[str, Tensor]) -> Tensor:
    if d.hook not in cache:
        raise ConfigError(
            f"dictionary {d.name} reads {d.hook!r}, which this model does not have; pass dictionaries "
            "trained on this model"
        )
    x = cache[d.hook]
    if x.shape[-1] != d.sae.cfg.d_in:
        raise ConfigError(
            f"dictionary {d.name} reads {d.sae.cfg.d_in} values at {d.hook}, the model has "
            f"{x.shape[-1]}; pass dictionaries trained on this model"
        )
    return x


def _top_active(d: InspectedDictionary, x: Tensor, n: int) -> list[list[list[float]]]:
    """Each position's top ``n`` features with a positive activation, as [[feature, activation], ...]."""
    with torch.no_grad():
        codes = d.sae.encode(x.float().to(d.sae.W_enc.device)).cpu()  # [seq, d_sae]
    values, index = codes.topk(min(n, codes.shape[-1]), dim=-1)
    return [
        [[int(f), round(float(v), 3)] for v, f in zip(vs, fs) if v > 0]
        for vs, fs in zip(values.tolist(), index.tolist())
    ]


def _info(d: InspectedDictionary, feature: int) -> dict[str, Any]:
    """What the dictionary's feature atlas says of a feature: its explanation and the tokens it promotes most."""
    if d.atlas is None or d.block is None:
        return {}
    from .features import explanation

    effects = d.atlas.logit_effects(d.block, feature)
    promoted = list(effects[effects["sign"] == "+"]["token"][:N_PROMOTED])
    text = explanation(d.atlas, d.block, feature)
    return {"promotes": promoted, **({"explanation": text} if text else {})}
