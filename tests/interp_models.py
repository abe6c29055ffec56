"""Tiny models with hand-set weights whose heads do planted jobs, saved as real model directories."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from tiny_interp.model import ModelConfig, TinyLM
from tiny_interp.model.checkpoint import save_model


def _freq_code(n_pos: int, n_freq: int, period: int) -> torch.Tensor:
    """[n_pos, 4 * n_freq] position codes (cos, sin, -cos, -sin).

    Zero mean and constant norm, so LayerNorm only rescales them.
    """
    pos = torch.arange(n_pos, dtype=torch.float64)[:, None]
    w = 2 * math.pi * torch.arange(1, n_freq + 1, dtype=torch.float64)[None, :] / period
    c, s = torch.cos(pos * w), torch.sin(pos * w)
    return torch.cat([c, s, -c, -s], dim=1), w[0]


def planted_gpt_neo(out: Path, tokenizer, offsets=(1, 3), n_ctx: int = 64, sharpness: float = 6.0) -> Path:
    """One gpt-neo layer whose head h attends from each position i to i - offsets[h] (learned positions)."""
    n_freq = 16
    d_model = 4 * n_freq
    n_heads = len(offsets)
    cfg = ModelConfig(
        family="gpt-neo",
        vocab_size=len(tokenizer),
        d_model=d_model,
        n_layers=1,
        n_heads=n_heads,
        d_mlp=4 * d_model,
        n_ctx=n_ctx,
        attention_layers=("global",),
    )
    model = TinyLM(cfg)
    code, w = _freq_code(n_ctx, n_freq, period=n_ctx)
    d_head = cfg.d_head
    with torch.no_grad():
        model.tok_embed.weight.zero_()
        model.pos_embed.weight.copy_(code.float())
        # LayerNorm divides by the (constant) rms of the code; undo it in the projections
        alpha = 1.0 / code.pow(2).mean(-1).sqrt()[0].item()
        qkv = torch.zeros_like(model.blocks[0].attn.qkv.weight)
        for h, d in enumerate(offsets):
            # key reads (cos, sin) of its position; query rotates its own by -d, so the dot product is
            # sum_w cos(w (i - d - j)): largest at j = i - d
            cd, sd = torch.cos(w * d), torch.sin(w * d)
            dh = slice(h * d_head, (h + 1) * d_head)
            qrows = torch.zeros(d_head, d_model, dtype=torch.float64)
            krows = torch.zeros(d_head, d_model, dtype=torch.float64)
            for f in range(min(n_freq, d_head // 2)):
                # q_cos = cos(w(i-d)) = cos(wi)cd + sin(wi)sd ; q_sin = sin(wi)cd - cos(wi)sd
                qrows[2 * f, f], qrows[2 * f, n_freq + f] = cd[f], sd[f]
                qrows[2 * f + 1, n_freq + f], qrows[2 * f + 1, f] = cd[f], -sd[f]
                krows[2 * f, f] = 1.0
                krows[2 * f + 1, n_freq + f] = 1.0
            scale = sharpness / alpha**2
            qkv[dh] = (qrows * scale).float()
            qkv[d_model + h * d_head : d_model + (h + 1) * d_head] = krows.float()
        model.blocks[0].attn.qkv.weight.copy_(qkv)
    return save_model(out, model, tokenizer)


def planted_llama(out: Path, tokenizer, offsets=(1, 3), n_ctx: int = 64, sharpness: float = 40.0) -> Path:
    """One llama layer (2 query heads sharing 1 KV head) where RoPE makes head h attend from i to i - offsets[h]."""
    d_model, n_heads = 64, len(offsets)
    cfg = ModelConfig(
        family="llama",
        vocab_size=len(tokenizer),
        d_model=d_model,
        n_layers=1,
        n_heads=n_heads,
        n_kv_heads=1,
        d_mlp=96,
        n_ctx=n_ctx,
        rope_theta=30.0,
    )
    model = TinyLM(cfg)
    d_head, half = cfg.d_head, cfg.d_head // 2
    inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, d_head, 2, dtype=torch.float64) / d_head))
    with torch.no_grad():
        # every token embeds to the same vector u, so queries and keys are constant before RoPE
        u = torch.zeros(d_model)
        u[0] = 1.0
        model.tok_embed.weight.copy_(u.expand(cfg.vocab_size, d_model))
        normed = u / u.pow(2).mean().sqrt()
        qkv = torch.zeros_like(model.blocks[0].attn.qkv.weight)
        # key: real part 1 in every rotary pair; query: e^{-i d theta}, so the score is sum cos((i - j - d) theta)
        k = torch.cat([torch.ones(half), torch.zeros(half)])
        qkv[n_heads * d_head : n_heads * d_head + d_head, 0] = k / normed[0]
        for h, d in enumerate(offsets):
            q = torch.cat([torch.cos(d * inv_freq), -torch.sin(d * inv_freq)]).float() * sharpness
            qkv[h * d_head : (h + 1) * d_head, 0] = q / normed[0]
        model.blocks[0].attn.qkv.weight.copy_(qkv)
    return save_model(out, model, tokenizer)
