"""The neuron atlas: the atlas machinery (``tiny_interp.interp.atlas``) applied to every MLP neuron
(``blocks.{l}.mlp.hook_post``). Kept as the import path that notebooks and earlier code use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch import Tensor

from .atlas import (
    STAT_COLUMNS,
    Atlas,
    AtlasConfig,
    AtlasState,
    batch_plan,
    build_atlas,
    default_atlas_dir,
    neuron_activations,
    neuron_units,
    open_atlas,
    quantized_token_means,
    shard_bounds,
)

_State = AtlasState  # the name tests and older code know


def layer_activations(model: Any, ids: Tensor) -> Iterator[tuple[int, Tensor]]:
    """(layer, [batch, seq, d_mlp]) of every layer, read at ``blocks.{l}.mlp.hook_post``."""
    captured: list[tuple[int, Tensor]] = []
    neuron_units(model).stream(model, ids, lambda i, x: captured.append((i, x)))
    yield from captured


__all__ = [
    "Atlas",
    "AtlasConfig",
    "STAT_COLUMNS",
    "batch_plan",
    "build_atlas",
    "default_atlas_dir",
    "layer_activations",
    "neuron_activations",
    "open_atlas",
    "quantized_token_means",
    "shard_bounds",
]
