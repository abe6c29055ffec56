"""Sparse dictionary features: sparse autoencoders and transcoders, their training, evaluation and atlas.

``SAE``, ``SAEConfig`` and ``load_sae`` import torch on first use, so the CLI parser can read the configs cheaply.
"""

from typing import Any

__all__ = ["SAE", "SAEConfig", "load_sae"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import sae

        return getattr(sae, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
