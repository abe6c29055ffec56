"""Word n-grams as 64-bit hashes, and an inverted index from n-gram to story for corpus-scale similarity search.

Stories are tokenized into lowercase words, words into integer ids, and each n-gram into one uint64 hash computed
with vectorised numpy over many stories at once (no Python loop per n-gram), so indexing the full TinyStories
training set is a few minutes of CPU. ``keep_mod`` > 1 keeps only n-grams whose hash is 0 mod ``keep_mod``: a
*consistent* sample (the same n-gram is kept in every story), so overlaps and candidate rankings stay unbiased while
the index shrinks by that factor.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from jaxtyping import Int, UInt64

from ..lexicon import tokenize_words

_MUL = np.uint64(0x9E3779B97F4A7C15)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads bits so ``hash % keep_mod`` is a fair sample."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


class _Ids(dict):
    def __missing__(self, word: str) -> int:
        self[word] = i = len(self)
        return i


class Vocab:
    """Word -> id, growing as new words are seen (ids are stable for the life of the object)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = _Ids()

    def encode(self, text: str) -> list[int]:
        return list(map(self.ids.__getitem__, tokenize_words(text)))

    def encode_many(self, texts: Sequence[str]) -> tuple[list[int], list[int]]:
        """Ids of all texts concatenated, and each text's length (one regex pass over the whole batch)."""
        lengths = []
        words: list[str] = []
        for t in texts:
            w = tokenize_words(t)
            lengths.append(len(w))
            words += w
        return list(map(self.ids.__getitem__, words)), lengths


@dataclass
class Encoded:
    """Stories as one flat array of word ids plus offsets: story i is ``ids[offsets[i]:offsets[i+1]]``."""

    ids: Int[np.ndarray, " tokens"]
    offsets: Int[np.ndarray, " stories_plus_1"]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def story(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]


def encode(texts: Sequence[str], vocab: Vocab) -> Encoded:
    ids, lengths = vocab.encode_many(texts)
    return Encoded(np.asarray(ids, dtype=np.int32), np.cumsum([0] + lengths, dtype=np.int64))


def ngram_hashes(ids: np.ndarray, n: int) -> UInt64[np.ndarray, " ngrams"]:
    """Hashes of the n-grams of one id sequence (empty when shorter than n)."""
    if len(ids) < n:
        return np.zeros(0, dtype=np.uint64)
    x = ids.astype(np.uint64)
    h = np.zeros(len(ids) - n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = (h + x[j : len(ids) - n + 1 + j] + np.uint64(1)) * _MUL
        return _mix(h)


def corpus_ngrams(enc: Encoded, n: int, keep_mod: int = 1) -> tuple[UInt64[np.ndarray, " m"], Int[np.ndarray, " m"]]:
    """(hash, story index) of every n-gram of every story, n-grams that cross story boundaries excluded."""
    ids, off = enc.ids, enc.offsets
    doc = np.repeat(np.arange(len(enc), dtype=np.int64), np.diff(off))
    if len(ids) < n:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    h = ngram_hashes(ids, n)
    start_doc = doc[: len(h)]
    valid = start_doc == doc[n - 1 :]
    if keep_mod > 1:
        valid &= (h % np.uint64(keep_mod)) == 0
    return h[valid], start_doc[valid]


def sampled(h: np.ndarray, keep_mod: int) -> np.ndarray:
    return h if keep_mod <= 1 else h[(h % np.uint64(keep_mod)) == 0]


def rouge_n(query: np.ndarray, ref: np.ndarray) -> tuple[float, float, float]:
    """(precision, recall, F1) of n-gram hash multisets ``query`` against ``ref`` (clipped counts)."""
    if len(query) == 0 or len(ref) == 0:
        return 0.0, 0.0, 0.0
    qk, qc = np.unique(query, return_counts=True)
    rk, rc = np.unique(ref, return_counts=True)
    _, qi, ri = np.intersect1d(qk, rk, assume_unique=True, return_indices=True)
    overlap = float(np.minimum(qc[qi], rc[ri]).sum())
    p, r = overlap / len(query), overlap / len(ref)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


class NGramIndex:
    """Inverted index: n-gram hash -> sorted story indices containing it (CSR arrays, one entry per pair)."""

    def __init__(
        self,
        texts: Sequence[str] | Iterable[str],
        n: int = 2,
        keep_mod: int = 1,
        vocab: Vocab | None = None,
        chunk: int = 20000,
    ):
        self.n, self.keep_mod = n, keep_mod
        self.vocab = vocab or Vocab()
        parts: list[Encoded] = []
        keys, docs = [], []
        base = 0
        buf: list[str] = []

        def flush() -> None:
            nonlocal base
            enc = encode(buf, self.vocab)
            h, d = corpus_ngrams(enc, n, keep_mod)
            keys.append(h)
            docs.append(d + base)
            parts.append(enc)
            base += len(enc)
            buf.clear()

        for t in texts:
            buf.append(t)
            if len(buf) >= chunk:
                flush()
        if buf or not parts:
            flush()
        self.enc = Encoded(
            np.concatenate([p.ids for p in parts]),
            np.concatenate([[0]] + [p.offsets[1:] + sum(len(q.ids) for q in parts[:i]) for i, p in enumerate(parts)]),
        )
        h = np.concatenate(keys)
        d = np.concatenate(docs)
        order = np.lexsort((d, h))
        h, d = h[order], d[order]
        keep = np.ones(len(h), dtype=bool)
        keep[1:] = (h[1:] != h[:-1]) | (d[1:] != d[:-1])  # one posting per (n-gram, story)
        h, d = h[keep], d[keep]
        self.keys, starts = np.unique(h, return_index=True)
        self.starts = np.append(starts, len(h)).astype(np.int64)
        self.docs = d.astype(np.int32)

    def __len__(self) -> int:
        return len(self.enc)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        """Whether each hash occurs anywhere in the indexed stories."""
        if len(self.keys) == 0:
            return np.zeros(len(hashes), dtype=bool)
        pos = np.searchsorted(self.keys, hashes).clip(max=len(self.keys) - 1)
        return self.keys[pos] == hashes

    def candidates(self, hashes: np.ndarray, top: int, postings_budget: int, exclude: int | None = None) -> np.ndarray:
        """Stories sharing the most (sampled) n-grams with the query: rarest n-grams first, as many as fit the
        postings budget (the very common ones, like "once upon", rank nothing and cost the most)."""
        q = np.unique(sampled(hashes, self.keep_mod))
        if len(q) == 0 or len(self.keys) == 0:
            return np.zeros(0, dtype=np.int64)
        q = q[self.contains(q)]
        if len(q) == 0:
            return np.zeros(0, dtype=np.int64)
        k = np.searchsorted(self.keys, q)
        df = self.starts[k + 1] - self.starts[k]
        order = np.argsort(df, kind="stable")
        k, df = k[order], df[order]
        n_use = max(1, int(np.searchsorted(np.cumsum(df), postings_budget, side="right")))
        hits = np.concatenate([self.docs[self.starts[j] : self.starts[j + 1]] for j in k[:n_use]])
        ids, counts = np.unique(hits, return_counts=True)
        if exclude is not None:
            mask = ids != exclude
            ids, counts = ids[mask], counts[mask]
        best = np.argsort(-counts, kind="stable")[:top]
        return ids[best].astype(np.int64)

    def best_rouge(
        self,
        text: str,
        top: int = 200,
        postings_budget: int = 2_000_000,
        exclude: int | None = None,
        exact: bool = False,
    ) -> dict[str, float | int]:
        """The indexed story with the highest Rouge-n F1 against ``text`` (and that match's precision/recall).

        Candidates come from the index (see ``candidates``) and are then scored exactly; ``exact=True`` scores
        every story instead (for checking the retrieval, or for small sets)."""
        q = ngram_hashes(np.asarray(self.vocab.encode(text), dtype=np.int32), self.n)
        cands = np.arange(len(self)) if exact else self.candidates(q, top, postings_budget, exclude)
        best = {"f1": 0.0, "precision": 0.0, "recall": 0.0, "story": -1}
        for c in cands:
            c = int(c)
            if c == exclude:
                continue
            p, r, f = rouge_n(q, ngram_hashes(self.enc.story(c), self.n))
            if f > best["f1"]:
                best = {"f1": f, "precision": p, "recall": r, "story": c}
        return best
