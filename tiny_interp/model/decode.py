"""One-token decoding steps for generation, straight through the model's own submodules.

``TinyLM.forward`` serves every case (prefill, analysis, padding, training) and builds positions and masks per
call; a decode step needs none of that generality. ``Decoder.step`` computes the same function for a single new
token per row: embeddings, projections and MLPs are the model's modules, the norms and MLPs entered through their
hook-free parts (``plain``, ``body``: a step runs only when no hook point has a function, and each skipped call
is time in a step of a few hundred microseconds); only the attention over the cache is done here, as two small
batched matmuls with a precomputed padding bias, which on a CPU is several times faster than
``scaled_dot_product_attention`` for one query against a few hundred keys. Models with functions on their hook
points (steering, ablation), torch hooks on a block or one of its attention, norm or MLP modules, in training
mode, or of another class use the hooked forward instead (see ``Decoder.usable``).
"""

from __future__ import annotations

import math

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from .kv_cache import KVCache
from .rotary import apply_rotary
from .transformer import TinyLM


class Decoder:
    def __init__(self, model: TinyLM, cache: KVCache, key_valid: Bool[Tensor, "batch keys"] | None):
        cfg = model.cfg
        self.model, self.cache, self.cfg = model, cache, cfg
        self.groups = cfg.n_heads // cfg.kv_heads
        self.scale = 1.0 if cfg.family == "gpt-neo" else 1.0 / math.sqrt(cfg.d_head)
        self.windows = [cfg.window_size if kind == "local" else None for kind in cfg.layer_kinds()]
        self.positions: Tensor | None = None
        self.bias: Tensor | None = None
        if key_valid is not None:
            # left padding: a row's first real token is position 0; padded keys get -inf before the softmax
            self.positions = (key_valid.long().cumsum(-1) - 1).clamp(min=0)
            dtype = cache.keys[0].dtype
            self.bias = torch.zeros(key_valid.shape, dtype=dtype, device=key_valid.device)
            self.bias.masked_fill_(~key_valid, float("-inf"))
            self.bias = self.bias[:, None, None, :]

    @staticmethod
    def usable(model: TinyLM) -> bool:
        from torch.nn.modules import module as nn_module

        if type(model).forward is not TinyLM.forward or model.training or model.hooks_active():
            return False
        if nn_module._global_forward_hooks or nn_module._global_forward_pre_hooks:
            return False
        # the step calls the norms' and MLPs' hook-free parts directly: torch hooks on any of them rule it out
        parts = [model, model.norm_f, *(m for b in model.layers for m in (b, b.attn, b.norm1, b.norm2, b.mlp))]
        return not any(m._forward_hooks or m._forward_pre_hooks for m in parts)

    def step(self, tokens: Int[Tensor, " batch"]) -> Float[Tensor, "batch vocab"]:
        model, cfg, cache = self.model, self.cfg, self.cache
        t = cache.length  # slot of the new token
        if t >= cache.max_len:
            raise ValueError(f"KV cache overflow: {t + 1} tokens > capacity {cache.max_len}")
        B = tokens.shape[0]
        pos = self.positions[:, t] if self.positions is not None else None
        x = model.tok_embed(tokens)
        if model.pos_embed is not None:
            x = x + (model.pos_embed(pos) if pos is not None else model.pos_embed.weight[t])
        cos = sin = None
        if model.rotary is not None:
            if pos is not None:
                cos, sin = model.rotary.cos[pos].unsqueeze(1), model.rotary.sin[pos].unsqueeze(1)
            else:
                cos, sin = model.rotary.cos[t], model.rotary.sin[t]
        H, KV, D = cfg.n_heads, cfg.kv_heads, cfg.d_head
        bias = self.bias[..., : t + 1] if self.bias is not None else None
        for layer, block in enumerate(model.layers):
            attn = block.attn
            q, k, v = attn.qkv(block.norm1.plain(x)).split([H * D, KV * D, KV * D], dim=-1)
            q, k, v = q.view(B, H, D), k.view(B, KV, D), v.view(B, KV, D)
            if cos is not None and sin is not None:
                q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
            keys_t, values = cache.keys[layer], cache.values[layer]  # [B, KV, D, max], [B, KV, max, D]
            keys_t[..., t] = k
            values[:, :, t] = v
            window = self.windows[layer]
            start = 0 if window is None else max(0, t + 1 - window)
            # one bmm per (row, kv head); query head h reads kv head h // groups, as SDPA's enable_gqa does
            scores = torch.bmm(q.reshape(B * KV, self.groups, D), keys_t.view(B * KV, D, -1)[..., start : t + 1])
            if self.scale != 1.0:
                scores.mul_(self.scale)
            if bias is not None:
                scores.view(B, KV, self.groups, -1).add_(bias[..., start:])
            probs = _softmax(scores)
            y = torch.bmm(probs, values.view(B * KV, -1, D)[:, start : t + 1]).view(B, H * D)
            x = x + attn.out(y)
            x = x + block.mlp.body(block.norm2.plain(x))
        cache.advance(1)
        return model.unembed(model.norm_f.plain(x))


def _softmax(scores: Tensor) -> Tensor:
    """Softmax over the last dim; for short rows the composed ops are several times faster than the kernel."""
    if scores.shape[-1] >= 96:
        return scores.softmax(-1)
    e = (scores - scores.amax(-1, keepdim=True)).exp_()
    return e.div_(e.sum(-1, keepdim=True))
