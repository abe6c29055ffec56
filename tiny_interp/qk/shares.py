"""What a head's scores are made of, over many stories: the share of each kind of part (token, position, earlier
heads, MLP/features, error, biases) in the absolute pair terms of its scores, per head kind of the taxonomy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .engine import QKExplainer, allowed_keys, pair_table
from .why import encode_prompt

GROUP = {
    "token": "token",
    "position": "position",
    "head": "earlier heads",
    "mlp": "MLP",
    "feature": "MLP",
    "skip": "MLP",
    "error": "MLP error",
    "dict_bias": "biases",
    "attn_bias": "biases",
    "norm_bias": "biases",
}
GROUPS = ("token", "position", "earlier heads", "MLP", "MLP error", "biases")


class MarkdownText(str):
    """Text a notebook shows as Markdown."""

    def _repr_markdown_(self) -> str:
        return str(self)


def side_shares(table: torch.Tensor, keys: Sequence[tuple[str, int, int]], dim: int) -> dict[str, float]:
    """Share of sum |P| carried by each group of parts on one side (``dim`` 0: query rows, 1: key columns)."""
    mass = table.abs().sum(1 - dim)
    total = float(mass.sum()) or 1.0
    out = dict.fromkeys(GROUPS, 0.0)
    for (kind, _, _), m in zip(keys, mass.tolist()):
        out[GROUP[kind]] += m / total
    return out


def case_shares(ex: QKExplainer, ids: torch.Tensor, layer: int, head: int, query: int) -> dict[str, Any] | None:
    """One (head, query) at its strongest key other than itself: each side's group shares."""
    split = ex.split(ids, layer)
    allowed = allowed_keys(split, head, query)
    allowed = allowed[allowed != query]
    if len(allowed) == 0:
        return None
    key = int(allowed[split.pattern[head, query, allowed].argmax()])
    ak = ex.all_keys(split, head, query)
    k = ex.key_side(split, ak, key)
    table = pair_table(ak, k)
    row: dict[str, Any] = {"layer": layer, "head": head, "query": query, "key": key, "distance": query - key}
    row["score"] = float(table.sum())
    row["attention"] = float(split.pattern[head, query, key])
    row.update({f"q:{g}": v for g, v in side_shares(table, ak.query.keys, 0).items()})
    row.update({f"k:{g}": v for g, v in side_shares(table, k.keys, 1).items()})
    return row


MAX_TOKENS = 160


def qk_story_ids(ex: QKExplainer, story: str, max_tokens: int = MAX_TOKENS) -> torch.Tensor:
    """The token ids ``qk_shares`` reads of a story (BOS first, at most ``max_tokens``)."""
    return encode_prompt(ex, story)[:max_tokens]


def qk_shares(
    ex: QKExplainer,
    stories: Sequence[str],
    labels: dict[tuple[int, int], str],
    queries: int = 4,
    seed: int = 0,
    max_tokens: int = MAX_TOKENS,
) -> Any:
    """A pandas DataFrame: one row per (story, head, query) with the head's taxonomy label and each side's shares."""
    import pandas as pd

    g = torch.Generator().manual_seed(seed)
    rows = []
    for s, story in enumerate(stories):
        ids = qk_story_ids(ex, story, max_tokens)
        if len(ids) < 8:
            continue
        for layer in range(ex.model.cfg.n_layers):
            for head in range(ex.model.cfg.n_heads):
                for q in torch.randint(4, len(ids), (queries,), generator=g).tolist():
                    row = case_shares(ex, ids, layer, head, q)
                    if row is not None:
                        rows.append({"story": s, "kind": labels.get((layer, head), "?"), **row})
    return pd.DataFrame.from_records(rows)


def qk_kind_summary(df: Any) -> Any:
    """Mean shares per head kind (rows: kinds, most heads first), with how many heads and cases each has."""
    cols = [c for c in df.columns if c.startswith(("q:", "k:"))]
    out = df.groupby("kind")[cols + ["distance", "attention"]].mean()
    out.insert(0, "cases", df.groupby("kind").size())
    out.insert(0, "heads", df.groupby("kind")[["layer", "head"]].apply(lambda d: len(d.drop_duplicates())))
    return out.sort_values("heads", ascending=False)


def _top(row: Any, side: str, n: int = 2) -> str:
    parts = sorted(((row[f"{side}:{g}"], g) for g in GROUPS), reverse=True)[:n]
    return " and ".join(f"{g} ({v:.0%})" for v, g in parts)


def qk_summary_markdown(summary: Any, model: str) -> MarkdownText:
    """Sentences written from the figures: per head kind, what carries the key side and the query side."""
    lines = [f"**{model}**: {int(summary['heads'].sum())} heads, {int(summary['cases'].sum())} (head, query) cases."]
    for kind, row in summary.iterrows():
        lines.append(
            f"- *{kind}* ({int(row['heads'])} heads, keys on average {row['distance']:.1f} tokens back, "
            f"{row['attention']:.0%} of the attention): the key side is carried by {_top(row, 'k')}; "
            f"the query side by {_top(row, 'q')}."
        )
    return MarkdownText("\n".join(lines))


def qk_findings(summaries: dict[str, tuple[Any, Any, Any]]) -> MarkdownText:
    """Across models: for each kind of part, the head kind whose key side leans on it most (from the summaries)."""
    lines = []
    for model, (summary, cases, _) in summaries.items():
        if summary.empty:
            continue
        said = []
        for g in GROUPS:
            col = summary[f"k:{g}"]
            kind = col.idxmax()
            if col[kind] >= 0.05:
                said.append(f"{g} for *{kind}* heads ({col[kind]:.0%} of the key side)")
        near = summary["distance"].idxmin()
        lines.append(
            f"- **{model}** ({len(cases)} cases): the key side leans most on " + "; on ".join(said) + ". "
            f"The keys sit closest to the query for *{near}* heads ({summary['distance'][near]:.1f} tokens back)."
        )
    pos = {m: float(c["k:position"].mean()) for m, (_, c, _) in summaries.items() if len(c)}
    if pos:
        top = max(pos, key=lambda m: pos[m])
        none = [m for m, v in pos.items() if v == 0.0]
        lines.append(
            f"- Position embeddings as a key-side part matter most in **{top}** ({pos[top]:.1%} on average)"
            + (
                f"; {', '.join(none)} ha{'s' if len(none) == 1 else 've'} no such part (rotary positions rotate every "
                "pair instead)."
                if none
                else "."
            )
        )
    return MarkdownText("\n".join(lines))
