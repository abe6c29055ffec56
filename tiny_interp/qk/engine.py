"""Exact QK attribution: a head's pre-softmax score for one query split into pairs of query-side and key-side parts.

``QKExplainer`` runs the real model once per (prompt, layer), splits the residual entering the layer into its parts
(``residual``), and for each head projects every part through the frozen-norm bilinear form (``bilinear``). The
score of key j is then ``sum_a sum_b P[a, b]`` over the query's parts a and key j's parts b; the marginals are the
table's row and column sums. All keys at once cost one projection of the key parts and one matrix-vector product.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..errors import DataError
from ..features.sae import SAE
from ..graphs.frozen import block_name
from ..model.transformer import TinyLM
from .bilinear import HeadForm, as_positions, head_form, norm_scale
from .labels import FeatureInfo, Labeller
from .residual import PartKey, Residual, run_cached, split_residual


class Tokenizer(Protocol):
    """What the labels need of a tokenizer (a Hugging Face one has it)."""

    def decode(self, token_ids: list[int]) -> str: ...


@dataclass(frozen=True)
class LayerSplit:
    """One prompt's residual entering ``layer``, split, with the real pass's scores and pattern of that layer."""

    layer: int
    input_ids: Int[Tensor, " pos"]
    residual: Residual
    scores: Float[Tensor, "heads pos pos"]
    pattern: Float[Tensor, "heads pos pos"]
    labeller: Labeller
    norm_scale: Float[Tensor, " pos"]


@dataclass(frozen=True)
class Side:
    """One position's parts projected into query or key space (norm bias last when the norm has one)."""

    vecs: Float[Tensor, "n d_head"]
    keys: list[PartKey]
    pos: int


@dataclass(frozen=True)
class KeyParts:
    """One head's key-side parts at every position: dense parts, active features, norm bias, their sum."""

    form: HeadForm
    dense: Float[Tensor, "part pos d_head"]
    feats: Float[Tensor, "active d_head"]
    bias: Float[Tensor, "pos d_head"] | None
    k_total: Float[Tensor, "pos d_head"]


@dataclass(frozen=True)
class AllKeys:
    """Key-side parts of every position projected, and each part's marginal for one query."""

    form: HeadForm
    query: Side
    dense: Float[Tensor, "part pos d_head"]
    feats: Float[Tensor, "active d_head"]
    bias: Float[Tensor, "pos d_head"] | None
    marg_dense: Float[Tensor, "part pos"]
    marg_feats: Float[Tensor, " active"]
    marg_bias: Float[Tensor, " pos"] | None
    scores: Float[Tensor, " pos"]
    k_total: Float[Tensor, "pos d_head"]


class QKExplainer:
    """Explains heads of ``model`` (our TinyLM); ``dictionaries``: layer -> float64 SAE/transcoder."""

    def __init__(
        self,
        model: TinyLM,
        tokenizer: Tokenizer,
        dictionaries: dict[int, SAE] | None = None,
        feature_info: FeatureInfo | None = None,
    ):
        self.model, self.tokenizer = model, tokenizer
        self.dictionaries = dictionaries or {}
        self.feature_info = feature_info
        self._splits: dict[tuple[tuple[int, ...], int], LayerSplit] = {}
        self._keys: dict[tuple[int, int], KeyParts] = {}

    def split(self, input_ids: Int[Tensor, " pos"], layer: int) -> LayerSplit:
        """The real pass and the residual split for (prompt, layer), computed once and kept (one prompt at a time)."""
        n = self.model.cfg.n_layers
        if not 0 <= layer < n:
            raise DataError(f"layer {layer} does not exist; the model has layers 0..{n - 1}")
        key = (tuple(input_ids.tolist()), layer)
        if key not in self._splits:
            if self._splits and next(iter(self._splits))[0] != key[0]:
                self._splits.clear()
                self._keys.clear()
            cache = run_cached(self.model, input_ids, layer)
            residual = split_residual(self.model, cache, layer, self.dictionaries)
            decode = self.tokenizer.decode
            tokens = [decode([int(i)]) for i in input_ids.tolist()]
            self._splits[key] = LayerSplit(
                layer=layer,
                input_ids=input_ids,
                residual=residual,
                scores=cache[block_name(layer, "attn.hook_attn_scores")],
                pattern=cache[block_name(layer, "attn.hook_pattern")],
                labeller=Labeller(tokens, layer, residual.patterns, self.feature_info),
                norm_scale=norm_scale(self.model, layer, residual.resid),
            )
        return self._splits[key]

    def query_side(self, split: LayerSplit, form: HeadForm, query: int) -> Side:
        vecs, keys = split.residual.at(query)
        q = form.project(vecs, as_positions(query, len(keys)), "q")
        bias = form.bias_term(as_positions(query, 1), "q")
        if bias is not None:
            q, keys = torch.cat([q, bias]), keys + [("norm_bias", split.layer, -1)]
        return Side(q, keys, query)

    def keys_of(self, split: LayerSplit, head: int) -> KeyParts:
        """Every position's key-side parts projected for one head; kept, since every query of the head reads them."""
        cache_key = (id(split), head)
        if cache_key not in self._keys:
            if len(self._keys) > 64:
                self._keys.clear()
            r = split.residual
            form = head_form(self.model, split.layer, head, r.resid, split.norm_scale)
            pos = torch.arange(r.n_pos)
            dense = form.project(r.dense, pos, "k")
            feats = form.project(r.feat_vecs, r.feat_pos, "k")
            bias = form.bias_term(pos, "k")
            k_total = dense.sum(0).index_add(0, r.feat_pos, feats)
            self._keys[cache_key] = KeyParts(form, dense, feats, bias, k_total + bias if bias is not None else k_total)
        return self._keys[cache_key]

    def all_keys(self, split: LayerSplit, head: int, query: int) -> AllKeys:
        """Every key's decomposed score and part marginals for one (head, query): the fast path."""
        kp = self.keys_of(split, head)
        form = kp.form
        q = self.query_side(split, form, query)
        q_total = q.vecs.sum(0) * form.attn_scale
        marg_dense, marg_feats = kp.dense @ q_total, kp.feats @ q_total
        marg_bias = kp.bias @ q_total if kp.bias is not None else None
        scores = kp.k_total @ q_total
        return AllKeys(form, q, kp.dense, kp.feats, kp.bias, marg_dense, marg_feats, marg_bias, scores, kp.k_total)

    def key_side(self, split: LayerSplit, ak: AllKeys, key: int) -> Side:
        r = split.residual
        mask = r.feat_pos == key
        vecs = torch.cat([ak.dense[:, key], ak.feats[mask]])
        keys = r.dense_keys + [k for k, m in zip(r.feat_keys, mask.tolist()) if m]
        if ak.bias is not None:
            vecs, keys = torch.cat([vecs, ak.bias[key : key + 1]]), keys + [("norm_bias", split.layer, -1)]
        return Side(vecs, keys, key)


def allowed_keys(split: LayerSplit, head: int, query: int) -> Int[Tensor, " keys"]:
    """The keys the query may attend to in the real pass (causal, and gpt-neo's local window)."""
    return torch.isfinite(split.scores[head, query]).nonzero().flatten()


def pair_table(ak: AllKeys, k: Side) -> Float[Tensor, "q k"]:
    return (ak.query.vecs @ k.vecs.T) * ak.form.attn_scale


def check_position(name: str, value: int, n: int) -> int:
    """A position in range (negative counts from the end), or one line saying what is allowed."""
    pos = value + n if value < 0 else value
    if not 0 <= pos < n:
        raise DataError(f"{name} {value} is outside the prompt's {n} tokens (0..{n - 1}, or negative from the end)")
    return pos
