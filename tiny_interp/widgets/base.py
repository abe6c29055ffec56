"""What the three explorers share: the synced view widget, the explorer box with its static HTML, story tokens."""

from __future__ import annotations

from typing import Any

import anywidget
import ipywidgets as w
import torch
import traitlets
from jaxtyping import Int
from torch import Tensor

from ..interp.common import context_length, device_of, encode
from .render import PageState, bundle_css, esm, safe_json, view_html

DEFAULT_STORY = (
    "Once upon a time, there was a little girl named Mia. Mia had a red ball. She liked to play with the ball in "
    'the park. One day, Mia saw a big dog. The dog wanted the ball too. Mia said, "Let\'s play together!" '
    "The dog wagged its tail, and they played all day. Mia was very happy."
)


class ViewWidget(anywidget.AnyWidget):
    """The live view: ``data`` is the view's JSON; clicks in the view come back as ``selection``."""

    _esm = esm()
    _css = bundle_css()
    data = traitlets.Unicode("").tag(sync=True)
    selection = traitlets.Dict({}).tag(sync=True)

    def show(self, data: dict[str, Any]) -> None:
        self.data = safe_json(data)


class Explorer(w.VBox):
    """A box of controls around a ViewWidget. Displayed, it carries a ``text/html`` twin too, so exported notebooks
    (which drop widgets without saved widget state) still show an interactive view, without a kernel."""

    def static_data(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_html(self, page: PageState | None = None) -> str:
        from .render import KERNEL

        page = KERNEL if page is None else page
        return view_html(self.static_data(), page)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/html"] = self.to_html()
        return bundle

    def _status(self, message: str) -> None:
        self.status.value = message


def status_line() -> w.HTML:
    return w.HTML(value="", layout=w.Layout(min_height="1.4em"))


def set_text(label: w.HTML, text: str) -> None:
    """Plain text into an HTML widget, escaped (user text never becomes markup)."""
    from html import escape

    label.value = f"<span style='color:#8a5a00'>{escape(text)}</span>" if text else ""


def story_ids(bridge: Any, story: str, max_tokens: int | None = None) -> tuple[Int[Tensor, "1 seq"], str]:
    """The story as model input (BOS first, cut to the context) and a note when it was cut."""
    limit = context_length(bridge) if max_tokens is None else min(max_tokens, context_length(bridge))
    full = encode(bridge.tokenizer, [story], 10**9)[0]
    ids = full[:limit]
    note = f"showing the first {len(ids)} of {len(full)} tokens (the model's context)" if len(full) > len(ids) else ""
    return torch.tensor([ids], dtype=torch.long, device=device_of(bridge)), note


def token_strings(tokenizer: Any, ids: list[int]) -> list[str]:
    return tokenizer.batch_decode([[i] for i in ids])
