"""The model's shape and family as one frozen dataclass, saved as JSON beside every checkpoint."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ..config_keys import build_config, config_kwargs
from ..errors import ConfigError
from ..jsontypes import JSONObject, JSONValue

Family = Literal["gpt-neo", "llama"]
FAMILIES: tuple[str, ...] = ("gpt-neo", "llama")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a decoder-only story model.

    ``gpt-neo`` follows Hugging Face's GPTNeo (the TinyStories paper's models): learned positions, LayerNorm,
    gelu_new MLP, attention without 1/sqrt(d_head) scaling, layers alternating global and local (sliding window)
    attention. ``llama`` follows HF Llama / llama2.c: RoPE, RMSNorm, SwiGLU, optional grouped KV heads.
    """

    family: Family = "gpt-neo"
    vocab_size: int = 4096
    d_model: int = 64
    n_layers: int = 8
    n_heads: int = 16
    d_mlp: int = 256
    n_ctx: int = 512
    n_kv_heads: int | None = None
    # gpt-neo only: the window of "local" layers, and the per-layer pattern (HF attention_types, flattened)
    window_size: int = 256
    attention_layers: tuple[str, ...] | None = None
    # gpt-neo only: size of the learned position table (the official checkpoints keep 2048 rows)
    max_position_embeddings: int | None = None
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    tie_embeddings: bool = True
    dropout: float = 0.0
    # dropout on attention probabilities; None follows `dropout`. On CPU a nonzero value sends SDPA to its
    # slow materialising path (about 6x slower per layer), so long CPU runs set it to 0 and keep residual dropout.
    attention_dropout: float | None = None
    bos_token_id: int = 0
    eos_token_id: int = 0

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(f"unknown model family {self.family!r}; choose one of {', '.join(FAMILIES)}")
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "d_mlp", "n_ctx"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ConfigError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if self.n_heads % self.kv_heads:
            raise ConfigError(f"n_heads={self.n_heads} is not a multiple of n_kv_heads={self.kv_heads}")
        if self.family == "gpt-neo" and self.kv_heads != self.n_heads:
            raise ConfigError("grouped KV heads (n_kv_heads) exist only in the llama family")
        if self.family == "llama" and self.d_head % 2:
            raise ConfigError(f"RoPE needs an even head size, got d_head={self.d_head}")
        if self.attention_layers is not None:
            if len(self.attention_layers) != self.n_layers:
                raise ConfigError(
                    f"attention_layers has {len(self.attention_layers)} entries for {self.n_layers} layers"
                )
            bad = set(self.attention_layers) - {"global", "local"}
            if bad:
                raise ConfigError(f"attention_layers may hold only 'global'/'local', got {sorted(bad)}")
        if self.positions < self.n_ctx:
            raise ConfigError(f"max_position_embeddings={self.positions} is smaller than n_ctx={self.n_ctx}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.attn_dropout < 1.0:
            raise ConfigError(f"attention_dropout must be in [0, 1), got {self.attention_dropout}")

    @property
    def attn_dropout(self) -> float:
        return self.dropout if self.attention_dropout is None else self.attention_dropout

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def positions(self) -> int:
        """Rows of the learned position table (gpt-neo); the context for llama."""
        return self.max_position_embeddings or self.n_ctx

    def layer_kinds(self) -> tuple[str, ...]:
        """'global' or 'local' per layer; llama layers are all global."""
        if self.family == "llama":
            return ("global",) * self.n_layers
        if self.attention_layers is not None:
            return self.attention_layers
        return tuple("global" if i % 2 == 0 else "local" for i in range(self.n_layers))

    def n_params(self, include_embeddings: bool = True) -> int:
        d, L = self.d_model, self.n_layers
        kv = self.kv_heads * self.d_head
        if self.family == "gpt-neo":
            block = 2 * 2 * d + (2 * d * d + 2 * d * kv + d) + (2 * d * self.d_mlp + self.d_mlp + d)
            extra = 2 * d + self.positions * d
        else:
            block = 2 * d + (2 * d * d + 2 * d * kv) + 3 * d * self.d_mlp
            extra = d
        emb = self.vocab_size * d * (1 if self.tie_embeddings else 2)
        return L * block + extra + (emb if include_embeddings else 0)

    def replace(self, **changes: object) -> "ModelConfig":
        return build_config(ModelConfig, {**dataclasses.asdict(self), **changes})

    def to_dict(self) -> JSONObject:
        d = dataclasses.asdict(self)
        if d["attention_layers"] is not None:
            d["attention_layers"] = list(d["attention_layers"])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, JSONValue], source: str | os.PathLike | None = None) -> "ModelConfig":
        """The config saved in ``source`` (``tiny_interp.json``'s ``model_config``); an unknown key is an error."""
        values: dict[str, object] = dict(config_kwargs(cls, d, source))
        layers = values.get("attention_layers")
        if isinstance(layers, list):
            values["attention_layers"] = tuple(layers)
        return build_config(cls, values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)
