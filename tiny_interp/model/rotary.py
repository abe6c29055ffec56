"""Rotary position embeddings in HF Llama's convention (rotate the two halves of each head)."""

from __future__ import annotations

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn


class Rotary(nn.Module):
    cos: Tensor
    sin: Tensor

    def __init__(self, d_head: int, max_positions: int, theta: float):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, d_head, 2, dtype=torch.int64).float() / d_head))
        angles = torch.outer(torch.arange(max_positions, dtype=torch.float32), inv_freq)
        table = torch.cat([angles, angles], dim=-1)
        self.register_buffer("cos", table.cos(), persistent=False)
        self.register_buffer("sin", table.sin(), persistent=False)

    def tables(self, positions: Int[Tensor, "batch seq"]) -> tuple[Tensor, Tensor]:
        """cos/sin for these positions, shaped to broadcast over heads: [batch, 1, seq, d_head]."""
        return self.cos[positions].unsqueeze(1), self.sin[positions].unsqueeze(1)


def apply_rotary(
    x: Float[Tensor, "batch heads seq d_head"], cos: Tensor, sin: Tensor
) -> Float[Tensor, "batch heads seq d_head"]:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return (x * cos + rotated * sin).to(x.dtype)
