"""The feature atlas: the neuron atlas's machinery (``tiny_interp.interp.atlas``) run over dictionary latents,
plus each feature's logit effects, and the queries a feature browser needs.

Units are (dictionary, feature): one block per dictionary of a run directory, read at the dictionary's input hook
and encoded there while the forward runs. The atlas lives in ``<run dir>/atlas``. Per-token means keep each
feature's top tokens only (``token_top``): thousands of features times the vocabulary would be tens of MB.

Logit effects are the direct path of a feature's decoder direction to the logits: through the final norm's
linear part (its gain, and LayerNorm's centring; the data-dependent scale is left out, as it is the same for
every token) and the unembedding. Top +/- tokens are kept per feature.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from ..interp.atlas import Atlas, AtlasConfig, UnitBlock, Units, build_atlas
from ..provenance import dictionaries_fingerprint, relative_path
from .activations import layer_of
from .card import dictionary_dirs, load_dictionaries, model_dir_for
from .sae import SAE

ATLAS_DIR = "atlas"
N_LOGITS = 10
FEATURE_DEFAULTS = AtlasConfig(top_k=12, window=6, token_top=16, top_min=0.0)


def feature_units(net: Any, run_dir: str) -> Units:
    """One block per dictionary under ``run_dir``: its latents on its input hook (float32)."""
    saes = load_dictionaries(run_dir, device=str(next(net.parameters()).device))
    sizes = {s.cfg.d_sae for s in saes}
    if len(sizes) != 1:
        raise ValueError(f"{run_dir}: an atlas needs dictionaries of one size, got {sorted(sizes)}")
    blocks = [UnitBlock(s.cfg.hook_name, s.cfg.d_sae, _layer(s, net), transform=partial(_encode, s)) for s in saes]
    return Units(blocks, kind="feature")


def _encode(sae: SAE, x: Tensor) -> Tensor:
    return sae.encode(x.float())


def _layer(sae: SAE, net: Any) -> int:
    layer = layer_of(sae.cfg.hook_name)
    return int(net.cfg.n_layers) - 1 if layer is None else layer


def decoder_logit_effects(net: Any, W_dec: Float[Tensor, "d_sae d_model"]) -> Float[Tensor, "d_sae vocab"]:
    """Each decoder direction's direct effect on the logits (final norm's gain and centring, then unembedding)."""
    norm, unembed = net.norm_f, net.unembed.weight
    d = W_dec.float()
    if isinstance(norm, torch.nn.LayerNorm):
        d = d - d.mean(-1, keepdim=True)
    return (d * norm.weight.float()) @ unembed.float().T


def _logit_arrays(job: Any, texts: list[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The ``extra`` hook of build_atlas: top +/- logit tokens of every feature, [features, N_LOGITS] each."""
    run_dir = job.units_args[0]
    pos_ids, pos_vals, neg_ids, neg_vals = [], [], [], []
    with torch.no_grad():
        for sae in load_dictionaries(run_dir):
            effects = decoder_logit_effects(job.net, sae.W_dec)
            top, bottom = effects.topk(N_LOGITS, dim=-1), (-effects).topk(N_LOGITS, dim=-1)
            pos_ids.append(top.indices)
            pos_vals.append(top.values)
            neg_ids.append(bottom.indices)
            neg_vals.append(-bottom.values)
    arrays = {
        "logit_pos_ids.npy": torch.cat(pos_ids).int().numpy(),
        "logit_pos_values.npy": torch.cat(pos_vals).half().numpy(),
        "logit_neg_ids.npy": torch.cat(neg_ids).int().numpy(),
        "logit_neg_values.npy": torch.cat(neg_vals).half().numpy(),
    }
    names = [d.name for d in dictionary_dirs(run_dir)]
    return arrays, {"dictionaries": names, "run_dir": relative_path(run_dir, Path(run_dir) / ATLAS_DIR)}


def build_feature_atlas(
    run_dir: str | os.PathLike,
    stories: Any,
    n_stories: int | None = None,
    force: bool = False,
    config: AtlasConfig | None = None,
    progress: bool = True,
    **overrides: Any,
) -> "FeatureAtlas":
    run_dir = Path(run_dir).resolve()
    model_dir = model_dir_for(run_dir)
    build_atlas(
        model_dir,
        stories,
        out=run_dir / ATLAS_DIR,
        config=config or FEATURE_DEFAULTS,
        n_stories=n_stories,
        fresh=force,
        progress=progress,
        units_factory="tiny_interp.features.feature_atlas:feature_units",
        units_args=(str(run_dir),),
        # the dictionaries' weights decide reuse, not where the run directory happens to be
        units_identity=(dictionaries_fingerprint(dictionary_dirs(run_dir)),),
        extra=_logit_arrays,
        **overrides,
    )
    return FeatureAtlas.open(run_dir / ATLAS_DIR)


class FeatureAtlas(Atlas):
    """A feature atlas: units are (dictionary index, feature)."""

    @classmethod
    def open(cls, path: str | os.PathLike) -> "FeatureAtlas":
        path = Path(path)
        if (path / ATLAS_DIR / "atlas.json").is_file():
            path = path / ATLAS_DIR
        base = Atlas.open(path)
        return cls(base.path, base.meta, base.a)

    @property
    def dictionary_names(self) -> list[str]:
        return list(self.meta.get("dictionaries", []))

    def dictionaries(self) -> list[SAE]:
        return load_dictionaries(self.path.parent)

    def logit_effects(self, block: int, feature: int) -> Any:
        """Top positive and negative tokens of a feature's direct logit effect."""
        import pandas as pd

        f = self.flat_index(block, feature)
        rows = []
        for sign in ("pos", "neg"):
            ids, vals = self.a[f"logit_{sign}_ids"][f], self.a[f"logit_{sign}_values"][f]
            rows += [
                {"sign": "+" if sign == "pos" else "-", "token_id": int(i), "token": t, "effect": float(v)}
                for i, t, v in zip(ids, self._decode(ids), vals)
            ]
        return pd.DataFrame(rows)

    def features_for_token(self, token: int | str, n: int = 10) -> Any:
        return self._as_features(self.selective_for_token(token, n))

    def features_for_class(self, word_class: str, n: int = 10) -> Any:
        return self._as_features(self.selective_for_class(word_class, n))

    def nearest(self, block: int, feature: int, n: int = 10) -> Any:
        """Features of the same dictionary whose decoder directions are closest (cosine) to this one's."""
        import pandas as pd

        self.flat_index(block, feature)
        W = self.dictionaries()[block].W_dec.detach()
        W = W / W.norm(dim=-1, keepdim=True).clamp(min=1e-8)
        cos = W @ W[feature]
        cos[feature] = -2.0
        top = cos.topk(min(n, len(cos) - 1))
        return pd.DataFrame({"dictionary": block, "feature": top.indices.numpy(), "cosine": top.values.numpy()})

    @staticmethod
    def _as_features(df: Any) -> Any:
        return df.rename(columns={"layer": "dictionary", "neuron": "feature"})
