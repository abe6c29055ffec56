"""The analyses' side of the activation seam: one way to read and edit activations of either model kind.

Analyses accept our ``TinyLM`` or a TransformerLens ``TransformerBridge`` from ``tiny_interp.load``. Both expose the
same hook names; these helpers hide the one difference in their call signatures (``names`` vs ``names_filter``,
``fn(x, name)`` vs ``fn(x, hook)``) and prefer our module, several times faster on a CPU, when it can open the
bridge's model directory.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from jaxtyping import Int
from torch import Tensor

from ..model.hooks import HookFn, NamesFilter, name_matcher
from ..model.transformer import TinyLM

_FAST: "weakref.WeakKeyDictionary[Any, TinyLM | None]" = weakref.WeakKeyDictionary()


def fast_module(model: Any) -> TinyLM | None:
    """Our TinyLM for a TinyLM (itself) or a bridge (its model directory opened once and remembered); None when the
    bridge has no directory or its layout is one our module does not implement (then the bridge is used)."""
    if isinstance(model, TinyLM):
        return model
    if model not in _FAST:
        _FAST[model] = _open_fast(model)
    return _FAST[model]


def _open_fast(bridge: Any) -> TinyLM | None:
    from ..errors import CheckpointError
    from ..model.checkpoint import load_tinylm

    path = getattr(bridge, "model_path", None)
    if path is None:
        return None
    try:
        return load_tinylm(path, device=str(bridge.cfg.device))
    except CheckpointError as e:
        warnings.warn(f"analysing {path} through the TransformerLens bridge (slower): {e}", stacklevel=3)
        return None


def analysis_module(model: Any) -> Any:
    """The module analyses should run: our TinyLM when possible, else the bridge itself."""
    return fast_module(model) or model


def run_with_cache(
    model: Any, input_ids: Int[Tensor, "batch seq"], names: NamesFilter = None, stop_at_layer: int | None = None
) -> tuple[Tensor | None, dict[str, Tensor]]:
    """(logits or None when stopped early, {name: activation}) from a TinyLM or a bridge."""
    net = analysis_module(model)
    if isinstance(net, TinyLM):
        return net.run_with_cache(input_ids, names=names, stop_at_layer=stop_at_layer)
    logits, cache = net.run_with_cache(input_ids, names_filter=name_matcher(names), stop_at_layer=stop_at_layer)
    return (None if stop_at_layer is not None else logits), dict(cache.items())


def run_with_hooks(
    model: Any,
    input_ids: Int[Tensor, "batch seq"],
    fwd_hooks: Sequence[tuple[str | Callable[[str], bool], HookFn]],
    stop_at_layer: int | None = None,
) -> Tensor:
    """The forward pass with ``fn(activation, name)`` hooks, on a TinyLM or a bridge."""
    net = analysis_module(model)
    if isinstance(net, TinyLM):
        return net.run_with_hooks(input_ids, fwd_hooks=fwd_hooks, stop_at_layer=stop_at_layer)
    wrapped = [(name, lambda x, hook, fn=fn: fn(x, hook.name)) for name, fn in fwd_hooks]
    return net.run_with_hooks(input_ids, fwd_hooks=wrapped, stop_at_layer=stop_at_layer)
