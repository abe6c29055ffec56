"""Intra-op threads sized to the work: tiny tensors run faster on one thread.

Splitting a [256, 64] matmul or an elementwise op on a few hundred kilobytes across cores costs more in
hand-offs than it saves, and on a CPU shared with other processes a thread that waits for a descheduled partner
can slow a step down 50-fold (measured: 94 ms instead of 2 ms per stories260K decode step).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

SMALL_WORK = 1 << 22  # activation elements per op below which one thread is used


@contextmanager
def threads_for(n_elements: int, device: torch.device | str) -> Iterator[None]:
    """Use one CPU thread inside the block when ops touch fewer than ``SMALL_WORK`` activation elements."""
    if torch.device(device).type != "cpu" or n_elements >= SMALL_WORK or torch.get_num_threads() == 1:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
