"""A ``torch.compile``d one-token decode step for llama-family models on the CPU.

The eager ``Decoder`` runs attention over the cache as 1,024 tiny batched matmuls per layer at batch 256 (2x8 @
8xL problems for stories260K), where per-problem overhead, not arithmetic, is the cost. Written as broadcast
multiplies and sums, inductor's C++ backend turns the rotary embedding, cache write, q.K, softmax and p.V of a
layer into one vectorised loop nest. The attended length is a dynamic dimension, so
one compilation serves every step; padding is an additive bias per row. Weight matmuls stay on oneDNN/MKL.

Measured on the project's shared 2-core CPU (bench/RESULTS.md): 1.3-1.5x faster at batch 1-64, but 15% slower
than the eager step at batch 256-512 (the KV cache no longer fits in L2 and the fused loops re-read it), and
compilation costs 20-60 CPU-seconds the first time (inductor's on-disk cache makes later processes faster). So it
is opt-in: ``generate_ids(..., compile=True)`` or ``TINY_INTERP_COMPILE=1``; ``TINY_INTERP_COMPILE=0`` vetoes.
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Callable

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from .decode import Decoder
from .kv_cache import KVCache
from .transformer import TinyLM

_COMPILED: "weakref.WeakKeyDictionary[TinyLM, Callable]" = weakref.WeakKeyDictionary()


def compile_wanted(model: TinyLM, batch: int, new_tokens: int, requested: bool | None) -> bool:
    """Whether generation should use the compiled step: asked for by argument or environment (env can veto)."""
    if os.environ.get("TINY_INTERP_COMPILE", "").strip() == "0" or not supported(model):
        return False
    if requested is not None:
        return requested
    return os.environ.get("TINY_INTERP_COMPILE", "").strip() == "1"


def supported(model: TinyLM) -> bool:
    cfg = model.cfg
    return (
        cfg.family == "llama"
        and model.device.type == "cpu"
        and Decoder.usable(model)
        and next(model.parameters()).dtype == torch.float32
    )


def _step_fn(model: TinyLM) -> Callable:
    cfg = model.cfg
    H, KV, D = cfg.n_heads, cfg.kv_heads, cfg.d_head
    G, half, scale = H // KV, cfg.d_head // 2, 1.0 / math.sqrt(cfg.d_head)

    def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin

    def step(tokens, slot, length: int, cos, sin, bias, keys, values):
        B = tokens.shape[0]
        x = model.tok_embed(tokens)
        b = bias[..., :length]
        for layer, block in enumerate(model.layers):
            q, k, v = block.attn.qkv(block.norm1.plain(x)).split([H * D, KV * D, KV * D], -1)
            q = rotate(q.view(B, H, D), cos, sin) * scale
            k = rotate(k.view(B, KV, D), cos, sin)
            keys_t, vals = keys[layer], values[layer]  # [B, KV, D, max], [B, KV, max, D]
            keys_t.index_copy_(3, slot, k.unsqueeze(-1))
            vals.index_copy_(2, slot, v.view(B, KV, 1, D))
            # sums of products instead of bmm: inductor fuses them with the softmax into one loop nest
            scores = (q.view(B, KV, G, D, 1) * keys_t[..., :length].unsqueeze(2)).sum(3) + b
            probs = torch.softmax(scores, -1)
            y = (probs.unsqueeze(-1) * vals[:, :, :length].unsqueeze(2)).sum(3)
            x = x + block.attn.out(y.reshape(B, H * D))
            x = x + block.mlp.body(block.norm2.plain(x))
        return model.unembed(model.norm_f.plain(x))

    return step


class CompiledDecoder:
    """Same interface and function as ``Decoder`` (llama family, float32, CPU)."""

    def __init__(self, model: TinyLM, cache: KVCache, key_valid: Bool[Tensor, "batch keys"] | None):
        if model.rotary is None:
            raise ValueError("the compiled decoder serves the llama family (rotary positions) only")
        self.model, self.cache, self.rotary = model, cache, model.rotary
        B = cache.keys[0].shape[0]
        self.bias = torch.zeros((B, 1, 1, cache.max_len), dtype=torch.float32)
        self.positions = None
        if key_valid is not None:
            self.bias.masked_fill_(~key_valid[:, None, None, :], float("-inf"))
            self.positions = (key_valid.long().cumsum(-1) - 1).clamp(min=0)
        if model not in _COMPILED:
            _COMPILED[model] = torch.compile(_step_fn(model), dynamic=True)
        self.fn = _COMPILED[model]

    def step(self, tokens: Int[Tensor, " batch"]) -> Float[Tensor, "batch vocab"]:
        cache, rotary = self.cache, self.rotary
        t = cache.length
        if t >= cache.max_len:
            raise ValueError(f"KV cache overflow: {t + 1} tokens > capacity {cache.max_len}")
        if self.positions is not None:
            pos = self.positions[:, t]
            cos, sin = rotary.cos[pos].unsqueeze(1), rotary.sin[pos].unsqueeze(1)
        else:
            cos, sin = rotary.cos[t : t + 1], rotary.sin[t : t + 1]
        slot = torch.tensor([t])
        logits = self.fn(tokens, slot, t + 1, cos, sin, self.bias, cache.keys, cache.values)
        cache.advance(1)
        return logits
