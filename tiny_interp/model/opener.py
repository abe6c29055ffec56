"""The one place a model directory becomes a module and a tokenizer in memory, remembered by what it is.

A notebook that opens ``ts-1L`` in five views reads it once: opened models are kept while anything holds them
(and the last few even when nothing does), keyed by the resolved directory, the size and modification time of
its files, the device and the dtype. A model re-saved in place has a new fingerprint, so it is read again.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .handle import Model

# the files whose change means a different model
FINGERPRINT_FILES = ("config.json", "model.safetensors", "tiny_interp.json", "tokenizer.json")
KEEP_RECENT = 3

CacheKey = tuple[str, tuple[tuple[str, int, int], ...], str, str]
_live: "weakref.WeakValueDictionary[CacheKey, Model]" = weakref.WeakValueDictionary()
_recent: "OrderedDict[CacheKey, Model]" = OrderedDict()
_lock = threading.Lock()


def fingerprint(path: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for name in FINGERPRINT_FILES:
        file = path / name
        if file.exists():
            st = file.stat()
            out.append((name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def cache_key(path: Path, device: torch.device, dtype: torch.dtype) -> CacheKey:
    return (str(path.resolve()), fingerprint(path), str(device), str(dtype))


def cached(key: CacheKey) -> "Model | None":
    with _lock:
        model = _live.get(key)
        if model is not None:
            _remember(key, model)
        return model


def remember(key: CacheKey, model: "Model") -> None:
    with _lock:
        _live[key] = model
        _remember(key, model)


def _remember(key: CacheKey, model: "Model") -> None:
    _recent[key] = model
    _recent.move_to_end(key)
    while len(_recent) > KEEP_RECENT:
        _recent.popitem(last=False)


def forget_all() -> None:
    """Drop every remembered model (tests; a session that wants its memory back)."""
    with _lock:
        _live.clear()
        _recent.clear()


def torch_device(device: str | torch.device) -> torch.device:
    """``auto`` is the GPU when there is one; cuda without a visible GPU is a one-line error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    from ..train.loop import resolve_device

    return torch.device(resolve_device(str(device)))


def open_model(
    name_or_path: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> "Model":
    """``Model.from_pretrained``: the internal opener every command and view goes through."""
    from .handle import Model

    return Model.from_pretrained(name_or_path, device=device, dtype=dtype)
