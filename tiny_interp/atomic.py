"""Atomic writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes owner-only files; give the result the permissions a plain open() would have
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def _swap_in(new: Path, final: Path) -> None:
    """Put directory ``new`` at ``final`` (renames only; the old ``final``, if any, is removed afterwards)."""
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
        os.replace(new, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, final)


@contextmanager
def atomic_directory(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces ``final`` in one rename.

    A crash mid-write leaves ``final`` untouched (the old version stays readable). Only for directories that
    hold nothing but this output (a cache entry, a snapshot): use ``staged_into`` to write into a user's folder.
    """
    final = Path(final).absolute()
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        _swap_in(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def staged_into(out: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder inside ``out``; on success move each entry written there into ``out``, each
    in one rename, replacing only entries of the same name: every other file in ``out`` stays as it was."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging.", suffix=".tmp", dir=out))
    os.chmod(staging, 0o777 & ~_umask())
    try:
        yield staging
        for entry in sorted(staging.iterdir()):
            if entry.is_dir():
                _swap_in(entry, out / entry.name)
            else:
                os.replace(entry, out / entry.name)
        staging.rmdir()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def keep_umask(path: str | os.PathLike) -> None:
    """Give a file written by a library that restricts permissions (safetensors writes 0600) the permissions a
    plain ``open()`` would have under the user's umask."""
    os.chmod(path, 0o666 & ~_umask())
