"""Portable provenance: what an artifact records about its inputs so it means the same in any clone or install.

A path is recorded relative to the artifact that records it (POSIX separators), never as this machine's absolute
path; whether an input is *the same* is decided by a content fingerprint (a sha256 prefix), never by its path or
mtime, so a cloned or moved repository reuses its atlases and dictionaries and writes nothing."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

DIGEST_CHARS = 16
# the files that make a model what it is (weights and shape); tokenizer files change no activation id by id
MODEL_FILES = ("model.safetensors", "config.json")
# a dictionary's weights and shape (SAELens layout)
DICTIONARY_FILES = ("sae_weights.safetensors", "cfg.json")


@lru_cache(maxsize=256)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    # size and mtime key the cache only: a file rewritten in this process is hashed again
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:DIGEST_CHARS]


def file_fingerprint(path: str | os.PathLike) -> str:
    """sha256 prefix of a file's bytes."""
    st = os.stat(path)
    return _file_digest(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def files_fingerprint(folder: str | os.PathLike, names: Iterable[str]) -> str:
    """One fingerprint over the named files of ``folder`` that exist (name and content of each)."""
    h = hashlib.sha256()
    for name in names:
        p = Path(folder) / name
        if p.is_file():
            h.update(f"{name}={file_fingerprint(p)};".encode())
    return h.hexdigest()[:DIGEST_CHARS]


def model_fingerprint(model_dir: str | os.PathLike) -> str:
    return files_fingerprint(model_dir, MODEL_FILES)


def dictionaries_fingerprint(dirs: Iterable[str | os.PathLike]) -> str:
    """The dictionaries of a run, in order: each one's name and weights."""
    h = hashlib.sha256()
    for d in dirs:
        h.update(f"{Path(d).name}={files_fingerprint(d, DICTIONARY_FILES)};".encode())
    return h.hexdigest()[:DIGEST_CHARS]


def relative_path(target: str | os.PathLike, start: str | os.PathLike) -> str:
    """``target`` as seen from the folder ``start`` (``..`` steps allowed), POSIX separators."""
    return Path(os.path.relpath(Path(target).resolve(), Path(start).resolve())).as_posix()


def portable_source(source: str | os.PathLike, start: str | os.PathLike) -> str:
    """A local file or folder as seen from ``start``; anything else (a hub id) as given."""
    return relative_path(source, start) if Path(source).exists() else str(source)


def content_identity(source: str | os.PathLike) -> dict[str, Any]:
    """What decides whether data is the same, wherever it lies: a file's size and fingerprint, a folder's file
    names and sizes, a hub id as given."""
    path = Path(source)
    if path.is_file():
        return {"bytes": path.stat().st_size, "sha256": file_fingerprint(path)}
    if path.is_dir():
        listing = sorted((p.relative_to(path).as_posix(), p.stat().st_size) for p in path.rglob("*") if p.is_file())
        return {"files": hashlib.sha256(repr(listing).encode()).hexdigest()[:DIGEST_CHARS]}
    return {"source": str(source)}


def portable_value(value: Any, start: str | os.PathLike) -> Any:
    """An absolute path string (or path) that exists, as seen from ``start``; other values as they are."""
    if isinstance(value, os.PathLike) or (isinstance(value, str) and os.path.isabs(value) and os.path.exists(value)):
        return relative_path(value, start)
    return value
