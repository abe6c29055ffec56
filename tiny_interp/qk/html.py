"""The explanation as one offline HTML page: sentences first, then the tables (no script, no network)."""

from __future__ import annotations

from html import escape

from .table import headline
from .terms import Term
from .why import AttentionWhy

HTML_MARK = 'data-tiny-interp="attention-why"'
STYLE = (
    "body{font:14px/1.45 system-ui,sans-serif;max-width:980px;margin:24px auto;color:#222}"
    "table{border-collapse:collapse;margin:6px 0 18px}td,th{padding:2px 10px;text-align:left}"
    "td.v{text-align:right;font-variant-numeric:tabular-nums}.pos{color:#1a5fb4}.neg{color:#c01c28}"
    ".story span{padding:0 1px}.q{outline:2px solid #1a5fb4}.k{outline:2px solid #e66100}"
)


def _value(v: float) -> str:
    return f'<td class="v {"pos" if v >= 0 else "neg"}">{v:+.4f}</td>'


def _terms(title: str, ts: list[Term], top: int) -> str:
    rows = "".join(f"<tr>{_value(t.value)}<td>{escape(t.label)}</td></tr>" for t in ts[:top])
    rest = sum(t.value for t in ts[top:])
    if len(ts) > top:
        rows += f"<tr>{_value(rest)}<td>(all {len(ts) - top} others)</td></tr>"
    return f"<h3>{escape(title)}</h3><table>{rows}</table>"


def _story(why: AttentionWhy) -> str:
    spans = []
    for i, tok in enumerate(why.tokens[: why.query + 1]):
        cls = "q" if i == why.query else "k" if i == why.key else ""
        spans.append(f'<span class="{cls}" title="position {i}">{escape(tok)}</span>')
    return '<p class="story">' + "".join(spans) + "</p>"


def why_html(why: AttentionWhy, top: int = 10) -> str:
    pairs = "".join(
        f"<tr>{_value(p.value)}<td>{escape(p.query.label)}</td><td>&times;</td><td>{escape(p.key.label)}</td></tr>"
        for p in why.pairs[:top]
    )
    pairs += f"<tr>{_value(why.rest)}<td colspan=3>(all other pairs)</td></tr>"
    pairs += f"<tr>{_value(why.score)}<td colspan=3>= the model's score</td></tr>"
    body = [
        f"<h1>Why L{why.layer}H{why.head} attends where it does</h1>",
        f"<p>{escape(headline(why))}</p>",
        _story(why),
        "<h3>Biggest pairs (query part &times; key part)</h3><table>" + pairs + "</table>",
        _terms("Query side: what the query looks for", why.query_marginals, top),
        _terms("Key side: what the key offers", why.key_marginals, top),
    ]
    if why.contrast is not None:
        c = why.contrast
        body.append(
            f"<p>Why this key and not the others: its score is {c.value:+.3f} above the attention-weighted mean of "
            f"the other keys ({c.mean_other:+.3f}).</p>"
        )
        body.append(_terms("Key-side parts that make the difference", c.key, top))
    return (
        f'<!doctype html><html lang="en" {HTML_MARK}><head><meta charset="utf-8">'
        f"<title>attention-why L{why.layer}H{why.head}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )
