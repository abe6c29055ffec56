"""The one rendering layer under every view: compact JSON data drawn by our own small JS/CSS bundle.

The same bundle serves the live widget (anywidget ESM in JupyterLab, VS Code, Colab) and static HTML (nbconvert
exports, ``save_html`` pages). Static HTML carries the bundle once per kernel or page; each view adds only its data,
as JSON inside ``<script type="application/json">`` with ``<``, ``>``, ``&`` and U+2028/2029 escaped, so no story
text can close the script or be parsed as markup. The JS places text with ``textContent`` only.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_text_atomic

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def safe_json(obj: Any) -> str:
    """JSON that is safe inside an HTML ``<script>`` element and as a JS literal."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return "".join(_ESCAPES.get(c, c) for c in text) if any(c in text for c in _ESCAPES) else text


def b64(array: np.ndarray) -> str:
    """Little-endian bytes of an array as base64 (the JS side decodes uint8 / uint16 by hand)."""
    a = np.ascontiguousarray(array)
    if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and np.little_endian is False):
        a = a.byteswap()
    return base64.b64encode(a.tobytes()).decode("ascii")


@cache
def _static(name: str) -> str:
    return resources.files("tiny_interp.widgets").joinpath("static", name).read_text(encoding="utf-8")


# the views bundle, in load order: shared helpers (other bundles may use them too: ``window.tinyInterpLib``), the
# large-head drawing two views share, one file per view kind (each registers itself), then the entry point
LIB_FILE = "common.js"
VIEW_FILES = (
    LIB_FILE,
    "heads.js",
    "qk_panel.js",
    "view_attention.js",
    "view_patterns.js",
    "view_scatter.js",
    "view_neuron.js",
    "view_story.js",
    "views.js",
)


def lib_js() -> str:
    """The shared helpers alone, for a bundle that must run without the views bundle (e.g. its own anywidget)."""
    return _static(LIB_FILE)


def bundle_js() -> str:
    return "\n".join(_static(name) for name in VIEW_FILES)


def bundle_css() -> str:
    return _static("views.css")


def esm() -> str:
    """The bundle as an ES module for anywidget: draws ``data`` and reports clicks through ``selection``."""
    return (
        bundle_js()
        + """
function draw(model, el) {
  var text = model.get("data");
  // the view starts from the last selection (layer, head, pinned token, direction), so new data keeps the pin
  var hooks = { live: true, initial: model.get("selection") || {}, onSelect: function (sel) {
    model.set("selection", Object.assign({}, sel, { _from: "view", _t: Date.now() })); model.save_changes(); } };
  el.__tiView = text ? globalThis.tinyInterpViews.render(el, JSON.parse(text), hooks) : null;
}
export default {
  render({ model, el }) {
    draw(model, el);
    var redraw = function () { draw(model, el); };
    var fromKernel = function () {
      var s = model.get("selection") || {};
      if (s._from === "kernel" && el.__tiView && el.__tiView.select) el.__tiView.select(s.layer, s.head);
    };
    model.on("change:data", redraw);
    model.on("change:selection", fromKernel);
    return function () { model.off("change:data", redraw); model.off("change:selection", fromKernel); };
  }
};
"""
    )


def bundle_html() -> str:
    """``<style>`` + ``<script>`` with the bundle; the script guards itself on ``window`` if it lands twice."""
    js = bundle_js().replace("</", "<\\/")  # never closes its own script element
    return f'<style data-tiny-interp="views">{bundle_css()}</style>\n<script data-tiny-interp="views">{js}</script>\n'


class PageState:
    """What this kernel (or page under construction) has already put on the page."""

    def __init__(self) -> None:
        self.bundle = False

    def take_bundle(self) -> bool:
        first, self.bundle = not self.bundle, True
        return first


KERNEL = PageState()


def reset_page() -> None:
    """Embed the bundle again with the next view, e.g. after clearing the outputs that held it."""
    KERNEL.bundle = False


def view_html(data: dict[str, Any], page: PageState | None = None) -> str:
    """One view as HTML: the bundle when the page lacks it, a container, its data and a one-line boot script."""
    page = KERNEL if page is None else page
    vid = "ti-" + uuid.uuid4().hex[:12]
    head = bundle_html() if page.take_bundle() else ""
    fallback = (
        "tiny-interp view: its code is embedded with the first view on this page; "
        "run tiny_interp.widgets.reset_page() and display the view again if that output was cleared."
    )
    return (
        f'{head}<div class="ti-view" id="{vid}"><span style="color:#8a5a00">{fallback}</span></div>\n'
        f'<script type="application/json" id="{vid}-data">{safe_json(data)}</script>\n'
        f'<script>(window.__tinyInterpQueue=window.__tinyInterpQueue||[]).push("{vid}");</script>\n'
    )


def page_html(parts: Iterable[str], title: str = "tiny-interp views") -> str:
    """A standalone page around HTML fragments from ``view_html`` / ``.to_html(page)``."""
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f'<title>{_escape_text(title)}</title></head>\n<body style="margin:16px">\n{body}\n</body></html>\n'
    )


def save_html(path: str | Path, *views: Any, title: str = "tiny-interp views") -> Path:
    """Write views (explorers or view data dicts) to one self-contained HTML file: no network needed to open it."""
    page = PageState()
    parts = [v.to_html(page) if hasattr(v, "to_html") else view_html(v, page) for v in views]
    path = Path(path)
    write_text_atomic(path, page_html(parts, title))
    return path


def _escape_text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quantise(x: np.ndarray, hi: float) -> np.ndarray:
    """Values in [0, hi] as uint8 0..255 (negative values clip to 0)."""
    if hi <= 0:
        return np.zeros(x.shape, dtype=np.uint8)
    return np.clip(np.rint(np.nan_to_num(x) / hi * 255), 0, 255).astype(np.uint8)
