"""The dictionaries that split earlier MLP outputs: per-layer transcoders (MLP input -> output) or SAEs on
``blocks.L.hook_mlp_out``, found in one directory by what each ``cfg.json`` says it reads."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

from ..errors import CheckpointError
from ..features.sae import CFG_FILE, SAE, load_sae
from ..graphs.frozen import DTYPE
from ..graphs.transcoders import dictionary_configs, is_transcoder_cfg, transcoder_layer

_MLP_OUT = re.compile(r"^blocks\.(\d+)\.hook_mlp_out$")


def dictionary_layer(cfg: dict, where: Path) -> int | None:
    """The layer whose MLP output this dictionary splits; None for a dictionary of another point."""
    if is_transcoder_cfg(cfg):
        return transcoder_layer(cfg, where)
    hook = cfg.get("hook_name") or (cfg.get("metadata") or {}).get("hook_name") or ""
    match = _MLP_OUT.match(hook)
    return int(match.group(1)) if match else None


def dictionary_dirs(directory: str | os.PathLike, n_layers: int) -> dict[int, Path]:
    """Layer -> the subdirectory holding its dictionary; layers without one are left out (their MLP stays whole)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"dictionary directory {directory} does not exist; pass a folder of transcoders/SAEs")
    found: dict[int, Path] = {}
    for sub, cfg in dictionary_configs(directory):
        layer = dictionary_layer(cfg, sub)
        if layer is None:
            continue
        if layer >= n_layers:
            raise CheckpointError(f"{sub} splits layer {layer}'s MLP, but the model has {n_layers} layers")
        if layer in found and is_transcoder_cfg(cfg) == _is_transcoder(found[layer]):
            raise CheckpointError(f"{found[layer]} and {sub} both split layer {layer}'s MLP; keep one")
        # a transcoder is preferred over an SAE of the same output: it also explains where the output came from
        if layer not in found or is_transcoder_cfg(cfg):
            found[layer] = sub
    if not found:
        raise CheckpointError(f"{directory} holds no transcoder or hook_mlp_out SAE (no cfg.json naming one)")
    return found


def _is_transcoder(sub: Path) -> bool:
    return is_transcoder_cfg(json.loads((sub / CFG_FILE).read_text(encoding="utf-8")))


def load_dictionaries(
    directory: str | os.PathLike, n_layers: int, d_model: int
) -> tuple[dict[int, SAE], dict[int, str]]:
    """Float64 copies of each layer's dictionary (exactness needs float64: an error term is a small difference)
    and their directory names (what the feature atlas calls them)."""
    dirs = dictionary_dirs(directory, n_layers)
    out = {}
    for layer, d in dirs.items():
        sae = load_sae(d)
        if sae.cfg.d_in != d_model or sae.cfg.out_dim != d_model:
            raise CheckpointError(f"{d}: d_in/d_out {sae.cfg.d_in}/{sae.cfg.out_dim} do not match d_model {d_model}")
        out[layer] = as_float64(sae)
    return out, {l: d.name for l, d in dirs.items()}


def as_float64(sae: SAE) -> SAE:
    return copy.deepcopy(sae).to(DTYPE).eval()
