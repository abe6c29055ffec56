"""tiny-interp: train, open, inspect and grade TinyStories-scale language models."""

from __future__ import annotations

from . import quiet

__version__ = "0.1.0"
quiet.install()  # before any model loads: third-party noise stays out of cells and reports


def load(name_or_path, device="cpu", dtype=None):  # noqa: D103 - documented in tiny_interp.load
    import torch

    from .loading import load as _load

    return _load(name_or_path, device=device, dtype=dtype or torch.float32)


load.__doc__ = "Open a model directory or hub id as a TransformerLens TransformerBridge (see tiny_interp.loading.load)."

__all__ = ["load", "__version__"]
