"""Shared plumbing for the interpretability tools: open a model (a handle, a bridge or a path), encode stories as
token rows (stories are read by ``data.stories.read_stories``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from ..errors import DataError

__all__ = ["as_model", "bos_id", "context_length", "device_of", "encode", "pad_rows", "to_ids", "token_index"]


def as_model(model: Any) -> Any:
    """What an analysis runs on: a ``tiny_interp.Model`` for a model directory, a shipped model's name or a hub id
    (opened through the model cache, so a second view of the same model reads nothing); a handle or a
    TransformerBridge as given."""
    if isinstance(model, (str, os.PathLike)):
        from ..model.handle import Model

        return Model.from_pretrained(model)
    if not hasattr(model, "run_with_cache") or not hasattr(model, "tokenizer"):
        raise TypeError(
            "expected a tiny_interp.Model, a TransformerBridge (from tiny_interp.load) or a model path, "
            f"got {type(model).__name__}"
        )
    return model


def device_of(model: Any) -> torch.device:
    """The device of a handle or a bridge."""
    device = getattr(model, "device", None)
    return torch.device(device if device is not None else model.cfg.device)


def bos_id(tokenizer: Any) -> int | None:
    for name in ("bos_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    return None


def encode(tokenizer: Any, texts: Sequence[str], max_len: int, prepend_bos: bool = True) -> list[list[int]]:
    """Token ids per text, starting with BOS (the story separator the models were trained after), cut to max_len."""
    bos = bos_id(tokenizer) if prepend_bos else None
    rows = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    out = []
    for ids in rows:
        ids = list(ids)
        if bos is not None and (not ids or ids[0] != bos):
            ids = [bos] + ids
        out.append(ids[:max_len])
    return out


def pad_rows(
    rows: Sequence[Sequence[int]], pad_id: int = 0
) -> tuple[Int[Tensor, "batch seq"], Bool[Tensor, "batch seq"]]:
    """Right-padded ids and the mask of real tokens; causal attention keeps real positions unaffected by the pads."""
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
    valid = torch.zeros((len(rows), T), dtype=torch.bool)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        valid[i, : len(r)] = True
    return ids, valid


def context_length(bridge: Any) -> int:
    return int(getattr(bridge.cfg, "n_ctx", 512) or 512)


def to_ids(bridge: Any, story: str | Sequence[int] | Tensor, prepend_bos: bool = True) -> Int[Tensor, "1 seq"]:
    """One story (text or token ids) as a [1, seq] tensor on the bridge's device."""
    if isinstance(story, str):
        ids = encode(bridge.tokenizer, [story], context_length(bridge), prepend_bos)[0]
        t = torch.tensor([ids], dtype=torch.long)
    else:
        t = torch.as_tensor(story, dtype=torch.long)
        t = t.unsqueeze(0) if t.ndim == 1 else t
    return t.to(device_of(bridge))


def token_index(bridge: Any, token: int | str) -> int:
    """A token id from an id or a string that is exactly one token (e.g. " Lily")."""
    if isinstance(token, int):
        return token
    ids = bridge.tokenizer(token, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        pieces = [bridge.tokenizer.decode([i]) for i in ids]
        raise DataError(f"{token!r} is {len(ids)} tokens {pieces}, not one; pass a single token or its id")
    return int(ids[0])
