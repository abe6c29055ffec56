"""The one table between the hook names dictionary files carry and the names our model answers to.

A transcoder reads the MLP's input and predicts its output. TransformerLens' bridge, circuit-tracer and TinyLM all
call the input ``blocks.N.mlp.hook_in``; the output is ``blocks.N.mlp.hook_out`` in files and ``blocks.N.hook_mlp_out``
(the same tensor) in memory, where the rest of tiny-interp reads it.

Files written before TinyLM's norms had TransformerLens' points named the MLP's input ``blocks.N.ln2.hook_normalized``
(and the other norms' outputs ``ln1.hook_normalized`` / ``ln_final.hook_normalized``), which now means the normalised
value before the gain and bias. A file is read that old way unless its metadata carries ``MARK`` (every file written
now does), so a new dictionary on the normalised value keeps its name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MARK_KEY, MARK = "hook_names", "transformer_lens_4"
# file name suffix -> model name suffix, per block, and back
_ALIASES = {"mlp.hook_out": "hook_mlp_out"}
_LEGACY = {"ln1.hook_normalized": "ln1.hook_out", "ln2.hook_normalized": "mlp.hook_in"}
_BLOCK = re.compile(r"^(blocks\.\d+\.)(.+)$")


def model_hook(name: str, metadata: Mapping[str, object] | None = None) -> str:
    """The name our model answers to for a hook name read from a file with this ``metadata`` (unchanged when it
    is already ours)."""
    legacy = (metadata or {}).get(MARK_KEY) != MARK
    if legacy and name == "ln_final.hook_normalized":
        return "ln_final.hook_out"
    m = _BLOCK.match(name)
    if not m:
        return name
    suffix = m.group(2)
    if legacy and suffix in _LEGACY:
        return m.group(1) + _LEGACY[suffix]
    return m.group(1) + _ALIASES.get(suffix, suffix)


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
