"""The feature atlas: the neuron atlas's machinery (``tiny_interp.interp.atlas``) run over dictionary latents,
plus each feature's logit effects, and the queries a feature browser needs.

Units are (dictionary, feature): one block per dictionary of a run directory, read at the dictionary's input hook
and encoded there while the forward runs. The atlas lives in ``<run dir>/atlas``. Per-token means keep each
feature's top tokens only (``token_top``): thousands of features times the vocabulary would be tens of MB.

Logit effects are the direct path of a feature's decoder direction to the logits, read by the one readout
(``tiny_interp.model.readout``, direction convention): through the final norm's linear part (its gain, and
LayerNorm's centring; the data-dependent scale is left out, as it is the same for every token) and the
unembedding. Top +/- tokens are kept per feature.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from ..errors import ConfigError
from ..interp.atlas import Atlas, AtlasConfig, UnitBlock, Units, build_atlas
from ..interp.atlas.build import OUTPUT_KIND
from ..interp.atlas.fileformat import is_earlier_atlas
from ..model.readout import readout_of
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
    check_one_size(saes, run_dir)
    blocks = [UnitBlock(s.cfg.hook_name, s.cfg.d_sae, _layer(s, net), transform=_encoder(s)) for s in saes]
    return Units(blocks, kind="feature")


def check_one_size(saes: list[SAE], run_dir: str | os.PathLike) -> None:
    sizes = {s.cfg.d_sae for s in saes}
    if len(sizes) != 1:
        raise ConfigError(
            f"{run_dir}: a feature atlas needs dictionaries of one size, got {sorted(sizes)}; "
            "build one atlas per size (one run directory each)"
        )


def _encoder(sae: SAE) -> Callable[[Tensor], Tensor]:
    return lambda x: sae.encode(x.float())


def _layer(sae: SAE, net: Any) -> int:
    layer = layer_of(sae.cfg.hook_name)
    return int(net.cfg.n_layers) - 1 if layer is None else layer


def decoder_logit_effects(net: Any, W_dec: Float[Tensor, "d_sae d_model"]) -> Float[Tensor, "d_sae vocab"]:
    """Each decoder direction's direct effect on the logits: the one readout's direction convention
    (``tiny_interp.model.readout``: the final norm's centring and gain, then the unembedding)."""
    return readout_of(net).directions(W_dec)


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
    return arrays, {"dictionaries": names, "run_dir": relative_path(run_dir, job.out)}


def build_feature_atlas(
    run_dir: str | os.PathLike,
    stories: Any,
    n_stories: int | None = None,
    force: bool = False,
    config: AtlasConfig | None = None,
    progress: bool = True,
    beside_model: bool = False,
    **overrides: Any,
) -> "FeatureAtlas":
    """Build (or resume) the feature atlas of the dictionaries in ``run_dir`` into ``run_dir/atlas`` -- for a
    shipped model's dictionaries into ``runs/`` instead, unless ``beside_model``. One build writes an atlas at a
    time: a second one (or a resume beside a live build) is refused with the builder's pid."""
    from ..locking import check_unlocked, exclusive_lock, lock_path
    from ..model.opener import open_model
    from ..shipped import record_source, results_path
    from .validate import check_count, check_dir, check_fits

    check_count(n_stories, "--n-stories")
    run_dir = check_dir(run_dir, "dictionary run").resolve()
    model_dir = model_dir_for(run_dir)
    dirs = dictionary_dirs(run_dir)
    saes = load_dictionaries(run_dir)
    check_one_size(saes, run_dir)
    check_fits(saes, dirs, open_model(model_dir).module)
    out = results_path(run_dir / ATLAS_DIR, beside_model)
    check_unlocked(lock_path(out, OUTPUT_KIND), f"feature atlas {out}")
    check_atlas_dir(out, force)
    texts = story_texts(stories, n_stories)  # a bad story file is refused before the atlas folder is claimed
    record_source(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(lock_path(out, OUTPUT_KIND), f"feature atlas {out}"):
        atlas = build_atlas(
            model_dir,
            texts,
            out=out,
            config=config or FEATURE_DEFAULTS,
            fresh=force,
            progress=progress,
            units_factory="tiny_interp.features.feature_atlas:feature_units",
            units_args=(str(run_dir),),
            # the dictionaries' weights decide reuse, not where the run directory happens to be
            units_identity=(dictionaries_fingerprint(dirs),),
            # a shipped model's own atlas of the same dictionaries, stories and settings is opened, not rebuilt
            reuse=run_dir / ATLAS_DIR,
            extra=_logit_arrays,
            **overrides,
        )
    if atlas is None:  # a build asked to stop early (stop_after_batches in overrides)
        raise ConfigError(f"the feature atlas build in {out} stopped early; call again to resume it")
    return FeatureAtlas.open(atlas.path)


def check_atlas_dir(out: Path, force: bool) -> None:
    """An atlas may be built in ``out``: not someone else's folder (``--force`` aside), and no ``atlas.json`` there
    that no atlas build wrote (``--force`` or not)."""
    from ..interp.atlas.fileformat import META_FILE
    from ..ownership import check_files, check_output_dir

    check_output_dir(out, OUTPUT_KIND, force=force, legacy=is_earlier_atlas)
    if out.is_dir():
        check_files(out, OUTPUT_KIND, [META_FILE], legacy=lambda f: is_earlier_atlas(f.parent))


def story_texts(stories: Any, limit: int | None) -> list[str]:
    """The stories of a file or folder (any story format) or of a list, at most ``limit``; none is an error."""
    import itertools

    from ..data.stories import iter_stories, read_stories
    from ..errors import DataError, utf8_input

    if not isinstance(stories, (str, os.PathLike)):
        return read_stories(stories, limit=limit)
    with utf8_input(stories):
        texts = list(itertools.islice(iter_stories(stories), limit))
    if not texts:
        raise DataError(f"{stories} holds no stories")
    return texts


class FeatureAtlas(Atlas):
    """A feature atlas: units are (dictionary index, feature)."""

    @classmethod
    def open(cls, path: str | os.PathLike) -> "FeatureAtlas":
        """A run directory's atlas (``run/atlas``, or its place under ``runs/`` for a shipped model's run, which
        wins when both exist), or an atlas directory itself."""
        from ..shipped import find_results

        path = Path(path)
        if not (path / "atlas.json").is_file():
            path = find_results(path / ATLAS_DIR, "atlas.json")
        base = Atlas.open(path)
        return cls(base.path, base.meta, base.a)

    @property
    def run_dir(self) -> Path:
        """The dictionaries' directory (the shipped one for an atlas written to ``runs/`` about it)."""
        from ..shipped import source_path

        return source_path(Path(self.path).parent)

    @property
    def dictionary_names(self) -> list[str]:
        return list(self.meta.get("dictionaries", []))

    def dictionaries(self) -> list[SAE]:
        return load_dictionaries(self.run_dir)

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
