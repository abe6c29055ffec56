"""The attribution graph view: layers as rows, positions as columns, drawn by ``static/graph.js``.

It stands on the shared rendering layer (``render``): the view's data travels as escaped JSON inside
``<script type="application/json">``, the page carries the shared CSS bundle once, and our script places every text
with ``textContent``. The graph script mounts its own containers (``ti-graph`` class) from the same kind of data
element rather than registering a kind in ``tinyInterpLib.kinds``: a graph page has its own layout and controls.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..atomic import write_text_atomic
from ..graphs.graph import AttributionGraph
from ..graphs.pages import FeatureInfo, feature_pages
from ..graphs.prune import Pruned, fidelity
from .render import PageState, _static, bundle_css, lib_js, page_html, safe_json

MAX_EDGES = 4000  # the strongest kept edges shown; keeps a 64-token page well under 2 MB


def graph_js() -> str:
    """The graph script after the shared helpers it draws with (common.js guards against a second load)."""
    return lib_js() + _static("graph.js") + _static("qk_panel.js")


def graph_css() -> str:
    return _static("graph.css")


def _node_rows(graph: AttributionGraph, pruned: Pruned, keep: list[int]) -> list[list[Any]]:
    """[kind, layer, pos, feature or token, label, activation, influence] per kept node."""
    rows = []
    for n in keep:
        d = graph.describe(n)
        extra = d.get("feature", d.get("token", -1))
        value = d.get("activation", d.get("probability", 0.0))
        rows.append(
            [
                d["kind"],
                d["layer"],
                d["pos"],
                extra,
                d["label"],
                round(float(value), 4),
                round(float(pruned.node_influence[n]), 5),
            ]
        )
    return rows


def _edge_rows(graph: AttributionGraph, pruned: Pruned, index: dict[int, int]) -> list[list[float]]:
    """[source, target, weight] between kept nodes, the strongest ``MAX_EDGES`` by |weight|."""
    dst, src = pruned.edge_mask.nonzero(as_tuple=True)
    w = graph.adjacency[dst, src]
    order = w.abs().argsort(descending=True)[:MAX_EDGES]
    return [
        [index[int(src[i])], index[int(dst[i])], float(f"{float(w[i]):.4g}")]
        for i in order.tolist()
        if int(src[i]) in index and int(dst[i]) in index
    ]


def graph_view_data(
    graph: AttributionGraph,
    pruned: Pruned,
    model: Any,
    transcoders: Sequence[Any],
    tokenizer: Any,
    info: FeatureInfo | None = None,
) -> dict[str, Any]:
    """Everything the view draws, as compact JSON."""
    keep = pruned.node_mask.nonzero().flatten().tolist()
    index = {n: i for i, n in enumerate(keep)}
    features = [n for n in keep if graph.kind(n) == "feature"]
    pages = feature_pages(model, transcoders, graph, features, tokenizer, info)
    fid = fidelity(graph, pruned)
    return {
        "kind": "graph",
        "prompt": graph.prompt,
        "tokens": graph.tokens,
        "n_layers": graph.n_layers,
        "nodes": _node_rows(graph, pruned, keep),
        "edges": _edge_rows(graph, pruned, index),
        "pages": {str(index[int(n)]): p for n, p in pages.items()},
        "stats": {
            "features": graph.n_features,
            "active": graph.n_active,
            "kept_nodes": len(keep),
            "kept_edges": pruned.n_edges,
            "error_share": round(fid.error_share, 4),
            "error_share_top": round(fid.error_share_top, 4),
            "completeness": round(fid.completeness, 4),
            "kl_without_errors": round(fid.kl_without_errors, 4),
        },
    }


def graph_html(data: dict[str, Any], page: PageState | None = None) -> str:
    """One graph view: shared CSS and the graph script when the page lacks them, a container and its data."""
    page = PageState() if page is None else page
    head = ""
    if page.take_bundle():
        head = f'<style data-tiny-interp="views">{bundle_css()}</style>\n'
    if not getattr(page, "graph", False):
        page.graph = True  # type: ignore[attr-defined]
        js = graph_js().replace("</", "<\\/")
        head += (
            f'<style data-tiny-interp="graph">{graph_css()}</style>\n<script data-tiny-interp="graph">{js}</script>\n'
        )
    vid = "tg-" + uuid.uuid4().hex[:12]
    return (
        f'{head}<div class="ti-view ti-graph" id="{vid}"></div>\n'
        f'<script type="application/json" id="{vid}-data">{safe_json(data)}</script>\n'
        f'<script>window.tinyInterpGraph && window.tinyInterpGraph.mount("{vid}");</script>\n'
    )


def save_graph_html(path: str | Path, data: dict[str, Any], title: str = "tiny-interp attribution graph") -> Path:
    """A self-contained page (no network needed) holding the graph view."""
    path = Path(path)
    write_text_atomic(path, page_html([graph_html(data)], title))
    return path


ESM_TAIL = """
export default {
  render({ model, el }) {
    var draw = function () {
      var text = model.get("data");
      if (text) globalThis.tinyInterpGraph.render(el, JSON.parse(text), {
        onSelect: function (sel) {
          model.set("selection", Object.assign({}, sel, { _t: Date.now() }));
          model.save_changes();
        }
      });
    };
    draw();
    model.on("change:data", draw);
    return function () { model.off("change:data", draw); };
  }
};
"""


class GraphView(anywidget.AnyWidget):
    """The live view in a notebook (clicks come back as ``selection``); its ``text/html`` twin keeps exported
    notebooks interactive."""

    _esm = graph_js() + ESM_TAIL
    _css = bundle_css() + graph_css()
    data = traitlets.Unicode("").tag(sync=True)
    selection = traitlets.Dict({}).tag(sync=True)

    def __init__(self, data: dict[str, Any], **kwargs: Any):
        super().__init__(**kwargs)
        self._raw = data
        self.data = safe_json(data)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        out = bundle[0] if isinstance(bundle, tuple) else bundle
        if out is not None:  # None: ipywidgets shows no view here, so there is nothing to twin
            out["text/html"] = graph_html(self._raw)
        return bundle
