"""Benchmark the n-gram inverted index behind the novelty metrics (paper section 4.4) on the real training split.

Reports ratios, not absolute claims: index build rate (stories/s), best-Rouge-2 query rate through the index versus
scoring every training story, and how often the index finds the same best match as the exhaustive search.

    PYTHONPATH=. python bench/bench_ngram_index.py [N_TRAIN] [N_QUERIES]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tiny_interp.data.stories import read_stories
from tiny_interp.eval.ngrams import NGramIndex

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinystories"


def main() -> None:
    n_train = int(sys.argv[1]) if len(sys.argv) > 1 else None
    n_q = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    train = read_stories(DATA / "train.txt", n_train)
    queries = read_stories(DATA / "valid.txt", n_q)
    mb = sum(len(s) for s in train) / 1e6
    t = time.perf_counter()
    index = NGramIndex(train, n=2)
    build = time.perf_counter() - t
    print(
        f"index: {len(train)} stories ({mb:.1f} MB) in {build:.2f}s = {len(train) / build:,.0f} stories/s, "
        f"{len(index.docs):,} postings"
    )
    t = time.perf_counter()
    fast = [index.best_rouge(q) for q in queries]
    t_fast = (time.perf_counter() - t) / len(queries)
    k = min(5, len(queries))
    t = time.perf_counter()
    exact = [index.best_rouge(q, exact=True) for q in queries[:k]]
    t_exact = (time.perf_counter() - t) / k
    agree = sum(abs(a["f1"] - b["f1"]) < 1e-12 for a, b in zip(fast, exact)) / k
    print(
        f"query: {1 / t_fast:,.1f}/s through the index vs {1 / t_exact:,.2f}/s exhaustive "
        f"(speed-up x{t_exact / t_fast:,.0f}); same best Rouge-2 in {agree:.0%} of {k} checked"
    )
    full_stories = 2_100_000  # about the size of the full TinyStories train split: extrapolated build time
    print(f"extrapolated full-train build: ~{full_stories / (len(train) / build) / 60:.1f} min")


if __name__ == "__main__":
    main()
