"""Validation loss and bits per byte on fixed windows of the validation shard."""

from __future__ import annotations

import math
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F

from ..model.transformer import TinyLM
from .batches import eval_windows


@torch.no_grad()
def validation_loss_sum(
    model: TinyLM, tokens: np.ndarray, seq_len: int, starts: list[int], batch_size: int, autocast=nullcontext
) -> tuple[float, int]:
    """Summed next-token loss (nats) and the number of predicted tokens over the windows at ``starts``."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(starts), batch_size):
        rows = np.stack([tokens[s : s + seq_len + 1] for s in starts[i : i + batch_size]]).astype(np.int64)
        data = torch.from_numpy(rows).to(model.device)
        with autocast():
            logits = model(data[:, :-1])
        loss = F.cross_entropy(logits.float().flatten(0, 1), data[:, 1:].flatten(), reduction="sum")
        total += loss.item()
        count += data[:, 1:].numel()
    model.train(was_training)
    return total, count


def validation_windows(tokens: np.ndarray, seq_len: int, n_windows: int, rank: int = 0, world: int = 1) -> list[int]:
    """This rank's share of the run's fixed validation windows (the same set whatever the world size)."""
    return eval_windows(tokens, seq_len, n_windows)[rank::world]


def bpb_from_loss(loss_nats: float, tokens_per_byte: float) -> float:
    """Bits per byte from a per-token loss: the shard's token/byte ratio converts tokens to bytes."""
    return loss_nats / math.log(2) * tokens_per_byte
