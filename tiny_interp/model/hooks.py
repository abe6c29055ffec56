"""Named activation points: the one seam through which every analysis reads and edits a TinyLM's activations.

A ``HookPoint`` sits at one place of the forward pass under the TransformerLens name of that place
(``blocks.3.mlp.hook_post``). With no function attached it returns its input untouched, which costs one Python
call; attached functions ``fn(tensor, name)`` see the activation and may return a replacement (ablation,
patching, steering, splicing a reconstruction) or None to leave it as it is.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager

from jaxtyping import Float
from torch import Tensor

from ..errors import TinyInterpError

HookFn = Callable[[Tensor, str], Tensor | None]
NamesFilter = None | str | Sequence[str] | Callable[[str], bool]


class HookPoint:
    """One named activation. Not an ``nn.Module``: it holds no state a checkpoint or ``.to()`` should see."""

    __slots__ = ("name", "fns")

    def __init__(self, name: str = ""):
        self.name = name
        self.fns: list[HookFn] = []

    def __call__(self, x: Tensor) -> Tensor:
        if not self.fns:  # the idle case, on every forward: no loop set up
            return x
        for fn in self.fns:
            out = fn(x, self.name)
            if out is not None:
                x = out
        return x

    @property
    def active(self) -> bool:
        return bool(self.fns)

    def heads_first(self, x: Float[Tensor, "batch heads seq d_head"]) -> Float[Tensor, "batch heads seq d_head"]:
        """Hook a per-head tensor kept heads-first internally; the hook sees TransformerLens' [batch, seq, heads, d]."""
        if not self.fns:
            return x
        return self(x.transpose(1, 2)).transpose(1, 2)


def name_matcher(names: NamesFilter) -> Callable[[str], bool]:
    """A predicate from None (every name), one name, a list of names or a predicate."""
    if names is None:
        return lambda name: True
    if isinstance(names, str):
        return lambda name: name == names
    if callable(names):
        return names
    wanted = set(names)
    return lambda name: name in wanted


class UnknownHookError(TinyInterpError, KeyError):
    """A hook name the model does not have. Also a ``KeyError``, which callers of a name lookup expect."""

    def __str__(self) -> str:
        # KeyError's own str() quotes its argument; this message is meant to be read as it is
        return str(self.args[0]) if self.args else ""


def check_names(points: Collection[str], names: Iterable[str]) -> None:
    """THE check of hook names: the first name not among ``points`` raises, naming the nearest valid ones."""
    for name in names:
        if name not in points:
            near = difflib.get_close_matches(name, list(points), n=3, cutoff=0.6)
            hint = f"did you mean {', '.join(map(repr, near))}?" if near else f"the model has e.g. {sorted(points)[:4]}"
            raise UnknownHookError(f"no hook point named {name!r}; {hint} (model.hook_names lists them all)")


@contextmanager
def attached(
    points: dict[str, HookPoint], fwd_hooks: Sequence[tuple[str | Callable[[str], bool], HookFn]]
) -> Iterator[None]:
    """Attach ``(name or predicate, fn)`` pairs for the duration of the block; always detached after."""
    added: list[tuple[HookPoint, HookFn]] = []
    check_names(points, [n for n, _ in fwd_hooks if isinstance(n, str)])
    try:
        for name, fn in fwd_hooks:
            match = name_matcher(name)
            for point_name, point in points.items():
                if match(point_name):
                    point.fns.append(fn)
                    added.append((point, fn))
        yield
    finally:
        for point, fn in added:
            point.fns.remove(fn)
