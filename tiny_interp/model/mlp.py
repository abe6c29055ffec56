"""The MLP: gelu_new (gpt-neo) or SwiGLU (llama).

In both families the neurons are the input of ``down``, hook point ``mlp.hook_post``. As in TransformerLens,
``mlp.hook_pre`` is the pre-activation (llama: the gate's), and llama's ``mlp.hook_pre_linear`` the up projection.
``mlp.hook_in`` is the MLP's input (the second norm's output, after its gain and bias) and ``mlp.hook_out`` its
output: the names the TransformerLens bridge and circuit-tracer's transcoders use.
"""

from __future__ import annotations

import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

from .config import ModelConfig
from .hooks import HookPoint
from .linear import Linear
from .norm import make_dropout


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gated = cfg.family == "llama"
        bias = not self.gated
        # llama's gate and up projections are fused into one matmul: [gate; up]
        self.up = Linear(cfg.d_model, cfg.d_mlp * (2 if self.gated else 1), bias=bias)
        self.down = Linear(cfg.d_mlp, cfg.d_model, bias=bias)
        self.dropout = make_dropout(cfg.dropout)
        self.hook_in, self.hook_out = HookPoint("hook_in"), HookPoint("hook_out")
        self.hook_pre, self.hook_post = HookPoint("hook_pre"), HookPoint("hook_post")
        self.hook_pre_linear = HookPoint("hook_pre_linear")  # a point of the gated MLP only

    def hook_points(self) -> dict[str, HookPoint]:
        points = {"hook_in": self.hook_in, "hook_pre": self.hook_pre}
        if self.gated:
            points["hook_pre_linear"] = self.hook_pre_linear
        return {**points, "hook_post": self.hook_post, "hook_out": self.hook_out}

    def forward(self, x: Float[Tensor, "batch seq d_model"]) -> Float[Tensor, "batch seq d_model"]:
        return self.hook_out(self.body(self.hook_in(x)))

    def body(self, x: Float[Tensor, "batch seq d_model"]) -> Float[Tensor, "batch seq d_model"]:
        """The MLP between its input and output points (the decoder, which runs with no hooks, calls it directly)."""
        h = self.up(x)
        if self.gated:
            gate, up = h.chunk(2, dim=-1)
            h = F.silu(self.hook_pre(gate)) * self.hook_pre_linear(up)
        else:
            h = F.gelu(self.hook_pre(h), approximate="tanh")
        return self.dropout(self.down(self.hook_post(h)))
