"""Compute the attribution graph of a prompt: every direct linear effect between its nodes.

The local replacement model (``frozen``) is linear in what its sources write into the residual stream: token
embeddings enter block 0, features and error terms enter after their layer's MLP. One backward pass of that linear
map per target (batched with ``vmap``) gives the gradient of the target's input at every write point; the dot
product with each source's write vector is the edge. Paths through other features are not direct effects (a feature
is a node), while the residual stream, frozen attention (OV) and the transcoders' linear skip terms are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..features.sae import SAE
from ..model.transformer import TinyLM
from .config import GraphConfig
from .frozen import DTYPE, LocalReplacement, freeze
from .graph import AttributionGraph


@dataclass
class Sources:
    """Every node that writes into the residual stream, in column order: active features, errors, embeddings."""

    features: Int[Tensor, "n_active 3"]
    values: Float[Tensor, " n_active"]
    errors: Float[Tensor, "layer pos d_model"]
    embedding: Float[Tensor, "pos d_model"]

    @property
    def n(self) -> int:
        L, T, _ = self.errors.shape
        return int(self.features.shape[0]) + L * T + T


@dataclass(frozen=True)
class Target:
    """A node whose input is read from the frozen model: a feature (layer, pos, index) or a logit (layer None)."""

    layer: int | None
    pos: int
    index: int


def active_features(rep: LocalReplacement, skip_first: bool = False) -> tuple[Int[Tensor, "n 3"], Float[Tensor, " n"]]:
    """(layer, position, feature) and activation of every nonzero transcoder feature, ordered by layer then
    position then index (the first position's left out with ``skip_first``)."""
    rows, values = [], []
    for l, tc in enumerate(rep.transcoders):
        acts = tc.encode(rep.mlp_input(l))
        if skip_first:
            acts[:1] = 0
        pos, feat = acts.nonzero(as_tuple=True)
        rows.append(torch.stack([torch.full_like(pos, l), pos, feat], dim=1))
        values.append(acts[pos, feat])
    return torch.cat(rows), torch.cat(values)


def make_sources(rep: LocalReplacement, config: GraphConfig) -> Sources:
    """The graph's source nodes under ``config``'s conventions (``zero_first_position``: the first position's
    features and error are no nodes; ``token_only_embeddings``: embedding nodes hold the token's row alone)."""
    feats, values = active_features(rep, config.zero_first_position)
    errors = rep.errors()
    if config.zero_first_position:
        errors[:, :1] = 0
    embedding = rep.token_embedding() if config.token_only_embeddings else rep.embedding()
    return Sources(feats, values, errors, embedding)


def output_tokens(
    logits: Float[Tensor, " vocab"], cfg: GraphConfig, targets: Sequence[int] = ()
) -> tuple[list[int], Tensor]:
    """The most probable next tokens covering ``logit_mass`` of the probability, at most ``max_logits``; tokens in
    ``targets`` come first whatever their probability (to trace a token the model does not favour)."""
    probs = logits.softmax(-1)
    top = probs.sort(descending=True)
    covered = top.values.cumsum(0)
    n = int((covered < cfg.logit_mass).sum()) + 1
    n = max(1, min(n, cfg.max_logits))
    ids = list(dict.fromkeys(list(targets) + top.indices[:n].tolist()))[: max(cfg.max_logits, len(targets))]
    return ids, probs[ids]


def logit_directions(rep: LocalReplacement, demean: bool) -> Float[Tensor, "vocab d_model"]:
    """What a logit node reads from the final norm's output: its unembedding row, less the mean row when demeaned
    (the logit relative to the mean logit)."""
    U = rep.model.unembed.weight.detach().to(DTYPE)
    return U - U.mean(0, keepdim=True) if demean else U


def bias_reads(rep: LocalReplacement) -> tuple[Tensor, Tensor]:
    """What the constant terms alone put into each MLP input and the final norm output."""
    T, d = rep.n_pos, rep.model.cfg.d_model

    def mlp(l: int, x2: Tensor) -> Tensor:
        tc = rep.transcoders[l]
        return tc.b_dec + tc.skip(x2)

    return rep.run(torch.zeros(T, d, dtype=DTYPE), mlp, with_bias=True)


class EdgeComputer:
    """Rows of the adjacency (one per target) against every source, a batch of targets per backward pass."""

    def __init__(
        self, rep: LocalReplacement, sources: Sources, dtype: torch.dtype = torch.float32, demean_logits: bool = False
    ):
        self.rep, self.sources, self.dtype = rep, sources, dtype
        self.linear = rep.linear_part(dtype)
        self.skips: list[Tensor | None] = [
            tc.W_skip.detach().to(dtype) if tc.W_skip is not None else None for tc in rep.transcoders
        ]
        self.unembed = logit_directions(rep, demean_logits).to(dtype)
        self.errors, self.embedding = sources.errors.to(dtype), sources.embedding.to(dtype)
        self.groups = self._write_groups()

    def _write_groups(self) -> list[tuple[int, int, Tensor, Tensor]]:
        """(write point, position, source columns, their write vectors) for the active features of each
        (layer, position): a feature's edge to a target is its write vector dotted with the target's weight on
        the residual stream at its write point."""
        S, out = self.sources, []
        keys = S.features[:, 0] * self.rep.n_pos + S.features[:, 1]
        for key in keys.unique().tolist():
            cols = (keys == key).nonzero().flatten()
            layer, pos = divmod(key, self.rep.n_pos)
            W_dec = self.rep.transcoders[layer].W_dec.detach()
            out.append((layer + 1, pos, cols, (S.values[cols, None] * W_dec[S.features[cols, 2]]).to(self.dtype)))
        return out

    def cotangents(self, targets: list[Target]) -> tuple[Tensor, Tensor]:
        L, T, d = self.rep.n_layers, self.rep.n_pos, self.rep.model.cfg.d_model
        reads = torch.zeros(len(targets), L, T, d, dtype=self.dtype)
        final = torch.zeros(len(targets), T, d, dtype=self.dtype)
        for b, t in enumerate(targets):
            if t.layer is None:
                final[b, t.pos] = self.unembed[t.index]
            else:
                reads[b, t.layer, t.pos] = self.rep.transcoders[t.layer].W_enc[:, t.index].detach()
        return reads, final

    def rows(self, targets: list[Target]) -> Float[Tensor, "batch sources"]:
        L = self.rep.n_layers
        top = max(L if t.layer is None else t.layer + 1 for t in targets)
        grads = self.linear.transpose(*self.cotangents(targets), self.skips, top)  # [B, L + 1, T, d]
        features = torch.zeros(len(targets), self.sources.features.shape[0], dtype=self.dtype)
        for write, pos, cols, vectors in self.groups:
            features[:, cols] = grads[:, write, pos] @ vectors.T
        parts = [
            features,
            torch.einsum("bltd,ltd->blt", grads[:, 1:], self.errors).flatten(1),
            torch.einsum("btd,td->bt", grads[:, 0], self.embedding),
        ]
        return torch.cat(parts, dim=1)


def _row_influence(rows: Tensor, weights: Tensor, source_of_row: Tensor, n_layers: int) -> Tensor:
    """Influence on the outputs of every source, through the rows computed so far (row-normalised |weights|)."""
    norm = rows.abs()
    norm /= norm.sum(1, keepdim=True).clamp(min=1e-12)
    total = torch.zeros(rows.shape[1], dtype=rows.dtype)
    current = weights
    for _ in range(n_layers + 2):  # a path visits at most one feature per layer
        spread = current @ norm
        total += spread
        current = torch.zeros_like(weights)
        has_row = source_of_row >= 0
        current[has_row] = spread[source_of_row[has_row]]
    return total


def _rows_in_batches(edges: EdgeComputer, targets: list[Target], batch_size: int) -> Tensor:
    rows = [edges.rows(targets[s : s + batch_size]).float() for s in range(0, len(targets), batch_size)]
    return torch.cat(rows) if rows else torch.zeros(0, edges.sources.n)


def select_features(
    edges: EdgeComputer, logit_rows: Tensor, logit_probs: Tensor, cfg: GraphConfig
) -> tuple[Tensor, Tensor]:
    """The features to keep (indices into the active ones) and their rows: all when they fit in
    ``max_feature_nodes``, else the most influential, visited in rounds of four batches ordered by their influence
    through the rows found so far (as circuit-tracer does)."""
    S = edges.sources
    n_active = int(S.features.shape[0])
    targets = [Target(int(l), int(p), int(i)) for l, p, i in S.features.tolist()]
    if n_active <= cfg.max_feature_nodes:
        return torch.arange(n_active), _rows_in_batches(edges, targets, cfg.batch_size)
    chosen: list[int] = []
    rows = [logit_rows.float()]
    weights = logit_probs.float()
    while len(chosen) < cfg.max_feature_nodes:
        source_of_row = torch.tensor([-1] * len(logit_probs) + chosen, dtype=torch.long)
        influence = _row_influence(torch.cat(rows), weights, source_of_row, edges.rep.n_layers)[:n_active]
        influence[chosen] = -1.0
        take = min(4 * cfg.batch_size, cfg.max_feature_nodes - len(chosen))
        batch = influence.topk(take).indices.sort().values.tolist()  # by layer: each backward pass stops early
        rows.append(_rows_in_batches(edges, [targets[i] for i in batch], cfg.batch_size))
        weights = torch.cat([weights, torch.zeros(len(batch))])
        chosen += batch
    return torch.tensor(chosen), torch.cat(rows[1:])


def _square(feature_rows: Tensor, logit_rows: Tensor, selected: Tensor, n_active: int, n_rest: int) -> Tensor:
    """[nodes, nodes] adjacency over the selected features, errors, embeddings and logits."""
    keep = torch.cat([selected, torch.arange(n_active, n_active + n_rest)])
    n_f, n_l = int(selected.numel()), int(logit_rows.shape[0])
    N = n_f + n_rest + n_l
    adj = torch.zeros(N, N)
    adj[:n_f, : n_f + n_rest] = feature_rows[:, keep]
    adj[N - n_l :, : n_f + n_rest] = logit_rows[:, keep]
    return adj


@torch.no_grad()
def _node_inputs(rep: LocalReplacement, features: Tensor, logit_ids: list[int], demean: bool) -> tuple[Tensor, Tensor]:
    """(real input, bias) of each selected feature and each logit node."""
    reads_b, final_b = bias_reads(rep)
    real = torch.zeros(features.shape[0], dtype=DTYPE)
    bias = torch.zeros_like(real)
    for l, tc in enumerate(rep.transcoders):
        sel = (features[:, 0] == l).nonzero().flatten()
        pos, feat = features[sel, 1], features[sel, 2]
        real[sel] = tc.pre_acts(rep.mlp_input(l))[pos, feat]
        bias[sel] = tc.pre_acts(reads_b[l])[pos, feat]
    last = rep.n_pos - 1
    U = logit_directions(rep, demean)[logit_ids]
    logits = rep.logits[last, logit_ids] - (rep.logits[last].mean() if demean else 0.0)
    return torch.cat([real, logits]), torch.cat([bias, U @ final_b[last]])


def kl_last(real_logits: Tensor, other_logits: Tensor) -> float:
    p = real_logits.log_softmax(-1)
    return float((p.exp() * (p - other_logits.log_softmax(-1))).sum())


def attribute(
    model: TinyLM,
    transcoders: list[SAE],
    input_ids: Int[Tensor, " pos"],
    tokenizer: Any = None,
    config: GraphConfig = GraphConfig(),
    prompt: str = "",
    targets: Sequence[int] = (),
) -> AttributionGraph:
    """The attribution graph of the next-token prediction after ``input_ids`` (output nodes: ``targets`` first,
    then the most probable tokens)."""
    rep = freeze(model, transcoders, input_ids)
    with torch.no_grad():
        sources = make_sources(rep, config)
        feats, values = sources.features, sources.values
        logit_ids, logit_probs = output_tokens(rep.logits[-1], config, targets)
    edges = EdgeComputer(rep, sources, demean_logits=config.demean_logits)
    with torch.no_grad():
        logit_rows = edges.rows([Target(None, rep.n_pos - 1, k) for k in logit_ids])
        selected, feature_rows = select_features(edges, logit_rows, logit_probs, config)
        order = selected.sort().indices  # keep the layer, position, index order of the active features
        selected, feature_rows = selected[order], feature_rows[order]
        n_rest = rep.n_layers * rep.n_pos + rep.n_pos
        adjacency = _square(feature_rows, logit_rows, selected, int(feats.shape[0]), n_rest)
        real, bias = _node_inputs(rep, feats[selected], logit_ids, config.demean_logits)
        n_f = int(selected.numel())
        node_input = torch.zeros(adjacency.shape[0], dtype=DTYPE)
        node_bias = torch.zeros_like(node_input)
        node_input[:n_f], node_bias[:n_f] = real[:n_f], bias[:n_f]
        node_input[-len(logit_ids) :], node_bias[-len(logit_ids) :] = real[n_f:], bias[n_f:]
        kl = kl_last(rep.logits[-1], rep.replacement_logits(keep_errors=False)[-1])
    ids = input_ids.tolist()
    decode = (lambda i: tokenizer.decode([i])) if tokenizer is not None else str
    return AttributionGraph(
        prompt=prompt,
        input_ids=ids,
        tokens=[decode(i) for i in ids],
        n_layers=rep.n_layers,
        features=feats[selected],
        activations=values[selected].float(),
        logit_ids=logit_ids,
        logit_tokens=[decode(i) for i in logit_ids],
        logit_probs=logit_probs.float(),
        adjacency=adjacency.float(),
        bias=node_bias,
        node_input=node_input,
        error_norms=sources.errors.norm(dim=-1).float(),
        n_active=int(feats.shape[0]),
        kl_without_errors=kl,
        config=config,
    )
