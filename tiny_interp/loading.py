"""``tiny_interp.load``: any supported model as a TransformerLens ``TransformerBridge`` with its tokenizer."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .errors import CheckpointError
from .hub import looks_like_hub_id, require_hub

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import PreTrainedModel

MODELS_ENV = "TINY_INTERP_MODELS"


def shipped_model_dir(name: str) -> Path | None:
    """A shipped model's directory for its short name (``ts-1L``): ``trained_models/`` beside the package (a
    checkout or an editable install), else ``$TINY_INTERP_MODELS`` (where an installed package's models were put)."""
    if not name or "/" in name or os.sep in name or name.startswith("."):
        return None
    from .defaults import SHIPPED_MODELS

    roots = [SHIPPED_MODELS] + ([Path(os.environ[MODELS_ENV])] if os.environ.get(MODELS_ENV) else [])
    for root in roots:
        if (root / name / "config.json").is_file():
            return root / name
    return None


def resolve_model_dir(name_or_path: str | os.PathLike) -> Path:
    """A local model directory for a path, a shipped model's short name or a hub id (the local HF cache first,
    then a download)."""
    path = Path(name_or_path).expanduser()
    from .official import official_model_dir, official_repo

    if not path.exists() and (shipped := shipped_model_dir(str(name_or_path))) is not None:
        return shipped

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


def load_hf_model(
    path: Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> "PreTrainedModel":
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
    torch.nn.Module.to(model, device)  # in place; transformers' own typing of .to() confuses mypy
    return model.eval()


def load(
    name_or_path: str | os.PathLike,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> "TransformerBridge":
    """Open a model directory, a shipped model's short name or a hub id as a TransformerLens ``TransformerBridge``
    (``tiny_interp.Model.from_pretrained(...).bridge()`` gives the same bridge tied to the fast handle).

    The bridge carries the tokenizer (``bridge.tokenizer``); offline it reads only local files.
    """
    import tempfile

    from transformer_lens.model_bridge import TransformerBridge

    from .model.checkpoint import load_tokenizer

    path = resolve_model_dir(name_or_path)
    hf_model = load_hf_model(path, device, dtype)
    tokenizer = load_tokenizer(path)
    with tempfile.TemporaryDirectory(prefix="tiny-interp-tokenizer-") as tmp:
        if type(tokenizer).__name__ == "PreTrainedTokenizerFast":
            # TransformerLens 3's bridge re-opens the tokenizer with AutoTokenizer from its init_kwargs
            # (tokenize_utils.get_tokenizer_with_bos), which on transformers 4.x cannot read the class transformers
            # 5 wrote into tokenizer_config.json: hand it one opened from a copy this transformers saved
            from transformers import AutoTokenizer

            tokenizer.save_pretrained(tmp)
            tokenizer = AutoTokenizer.from_pretrained(tmp, local_files_only=True)
        bridge = TransformerBridge.boot_transformers(
            str(path), hf_model=hf_model, tokenizer=tokenizer, device=device, dtype=dtype
        )
    bridge.tokenizer.name_or_path = str(path)
    bridge.model_path = str(path)
    from .model.checkpoint import model_config_of

    # HF configs only know the position table (2048 rows for the official models); the trained context is ours
    bridge.cfg.n_ctx = model_config_of(path).n_ctx
    return bridge
