"""``tiny_interp.load``: any supported model as a TransformerLens ``TransformerBridge`` with its tokenizer."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError
from .hub import looks_like_hub_id, require_hub


def resolve_model_dir(name_or_path: str | os.PathLike) -> Path:
    """A local model directory for a path or a hub id (the local HF cache first, then a download)."""
    path = Path(name_or_path).expanduser()
    from .official import official_model_dir, official_repo

    if not path.exists() and official_repo(str(name_or_path)) is not None:
        return official_model_dir(str(name_or_path))
    if path.exists() or not looks_like_hub_id(str(name_or_path)) or _repo_folder(path):
        from .model.checkpoint import check_model_dir

        return check_model_dir(path)
    repo_id = str(name_or_path)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    patterns = ["*.json", "*.safetensors", "*.txt", "*.model"]
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        pass
    require_hub(
        f"model {repo_id!r}",
        f"Download it once while online (`huggingface-cli download {repo_id}`) or pass a local model directory.",
    )
    return Path(snapshot_download(repo_id, allow_patterns=patterns))


def _repo_folder(path: Path) -> bool:
    """``trained_models/x`` or ``runs/x`` given from another folder: a missing local path, not a hub id."""
    from .defaults import REPO_ROOT

    return path.parts[0] in ("trained_models", "runs") or (REPO_ROOT / path).exists()


def load_hf_model(path: Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> Any:
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from .model.checkpoint import check_model_dir, read_safetensors

    check_model_dir(path)
    read_safetensors(path / "model.safetensors")  # a corrupt file fails here with its name, not deep in HF
    hf_logging.disable_progress_bar()
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(path), local_files_only=True, dtype=dtype, use_safetensors=True
        )
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot load the model in {path} ({e})") from e
    return model.to(device).eval()


def load(
    name_or_path: str | os.PathLike,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Any:
    """Open a model directory or hub id for analysis as a TransformerLens ``TransformerBridge``.

    The bridge carries the tokenizer (``bridge.tokenizer``); offline it reads only local files.
    """
    from transformer_lens.model_bridge import TransformerBridge

    from .model.checkpoint import load_tokenizer

    path = resolve_model_dir(name_or_path)
    hf_model = load_hf_model(path, device, dtype)
    tokenizer = load_tokenizer(path)
    bridge = TransformerBridge.boot_transformers(
        str(path), hf_model=hf_model, tokenizer=tokenizer, device=device, dtype=dtype
    )
    bridge.model_path = str(path)
    from .model.checkpoint import model_config_of

    # HF configs only know the position table (2048 rows for the official models); the trained context is ours
    bridge.cfg.n_ctx = model_config_of(path).n_ctx
    return bridge
