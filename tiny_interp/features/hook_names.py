"""The one table between the hook names dictionary files carry and the names our model answers to.

A transcoder reads the MLP's input and predicts its output. TransformerLens' bridge and circuit-tracer call those
``blocks.N.mlp.hook_in`` / ``blocks.N.mlp.hook_out``; TinyLM exposes the same tensors as
``blocks.N.ln2.hook_normalized`` (after the norm's gain and bias: exactly what the MLP reads) and
``blocks.N.hook_mlp_out``. Files get the peers' names; the rest of tiny-interp keeps using the model's.
"""

from __future__ import annotations

import re

# file name suffix -> model name suffix, per block
_ALIASES = {"mlp.hook_in": "ln2.hook_normalized", "mlp.hook_out": "hook_mlp_out"}
_BLOCK = re.compile(r"^(blocks\.\d+\.)(.+)$")


def model_hook(name: str) -> str:
    """The name our model answers to for a hook name read from a file (unchanged when it is already ours)."""
    m = _BLOCK.match(name)
    return m.group(1) + _ALIASES[m.group(2)] if m and m.group(2) in _ALIASES else name


def file_hook(name: str) -> str:
    """The peers' name for one of our model's hook names, as written into cfg.json and config.yaml."""
    m = _BLOCK.match(name)
    back = {v: k for k, v in _ALIASES.items()}
    return m.group(1) + back[m.group(2)] if m and m.group(2) in back else name


def block_suffix(name: str) -> str:
    """``mlp.hook_in`` of ``blocks.3.mlp.hook_in``: the per-layer part circuit-tracer's config.yaml names."""
    m = _BLOCK.match(name)
    if not m:
        raise ValueError(f"{name!r} is not a per-block hook name (blocks.N.…)")
    return m.group(2)
