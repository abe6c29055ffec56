"""One self-contained HTML file from an executed notebook: plotly.js embedded once, every figure and view inline,
no script, stylesheet or font fetched from anywhere, a table of contents and the run's metadata on top."""

from __future__ import annotations

import copy
import html
import json
import re
from typing import Any

from ..errors import TinyInterpError
from .meta import RUN_MIME

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

# tags whose src/href the browser would fetch on its own (an <a href> only follows a click: inert)
_FETCHING = re.compile(
    r"<(script|link|img|iframe|source|audio|video|embed|object)\b[^>]*?\b(?:src|href|data)\s*=\s*"
    r"[\"']?\s*(?:https?:)?//[^>]*>",
    re.I | re.S,
)
_REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?\s*(?:https?:)?//[^>]*>\s*</script>", re.I | re.S)
_REMOTE_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?\s*(?:https?:)?//[^>]*>", re.I | re.S)
_CSS_REMOTE = re.compile(
    r"@import\s+url\(\s*[\"']?(?:https?:)?//[^)]*\)\s*;?|url\(\s*[\"']?(?:https?:)?//[^)]*\)", re.I
)
# inline scripts of the template that load code from a CDN when needed (mermaid) or configure MathJax
_LOADER_SCRIPT = re.compile(
    r"<script\b[^>]*>(?:(?!</script>).)*?(?:import\s*\(?\s*[\"'](?:https?:)?//|MathJax\.Hub)"
    r"(?:(?!</script>).)*</script>",
    re.I | re.S,
)
_REMOTE_IMPORT = re.compile(r"import\s*\(?\s*[\"'](?:https?:)?//[^\"']*", re.I)
_HEADING = re.compile(r"<h([1-3])\b[^>]*\bid=\"([^\"]+)\"[^>]*>(.*?)</h\1>", re.I | re.S)


class ReportError(TinyInterpError):
    pass


def _is_plotlyjs_bundle(text: str) -> bool:
    # the "notebook" renderer's one-off output that carries the whole library (MBs); we embed our own copy once
    return "window.PlotlyConfig" in text and len(text) > 100_000


def drop_plotlyjs_scripts(fragment: str) -> str:
    """``fragment`` without inline <script> elements that carry the plotly.js library (views embed their own copy
    with the first figure of a kernel; the report carries exactly one, in <head>)."""
    out, pos = [], 0
    while True:
        start = fragment.find("<script", pos)
        if start < 0:
            break
        open_end = fragment.find(">", start)
        close = fragment.find("</script>", open_end)
        if open_end < 0 or close < 0:
            break
        body = fragment[open_end + 1 : close]
        if len(body) > 100_000 and "plotly.js v" in body[:500]:
            out.append(fragment[pos:start])
        else:
            out.append(fragment[pos : close + len("</script>")])
        pos = close + len("</script>")
    out.append(fragment[pos:])
    return "".join(out)


def static_outputs(nb: Any) -> Any:
    """A copy of ``nb`` whose outputs render without a kernel or a CDN: plotly figures as inline divs drawn by the
    one embedded plotly.js, widget views by their static HTML, run notes as plain text."""
    import plotly.io as pio

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data is None:
                kept.append(out)
                continue
            if (
                "text/html" in data
                and _is_plotlyjs_bundle(str(data["text/html"]))
                and PLOTLY_MIME not in data
                and "Plotly.newPlot" not in str(data["text/html"])
            ):
                continue
            if "text/html" in data and "plotly.js v" in str(data["text/html"]):
                data["text/html"] = drop_plotlyjs_scripts(str(data["text/html"]))
            if PLOTLY_MIME in data:
                fig = data.pop(PLOTLY_MIME)
                data["text/html"] = pio.to_html(
                    fig,
                    include_plotlyjs=False,
                    full_html=False,
                    include_mathjax=False,
                    validate=False,
                    config={"displaylogo": False},
                )
            if RUN_MIME in data:
                data.pop(RUN_MIME)
            if WIDGET_MIME in data:
                data.pop(WIDGET_MIME)
                if not ({"text/html", "image/png", "image/svg+xml"} & set(data)):
                    data.setdefault("text/plain", "(interactive widget: shown in JupyterLab only)")
            kept.append(out)
        if cell.cell_type == "code":
            cell.outputs = kept
    nb.metadata.pop("widgets", None)  # widget state would make the template pull the widget manager from a CDN
    return nb


def notebook_title(nb: Any, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                return m.group(1).strip()
    return fallback


def export_html(nb: Any, title: str) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", embed_images=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


def strip_remote(page: str) -> str:
    """Drop what would reach the network: remote <script src> (require.js, MathJax, widget managers), remote
    <link href> (fonts, stylesheets), inline loaders that import from a CDN (mermaid) or drive MathJax, and
    remote url(...) in CSS. Runs before plotly.js is added: its bundle must not be touched."""
    page = _REMOTE_SCRIPT.sub("", page)
    page = _LOADER_SCRIPT.sub("", page)
    page = _REMOTE_LINK.sub("", page)
    return _CSS_REMOTE.sub("none", page)


def remote_references(page: str) -> list[str]:
    """Tags or CSS left in ``page`` that a browser would fetch from the network by itself."""
    found = [m.group(0)[:200] for m in _FETCHING.finditer(page)]
    found += [m.group(0)[:200] for m in _CSS_REMOTE.finditer(page)]
    found += [m.group(0)[:200] for m in _REMOTE_IMPORT.finditer(page)]
    return found


def table_of_contents(page: str) -> tuple[str, int]:
    items = []
    for level, anchor, inner in _HEADING.findall(page):
        text = re.sub(r"<[^>]+>", "", inner).replace("¶", "").strip()
        if text:
            items.append(f'<li class="toc-h{level}"><a href="#{html.escape(anchor, quote=True)}">{text}</a></li>')
    if not items:
        return "", 0
    return '<nav id="toc" aria-label="Contents"><h2>Contents</h2><ul>' + "".join(items) + "</ul></nav>", len(items)


def _cell(v: Any) -> str:
    if v is None:
        return "<em>n/a</em>"
    if isinstance(v, (dict, list)):
        return "<code>" + html.escape(json.dumps(v, ensure_ascii=False)) + "</code>"
    return html.escape(str(v))


def metadata_block(meta: dict[str, Any]) -> str:
    params = meta.get("parameters") or {}
    rows = [(k, meta[k]) for k in meta if k != "parameters"]
    trs = "".join(f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in rows)
    prs = "".join(f"<tr><th><code>{html.escape(k)}</code></th><td>{_cell(v)}</td></tr>" for k, v in params.items())
    params_html = f"<h3>Parameters</h3><table>{prs}</table>" if prs else "<p>Parameters: notebook defaults.</p>"
    blob = json.dumps(meta, ensure_ascii=False, default=str).replace("</", "<\\/")
    return (
        f'<section id="run-metadata"><h2>Run</h2><table>{trs}</table>{params_html}</section>'
        f'<script type="application/json" id="tiny-interp-run">{blob}</script>'
    )


_STYLE = """<style id="tiny-interp-report">
#report-header{max-width:1100px;margin:16px auto;padding:12px 20px;border:1px solid #ddd;border-radius:6px;
font-family:system-ui,sans-serif;font-size:14px;background:#fafafa}
#report-header table{border-collapse:collapse;margin:4px 0}#report-header th{text-align:left;padding:2px 12px 2px 0;
vertical-align:top;font-weight:600}#report-header td{padding:2px 0;word-break:break-all}
#toc ul{margin:4px 0;padding-left:18px}#toc .toc-h2{margin-left:12px}#toc .toc-h3{margin-left:24px}
</style>"""


def assemble(page: str, meta: dict[str, Any], uses_plotly: bool) -> str:
    page = strip_remote(page)
    head_extra = _STYLE
    if uses_plotly:
        from plotly.offline import get_plotlyjs

        # once, in <head>, before any figure script runs; with no AMD loader on the page it defines window.Plotly
        head_extra += (
            '<script type="text/javascript" id="plotlyjs">'
            + get_plotlyjs().replace("</script", "<\\/script")
            + "</script>"
        )
    if "</head>" not in page or not re.search(r"<body[^>]*>", page):
        raise ReportError("nbconvert produced a page without <head>/<body>; cannot assemble the report")
    page = page.replace("</head>", head_extra + "</head>", 1)
    toc, _ = table_of_contents(page)
    header = f'<header id="report-header">{metadata_block(meta)}{toc}</header>'
    page = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + header, page, count=1)
    left = remote_references(page)
    if left:
        raise ReportError("the report would still fetch from the network: " + "; ".join(left[:5]))
    return page


def render_html(nb: Any, meta: dict[str, Any], title: str) -> str:
    static = static_outputs(nb)
    page = export_html(static, title)
    uses_plotly = "Plotly.newPlot" in page
    return assemble(page, meta, uses_plotly)
