"""LLM-free story metrics: diversity, novelty against a training set (paper section 4.4), vocabulary simplicity and
repetition. Bits per byte lives in ``tiny_interp.eval.bpb``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..lexicon import simple_vocabulary, tokenize_words
from .ngrams import NGramIndex, Vocab, ngram_hashes


def _ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct n-grams over all n-grams, pooled across the texts (higher = more diverse)."""
    grams = [g for t in texts for g in _ngrams(tokenize_words(t), n)]
    return len(set(grams)) / len(grams) if grams else float("nan")


def self_similarity(texts: Sequence[str], n: int = 2) -> dict[str, float]:
    """For each text, the best Rouge-n F1 against any *other* text of the set; mean and max over the set.

    High values mean the model keeps telling the same story (mode collapse)."""
    if len(texts) < 2:
        return {"mean_best_rouge": float("nan"), "max_best_rouge": float("nan")}
    index = NGramIndex(texts, n=n)
    best = [index.best_rouge(t, exclude=i, exact=len(texts) <= 300)["f1"] for i, t in enumerate(texts)]
    return {"mean_best_rouge": float(np.mean(best)), "max_best_rouge": float(np.max(best))}


def kgram_overlap(texts: Sequence[str], index: NGramIndex) -> float:
    """Share of the texts' k-grams (k = the index's n) that occur anywhere in the indexed training stories."""
    hits = total = 0
    for t in texts:
        h = ngram_hashes(np.asarray(index.vocab.encode(t), dtype=np.int32), index.n)
        if index.keep_mod > 1:
            h = h[(h % np.uint64(index.keep_mod)) == 0]
        hits += int(index.contains(h).sum())
        total += len(h)
    return hits / total if total else float("nan")


def novelty(
    texts: Sequence[str],
    train: Sequence[str],
    k: int = 4,
    n: int = 2,
    keep_mod: int = 1,
    top: int = 200,
    index_k: NGramIndex | None = None,
    index_rouge: NGramIndex | None = None,
) -> dict[str, Any]:
    """Section 4.4 of the paper: how much of the generated text is copied from the training set.

    ``kgram_overlap``: share of generated k-grams seen in training; ``best_rouge``: per text, the highest Rouge-n
    F1 against any training story (retrieved through the inverted index, then scored exactly)."""
    vocab = Vocab()
    index_k = index_k or NGramIndex(train, n=k, keep_mod=keep_mod, vocab=vocab)
    index_rouge = index_rouge or (index_k if k == n else NGramIndex(train, n=n, keep_mod=keep_mod, vocab=vocab))
    best = [index_rouge.best_rouge(t, top=top) for t in texts]
    f1 = [b["f1"] for b in best]
    return {
        f"kgram_overlap_{k}": kgram_overlap(texts, index_k),
        f"best_rouge{n}_mean": float(np.mean(f1)) if f1 else float("nan"),
        f"best_rouge{n}_max": float(np.max(f1)) if f1 else float("nan"),
        f"best_rouge{n}_precision_mean": float(np.mean([b["precision"] for b in best])) if best else float("nan"),
        "best_match": [b["story"] for b in best],
        "train_stories": len(index_rouge),
    }


def vocabulary_simplicity(texts: Sequence[str], top: int = 20) -> dict[str, Any]:
    """Share of word tokens outside the simple-word lists (with their inflections, function words and common story
    names), and the most frequent such words."""
    vocab = simple_vocabulary()
    words = [w for t in texts for w in tokenize_words(t)]
    outside = Counter(w for w in words if w not in vocab)
    n_out = sum(outside.values())
    return {"outside_share": n_out / len(words) if words else float("nan"), "top_outside": outside.most_common(top)}


def repetition(texts: Sequence[str], n: int = 4) -> dict[str, float]:
    """``rep_n``: mean share of each text's n-grams that repeat an earlier n-gram of the same text; ``looping``:
    share of texts that repeat some sentence verbatim."""
    reps, loops = [], 0
    for t in texts:
        grams = _ngrams(tokenize_words(t), n)
        if grams:
            reps.append(1 - len(set(grams)) / len(grams))
        sents = [s.strip().lower() for s in t.replace("!", ".").replace("?", ".").split(".") if len(s.split()) >= 3]
        loops += len(sents) != len(set(sents))
    return {
        f"rep_{n}": float(np.mean(reps)) if reps else float("nan"),
        "looping": loops / len(texts) if texts else float("nan"),
    }


def story_metrics(
    texts: Sequence[str],
    train: Sequence[str] | None = None,
    *,
    k: int = 4,
    keep_mod: int = 1,
    index_k: NGramIndex | None = None,
    index_rouge: NGramIndex | None = None,
) -> dict[str, Any]:
    """Every LLM-free metric of one set of texts (novelty only when training stories or indexes are given)."""
    out: dict[str, Any] = {"n_texts": len(texts)}
    for n in (1, 2, 3):
        out[f"distinct_{n}"] = distinct_n(texts, n)
    out["self_similarity"] = self_similarity(texts)
    out["simplicity"] = vocabulary_simplicity(texts)
    out["repetition"] = repetition(texts)
    if train is not None or index_k is not None:
        out["novelty"] = novelty(texts, train or [], k=k, keep_mod=keep_mod, index_k=index_k, index_rouge=index_rouge)
    return out
