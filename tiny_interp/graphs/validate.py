"""Does the graph predict the real model? Ablate features in the real model and compare with the graph.

The graph's prediction for ablating feature s is linear: the target logit moves by ``-(total effect of s)``, the
sum over all paths from s to the logit of the products of edge weights per unit of each intermediate feature's
activation. The real model is not linear (features switch off, attention and norms move), so the two differ; the
correlation across features says how much the graph can be trusted on this prompt.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from ..features.sae import SAE
from .graph import AttributionGraph
from .interventions import ablate, intervene


def total_effects(graph: AttributionGraph, logit: int = 0) -> Float[Tensor, " n_features"]:
    """Each feature's total linear effect on logit node ``logit`` at its real activation: the predicted drop of the
    logit when the feature is ablated."""
    n_f = graph.n_features
    A = graph.adjacency.double()
    acts = graph.activations.double().clamp(min=1e-12)
    per_unit = A[:n_f, :n_f] / acts[None, :]  # [target, source] effect of one unit of the source
    direct = A[graph.logit_start + logit, :n_f]
    # d = direct/acts + per_unit^T d: a path has at most one feature per layer, so n_layers rounds settle it
    d = direct / acts
    for _ in range(graph.n_layers + 1):
        d = direct / acts + per_unit.T @ d
    return (acts * d).float()


@dataclass(frozen=True)
class AblationCheck:
    k: int
    top_effect: float  # |change of the target logit| ablating the k features of largest predicted effect together
    random_effect: float  # the same for k random active features, mean over draws
    correlation: float  # Pearson r, predicted vs measured single-feature ablation effects
    n_compared: int
    predicted: list[float]
    measured: list[float]


def _measured(
    model: Any, tcs: Sequence[SAE], ids: Tensor, graph: AttributionGraph, nodes: Sequence[int], token: int, base: float
) -> float:
    edits = [ablate(int(graph.features[n][0]), int(graph.features[n][2]), pos=int(graph.features[n][1])) for n in nodes]
    return base - float(intervene(model, tcs, ids, edits)[-1, token])


def ablation_check(
    model: Any,
    transcoders: Sequence[SAE],
    graph: AttributionGraph,
    k: int = 10,
    n_compare: int = 40,
    n_random: int = 10,
    seed: int = 0,
) -> AblationCheck:
    """Top-k attributed vs k random active features, ablated in the real model; and predicted vs measured effects
    of single ablations for the ``n_compare`` features of largest predicted effect."""
    ids = torch.tensor(graph.input_ids)
    token = graph.logit_ids[0]
    base = float(intervene(model, transcoders, ids, [])[-1, token])
    pred = total_effects(graph)
    order = pred.abs().argsort(descending=True).tolist()
    top = abs(_measured(model, transcoders, ids, graph, order[:k], token, base))
    rng = random.Random(seed)
    rand = [
        abs(_measured(model, transcoders, ids, graph, rng.sample(range(graph.n_features), k), token, base))
        for _ in range(n_random)
    ]
    compare = order[:n_compare]
    measured = [_measured(model, transcoders, ids, graph, [n], token, base) for n in compare]
    predicted = [float(pred[n]) for n in compare]
    r = float(torch.corrcoef(torch.tensor([predicted, measured]))[0, 1]) if len(compare) > 2 else float("nan")
    return AblationCheck(k, top, sum(rand) / len(rand), r, len(compare), predicted, measured)
