"""One writer at a time: an exclusive ``flock`` on a lock file beside what is written.

The kernel releases a ``flock`` when its process exits in any way (even SIGKILL), so a lock left by a crashed
run never blocks the next one: a lock file that exists but is not locked is simply taken over.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import LockedError


def _refusal(lock_file: Path, fd: int, what: str) -> LockedError:
    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
    return LockedError(
        f"{what} is being written by another process (pid {holder}, lock {lock_file}); "
        "wait for it to finish or write elsewhere"
    )


def check_unlocked(lock_file: str | os.PathLike, what: str) -> None:
    """Refuse at once (naming the holder's pid) when a live process holds ``lock_file``; creates nothing, so a
    command can say so before any of its other checks or writes."""
    lock_file = Path(lock_file)
    if not lock_file.is_file():
        return
    fd = os.open(lock_file, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refusal(lock_file, fd, what) from None
    finally:
        os.close(fd)


@contextmanager
def exclusive_lock(lock_file: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold ``lock_file`` exclusively for the block; refuse at once if another process holds it."""
    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refusal(lock_file, fd, what) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def lock_path(directory: str | os.PathLike, kind: str) -> Path:
    """The lock file of ``kind``'s output in ``directory`` (its ``.tiny-interp-`` name keeps it out of the way of
    the ownership checks)."""
    return Path(directory) / f".tiny-interp-{kind}.lock"
