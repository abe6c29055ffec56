"""Training: config, schedule, data windows, the loop, resumable state, DDP.

The loop's names are loaded on first use, so reading ``train.config`` (as ``tiny-interp --help`` does) does not
import torch.
"""

from typing import Any

from .config import TrainConfig

__all__ = ["TrainConfig", "TrainData", "read_metrics", "train"]


def __getattr__(name: str) -> Any:
    if name in ("TrainData", "read_metrics", "train"):
        from . import loop

        return getattr(loop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
