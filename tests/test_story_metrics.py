"""LLM-free story metrics on real stories: diversity, novelty through the n-gram index, simplicity, repetition."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from conftest import needs_shared, read_shared_stories

from tiny_interp.cli import main
from tiny_interp.data.stories import read_stories
from tiny_interp.eval.ngrams import NGramIndex, Vocab, ngram_hashes, rouge_n
from tiny_interp.eval.story_metrics import distinct_n, novelty, repetition, self_similarity, vocabulary_simplicity


def brute_rouge2(a: str, b: str) -> float:
    from collections import Counter

    from tiny_interp.lexicon import tokenize_words

    ga = Counter(zip(tokenize_words(a), tokenize_words(a)[1:]))
    gb = Counter(zip(tokenize_words(b), tokenize_words(b)[1:]))
    ov = sum((ga & gb).values())
    if not ov:
        return 0.0
    p, r = ov / sum(ga.values()), ov / sum(gb.values())
    return 2 * p * r / (p + r)


def test_distinct_and_repetition_by_hand():
    texts = ["the cat sat on the mat", "the cat ran"]
    # bigrams: the cat, cat sat, sat on, on the, the mat, the cat, cat ran -> 6 distinct of 7
    assert distinct_n(texts, 2) == pytest.approx(6 / 7)
    assert distinct_n(texts, 1) == pytest.approx(6 / 9)
    loop = "Tom went to the park. Tom went to the park. Tom went to the park."
    rep = repetition([loop, "A dog ran fast to see the big red ball today."], n=4)
    # 12 four-grams in the loop, 5 distinct; none repeated in the other text
    assert rep["looping"] == 0.5 and rep["rep_4"] == pytest.approx((1 - 5 / 12) / 2)


def test_simplicity_counts_words_outside_the_lists():
    s = vocabulary_simplicity(["The happy dog jumped over the log.", "The quantum physicist pondered entropy."])
    outside = dict(s["top_outside"])
    assert set(outside) == {"quantum", "physicist", "pondered", "entropy"}
    assert s["outside_share"] == pytest.approx(4 / 12)


def test_rouge_and_index_match_brute_force(story_texts):
    train = story_texts[:300]
    queries = story_texts[300:330]
    index = NGramIndex(train, n=2)
    for q in queries[:10]:
        best = index.best_rouge(q)
        brute = max(brute_rouge2(q, t) for t in train)
        assert best["f1"] == pytest.approx(brute)  # retrieval found the true best match
        assert best["f1"] == pytest.approx(brute_rouge2(q, train[best["story"]]))
    v = Vocab()
    a = ngram_hashes(np.asarray(v.encode("a b c a b"), dtype=np.int32), 2)
    b = ngram_hashes(np.asarray(v.encode("a b x"), dtype=np.int32), 2)
    assert rouge_n(a, b) == pytest.approx((1 / 4, 1 / 2, 2 * (1 / 8) / (3 / 4)))


def test_novelty_copied_vs_novel(story_texts):
    train = story_texts[:300]
    rng = random.Random(0)
    copied = [train[i] for i in rng.sample(range(300), 5)]
    gibberish = ["".join(rng.choice("bcdfghjklmnpqrstvwxz") + rng.choice("aeiou") for _ in range(4)) for _ in range(80)]
    novel = [" ".join(gibberish[:40]) + ".", " ".join(gibberish[40:]) + "."]  # enough 4-grams to survive sampling
    for keep_mod in (1, 4):
        nc = novelty(copied, train, k=4, keep_mod=keep_mod)
        assert nc["kgram_overlap_4"] == 1.0 and nc["best_rouge2_mean"] == pytest.approx(1.0)
        nn = novelty(novel, train, k=4, keep_mod=keep_mod)
        assert nn["kgram_overlap_4"] == 0.0 and nn["best_rouge2_mean"] == 0.0
    nc = novelty(copied, train)
    assert [train[i] for i in nc["best_match"]] == copied


def test_self_similarity_detects_collapse(story_texts):
    varied = story_texts[:30]
    collapsed = [story_texts[0]] * 3 + story_texts[1:27]
    assert self_similarity(collapsed)["max_best_rouge"] == pytest.approx(1.0)
    assert self_similarity(varied)["mean_best_rouge"] < self_similarity(collapsed)["mean_best_rouge"]


@needs_shared
def test_index_on_real_training_data_finds_best_matches():
    train = read_shared_stories("train.txt", 4000)
    valid = read_shared_stories("valid.txt", 6)
    index = NGramIndex(train, n=2)
    for q in valid:
        assert index.best_rouge(q)["f1"] == pytest.approx(index.best_rouge(q, exact=True)["f1"])


def test_metrics_cli_on_completion_log_and_txt(tmp_path, story_files, capsys):
    train, valid = story_files
    comp = tmp_path / "c.jsonl"
    with open(comp, "w") as fh:
        for i, t in enumerate(read_stories(valid)):
            fh.write(
                json.dumps(
                    {"id": f"m{i % 2}/p/{i}", "status": "done", "model": f"m{i % 2}", "kind": "story", "completion": t}
                )
                + "\n"
            )
    out = tmp_path / "report.json"
    assert main(["metrics", str(comp), "--train", str(train), "--out", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert set(rep["sets"]) == {"m0", "m1"}
    for m in rep["sets"].values():
        assert 0 < m["distinct_2"] <= 1 and 0 <= m["novelty"]["kgram_overlap_4"] <= 1
        assert 0 < m["novelty"]["best_rouge2_mean"] <= 1
    assert "| m0 |" in capsys.readouterr().out
    assert main(["metrics", str(valid), "--out", str(tmp_path / "r2.json")]) == 0
    assert json.loads((tmp_path / "r2.json").read_text())["sets"]["valid"]["n_texts"] == 40
