"""A preallocated key/value cache for batched generation."""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from .config import ModelConfig


class KVCache:
    """Keys and values of every layer for ``batch`` sequences of up to ``max_len`` tokens.

    ``length`` counts the filled slots (the same for every row: prompts are left-padded).
    """

    def __init__(self, cfg: ModelConfig, batch: int, max_len: int, device: torch.device, dtype: torch.dtype):
        shape = (batch, cfg.kv_heads, max_len, cfg.d_head)
        self.keys = [torch.empty(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        self.values = [torch.empty(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        self.max_len = max_len
        self.length = 0

    def append(
        self, layer: int, k: Float[Tensor, "batch kv seq d_head"], v: Float[Tensor, "batch kv seq d_head"]
    ) -> tuple[Tensor, Tensor]:
        """Write the new keys/values after the filled part; return all keys/values so far."""
        end = self.length + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache overflow: {end} tokens > capacity {self.max_len}")
        self.keys[layer][:, :, self.length : end] = k
        self.values[layer][:, :, self.length : end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def advance(self, n: int) -> None:
        self.length += n

    def select(self, rows: Tensor) -> None:
        """Keep only these batch rows (drop finished sequences)."""
        self.keys = [k[rows] for k in self.keys]
        self.values = [v[rows] for v in self.values]
