"""Scores of a scorer's answers against held-out labels: balanced accuracy, F1, AUROC (when the answers are graded
probabilities, not just yes/no), and stratified bootstrap confidence intervals; and set-level means with
bootstrap intervals over units."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from jaxtyping import Float, Int

METRICS = ("balanced_accuracy", "f1", "auroc")


def _split(labels: Sequence[int], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape:
        raise ValueError(f"{len(y)} labels but {len(s)} scores")
    return s[y == 1], s[y == 0]


def _rates(tp: np.ndarray, fp: np.ndarray, P: int, N: int) -> dict[str, np.ndarray]:
    """Balanced accuracy and F1 from true / false positive counts (any shape) among P positives and N negatives."""
    bal = 0.5 * (tp / P + (N - fp) / N)
    denom = 2 * tp + fp + (P - tp)
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(denom, dtype=np.float64), where=denom > 0)
    return {"balanced_accuracy": bal, "f1": f1}


def _draw_counts(rng: np.random.Generator, n: int, size: int) -> Int[np.ndarray, "b n"]:
    """How often each of n items is drawn in each of ``size`` resamples with replacement."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=size)


def _wins(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """1 where a positive outscores a negative, 0.5 on ties (the Mann-Whitney form of AUROC); broadcasts."""
    d = pos - neg
    return (d > 0) + 0.5 * (d == 0)


def graded(scores: Sequence[float]) -> bool:
    """Whether the answers are probabilities rather than plain yes/no (0/1), so an AUROC means something."""
    return any(float(s) not in (0.0, 1.0) for s in scores)


def unit_scores(
    labels: Sequence[int], scores: Sequence[float], n_bootstrap: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Metrics and 95% bootstrap intervals (positives and negatives resampled separately, so every replicate
    has both classes). AUROC is None when the answers are plain yes/no."""
    return unit_scores_many([(labels, scores)], n_bootstrap, seed)[0]


def _bootstrap_cis(
    rng: np.random.Generator,
    hit_p: Float[np.ndarray, "g p"],
    hit_n: Float[np.ndarray, "g n"],
    wins: Float[np.ndarray, "a p n"],
    n_bootstrap: int,
) -> tuple[dict[str, list], Any]:
    """95% intervals of balanced accuracy and F1 for every unit of a group, and of AUROC for the graded ones."""
    if n_bootstrap <= 0:
        return {}, iter(())
    P, N = hit_p.shape[1], hit_n.shape[1]
    cp, cn = _draw_counts(rng, P, n_bootstrap), _draw_counts(rng, N, n_bootstrap)  # [B, P], [B, N]
    reps = _rates(cp @ hit_p.T, cn @ hit_n.T, P, N)  # [B, units]: one matrix product per group
    cis = {k: np.percentile(v, [2.5, 97.5], axis=0).T.tolist() for k, v in reps.items()}
    if not len(wins):
        return cis, iter(())
    # AUROC of a replicate: the mean of the pairwise wins, weighted by how often each pair was drawn
    auc = np.einsum("bp,gpn,bn->gb", cp, wins, cn) / (P * N)
    return cis, iter(np.percentile(auc, [2.5, 97.5], axis=1).T.tolist())


def unit_scores_many(
    answers: Sequence[tuple[Sequence[int], Sequence[float]]], n_bootstrap: int = 1000, seed: int = 0
) -> list[dict[str, Any]]:
    """``unit_scores`` of many units at once: units with as many positives and negatives share one set of
    bootstrap draws and are computed as one array (thousands of units in a second, not a minute)."""
    split = [_split(y, s) for y, s in answers]
    for pos, neg in split:
        if not len(pos) or not len(neg):
            raise ValueError(f"need both classes, got {len(pos)} positive and {len(neg)} negative labels")
    out: list[dict[str, Any]] = [{} for _ in answers]
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (pos, neg) in enumerate(split):
        groups.setdefault((len(pos), len(neg)), []).append(i)
    rng = np.random.default_rng(seed)
    for (P, N), members in sorted(groups.items()):
        pos = np.stack([split[i][0] for i in members])  # [units, P]
        neg = np.stack([split[i][1] for i in members])
        hit_p, hit_n = (pos >= 0.5).astype(np.float64), (neg >= 0.5).astype(np.float64)  # answers thresholded
        point = _rates(hit_p.sum(1), hit_n.sum(1), P, N)
        wins = _wins(pos[:, :, None], neg[:, None, :])  # [units, P, N]
        has_auc = [graded(answers[i][1]) for i in members]
        cis, auc_ci = _bootstrap_cis(rng, hit_p, hit_n, wins[has_auc], n_bootstrap)
        for j, i in enumerate(members):
            res: dict[str, Any] = {k: float(v[j]) for k, v in point.items()}
            res["auroc"] = float(wins[j].mean()) if has_auc[j] else None
            res["n_pos"], res["n_neg"] = P, N
            if n_bootstrap > 0:
                res["ci95"] = {k: v[j] for k, v in cis.items()}
                if has_auc[j]:
                    res["ci95"]["auroc"] = next(auc_ci)
            out[i] = res
    return out


def set_summary(values: Sequence[float | None], n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Mean over units with a 95% bootstrap interval over units (None values, unscored units, are left out)."""
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=np.float64)
    if not len(v):
        return {"n": 0, "mean": None, "ci95": None}
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (n_bootstrap, len(v)))].mean(1) if n_bootstrap > 0 else v[None]
    return {
        "n": int(len(v)),
        "mean": float(v.mean()),
        "ci95": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))],
    }


def said_fires_by_kind(kinds: Sequence[str], scores: Sequence[float]) -> dict[str, float]:
    """Share of snippets of each kind (q1..qN, hard, random; peak, decoy) that the scorer said fire (>= 0.5): where
    an explanation stops working (weak quantiles) or over-reaches (hard negatives)."""
    out: dict[str, list[float]] = {}
    for k, s in zip(kinds, scores):
        out.setdefault(k, []).append(float(s >= 0.5))
    return {k: sum(v) / len(v) for k, v in sorted(out.items())}


def scorer_summary(entries: list[dict[str, Any]], scorer: str, n_bootstrap: int) -> dict[str, Any]:
    """Set means with intervals of a scorer's metrics, and how many units were scored, failed, skipped (and, for
    simulation, had no logprobs to read)."""
    metrics = ("correlation",) if scorer == "simulation" else ("balanced_accuracy", "f1", "auroc")
    out: dict[str, Any] = {m: set_summary([e.get(m) for e in entries], n_bootstrap) for m in metrics}
    out |= {
        "scored": sum(1 for e in entries if metrics[0] in e),
        "failed": sum(1 for e in entries if "failure" in e),
        "skipped": sum(1 for e in entries if "skipped" in e),
    }
    if scorer == "simulation":
        out["unavailable"] = sum(1 for e in entries if "unavailable" in e)
    return out


def unit_metrics(
    scores: dict[str, dict[str, Any]], n_bootstrap: int, asked: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """scorer -> unit -> metrics (answered units, all at once) or the skip / failure record (simulation: its
    score as answered)."""
    out: dict[str, dict[str, Any]] = {
        s: {k: rounded(a) for k, a in v.items() if "scores" not in a} for s, v in scores.items()
    }
    answered = [(s, k, a) for s in scores if s in asked for k, a in scores[s].items() if "scores" in a]
    many = unit_scores_many([(a["labels"], a["scores"]) for _, _, a in answered], n_bootstrap)
    for (s, k, a), m in zip(answered, many):
        out[s][k] = rounded({**m, "said_fires": said_fires_by_kind(a["kinds"], a["scores"])})
    return out


def rounded(x: Any) -> Any:
    """Floats to 4 places, in nested dicts and lists too (result files stay small and diffable)."""
    if isinstance(x, float):
        return round(x, 4)
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [rounded(v) for v in x]
    return x
