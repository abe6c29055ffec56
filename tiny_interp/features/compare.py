"""Neurons against features on the same model: for each word class, the unit whose top activating tokens are most
often words of that class (its precision among its top-k examples), best neuron beside best feature."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..interp.atlas import Atlas


def class_precision(atlas: Atlas, ids: np.ndarray, min_examples: int = 8) -> tuple[int, float, int]:
    """(best unit (flat index), its precision, its number of examples): the fraction of a unit's top-k examples
    centred on a token of the class; units with fewer than ``min_examples`` recorded examples are skipped."""
    W = int(atlas.meta["config"]["window"])
    centre = np.asarray(atlas.a["top_window_tokens"][:, :, W]).astype(np.int64)  # [units, k]
    filled = np.isfinite(np.asarray(atlas.a["top_values"], dtype=np.float32)) & (centre >= 0)
    hits = np.isin(centre, ids) & filled
    n = filled.sum(1)
    precision = np.where(n >= min_examples, hits.sum(1) / np.maximum(n, 1), -1.0)
    best = int(np.argmax(precision))
    return best, float(precision[best]), int(n[best])


def neurons_vs_features(neurons: Atlas, features: Atlas, classes: dict[str, Iterable[int]] | None = None) -> Any:
    """One row per word class (default: the paper's names / actions / adjectives): best neuron and best feature
    with their precisions among their top examples."""
    import pandas as pd

    from ..workbench.paper import paper_word_classes

    table = classes if classes is not None else paper_word_classes(neurons.tokenizer)
    rows = []
    for name, token_ids in table.items():
        ids = np.array(sorted(token_ids), dtype=np.int64)
        n_best, n_prec, _ = class_precision(neurons, ids)
        f_best, f_prec, _ = class_precision(features, ids)
        rows.append(
            {
                "class": name,
                "tokens": len(ids),
                "neuron": f"L{n_best // neurons.d_mlp}N{n_best % neurons.d_mlp}",
                "neuron_precision": n_prec,
                "feature": f"{f_best // features.d_mlp}/{f_best % features.d_mlp}",
                "feature_precision": f_prec,
            }
        )
    return pd.DataFrame(rows)
