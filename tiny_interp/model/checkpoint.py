"""Hugging Face-standard model directories: write them atomically, read them back with clear errors.

A directory holds ``config.json`` (GPTNeoForCausalLM or LlamaForCausalLM), ``model.safetensors``, the tokenizer
files and ``tiny_interp.json`` (our model config, training arguments, data fingerprint, final metrics).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from ..atomic import keep_umask, staged_into
from ..errors import CheckpointError
from .config import ModelConfig
from .hf_format import from_hf_config, from_hf_state_dict, to_hf_config, to_hf_state_dict
from .transformer import TinyLM

META_FILE = "tiny_interp.json"
WEIGHTS_FILE = "model.safetensors"


def write_model_files(
    directory: Path,
    model: TinyLM,
    tokenizer: Any,
    meta: dict[str, Any] | None = None,
    dtype: torch.dtype | None = None,
) -> None:
    """Write the model's files into an existing directory (the caller makes it atomic)."""
    from safetensors.torch import save_file

    cfg = model.cfg
    hf_cfg = to_hf_config(cfg)
    if dtype is not None:
        hf_cfg.torch_dtype = str(dtype).removeprefix("torch.")
    hf_cfg.save_pretrained(directory)
    state = to_hf_state_dict(cfg, {k: v.detach().cpu() for k, v in model.state_dict().items()})
    if dtype is not None:
        state = {k: v.to(dtype) for k, v in state.items()}
    save_file(state, str(directory / WEIGHTS_FILE), metadata={"format": "pt"})
    keep_umask(directory / WEIGHTS_FILE)
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    payload = {"model_config": cfg.to_dict(), **(meta or {})}
    (directory / META_FILE).write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def save_model(
    out: str | os.PathLike,
    model: TinyLM,
    tokenizer: Any,
    meta: dict[str, Any] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Save a complete model into ``out``: each model file replaces its namesake in one rename, and every other
    file in ``out`` is left alone (callers check first that ``out`` is theirs to write)."""
    with staged_into(out) as tmp:
        write_model_files(tmp, model, tokenizer, meta, dtype)
    return Path(out)


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    meta_path = Path(path) / META_FILE
    if not meta_path.exists():
        return {}
    try:
        return json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{meta_path} is not valid JSON ({e}); restore or delete it") from e


def check_model_dir(path: str | os.PathLike) -> Path:
    """The directory if it looks like a complete model; otherwise a CheckpointError saying what is missing."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(
            f"model directory {path} does not exist; train one with `tiny-interp train` or give a hub id"
        )
    if not path.is_dir():
        raise CheckpointError(f"{path} is a file, but a model is a directory with config.json and {WEIGHTS_FILE}")
    if not (path / "config.json").exists():
        raise CheckpointError(f"{path} has no config.json: it is not a Hugging Face model directory")
    if not (path / WEIGHTS_FILE).exists():
        pickles = [p.name for p in path.glob("*.bin")] + [p.name for p in path.glob("*.pt")]
        hint = (
            f" ({', '.join(pickles)} found: pickle checkpoints are not loaded for safety; convert to safetensors)"
            if pickles
            else ""
        )
        raise CheckpointError(f"{path} has no {WEIGHTS_FILE}{hint}")
    return path


def read_hf_config(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path / 'config.json'} is not valid JSON ({e}); restore the model's config.json") from e


def model_config_of(path: str | os.PathLike, n_ctx: int | None = None) -> ModelConfig:
    path = check_model_dir(path)
    meta = read_meta(path)
    if "model_config" in meta:
        cfg = ModelConfig.from_dict(meta["model_config"], source=path / META_FILE)
        return cfg.replace(n_ctx=n_ctx) if n_ctx else cfg
    return from_hf_config(read_hf_config(path), n_ctx=n_ctx, source=str(path / "config.json"))


def read_safetensors(file: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{file} is truncated or corrupt ({e}); re-download or re-save the model") from e


def load_tinylm(path: str | os.PathLike, device: str | torch.device = "cpu", n_ctx: int | None = None) -> TinyLM:
    """Our fast module with the directory's weights (float32 for exact analysis)."""
    path = check_model_dir(path)
    cfg = model_config_of(path, n_ctx=n_ctx)
    hf_state = read_safetensors(path / WEIGHTS_FILE)
    state = from_hf_state_dict(cfg, {k: v.float() for k, v in hf_state.items()}, source=str(path / WEIGHTS_FILE))
    model = TinyLM(cfg)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "unembed.weight" or not cfg.tie_embeddings]
    if missing or unexpected:
        raise CheckpointError(
            f"{path / WEIGHTS_FILE} does not match its config: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    return model.to(device).eval()


def load_tokenizer(path: str | os.PathLike) -> Any:
    import transformers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    config = Path(path) / "tokenizer_config.json"
    named = json.loads(config.read_text(encoding="utf-8")).get("tokenizer_class", "") if config.is_file() else ""
    # transformers 5 saves fast tokenizers as "TokenizersBackend", a class 4.x (the peers' environment) lacks; the
    # tokenizer.json it reads is the same, so 4.x opens it as the fast tokenizer it is
    loader = PreTrainedTokenizerFast if named and not hasattr(transformers, named) else AutoTokenizer
    try:
        return loader.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot load the tokenizer files in {path} ({e})") from e
