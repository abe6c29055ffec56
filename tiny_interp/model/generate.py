"""Batched generation with a KV cache, on token ids and on text."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import torch

from .compiled_decode import CompiledDecoder, compile_wanted
from .decode import Decoder
from .kv_cache import KVCache
from .sampling import SamplingConfig, next_tokens
from .threads import threads_for
from .transformer import TinyLM


@torch.inference_mode()
def generate_ids(
    model: TinyLM, prompts: Sequence[Sequence[int]], sampling: SamplingConfig, compile: bool | None = None
) -> list[list[int]]:
    """New token ids for each prompt (prompts are left-padded into one batch).

    ``compile``: use the ``torch.compile``d decode step (llama family on CPU; see ``compiled_decode``); None
    follows ``TINY_INTERP_COMPILE=1``, and ``TINY_INTERP_COMPILE=0`` in the environment always turns it off.

    Generation stops at ``max_new_tokens``, at the model's context, or (with ``stop_at_eos``) when every row has
    produced the end-of-text token; a row's ids end at (and include) its first end-of-text token.
    """
    cfg = model.cfg
    if not prompts:
        return []
    prompts = [list(p) or [cfg.bos_token_id] for p in prompts]
    longest = max(len(p) for p in prompts)
    if longest >= cfg.n_ctx:
        print(
            f"warning: prompt of {longest} tokens cut to the last {cfg.n_ctx - 1} (model context {cfg.n_ctx})",
            file=sys.stderr,
        )
        prompts = [p[-(cfg.n_ctx - 1) :] for p in prompts]
        longest = max(len(p) for p in prompts)
    budget = min(sampling.max_new_tokens, cfg.n_ctx - longest)
    B, device = len(prompts), model.device
    ids = torch.full((B, longest), cfg.eos_token_id, dtype=torch.long, device=device)
    valid = torch.zeros((B, longest + budget), dtype=torch.bool, device=device)
    for row, p in enumerate(prompts):
        ids[row, longest - len(p) :] = torch.tensor(p, dtype=torch.long)
        valid[row, longest - len(p) :] = True
    padded = any(len(p) != longest for p in prompts)
    key_valid = valid if padded else None
    generator = None
    if sampling.seed is not None:
        generator = torch.Generator(device=device).manual_seed(sampling.seed)

    dtype = next(model.parameters()).dtype
    cache = KVCache(cfg, B, longest + budget, device, dtype)
    out = torch.empty((B, budget), dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    steps = 0
    with threads_for(B * longest * cfg.d_model, device):
        logits = model(ids, cache=cache, key_valid=key_valid)[:, -1]
    compiled = compile_wanted(model, B, budget, compile)
    step_fn: Callable[[torch.Tensor], torch.Tensor]
    if compiled:
        step_fn = CompiledDecoder(model, cache, key_valid).step
    elif Decoder.usable(model):
        step_fn = Decoder(model, cache, key_valid).step
    else:

        def step_fn(tok: torch.Tensor) -> torch.Tensor:
            return model(tok[:, None], cache=cache, key_valid=key_valid)[:, -1]

    # two threads measured slower for both steps on the shared CPU (bench/RESULTS.md): one thread for small ops
    with threads_for(B * max(cfg.d_mlp, cfg.d_model), device):
        for step in range(budget):
            tok = next_tokens(logits, sampling, generator)
            if sampling.stop_at_eos:
                tok = torch.where(done, cfg.eos_token_id, tok)
            out[:, step] = tok
            steps = step + 1
            if sampling.stop_at_eos:
                done |= tok == cfg.eos_token_id
                if step % 8 == 7 and bool(done.all()):
                    break
            if step + 1 < budget:
                logits = step_fn(tok)
    rows = out[:, :steps].tolist()
    if sampling.stop_at_eos:
        rows = [r[: r.index(cfg.eos_token_id) + 1] if cfg.eos_token_id in r else r for r in rows]
    return rows


def encode_prompt(tokenizer: Any, text: str, bos_token_id: int) -> list[int]:
    """Prompt ids that start with the beginning-of-story token, as in training."""
    ids = tokenizer.encode(text, add_special_tokens=True) if text else []
    if not ids or ids[0] != bos_token_id:
        ids = [bos_token_id] + ids
    return ids


def generate_text(model: TinyLM, tokenizer: Any, prompts: str | Sequence[str], sampling: SamplingConfig) -> list[str]:
    """Continuations (text after each prompt) for one prompt or a batch of prompts."""
    if isinstance(prompts, str):
        prompts = [prompts]
    encoded = [encode_prompt(tokenizer, p, model.cfg.bos_token_id) for p in prompts]
    new = generate_ids(model, encoded, sampling)
    texts = []
    for p_ids, n_ids in zip(encoded, new):
        n_ids = [t for t in n_ids if t != model.cfg.eos_token_id]
        # decode prompt+continuation together so tokenizers that drop a leading space (SentencePiece) stay exact
        whole = tokenizer.decode(p_ids + n_ids, skip_special_tokens=True)
        head = tokenizer.decode(p_ids, skip_special_tokens=True)
        texts.append(
            whole[len(head) :] if whole.startswith(head) else tokenizer.decode(n_ids, skip_special_tokens=True)
        )
    return texts
