"""The TinyStories paper's released models (``roneneldan/TinyStories-*``) as ordinary tiny-interp model directories.

The hub repositories hold a GPTNeo ``config.json`` and ``pytorch_model.bin`` (a pickle; a few also
``model.safetensors``), mostly without tokenizer files: the models use GPT-Neo's tokenizer and were trained on
512-token contexts (their position table has 2048 rows). On first use the files are taken from the local Hugging
Face cache (downloaded first when the hub is reachable), the weights are read without running pickled code
(``torch.load(weights_only=True)``) and written once as a safetensors model directory with the GPT-Neo tokenizer
and a 512-token context, under ``$TINY_INTERP_CACHE`` (default ``~/.cache/tiny_interp``).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .errors import CheckpointError, TinyInterpError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

OWNER = "roneneldan"
# hub id -> preset name; "Instuct" is the hub's own spelling of the one-layer instruct model
OFFICIAL_MODELS: dict[str, str] = {
    f"{OWNER}/TinyStories-1M": "1M",
    f"{OWNER}/TinyStories-3M": "3M",
    f"{OWNER}/TinyStories-8M": "8M",
    f"{OWNER}/TinyStories-28M": "28M",
    f"{OWNER}/TinyStories-33M": "33M",
    f"{OWNER}/TinyStories-1Layer-21M": "1L-21M",
    f"{OWNER}/TinyStories-2Layers-33M": "2L-33M",
    f"{OWNER}/TinyStories-Instruct-1M": "1M",
    f"{OWNER}/TinyStories-Instruct-3M": "3M",
    f"{OWNER}/TinyStories-Instruct-8M": "8M",
    f"{OWNER}/TinyStories-Instruct-28M": "28M",
    f"{OWNER}/TinyStories-Instruct-33M": "33M",
    f"{OWNER}/TinyStories-Instuct-1Layer-21M": "1L-21M",
    f"{OWNER}/TinyStories-Instruct-2Layers-33M": "2L-33M",
}
# the spelling people type for the one-layer instruct model -> the repository that exists
ALIASES = {f"{OWNER}/TinyStories-Instruct-1Layer-21M": f"{OWNER}/TinyStories-Instuct-1Layer-21M"}
TOKENIZER_REPO = "EleutherAI/gpt-neo-125M"
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
N_CTX = 512


def official_repo(name: str) -> str | None:
    """The hub repository for an official model name (case-insensitive, owner optional), else None."""
    key = name.strip().lower()
    if "/" not in key:
        key = f"{OWNER.lower()}/{key}"
    for repo in (*OFFICIAL_MODELS, *ALIASES):
        if repo.lower() == key:
            return ALIASES.get(repo, repo)
    return None


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def converted_cache_dir() -> Path:
    return Path(os.environ.get("TINY_INTERP_CACHE") or Path.home() / ".cache" / "tiny_interp") / "official"


def cached_file(repo: str, filename: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename, cache_dir=str(hub_cache_dir()))
    return Path(found) if isinstance(found, str) else None


def download_hint(repo: str) -> str:
    return (
        f"Download it once while online: `huggingface-cli download {repo} config.json pytorch_model.bin` and "
        f"`huggingface-cli download {TOKENIZER_REPO} vocab.json merges.txt tokenizer.json` (into the Hugging Face "
        f"cache at {hub_cache_dir()}), then tiny-interp opens it offline."
    )


def _ensure_downloaded(repo: str) -> None:
    """Fetch the config, one weights file and the tokenizer when they are not cached (needs the hub)."""
    from .hub import require_hub

    have_weights = any(cached_file(repo, f) for f in WEIGHT_FILES)
    have_tokenizer = any(
        cached_file(r, "vocab.json") or cached_file(r, "tokenizer.json") for r in (repo, TOKENIZER_REPO)
    )
    if cached_file(repo, "config.json") and have_weights and have_tokenizer:
        return
    require_hub(f"the official model {repo!r}", f"It is not in the local Hugging Face cache. {download_hint(repo)}")
    from huggingface_hub import HfApi, hf_hub_download

    files = set(HfApi().list_repo_files(repo))
    wanted = ["config.json", next(f for f in WEIGHT_FILES if f in files)]
    wanted += [f for f in TOKENIZER_FILES if f in files]
    for f in wanted:
        hf_hub_download(repo, f, cache_dir=str(hub_cache_dir()))
    if not any(f in files for f in ("vocab.json", "tokenizer.json")):
        for f in ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json"):
            hf_hub_download(TOKENIZER_REPO, f, cache_dir=str(hub_cache_dir()))


def read_official_weights(file: Path) -> dict[str, torch.Tensor]:
    """HF GPTNeo tensors from model.safetensors or pytorch_model.bin (never unpickling code)."""
    if file.suffix == ".safetensors":
        from .model.checkpoint import read_safetensors

        return read_safetensors(file)
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(f"cannot read {file} safely ({e}); delete it from the cache and download again") from e
    if not isinstance(state, dict):
        raise CheckpointError(f"{file} does not hold a state dict")
    return state


def _official_tokenizer(repo: str) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    from .data.tokenizer import gpt_neo_tokenizer

    for source in (repo, TOKENIZER_REPO):
        tokenizer_json = cached_file(source, "tokenizer.json")
        if tokenizer_json is not None:
            return AutoTokenizer.from_pretrained(str(tokenizer_json.parent), local_files_only=True)
        vocab = cached_file(source, "vocab.json")
        if vocab is not None and cached_file(source, "merges.txt") is not None:
            return gpt_neo_tokenizer(vocab.parent)
    raise TinyInterpError(
        f"the GPT-Neo tokenizer of {repo!r} is not in the local Hugging Face cache. {download_hint(repo)}"
    )


def official_model_dir(name: str) -> Path:
    """A local tiny-interp model directory for an official TinyStories model, built on first use."""
    import json

    from .atomic import atomic_directory
    from .model.checkpoint import write_model_files
    from .model.hf_format import from_hf_config, from_hf_state_dict
    from .model.transformer import TinyLM

    repo = official_repo(name)
    if repo is None:
        raise TinyInterpError(f"{name!r} is not an official TinyStories model; known: {', '.join(OFFICIAL_MODELS)}")
    _ensure_downloaded(repo)
    config_file = cached_file(repo, "config.json")
    weights = next((p for p in (cached_file(repo, f) for f in WEIGHT_FILES) if p is not None), None)
    if config_file is None or weights is None:
        raise TinyInterpError(f"{repo} is only partly in the Hugging Face cache. {download_hint(repo)}")
    revision = config_file.parent.name  # the snapshot's commit
    out = converted_cache_dir() / f"{repo.replace('/', '--')}--{revision}"
    if (out / "model.safetensors").exists() and (out / "tiny_interp.json").exists():
        return out
    try:
        hf_config = json.loads(config_file.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(
            f"{config_file} is not valid JSON ({e}); delete it from the cache and download again"
        ) from e
    cfg = from_hf_config(hf_config, n_ctx=N_CTX, source=str(config_file))
    state = from_hf_state_dict(
        cfg, {k: v.float() for k, v in read_official_weights(weights).items()}, source=str(weights)
    )
    model = TinyLM(cfg)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if [k for k in missing if k != "unembed.weight"] or unexpected:
        raise CheckpointError(
            f"{weights} does not fit its config.json: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    tokenizer = _official_tokenizer(repo)
    tokenizer.model_max_length = N_CTX
    meta = {
        "source": {"kind": "official", "repo": repo, "revision": revision, "weights": weights.name},
        "preset": OFFICIAL_MODELS[repo],
    }
    with atomic_directory(out) as tmp:
        write_model_files(tmp, model, tokenizer, meta)
    return out
