"""The model a dictionary reads: our fast module when it opens the directory, the TransformerLens bridge otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def open_model(model_dir: Path, device: str) -> tuple[Any, Any, int, int]:
    """(model, tokenizer, n_layers, n_ctx) for a model directory."""
    from ..errors import CheckpointError
    from ..model.checkpoint import load_tinylm, load_tokenizer

    try:
        net = load_tinylm(model_dir, device=device)
    except CheckpointError:
        from ..loading import load

        bridge = load(str(model_dir), device=device)
        return bridge, bridge.tokenizer, int(bridge.cfg.n_layers), int(bridge.cfg.n_ctx)
    return net, load_tokenizer(model_dir), net.cfg.n_layers, net.cfg.n_ctx
