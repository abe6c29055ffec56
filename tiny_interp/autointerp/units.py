"""Units (MLP neurons or SAE features) as explainers and scorers see them: the same evidence and the same
held-out activations, whatever the unit is.

A ``UnitSet`` pairs an atlas (the explanation side: top and quantile examples, top tokens, logit effects) with a
way to compute the units' activations on any tokens through the activation seam (the scoring side). Neurons read
``blocks.{l}.mlp.hook_post``; features encode ``cache[sae.cfg.hook_name]`` with the SAE. Explainers and scorers only
ever see ``Unit``, ``Evidence`` and ``UnitSet.activations``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..errors import ConfigError


@dataclass(frozen=True)
class Unit:
    """One neuron (``layer``, ``index``) or one feature (``layer`` = its dictionary in the run, ``index``)."""

    kind: str  # "neuron" | "feature"
    layer: int
    index: int

    @property
    def key(self) -> str:
        return f"L{self.layer}/N{self.index}" if self.kind == "neuron" else f"D{self.layer}/F{self.index}"


@dataclass(frozen=True)
class Example:
    """A window of tokens with the unit's activation on each; ``centre`` is the token the atlas ranked."""

    tokens: tuple[str, ...]
    acts: tuple[float, ...]
    centre: int

    @property
    def peak(self) -> float:
        return max(self.acts) if self.acts else 0.0


@dataclass(frozen=True)
class Evidence:
    """Everything an explainer may read about a unit (all from the atlas corpus, never from held-out stories)."""

    unit: Unit
    top: tuple[Example, ...]
    quantiles: tuple[tuple[str, tuple[Example, ...]], ...] = ()  # (label, examples), strongest first
    top_tokens: tuple[tuple[str, float], ...] = ()  # (token, mean activation)
    top_token_ids: tuple[int, ...] = ()
    logits_up: tuple[tuple[str, float], ...] = ()  # features: tokens the decoder direction promotes
    logits_down: tuple[tuple[str, float], ...] = ()
    scale: float = 0.0  # the unit's largest atlas activation: held-out thresholds are shares of it

    def texts(self) -> list[str]:
        """Every snippet text shown to an explainer (for the held-out overlap checks)."""
        exs = list(self.top) + [e for _, group in self.quantiles for e in group]
        return ["".join(e.tokens) for e in exs]


def examples_from_frame(df: Any) -> tuple[Example, ...]:
    """Atlas example rows (``tokens``, ``acts`` and the ranked token at the window's centre) as ``Example``s."""
    out = []
    for tokens, acts, context in zip(df["tokens"], df["acts"], df["context"]):
        before = context.split("[[", 1)[0]
        centre, text = 0, ""
        while centre < len(tokens) and text != before:
            text += tokens[centre]
            centre += 1
        out.append(Example(tuple(tokens), tuple(float(a) for a in acts), min(centre, len(tokens) - 1)))
    return tuple(out)


def examples_from_arrays(
    tokens: np.ndarray, acts: np.ndarray, window: int, pieces: Sequence[str]
) -> tuple[Example, ...]:
    """Atlas windows ([k, 2W+1] token ids, -1 outside the story, and activations) as ``Example``s, decoded through
    a vocabulary table: the atlas's own per-example decode costs ~30 ms a unit, too slow for every SAE feature."""
    out = []
    for t, a in zip(tokens, acts):
        ok = t >= 0
        if not ok.any():
            continue
        out.append(
            Example(tuple(pieces[int(i)] for i in t[ok]), tuple(float(x) for x in a[ok]), int(ok[:window].sum()))
        )
    return tuple(out)


class UnitSet:
    """Base: ``kind``, ``name``, ``atlas``, ``tokenizer``, ``units()``, ``evidence(unit)``,
    ``activations(ids, units)``."""

    kind = "unit"

    def __init__(self, model_dir: str | os.PathLike, atlas: Any, name: str):
        from ..model.opener import open_model

        self.model_dir = Path(model_dir)
        self.atlas = atlas
        self.name = name
        self.model = open_model(self.model_dir, device="cpu").module
        self.tokenizer = atlas.tokenizer
        self._pieces: list[str] | None = None

    @property
    def atlas_dir(self) -> Path:
        return Path(self.atlas.path)

    @property
    def model_ctx(self) -> int:
        return int(self.model.cfg.n_ctx)

    def units(self) -> list[Unit]:
        raise NotImplementedError

    def unit(self, key: str) -> Unit:
        found = {u.key: u for u in self.units()}.get(key)
        if found is None:
            raise ConfigError(f"{key!r} is not a {self.kind} of {self.name}")
        return found

    def activations(self, ids: Int[Tensor, "batch seq"], units: Sequence[Unit]) -> Float[Tensor, "batch seq unit"]:
        raise NotImplementedError

    @property
    def pieces(self) -> list[str]:
        """Every vocabulary token decoded on its own (once per unit set)."""
        if self._pieces is None:
            self._pieces = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))])
        return self._pieces

    def evidence(self, unit: Unit, n_top: int = 10, n_tokens: int = 10, n_logits: int = 8) -> Evidence:
        return self.evidence_many([unit], n_top, n_tokens, n_logits)[unit.key]

    def evidence_many(
        self, units: Sequence[Unit], n_top: int = 10, n_tokens: int = 10, n_logits: int = 8, min_count: int = 10
    ) -> dict[str, Evidence]:
        """Evidence per unit key; top tokens (highest positive mean activation among tokens seen ``min_count``
        times) come from one read of the atlas's token-mean table for all the units."""
        a = self.atlas
        flat = np.asarray([u.layer * a.d_mlp + u.index for u in units], dtype=np.int64)
        counts = np.asarray(a.a["token_count"])
        means = np.where((counts >= min_count)[:, None], a.token_means(cols=flat), -np.inf)  # [vocab, units]
        order = np.argsort(-means, axis=0, kind="stable")[:n_tokens]
        window = int(a.meta["config"]["window"])
        out = {}
        for j, (u, f) in enumerate(zip(units, flat)):
            vals = np.asarray(a.a["top_values"][f, :n_top], dtype=np.float32)
            keep = np.isfinite(vals)
            ids = [int(i) for i in order[:, j] if means[i, j] > 0]  # sparse atlases read 0 beyond their tops
            up, down = self.logit_effects(u, n_logits)
            out[u.key] = Evidence(
                unit=u,
                quantiles=self.quantile_examples(u),
                logits_up=up,
                logits_down=down,
                top=examples_from_arrays(
                    np.asarray(a.a["top_window_tokens"][f, :n_top])[keep],
                    np.asarray(a.a["top_window_acts"][f, :n_top])[keep],
                    window,
                    self.pieces,
                ),
                top_tokens=tuple((self.pieces[i], float(means[i, j])) for i in ids),
                top_token_ids=tuple(ids),
                scale=float(vals[keep].max()) if keep.any() else 0.0,
            )
        return out

    def quantile_examples(self, unit: Unit) -> tuple[tuple[str, tuple[Example, ...]], ...]:
        """Examples from lower activation quantiles, where the atlas keeps them (feature atlases do)."""
        query = getattr(self.atlas, "quantile_examples", None)
        if query is None:
            return ()
        df = query(unit.layer, unit.index)
        if df is None or not len(df):
            return ()
        groups = []
        for label, part in df.groupby("quantile", sort=False):
            groups.append((str(label), examples_from_frame(part)))
        return tuple(groups)

    def logit_effects(self, unit: Unit, n: int) -> tuple[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]:
        return (), ()


class NeuronSet(UnitSet):
    """The MLP neurons of a model, explained from its neuron atlas (``<model_dir>/atlas`` by default)."""

    kind = "neuron"

    def __init__(self, model_dir: str | os.PathLike, atlas: Any = None):
        from ..interp import open_atlas
        from ..shipped import find_results

        if atlas is None or isinstance(atlas, (str, os.PathLike)):
            atlas = open_atlas(atlas if atlas is not None else find_results(Path(model_dir) / "atlas", "atlas.json"))
        super().__init__(model_dir, atlas, "neurons")

    def units(self) -> list[Unit]:
        return [Unit("neuron", l, n) for l in range(self.atlas.n_layers) for n in range(self.atlas.d_mlp)]

    def activations(self, ids: Int[Tensor, "batch seq"], units: Sequence[Unit]) -> Float[Tensor, "batch seq unit"]:
        from ..interp.seam import run_with_cache

        layers = sorted({u.layer for u in units})
        names = [f"blocks.{l}.mlp.hook_post" for l in layers]
        _, cache = run_with_cache(self.model, ids, names=names, stop_at_layer=layers[-1] + 1)
        cols = [cache[f"blocks.{u.layer}.mlp.hook_post"][..., u.index] for u in units]
        return torch.stack(cols, dim=-1).float()


class FeatureSet(UnitSet):
    """The latents of the dictionaries (SAEs or transcoders) of a run directory, or of one dictionary directory,
    explained from their feature atlas (``<run dir>/atlas``). A unit is (dictionary, feature)."""

    kind = "feature"

    def __init__(self, model_dir: str | os.PathLike, sae_dir: str | os.PathLike, atlas: Any):
        from ..features.card import load_dictionaries

        self.sae_dir = Path(sae_dir)
        self.saes = load_dictionaries(self.sae_dir)
        names = [s.cfg.hook_name for s in self.saes]
        super().__init__(model_dir, atlas, f"features:{self.sae_dir.name}:{'+'.join(names)}")

    def units(self) -> list[Unit]:
        return [Unit("feature", b, f) for b, sae in enumerate(self.saes) for f in range(sae.cfg.d_sae)]

    def activations(self, ids: Int[Tensor, "batch seq"], units: Sequence[Unit]) -> Float[Tensor, "batch seq unit"]:
        from ..interp.seam import run_with_cache

        blocks = sorted({u.layer for u in units})
        hooks = sorted({self.saes[b].cfg.hook_name for b in blocks})
        layers = [int(h.split(".")[1]) for h in hooks if h.startswith("blocks.")]
        stop = max(layers) + 1 if len(layers) == len(hooks) else None
        _, cache = run_with_cache(self.model, ids, names=hooks, stop_at_layer=stop)
        latents = {b: self.saes[b].encode(cache[self.saes[b].cfg.hook_name].float()) for b in blocks}
        return torch.stack([latents[u.layer][..., u.index] for u in units], dim=-1)

    def logit_effects(self, unit: Unit, n: int) -> tuple[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]:
        """Top +/- tokens of the feature's direct logit effect, read from the feature atlas's arrays through the
        vocabulary table (its DataFrame query costs ~20 ms a feature: minutes for a whole SAE)."""
        a = self.atlas.a
        if n <= 0 or "logit_pos_ids" not in a:
            return (), ()
        f = unit.layer * self.atlas.d_mlp + unit.index
        up, down = (
            tuple(
                (self.pieces[int(i)], float(v))
                for i, v in zip(a[f"logit_{sign}_ids"][f, :n], a[f"logit_{sign}_values"][f, :n])
            )
            for sign in ("pos", "neg")
        )
        return up, down


def sample_units(units: Sequence[Unit], n: int | None, seed: int) -> list[Unit]:
    """``n`` units drawn without replacement by a seeded generator (all, in order, when ``n`` is None or larger);
    the same seed and a larger n extend the earlier draw, so a rerun with more units keeps the first ones."""
    if n is None or n >= len(units):
        return list(units)
    order = np.random.default_rng(seed).permutation(len(units))
    return [units[i] for i in order[:n]]


def sae_directory(model_dir: str | os.PathLike, name_or_path: str) -> Path:
    """The run directory of an SAE: a path, a name under ``<model>/saes/`` or under ``<model>/``; a dictionary
    inside a run whose feature atlas sits in the run directory stands for that run (the atlas numbers its
    dictionaries)."""
    model_dir = Path(model_dir)
    found = next(
        (
            p
            for p in (Path(name_or_path).expanduser(), model_dir / "saes" / name_or_path, model_dir / name_or_path)
            if p.is_dir()
        ),
        None,
    )
    if found is None:
        have = sorted(p.name for p in (model_dir / "saes").glob("*") if p.is_dir())
        raise ConfigError(
            f"no SAE {name_or_path!r}: not a directory, nor under {model_dir / 'saes'}"
            + (f" (there: {', '.join(have)})" if have else "")
        )
    if (found / "cfg.json").is_file() and not (found / "atlas").is_dir() and (found.parent / "atlas").is_dir():
        return found.parent
    return found


def open_unit_set(model_dir: str | os.PathLike, spec: str, atlas: str | os.PathLike | None = None) -> UnitSet:
    """``"neurons"`` or ``"features:SAE"`` (a path or a name under ``<model>/saes/``) as a unit set; the atlas
    defaults to ``<model>/atlas`` for neurons and ``<sae>/atlas`` for features."""
    if spec == "neurons":
        return NeuronSet(model_dir, atlas)
    if spec.startswith("features:") and spec[len("features:") :]:
        from ..features.feature_atlas import FeatureAtlas
        from ..shipped import find_results

        sae_dir = sae_directory(model_dir, spec[len("features:") :])
        atlas_dir = Path(atlas) if atlas is not None else find_results(sae_dir / "atlas", "atlas.json")
        if not (atlas_dir / "atlas.json").is_file():
            raise ConfigError(f"no feature atlas at {atlas_dir}: build the SAE's feature atlas first (or pass --atlas)")
        return FeatureSet(model_dir, sae_dir, FeatureAtlas.open(atlas_dir))
    raise ConfigError(
        f"--units takes 'neurons' or 'features:SAE' (an SAE directory or a name under <model>/saes/), got {spec!r}"
    )
