"""Named activation points: the one seam through which every analysis reads and edits a TinyLM's activations.

A ``HookPoint`` sits at one place of the forward pass under the TransformerLens name of that place
(``blocks.3.mlp.hook_post``). With no function attached it returns its input untouched, which costs one Python
call; attached functions ``fn(tensor, name)`` see the activation and may return a replacement (ablation,
patching, steering, splicing a reconstruction) or None to leave it as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

from jaxtyping import Float
from torch import Tensor

HookFn = Callable[[Tensor, str], Tensor | None]
NamesFilter = None | str | Sequence[str] | Callable[[str], bool]


class HookPoint:
    """One named activation. Not an ``nn.Module``: it holds no state a checkpoint or ``.to()`` should see."""

    __slots__ = ("name", "fns")

    def __init__(self, name: str = ""):
        self.name = name
        self.fns: list[HookFn] = []

    def __call__(self, x: Tensor) -> Tensor:
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


def check_names(points: dict[str, HookPoint], names: Iterable[str]) -> None:
    unknown = [n for n in names if n not in points]
    if unknown:
        raise KeyError(f"no hook point named {unknown[0]!r}; the model has e.g. {sorted(points)[:6]}")


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
