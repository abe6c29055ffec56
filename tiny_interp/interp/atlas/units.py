"""What an atlas maps: units whose activations stream out of the model through the hook seam, block by block.

Neurons are the MLP activations ``blocks.{l}.mlp.hook_post`` (one block per layer); features are a dictionary's
latents on its input hook (one block per dictionary, see ``tiny_interp.features.feature_atlas``). A build hands
each block's [batch, seq, units] activations to ``consume`` while the forward runs, so the batch's activations
never exist for all blocks at once, and stops the forward after the deepest block it needs (no unembedding).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

Consume = Callable[[int, Float[Tensor, "batch seq units"]], None]


@dataclass(frozen=True)
class UnitBlock:
    """One block of units: read at ``hook`` and turned into unit activations by ``transform`` (None: as read)."""

    hook: str
    size: int
    layer: int
    transform: Callable[[Tensor], Tensor] | None = None


class Units:
    """A list of unit blocks and how to stream them out of a model."""

    kind = "neuron"

    def __init__(self, blocks: Sequence[UnitBlock], kind: str = "neuron"):
        self.blocks, self.kind = list(blocks), kind

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    @property
    def block_size(self) -> int:
        return self.blocks[0].size

    def stop_layer(self) -> int:
        return max(b.layer for b in self.blocks) + 1

    def stream(self, net: Any, ids: Int[Tensor, "batch seq"], consume: Consume) -> None:
        """Run ``net`` on ``ids`` and hand every block's activations to ``consume(block_index, acts)``."""
        from ..seam import run_with_hooks

        hooks = []
        for i, block in enumerate(self.blocks):

            def read(x: Tensor, name: str, i: int = i, block: UnitBlock = block) -> None:
                consume(i, block.transform(x) if block.transform is not None else x)

            hooks.append((block.hook, read))
        run_with_hooks(net, ids, fwd_hooks=hooks, stop_at_layer=self.stop_layer())


def neuron_units(net: Any) -> Units:
    """Every MLP neuron of a TinyLM or bridge (the input of the MLP's down projection)."""
    cfg = net.cfg
    return Units([UnitBlock(f"blocks.{l}.mlp.hook_post", int(cfg.d_mlp), l) for l in range(int(cfg.n_layers))])


def neuron_activations(model: Any, ids: Tensor, valid: Tensor | None = None) -> Tensor:
    """MLP neuron activations, layers side by side: [batch, seq, n_layers * d_mlp], or [n_valid_tokens,
    n_layers * d_mlp] (row-major) when ``valid`` is given."""
    captured: dict[int, Tensor] = {}

    def keep(i: int, x: Tensor) -> None:
        captured[i] = x if valid is None else x[valid]

    units = neuron_units(model)
    units.stream(model, ids, keep)
    return torch.cat([captured[i] for i in range(units.n_blocks)], dim=-1).float()
