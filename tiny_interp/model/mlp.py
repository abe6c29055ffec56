"""The MLP: gelu_new (gpt-neo) or SwiGLU (llama).

In both families the neurons are the input of ``down``: hook ``mlp.down`` (forward pre-hook) to read them.
"""

from __future__ import annotations

import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from .config import ModelConfig
from .norm import make_dropout


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gated = cfg.family == "llama"
        bias = not self.gated
        # llama's gate and up projections are fused into one matmul: [gate; up]
        self.up = nn.Linear(cfg.d_model, cfg.d_mlp * (2 if self.gated else 1), bias=bias)
        self.down = nn.Linear(cfg.d_mlp, cfg.d_model, bias=bias)
        self.dropout = make_dropout(cfg.dropout)

    def forward(self, x: Float[Tensor, "batch seq d_model"]) -> Float[Tensor, "batch seq d_model"]:
        h = self.up(x)
        if self.gated:
            gate, up = h.chunk(2, dim=-1)
            h = F.silu(gate) * up
        else:
            h = F.gelu(h, approximate="tanh")
        return self.dropout(self.down(h))
