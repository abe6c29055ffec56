"""Scores of a scorer's answers against held-out labels: balanced accuracy, F1, AUROC (when the answers are graded
probabilities, not just yes/no), and stratified bootstrap confidence intervals; and set-level means with
bootstrap intervals over units."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from jaxtyping import Float, Int

METRICS = ("balanced_accuracy", "f1", "auroc")


def _split(labels: Sequence[int], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape:
        raise ValueError(f"{len(y)} labels but {len(s)} scores")
    return s[y == 1], s[y == 0]


def _rates(pos: Float[np.ndarray, "... p"], neg: Float[np.ndarray, "... n"]) -> dict[str, np.ndarray]:
    """Balanced accuracy and F1 of the 0.5-thresholded scores (leading axes are bootstrap replicates)."""
    tp = (pos >= 0.5).sum(-1).astype(np.float64)
    fn = pos.shape[-1] - tp
    fp = (neg >= 0.5).sum(-1).astype(np.float64)
    tn = neg.shape[-1] - fp
    bal = 0.5 * (tp / pos.shape[-1] + tn / neg.shape[-1])
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(denom), where=denom > 0)
    return {"balanced_accuracy": bal, "f1": f1}


def _wins(pos: np.ndarray, neg: np.ndarray) -> Float[np.ndarray, "p n"]:
    """1 where a positive outscores a negative, 0.5 on ties (the Mann-Whitney form of AUROC)."""
    d = pos[:, None] - neg[None, :]
    return (d > 0) + 0.5 * (d == 0)


def graded(scores: Sequence[float]) -> bool:
    """Whether the answers are probabilities rather than plain yes/no (0/1), so an AUROC means something."""
    return any(float(s) not in (0.0, 1.0) for s in scores)


def unit_scores(labels: Sequence[int], scores: Sequence[float], n_bootstrap: int = 1000, seed: int = 0
                ) -> dict[str, Any]:
    """Metrics and 95% bootstrap intervals (positives and negatives resampled separately, so every replicate
    has both classes). AUROC is None when the answers are plain yes/no."""
    pos, neg = _split(labels, scores)
    if not len(pos) or not len(neg):
        raise ValueError(f"need both classes, got {len(pos)} positive and {len(neg)} negative labels")
    out: dict[str, Any] = {k: float(v) for k, v in _rates(pos, neg).items()}
    has_auc = graded(scores)
    wins = _wins(pos, neg)
    out["auroc"] = float(wins.mean()) if has_auc else None
    out["n_pos"], out["n_neg"] = int(len(pos)), int(len(neg))
    if n_bootstrap > 0:
        rng = np.random.default_rng(seed)
        ip: Int[np.ndarray, "b p"] = rng.integers(0, len(pos), (n_bootstrap, len(pos)))
        ineg: Int[np.ndarray, "b n"] = rng.integers(0, len(neg), (n_bootstrap, len(neg)))
        reps = _rates(pos[ip], neg[ineg])
        if has_auc:
            reps["auroc"] = wins[ip[:, :, None], ineg[:, None, :]].mean(axis=(1, 2))
        out["ci95"] = {k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for k, v in reps.items()}
    return out


def set_summary(values: Sequence[float], n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Mean over units with a 95% bootstrap interval over units (None values, unscored units, are left out)."""
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=np.float64)
    if not len(v):
        return {"n": 0, "mean": None, "ci95": None}
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (n_bootstrap, len(v)))].mean(1) if n_bootstrap > 0 else v[None]
    return {"n": int(len(v)), "mean": float(v.mean()),
            "ci95": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]}


def said_fires_by_kind(kinds: Sequence[str], scores: Sequence[float]) -> dict[str, float]:
    """Share of snippets of each kind (q1..qN, hard, random; peak, decoy) that the scorer said fire (>= 0.5): where
    an explanation stops working (weak quantiles) or over-reaches (hard negatives)."""
    out: dict[str, list[float]] = {}
    for k, s in zip(kinds, scores):
        out.setdefault(k, []).append(float(s >= 0.5))
    return {k: sum(v) / len(v) for k, v in sorted(out.items())}
