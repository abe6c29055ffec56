"""Translation between TinyLM and Hugging Face's GPTNeoForCausalLM / LlamaForCausalLM (config and weights).

Our module fuses q/k/v (and llama's gate/up) into single matmuls; HF keeps them apart. Each entry of the key map
names our tensor and the HF tensors it is the row-wise concatenation of.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..errors import CheckpointError
from .config import ModelConfig

HF_ARCHITECTURES = {"gpt-neo": "GPTNeoForCausalLM", "llama": "LlamaForCausalLM"}


def key_map(cfg: ModelConfig) -> list[tuple[str, list[str]]]:
    """(our key, HF keys concatenated along dim 0) for every tensor of the model."""
    if cfg.family == "gpt-neo":
        pairs = [("tok_embed.weight", ["transformer.wte.weight"]), ("pos_embed.weight", ["transformer.wpe.weight"])]
        for i in range(cfg.n_layers):
            h, b = f"transformer.h.{i}", f"blocks.{i}"
            a = f"{h}.attn.attention"
            pairs += [
                (f"{b}.norm1.weight", [f"{h}.ln_1.weight"]),
                (f"{b}.norm1.bias", [f"{h}.ln_1.bias"]),
                (f"{b}.attn.qkv.weight", [f"{a}.q_proj.weight", f"{a}.k_proj.weight", f"{a}.v_proj.weight"]),
                (f"{b}.attn.out.weight", [f"{a}.out_proj.weight"]),
                (f"{b}.attn.out.bias", [f"{a}.out_proj.bias"]),
                (f"{b}.norm2.weight", [f"{h}.ln_2.weight"]),
                (f"{b}.norm2.bias", [f"{h}.ln_2.bias"]),
                (f"{b}.mlp.up.weight", [f"{h}.mlp.c_fc.weight"]),
                (f"{b}.mlp.up.bias", [f"{h}.mlp.c_fc.bias"]),
                (f"{b}.mlp.down.weight", [f"{h}.mlp.c_proj.weight"]),
                (f"{b}.mlp.down.bias", [f"{h}.mlp.c_proj.bias"]),
            ]
        pairs += [("norm_f.weight", ["transformer.ln_f.weight"]), ("norm_f.bias", ["transformer.ln_f.bias"])]
    else:
        pairs = [("tok_embed.weight", ["model.embed_tokens.weight"])]
        for i in range(cfg.n_layers):
            h, b = f"model.layers.{i}", f"blocks.{i}"
            pairs += [
                (f"{b}.norm1.weight", [f"{h}.input_layernorm.weight"]),
                (f"{b}.attn.qkv.weight", [f"{h}.self_attn.{p}_proj.weight" for p in "qkv"]),
                (f"{b}.attn.out.weight", [f"{h}.self_attn.o_proj.weight"]),
                (f"{b}.norm2.weight", [f"{h}.post_attention_layernorm.weight"]),
                (f"{b}.mlp.up.weight", [f"{h}.mlp.gate_proj.weight", f"{h}.mlp.up_proj.weight"]),
                (f"{b}.mlp.down.weight", [f"{h}.mlp.down_proj.weight"]),
            ]
        pairs += [("norm_f.weight", ["model.norm.weight"])]
    if not cfg.tie_embeddings:
        pairs.append(("unembed.weight", ["lm_head.weight"]))
    return pairs


def _split_sizes(cfg: ModelConfig, our_key: str, n_parts: int) -> list[int]:
    if n_parts == 1:
        return []
    if our_key.endswith("attn.qkv.weight"):
        return [cfg.n_heads * cfg.d_head, cfg.kv_heads * cfg.d_head, cfg.kv_heads * cfg.d_head]
    return [cfg.d_mlp, cfg.d_mlp]  # llama gate, up


def to_hf_state_dict(cfg: ModelConfig, state: dict[str, Tensor]) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    for ours, theirs in key_map(cfg):
        t = state[ours]
        parts = t.split(_split_sizes(cfg, ours, len(theirs)), dim=0) if len(theirs) > 1 else (t,)
        for name, part in zip(theirs, parts):
            out[name] = part.detach().contiguous().clone()
    return out


def from_hf_state_dict(cfg: ModelConfig, hf: dict[str, Tensor], source: str = "checkpoint") -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    missing = [k for _, theirs in key_map(cfg) for k in theirs if k not in hf]
    if missing:
        raise CheckpointError(
            f"{source} lacks {len(missing)} expected tensors (first: {missing[0]}); "
            f"is it a {HF_ARCHITECTURES[cfg.family]} checkpoint of this shape?"
        )
    for ours, theirs in key_map(cfg):
        out[ours] = torch.cat([hf[k] for k in theirs], dim=0) if len(theirs) > 1 else hf[theirs[0]]
    if cfg.tie_embeddings:
        out["unembed.weight"] = out["tok_embed.weight"]
    return out


def to_hf_config(cfg: ModelConfig) -> Any:
    """A transformers config object equivalent to ``cfg``."""
    if cfg.family == "gpt-neo":
        from transformers import GPTNeoConfig

        return GPTNeoConfig(
            vocab_size=cfg.vocab_size,
            max_position_embeddings=cfg.positions,
            hidden_size=cfg.d_model,
            num_layers=cfg.n_layers,
            attention_types=[[[kind], 1] for kind in cfg.layer_kinds()],
            num_heads=cfg.n_heads,
            intermediate_size=cfg.d_mlp,
            window_size=cfg.window_size,
            activation_function="gelu_new",
            resid_dropout=cfg.dropout,
            embed_dropout=cfg.dropout,
            attention_dropout=cfg.attn_dropout,
            layer_norm_epsilon=cfg.norm_eps,
            bos_token_id=cfg.bos_token_id,
            eos_token_id=cfg.eos_token_id,
            tie_word_embeddings=cfg.tie_embeddings,
            architectures=[HF_ARCHITECTURES["gpt-neo"]],
        )
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.d_model,
        intermediate_size=cfg.d_mlp,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        num_key_value_heads=cfg.kv_heads,
        head_dim=cfg.d_head,
        max_position_embeddings=cfg.n_ctx,
        rms_norm_eps=cfg.norm_eps,
        rope_theta=cfg.rope_theta,  # type: ignore[call-arg]  # transformers 5 reads it from **kwargs
        tie_word_embeddings=cfg.tie_embeddings,
        attention_dropout=cfg.attn_dropout,
        hidden_act="silu",
        attention_bias=False,
        mlp_bias=False,
        bos_token_id=cfg.bos_token_id,
        eos_token_id=cfg.eos_token_id,
        architectures=[HF_ARCHITECTURES["llama"]],
    )


def _get(d: dict[str, Any], *names: str, default: Any = None) -> Any:
    for n in names:
        if d.get(n) is not None:
            return d[n]
    return default


_REQUIRED = {
    "gpt_neo": ("hidden_size", "num_layers", "num_heads", "vocab_size"),
    "llama": ("hidden_size", "num_attention_heads", "num_hidden_layers", "vocab_size", "intermediate_size"),
}


def check_hf_config(hf: Any, source: str = "config.json") -> None:
    """Refuse a ``config.json`` that is not an object or lacks a positive integer size we need, naming the key."""
    if not isinstance(hf, dict):
        raise CheckpointError(
            f"{source} holds a JSON {type(hf).__name__}, not an object; restore the model's config.json"
        )
    for key in _REQUIRED.get(str(hf.get("model_type")), ()):
        value = hf.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise CheckpointError(
                f"{source}: {key} must be a positive integer, got {value!r}; restore the model's config.json"
            )


def from_hf_config(hf: dict[str, Any], n_ctx: int | None = None, source: str = "config.json") -> ModelConfig:
    """Our config from an HF ``config.json`` dict. ``n_ctx`` defaults to 512 capped by the model's positions."""
    check_hf_config(hf, source)
    model_type = hf.get("model_type")
    bos, eos = _get(hf, "bos_token_id", default=0), _get(hf, "eos_token_id", default=0)
    bos = bos[0] if isinstance(bos, list) else bos
    eos = eos[0] if isinstance(eos, list) else eos
    if model_type == "gpt_neo":
        d_model, n_layers = hf["hidden_size"], hf["num_layers"]
        kinds: list[str] = []
        for pattern, repeat in hf.get("attention_types", [[["global", "local"], n_layers // 2]]):
            kinds.extend(list(pattern) * repeat)
        max_pos = hf.get("max_position_embeddings", 2048)
        return ModelConfig(
            family="gpt-neo",
            vocab_size=hf["vocab_size"],
            d_model=d_model,
            n_layers=n_layers,
            n_heads=hf["num_heads"],
            d_mlp=_get(hf, "intermediate_size", default=4 * d_model),
            n_ctx=n_ctx or min(512, max_pos),
            window_size=hf.get("window_size", 256),
            attention_layers=tuple(kinds),
            max_position_embeddings=max_pos,
            norm_eps=hf.get("layer_norm_epsilon", 1e-5),
            tie_embeddings=hf.get("tie_word_embeddings", True),
            bos_token_id=bos,
            eos_token_id=eos,
        )
    if model_type == "llama":
        d_model, n_heads = hf["hidden_size"], hf["num_attention_heads"]
        if _get(hf, "head_dim", default=d_model // n_heads) != d_model // n_heads:
            raise CheckpointError(
                "llama checkpoints with head_dim != hidden_size / num_attention_heads are unsupported"
            )
        rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
        if rope and rope.get("rope_type", "default") != "default":
            raise CheckpointError(f"llama rope scaling {rope.get('rope_type')!r} is unsupported")
        max_pos = hf.get("max_position_embeddings", 2048)
        return ModelConfig(
            family="llama",
            vocab_size=hf["vocab_size"],
            d_model=d_model,
            n_layers=hf["num_hidden_layers"],
            n_heads=n_heads,
            n_kv_heads=_get(hf, "num_key_value_heads", default=n_heads),
            d_mlp=hf["intermediate_size"],
            n_ctx=n_ctx or max_pos,
            norm_eps=hf.get("rms_norm_eps", 1e-5),
            rope_theta=_get(hf, "rope_theta", default=rope.get("rope_theta", 10000.0)),
            tie_embeddings=hf.get("tie_word_embeddings", False),
            bos_token_id=bos,
            eos_token_id=eos,
        )
    raise CheckpointError(
        f"{source}: model_type {model_type!r} is not supported; tiny-interp reads gpt_neo and llama checkpoints"
    )
