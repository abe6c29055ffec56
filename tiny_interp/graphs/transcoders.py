"""Find one transcoder per layer in a directory, by what each one says it reads (``cfg.json``'s hook_name)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..errors import CheckpointError
from ..features.hook_names import model_hook
from ..features.sae import CFG_FILE, SAE, load_sae

_MLP_IN = re.compile(r"^blocks\.(\d+)\.ln2\.hook_normalized$")


def is_transcoder_cfg(cfg: dict) -> bool:
    """A cfg.json of a transcoder, by SAELens' name (``skip_transcoder``, ...), ours, or an older file's."""
    return "transcoder" in str(cfg.get("architecture", ""))


def transcoder_layer(cfg: dict, where: Path) -> int:
    """The layer a transcoder config replaces the MLP of; refuses SAEs and transcoders of other points."""
    meta = cfg.get("metadata") or {}
    hook = model_hook(cfg.get("hook_name") or meta.get("hook_name") or "")
    out = model_hook(cfg.get("hook_name_out") or meta.get("hook_name_out") or "")
    match = _MLP_IN.match(hook)
    if not is_transcoder_cfg(cfg) or not match:
        raise CheckpointError(
            f"{where} is not an MLP transcoder (architecture {cfg.get('architecture')!r}, "
            f"hook_name {hook!r}); attribution graphs need blocks.L.mlp.hook_in -> blocks.L.mlp.hook_out "
            "transcoders"
        )
    layer = int(match.group(1))
    if out != f"blocks.{layer}.hook_mlp_out":
        raise CheckpointError(f"{where}: hook_name_out is {out!r}, expected 'blocks.{layer}.mlp.hook_out'")
    return layer


def dictionary_configs(directory: Path) -> list[tuple[Path, dict]]:
    """Each subdirectory of ``directory`` holding a ``cfg.json``, with that config, in name order."""
    out = []
    for sub in sorted(p for p in directory.iterdir() if (p / CFG_FILE).is_file()):
        try:
            out.append((sub, json.loads((sub / CFG_FILE).read_text(encoding="utf-8"))))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{sub / CFG_FILE} is not valid JSON ({e})") from e
    return out


def transcoder_dirs(directory: str | os.PathLike, n_layers: int) -> list[Path]:
    """The subdirectory of ``directory`` (any name) holding each layer's transcoder, ordered by layer."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"transcoder directory {directory} does not exist")
    found: dict[int, Path] = {}
    for sub, cfg in dictionary_configs(directory):
        if not is_transcoder_cfg(cfg):
            continue  # SAEs may share the directory
        layer = transcoder_layer(cfg, sub)
        if layer in found:
            raise CheckpointError(f"{found[layer]} and {sub} both replace layer {layer}'s MLP; keep one")
        found[layer] = sub
    missing = [l for l in range(n_layers) if l not in found]
    if missing:
        raise CheckpointError(
            f"{directory} has no transcoder for layer(s) {missing} (found {sorted(found)}); "
            "an attribution graph needs one per layer"
        )
    extra = sorted(set(found) - set(range(n_layers)))
    if extra:
        raise CheckpointError(f"{directory}: transcoders for layer(s) {extra}, but the model has {n_layers} layers")
    return [found[l] for l in range(n_layers)]


def load_transcoders(directory: str | os.PathLike, n_layers: int, d_model: int) -> list[SAE]:
    """One transcoder per layer from the subdirectories of ``directory``, ordered by layer."""
    dirs = transcoder_dirs(directory, n_layers)
    tcs = [load_sae(d) for d in dirs]
    for d, tc in zip(dirs, tcs):
        if tc.cfg.d_in != d_model or tc.cfg.out_dim != d_model:
            raise CheckpointError(
                f"{d}: d_in/d_out {tc.cfg.d_in}/{tc.cfg.out_dim} do not match the model's d_model {d_model}"
            )
    return tcs
