"""llama2.c checkpoint + tokenizer -> a Hugging Face Llama directory (TinyLM llama family).

llama2.c rotates interleaved pairs (0,1), (2,3), ... of each head; HF Llama and TinyLM rotate the two halves
(i, i + d_head/2). Permuting the rows of wq and wk per head (as HF's own Llama conversion does) turns one into
the other without changing any attention score, since queries and keys are permuted alike.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

from ..errors import CheckpointError
from ..model.config import ModelConfig
from ..model.transformer import TinyLM
from .tokenizer import SpVocab, build_fast_tokenizer, read_tokenizer_vocab
from .weights import Llama2cHeader, read_checkpoint

BOS_ID = 1  # llama2.c's <s>: starts each story, and the model predicts it when a story ends
NORM_EPS = 1e-5  # run.c's rmsnorm epsilon
ROPE_THETA = 10000.0


def interleaved_to_halves(w: Tensor, n_heads: int) -> Tensor:
    """Reorder each head's output rows from pairs (2i, 2i+1) to halves (i, i + d_head/2)."""
    out_dim, in_dim = w.shape
    d_head = out_dim // n_heads
    return w.view(n_heads, d_head // 2, 2, in_dim).transpose(1, 2).reshape(out_dim, in_dim)


def model_config(header: Llama2cHeader) -> ModelConfig:
    return ModelConfig(
        family="llama",
        vocab_size=header.vocab_size,
        d_model=header.dim,
        n_layers=header.n_layers,
        n_heads=header.n_heads,
        n_kv_heads=header.n_kv_heads,
        d_mlp=header.hidden_dim,
        n_ctx=header.seq_len,
        norm_eps=NORM_EPS,
        rope_theta=ROPE_THETA,
        tie_embeddings=header.shared_classifier,
        bos_token_id=BOS_ID,
        eos_token_id=BOS_ID,
    )


def tinylm_state(header: Llama2cHeader, state: dict[str, Tensor]) -> dict[str, Tensor]:
    """TinyLM parameter names for a state dict under llama2.c's names."""
    out = {"tok_embed.weight": state["tok_embeddings.weight"], "norm_f.weight": state["norm.weight"]}
    for i in range(header.n_layers):
        p, b = f"layers.{i}", f"blocks.{i}"
        wq = interleaved_to_halves(state[f"{p}.attention.wq.weight"], header.n_heads)
        wk = interleaved_to_halves(state[f"{p}.attention.wk.weight"], header.n_kv_heads)
        out[f"{b}.attn.qkv.weight"] = torch.cat([wq, wk, state[f"{p}.attention.wv.weight"]])
        out[f"{b}.attn.out.weight"] = state[f"{p}.attention.wo.weight"]
        out[f"{b}.norm1.weight"] = state[f"{p}.attention_norm.weight"]
        out[f"{b}.norm2.weight"] = state[f"{p}.ffn_norm.weight"]
        # SwiGLU: w2(silu(w1 x) * w3 x); TinyLM's fused up projection is [gate; up]
        out[f"{b}.mlp.up.weight"] = torch.cat(
            [state[f"{p}.feed_forward.w1.weight"], state[f"{p}.feed_forward.w3.weight"]]
        )
        out[f"{b}.mlp.down.weight"] = state[f"{p}.feed_forward.w2.weight"]
    out["unembed.weight"] = state["output.weight"] if not header.shared_classifier else out["tok_embed.weight"]
    return out


def load_llama2c_model(path: str | os.PathLike) -> TinyLM:
    """A llama2.c ``.bin`` or ``.pt`` checkpoint as a TinyLM (float32, eval mode)."""
    header, state = read_checkpoint(path)
    cfg = model_config(header)
    model = TinyLM(cfg)
    try:
        model.load_state_dict(tinylm_state(header, state), strict=True)
    except (KeyError, RuntimeError) as e:
        raise CheckpointError(f"{path}: tensors do not fit a llama2.c model of this shape ({e})") from e
    return model.eval()


def check_vocab(vocab: SpVocab, cfg: ModelConfig, model_path: str | os.PathLike) -> None:
    if len(vocab) != cfg.vocab_size:
        raise CheckpointError(
            f"tokenizer {vocab.source} has {len(vocab)} tokens but model {model_path} has a vocabulary of "
            f"{cfg.vocab_size}: pass the tokenizer the model was trained with"
        )
    if len(vocab) <= BOS_ID or vocab.pieces[BOS_ID] != "<s>":
        raise CheckpointError(
            f"tokenizer {vocab.source}: token {BOS_ID} is {vocab.pieces[BOS_ID]!r}, not <s> as llama2.c expects"
        )


KIND = "llama2c-import"


def import_llama2c(
    model_path: str | os.PathLike, tokenizer_path: str | os.PathLike, out: str | os.PathLike, force: bool = False
) -> Path:
    """Convert a llama2.c checkpoint and its tokenizer into a model directory at ``out``.

    ``out`` must be new, empty or an earlier import (``force``: any folder); only the model's files are replaced,
    each in one rename, and nothing else in ``out`` is touched. Inputs are read and checked before ``out`` is."""
    from ..model.checkpoint import save_model
    from ..ownership import claim_output_dir

    model = load_llama2c_model(model_path)
    vocab = read_tokenizer_vocab(tokenizer_path)
    check_vocab(vocab, model.cfg, model_path)
    tokenizer = build_fast_tokenizer(vocab, model_max_length=model.cfg.n_ctx)
    meta = {
        "source": {
            "kind": "llama2.c",
            "checkpoint": str(Path(model_path).resolve()),
            "tokenizer": str(Path(tokenizer_path).resolve()),
        },
        "notes": "converted by tiny-interp import-llama2c; <s> (id 1) is both BOS and end of story, as in llama2.c",
    }
    claim_output_dir(out, KIND, force, legacy=_is_earlier_import)
    return save_model(out, model, tokenizer, meta)


def _is_earlier_import(path: Path) -> bool:
    from ..model.checkpoint import read_meta

    return (path / "tiny_interp.json").is_file() and read_meta(path).get("source", {}).get("kind") == "llama2.c"
