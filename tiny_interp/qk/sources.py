"""An earlier head's term split over the positions it read: the head's output at a position is the attention-weighted
sum of its value vectors, ``sum_s A[p, s] v_s W_O``, and the form is linear, so its marginal splits exactly over the
source positions s. This is what makes ``L2H5 from " Tom"@7`` a measured statement rather than the head's argmax."""

from __future__ import annotations

from jaxtyping import Float
from torch import Tensor

from ..graphs.frozen import ov_map
from .bilinear import HeadForm, as_positions, block
from .engine import LayerSplit, QKExplainer
from .terms import Term


def source_values(
    ex: QKExplainer, split: LayerSplit, form: HeadForm, term: Term, side: str, other: Float[Tensor, " d_head"]
) -> Float[Tensor, " pos"]:
    """Each source position's share of an earlier head's term; ``other``: the other side's total vector times the
    attention scale, so the shares sum to the term's value."""
    layer, head, pos = term.detail["layer"], term.detail["head"], term.detail["pos"]
    attn = block(ex.model, layer).attn
    v = split.residual.values[layer][:, head // (attn.n_heads // attn.kv_heads)]  # [source, d_head]
    weights = split.residual.patterns[layer][head, pos].to(v.dtype)
    parts = (weights[:, None] * v) @ ov_map(ex.model, layer).W_O[head]
    return form.project(parts, as_positions(pos, len(parts)), side) @ other


def add_sources(
    ex: QKExplainer,
    split: LayerSplit,
    form: HeadForm,
    ts: list[Term],
    side: str,
    other: Float[Tensor, " d_head"],
    top: int,
    n: int = 3,
) -> list[Term]:
    """The terms, the ``top`` largest earlier heads among them with their ``n`` largest source positions."""
    out = []
    for rank, t in enumerate(ts):
        if rank < top and t.detail.get("kind") == "head":
            vals = source_values(ex, split, form, t, side, other)
            idx = vals.abs().argsort(descending=True)[:n].tolist()
            sources = [[i, split.labeller.tokens[i], float(vals[i])] for i in idx]
            t = Term(t.id, t.label, t.value, {**t.detail, "sources": sources})
        out.append(t)
    return out
