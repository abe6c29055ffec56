"""Run a generator one item ahead in a background thread.

The dictionary trainer's two kinds of work, model forwards that fill the next activation buffer and optimizer steps
on the current one, each run best on one intra-op thread (a [4096, 256] @ [256, 4096] matmul gains 1.7x from a
second thread, the model's small matmuls and attention far less). Giving each its own core keeps both busy:
torch releases the GIL inside its ops, so a Python thread is enough. Order and content are those of the plain
generator, so a run stays reproducible and resumable.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

_POLL_S = 0.1  # how often a blocked producer checks that the consumer is still there


@dataclass
class _Failure:
    error: BaseException


class _Done:
    pass


class Prefetched(Generic[T]):
    """Iterate ``make()`` with up to ``ahead`` items produced in advance; an error in the producer is raised in
    the consumer, at the item where it happened. ``close()`` (or leaving a ``with`` block) stops the producer."""

    def __init__(self, make: Callable[[], Iterator[T]], ahead: int = 1):
        self._items: queue.SimpleQueue = queue.SimpleQueue()
        self._slots = threading.Semaphore(ahead)  # free places ahead of the consumer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(make,), daemon=True, name="prefetch")
        self._thread.start()

    def _put(self, item: object) -> bool:
        """Wait for a free place, unless the consumer has gone; False when it has."""
        while not self._slots.acquire(timeout=_POLL_S):
            if self._stop.is_set():
                return False
        if self._stop.is_set():
            return False
        self._items.put(item)
        return True

    def _produce(self, make: Callable[[], Iterator[T]]) -> None:
        try:
            for item in make():
                if not self._put(item):
                    return
        except BaseException as e:  # handed to the consumer, which raises it
            self._put(_Failure(e))
            return
        self._put(_Done())

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._items.get()
            self._slots.release()
            if isinstance(item, _Done):
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> "Prefetched[T]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
