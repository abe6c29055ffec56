"""The analyses' side of the activation seam: one way to read and edit activations of either model kind.

Analyses accept a ``tiny_interp.Model``, our ``TinyLM`` or a TransformerLens ``TransformerBridge``. All expose the
same hook names; these helpers hide the one difference in their call signatures (``names`` vs ``names_filter``,
``fn(x, name)`` vs ``fn(x, hook)``) and prefer our module, several times faster on a CPU: a handle's own, or for a
bridge the handle that built it (``Model.bridge()``), else its directory opened once through the model cache.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

from jaxtyping import Int
from torch import Tensor

from ..model.hooks import HookFn, NamesFilter, name_matcher
from ..model.transformer import TinyLM

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

    from ..model.handle import Model

# what every analysis accepts: the handle, our module, or a TransformerLens bridge
ModelLike: TypeAlias = "TinyLM | Model | TransformerBridge"
_HANDLE_ATTR = "tiny_interp_model"  # set by Model.bridge(); else by fast_module, None when opening failed


def fast_module(model: ModelLike) -> TinyLM | None:
    """Our TinyLM for a ``tiny_interp.Model`` (its module), a TinyLM (itself) or a bridge: the handle's module
    when the handle built the bridge, else the bridge's directory through the model cache (read at most once);
    None when the bridge has no directory or a layout our module does not implement (then the bridge is used)."""
    from ..model.handle import Model

    if isinstance(model, Model):
        return model.module
    if isinstance(model, TinyLM):
        return model
    if _HANDLE_ATTR not in vars(model):  # opened once per bridge, a failure remembered as None
        setattr(model, _HANDLE_ATTR, _open_handle(model))
    handle = vars(model)[_HANDLE_ATTR]
    return handle.module if isinstance(handle, Model) else None


def _open_handle(bridge: TransformerBridge) -> Model | None:
    from ..errors import CheckpointError
    from ..model.handle import Model

    path = getattr(bridge, "model_path", None)
    if path is None:
        return None
    try:
        return Model.from_pretrained(path, device=str(bridge.cfg.device))
    except CheckpointError as e:
        warnings.warn(f"analysing {path} through the TransformerLens bridge (slower): {e}", stacklevel=3)
        return None


def analysis_module(model: ModelLike) -> TinyLM | TransformerBridge:
    """The module analyses should run: our TinyLM when possible, else the bridge itself."""
    from ..model.handle import Model

    if isinstance(model, Model):
        return model.module
    net = fast_module(model)
    return net if net is not None else model


def run_with_cache(
    model: ModelLike, input_ids: Int[Tensor, "batch seq"], names: NamesFilter = None, stop_at_layer: int | None = None
) -> tuple[Tensor | None, dict[str, Tensor]]:
    """(logits or None when stopped early, {name: activation}) from a TinyLM or a bridge."""
    net = analysis_module(model)
    if isinstance(net, TinyLM):
        return net.run_with_cache(input_ids, names=names, stop_at_layer=stop_at_layer)
    logits, cache = net.run_with_cache(input_ids, names_filter=name_matcher(names), stop_at_layer=stop_at_layer)
    return (None if stop_at_layer is not None else logits), dict(cache.items())


def run_with_hooks(
    model: ModelLike,
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
