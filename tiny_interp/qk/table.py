"""The explanation as plain text: sentences first, then the numbers that back them."""

from __future__ import annotations

from .terms import Term
from .why import AttentionWhy


def at(why: AttentionWhy, pos: int) -> str:
    return '"' + why.tokens[pos].replace("\n", "\\n") + f'"@{pos}'


def headline(why: AttentionWhy) -> str:
    """One sentence a first-year student can read: who attends to whom, how strongly, and the biggest reason."""
    up = [p for p in why.pairs if p.value > 0]
    reason = f" The biggest push: {up[0].query.label} (query side) meets {up[0].key.label} (key side)." if up else ""
    return (
        f"Head L{why.layer}H{why.head} at {at(why, why.query)} gives {why.attention:.0%} of its attention to "
        f"{at(why, why.key)} (score {why.score:+.3f}).{reason}"
    )


def _via(t: Term) -> str:
    """An earlier head's largest source positions, with their exact shares of its term."""
    src = t.detail.get("sources") or []
    return "  (read at " + ", ".join(f'"{tok}"@{p} {v:+.3f}' for p, tok, v in src) + ")" if src else ""


def _rows(ts: list[Term], n: int) -> list[str]:
    rest = sum(t.value for t in ts[n:])
    out = [f"  {t.value:+9.4f}  {t.label}{_via(t)}" for t in ts[:n]]
    return out + ([f"  {rest:+9.4f}  (all {len(ts) - n} others)"] if len(ts) > n else [])


def why_table(why: AttentionWhy, top: int = 10) -> str:
    lines = [headline(why), "", "Biggest pairs (query part x key part -> score):"]
    width = max([len(p.query.label) for p in why.pairs[:top]] + [10])
    for p in why.pairs[:top]:
        lines.append(f"  {p.value:+9.4f}  {p.query.label:<{width}}  x  {p.key.label}")
    lines.append(f"  {why.rest:+9.4f}  (all other pairs)")
    lines.append(f"  {why.score:+9.4f}  = the model's score")
    lines += ["", "Query side: what the query's parts contribute (summed over the key's parts):"]
    lines += _rows(why.query_marginals, top)
    lines += ["", "Key side: what the key's parts contribute (summed over the query's parts):"]
    lines += _rows(why.key_marginals, top)
    c = why.contrast
    if c is not None:
        lines += [
            "",
            f"Why this key and not the others: its score is {c.value:+.3f} above the attention-weighted mean of the "
            f"other keys ({c.mean_other:+.3f}). Key-side parts that make the difference:",
        ]
        lines += _rows(c.key, top)
    return "\n".join(lines)
