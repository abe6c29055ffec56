"""``attention_why``: why a head's query attends to a key, as labelled terms (pairs, marginals, contrast)."""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from ..errors import DataError
from ..features.sae import SAE
from .engine import AllKeys, LayerSplit, QKExplainer, Side, allowed_keys, check_position, pair_table
from .labels import FeatureInfo, atlas_feature_info
from .residual import PartKey
from .sources import add_sources
from .terms import Contrast, PairTerm, Term, term_id

SCHEMA = "tiny-interp/attention-why/1"


@dataclass(frozen=True)
class AttentionWhy:
    """The explanation of one (layer, head, query, key). ``score`` is the model's own pre-softmax score;
    ``sum(p.value for p in pairs) + rest`` equals it (to float32 rounding), and so do the marginals' sums."""

    layer: int
    head: int
    query: int
    key: int
    score: float
    attention: float
    input_ids: list[int]
    tokens: list[str]
    pairs: list[PairTerm]
    rest: float
    query_marginals: list[Term]
    key_marginals: list[Term]
    contrast: Contrast | None
    key_scores: list[float | None]
    key_weights: list[float]

    @property
    def decomposed(self) -> float:
        return sum(p.value for p in self.pairs) + self.rest

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "layer": self.layer,
            "head": self.head,
            "query": self.query,
            "key": self.key,
            "score": self.score,
            "attention": self.attention,
            "pairs": [p.to_json() for p in self.pairs],
            "rest": self.rest,
            "query_marginals": [t.to_json() for t in self.query_marginals],
            "key_marginals": [t.to_json() for t in self.key_marginals],
            "contrast": self.contrast.to_json() if self.contrast is not None else None,
            "input_ids": self.input_ids,
            "tokens": self.tokens,
            "key_scores": self.key_scores,
            "key_weights": self.key_weights,
        }


def terms(split: LayerSplit, side: Side, values: Float[Tensor, " n"], rich: int, keep: int | None = None) -> list[Term]:
    """Labelled terms, largest first; the ``rich`` largest carry the feature atlas's words. With ``keep``, only
    the ``keep`` largest are kept, and one last term holds the sum of the others (sums stay exact)."""
    ids = split.input_ids.tolist()
    order = values.abs().argsort(descending=True).tolist()
    out = []
    if keep is not None and len(order) > keep + 1:
        rest = float(values[order[keep:]].sum())
        out.append(Term("rest", f"all {len(order) - keep} other parts", rest, {"kind": "rest"}))
        order = order[:keep]
    for rank, i in enumerate(order):
        key = side.keys[i]
        d = split.labeller.describe(key, side.pos, rich=rank < rich)
        out.append(Term(term_id(key, side.pos, ids[side.pos], split.layer), d.pop("label"), float(values[i]), d))
    return sorted(out, key=lambda t: -abs(t.value)) if keep is not None else out


def top_pairs(table: Float[Tensor, "q k"], q: list[Term], k: list[Term], top: int) -> tuple[list[PairTerm], float]:
    flat = table.flatten()
    n = min(top, flat.numel())
    idx = flat.abs().topk(n).indices.tolist()
    pairs = [PairTerm(q[i // table.shape[1]], k[i % table.shape[1]], float(flat[i])) for i in idx]
    return pairs, float(flat.sum()) - sum(p.value for p in pairs)


def contrast(ex: QKExplainer, split: LayerSplit, ak: AllKeys, key: int, allowed: Tensor, top: int) -> Contrast | None:
    """Score of ``key`` minus the attention-weighted mean over the other allowed keys, split by part."""
    others = allowed[allowed != key]
    p = split.pattern[ak.form.head, ak.query.pos, others].double()
    if len(others) == 0 or float(p.sum()) <= 0:
        return None
    w = torch.zeros(split.residual.n_pos, dtype=p.dtype)
    w[others] = p / p.sum()
    k_diff = ak.k_total[key] - w @ ak.k_total
    q_terms = terms(split, ak.query, (ak.query.vecs @ k_diff) * ak.form.attn_scale, top, keep=4 * top)
    r = split.residual
    vals: dict[PartKey, float] = {}
    for c, pk in enumerate(r.dense_keys):
        vals[pk] = float(ak.marg_dense[c, key] - ak.marg_dense[c] @ w)
    fw = torch.where(r.feat_pos == key, 1.0, -w[r.feat_pos]) * ak.marg_feats
    for pk, v in zip(r.feat_keys, fw.tolist()):
        vals[pk] = vals.get(pk, 0.0) + v
    if ak.marg_bias is not None:
        vals[("norm_bias", split.layer, -1)] = float(ak.marg_bias[key] - ak.marg_bias @ w)
    side = Side(torch.zeros(0), list(vals), key)
    k_terms = terms(split, side, torch.tensor(list(vals.values()), dtype=torch.float64), top, keep=4 * top)
    mean_other = float(w @ ak.scores)
    return Contrast(float(ak.scores[key]) - mean_other, mean_other, q_terms, k_terms)


def explain(
    ex: QKExplainer, input_ids: Tensor, layer: int, head: int, query: int, key: int | None = None, top: int = 10
) -> AttentionWhy:
    """The explanation of one cell; ``key=None`` takes the key the head attends to most from this query."""
    n_heads = ex.model.cfg.n_heads
    if not 0 <= head < n_heads:
        raise DataError(f"head {head} does not exist; layer {layer} has heads 0..{n_heads - 1}")
    split = ex.split(input_ids, layer)
    T = split.residual.n_pos
    query = check_position("query", query, T)
    allowed = allowed_keys(split, head, query)
    if key is None:
        key = int(allowed[split.pattern[head, query, allowed].argmax()])
    key = check_position("key", key, T)
    if key not in set(allowed.tolist()):
        raise DataError(f"key {key} is not visible from query {query} in layer {layer} (causal mask or local window)")
    ak = ex.all_keys(split, head, query)
    k_side = ex.key_side(split, ak, key)
    table = pair_table(ak, k_side)
    q_terms, k_terms = terms(split, ak.query, table.sum(1), top), terms(split, k_side, table.sum(0), top)
    scale = ak.form.attn_scale
    q_terms = add_sources(ex, split, ak.form, q_terms, "q", ak.k_total[key] * scale, top)
    k_terms = add_sources(ex, split, ak.form, k_terms, "k", ak.query.vecs.sum(0) * scale, top)
    pairs, rest = top_pairs(table, q_terms, k_terms, top)
    model_scores = split.scores[head, query]
    return AttentionWhy(
        layer=layer,
        head=head,
        query=query,
        key=key,
        score=float(model_scores[key]),
        attention=float(split.pattern[head, query, key]),
        input_ids=[int(i) for i in input_ids.tolist()],
        tokens=list(split.labeller.tokens),
        pairs=pairs,
        rest=rest,
        query_marginals=q_terms,
        key_marginals=k_terms,
        contrast=contrast(ex, split, ak, key, allowed, top),
        key_scores=[
            None if s != s else s for s in model_scores.nan_to_num(nan=float("nan"), neginf=float("nan")).tolist()
        ],
        key_weights=split.pattern[head, query].round(decimals=6).tolist(),
    )


def explainer_for(
    model: Any,
    transcoders: str | os.PathLike | dict[int, SAE] | Sequence[SAE] | None = None,
    tokenizer: Any = None,
    feature_info: FeatureInfo | None = None,
) -> QKExplainer:
    """A ``QKExplainer`` from our TinyLM (+ ``tokenizer``), anything with ``.module`` and ``.tokenizer``, or a model
    directory; ``transcoders``: a directory of transcoders/SAEs, a layer -> dictionary map, or one per layer."""
    from ..interp.seam import fast_module
    from ..model.transformer import TinyLM
    from .dictionaries import as_float64, load_dictionaries

    net: TinyLM | None
    if isinstance(model, (str, os.PathLike)):
        from ..model.opener import open_model

        opened = open_model(model)
        net, tokenizer = opened.module, tokenizer or opened.tokenizer
    elif isinstance(model, TinyLM):
        net = model
    else:
        handle = getattr(model, "module", None)
        net = handle if isinstance(handle, TinyLM) else fast_module(model)
        tokenizer = tokenizer or getattr(model, "tokenizer", None)
    if not isinstance(net, TinyLM):
        raise DataError("attention_why needs our TinyLM module (or a model directory); this model has none")
    if tokenizer is None:
        raise DataError("attention_why needs the model's tokenizer for its labels; pass tokenizer=")
    cfg = net.cfg
    if isinstance(transcoders, (str, os.PathLike)):
        dicts, names = load_dictionaries(transcoders, cfg.n_layers, cfg.d_model)
        feature_info = feature_info or atlas_feature_info(transcoders, names)
    elif isinstance(transcoders, dict):
        dicts = {int(l): as_float64(s) for l, s in transcoders.items()}
    else:
        dicts = {l: as_float64(s) for l, s in enumerate(transcoders or [])}
    return QKExplainer(net, tokenizer, dicts, feature_info)


def encode_prompt(ex: QKExplainer, tokens_or_prompt: str | Sequence[int] | Tensor) -> Tensor:
    """Text as the model reads a story (BOS first, cut to the context), or token ids as given."""
    from ..interp.common import encode

    if isinstance(tokens_or_prompt, str):
        if not tokens_or_prompt.strip():
            raise DataError("the prompt is empty; pass some text, e.g. --prompt 'Lily gave the ball to Tom'")
        ids = encode(ex.tokenizer, [tokens_or_prompt], ex.model.cfg.n_ctx)[0]
        return torch.tensor(ids, dtype=torch.long)
    ids_t = torch.as_tensor(tokens_or_prompt, dtype=torch.long).flatten()
    if len(ids_t) == 0 or len(ids_t) > ex.model.cfg.n_ctx:
        raise DataError(f"{len(ids_t)} token ids given; pass 1..{ex.model.cfg.n_ctx}")
    return ids_t


def attention_why(
    model: Any,
    tokens_or_prompt: str | Sequence[int] | Tensor,
    layer: int,
    head: int,
    query: int = -1,
    key: int | None = None,
    transcoders: str | os.PathLike | dict[int, SAE] | Sequence[SAE] | None = None,
    *,
    tokenizer: Any = None,
    top: int = 10,
    explainer: QKExplainer | None = None,
) -> AttentionWhy:
    """Why head ``head`` of ``layer`` at position ``query`` attends to ``key`` (default: its strongest key).

    ``model``: our TinyLM (with ``tokenizer=``), anything with ``.module`` and ``.tokenizer`` (the model handle) or a
    model directory; ``transcoders``: a directory of per-layer transcoders or ``hook_mlp_out`` SAEs (earlier MLP
    outputs split into features + skip + error), or None (each MLP output whole). Pass ``explainer`` (from
    ``explainer_for``) to reuse one model pass over many heads and queries of the same prompt."""
    ex = explainer or _kept_explainer(model, transcoders, tokenizer)
    return explain(ex, encode_prompt(ex, tokens_or_prompt), layer, head, query, key, top)


# one explainer per (model object, dictionary directory): a handle's repeated calls load the dictionaries and the
# feature atlas once, and reuse the last prompt's model pass
_KEPT: "weakref.WeakKeyDictionary[Any, dict[str, QKExplainer]]" = weakref.WeakKeyDictionary()


def _kept_explainer(model: Any, transcoders: Any, tokenizer: Any) -> QKExplainer:
    if isinstance(model, (str, os.PathLike)) or not isinstance(transcoders, (str, os.PathLike, type(None))):
        return explainer_for(model, transcoders, tokenizer)
    per_model = _KEPT.setdefault(model, {})
    name = "" if transcoders is None else str(transcoders)
    if name not in per_model:
        per_model[name] = explainer_for(model, transcoders, tokenizer)
    return per_model[name]
