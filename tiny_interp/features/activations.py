"""Activations for dictionary training, streamed from any story source through shuffled buffers.

The stream is cut into buffers of ``buffer_stories`` consecutive stories. Buffer ``c`` is a pure function of the
data and ``c``: its stories run through the model (stopped after the last layer needed), the real tokens'
activations are gathered and shuffled with a generator seeded by ``(seed, c)``. So a run killed anywhere resumes
by skipping ``c`` buffers of stories and ``j`` batches of the buffer, and sees exactly what it would have seen.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..interp.common import encode, pad_rows
from ..interp.seam import run_with_cache


@dataclass(frozen=True)
class StreamSpec:
    source: str
    hooks: tuple[str, ...]  # every input and output hook the dictionaries read
    buffer_stories: int
    model_batch: int
    max_len: int
    skip_stories: int
    seed: int
    device: str
    precision: str


def layer_of(hook: str) -> int | None:
    parts = hook.split(".")
    return int(parts[1]) if parts[0] == "blocks" else None


def stop_layer(hooks: Sequence[str], n_layers: int) -> int | None:
    """The block after the deepest one read: the forward stops there (no later blocks, no unembedding)."""
    layers = [layer_of(h) for h in hooks]
    known = [l for l in layers if l is not None]
    if len(known) < len(layers):
        return None
    deepest = max(known) + 1
    return deepest if deepest <= n_layers else None


def batch_activations(
    model: Any, ids: Int[Tensor, "batch seq"], valid: Tensor, hooks: Sequence[str], stop: int | None, precision: str
) -> dict[str, Float[Tensor, "tokens d"]]:
    """The real tokens' activations at ``hooks`` (row-major over stories), float32."""
    device = ids.device
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        _, cache = run_with_cache(model, ids, names=list(hooks), stop_at_layer=stop)
    flat = valid.to(device).flatten()
    return {h: cache[h].reshape(flat.shape[0], -1)[flat].float() for h in hooks}


def story_buffers(spec: StreamSpec, first: int = 0) -> Iterator[list[str]]:
    """Lists of ``buffer_stories`` stories, from buffer ``first`` on (a short last buffer included)."""
    from ..data.stories import iter_stories

    stories = iter_stories(spec.source)
    skip = spec.skip_stories + first * spec.buffer_stories
    stories = itertools.islice(stories, skip, None)
    while True:
        chunk = list(itertools.islice(stories, spec.buffer_stories))
        if not chunk:
            return
        yield chunk


def buffer_activations(
    model: Any, tokenizer: Any, spec: StreamSpec, stories: list[str], index: int, n_ctx: int, n_layers: int
) -> dict[str, Tensor]:
    """One buffer's activations per hook, its token rows shuffled by ``(seed, index)`` (same order for every hook)."""
    rows = encode(tokenizer, stories, min(spec.max_len, n_ctx))
    order = sorted(range(len(rows)), key=lambda i: (len(rows[i]), i))  # similar lengths together: less padding
    stop = stop_layer(spec.hooks, n_layers)
    pad = getattr(tokenizer, "eos_token_id", None) or 0
    parts: dict[str, list[Tensor]] = {h: [] for h in spec.hooks}
    with torch.inference_mode():
        for j in range(0, len(order), spec.model_batch):
            ids, valid = pad_rows([rows[i] for i in order[j : j + spec.model_batch]], pad_id=pad)
            acts = batch_activations(model, ids.to(spec.device), valid, spec.hooks, stop, spec.precision)
            for h in spec.hooks:
                parts[h].append(acts[h])
    out = {h: torch.cat(p) for h, p in parts.items()}
    n = next(iter(out.values())).shape[0]
    g = torch.Generator().manual_seed(spec.seed * 1_000_003 + index)
    perm = torch.randperm(n, generator=g).to(spec.device)
    return {h: a.index_select(0, perm) for h, a in out.items()}
