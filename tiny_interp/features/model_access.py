"""The model a dictionary reads: our fast module when it opens the directory, the TransformerLens bridge otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def open_model(model_dir: Path, device: str) -> tuple[Any, Any, int, int]:
    """(model, tokenizer, n_layers, n_ctx) for a model directory."""
    from ..errors import CheckpointError
    from ..model.opener import open_model

    try:
        handle = open_model(model_dir, device=device)
    except CheckpointError:
        from ..loading import load

        bridge = load(str(model_dir), device=device)
        return bridge, bridge.tokenizer, int(bridge.cfg.n_layers), int(bridge.cfg.n_ctx)
    return handle.module, handle.tokenizer, handle.cfg.n_layers, handle.cfg.n_ctx
