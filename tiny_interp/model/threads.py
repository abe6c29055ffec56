"""Intra-op threads sized to the work: tiny tensors run faster on one thread.

Splitting a [256, 64] matmul or an elementwise op on a few hundred kilobytes across cores costs more in
hand-offs than it saves, and on a CPU shared with other processes a thread that waits for a descheduled partner
can slow a step down 50-fold (measured: 94 ms instead of 2 ms per stories260K decode step).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

SMALL_WORK = 1 << 22  # activation elements per op below which one thread is used on a busy machine
# ... and on an idle one, where no thread waits for a descheduled partner: a stories260K decode step at batch 64
# (11k elements) ran 1.36x faster on 2 threads, at batch 256 1.7x; at batch 16 (2.7k) 2 threads only burnt CPU
SMALL_WORK_IDLE = 1 << 13


def machine_is_idle(threads: int) -> bool:
    """True when the 1-minute load average, less this process's own running thread, leaves a core for every
    extra thread."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # no load average on this platform: assume shared
        return False
    return load - 1.0 <= (os.cpu_count() or 1) - threads + 0.5


@contextmanager
def threads_for(n_elements: int, device: torch.device | str) -> Iterator[None]:
    """Use one CPU thread inside the block when ops touch fewer than ``SMALL_WORK`` activation elements
    (``SMALL_WORK_IDLE`` when the machine has a free core for every thread)."""
    threads = torch.get_num_threads()
    if torch.device(device).type != "cpu" or n_elements >= SMALL_WORK or threads == 1:
        yield
        return
    if n_elements >= SMALL_WORK_IDLE and machine_is_idle(threads):
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
