"""One lexicon for synthesis, metrics and the taxonomy."""

from __future__ import annotations

from tiny_interp import lexicon
from tiny_interp.eval.story_metrics import vocabulary_simplicity


def test_one_list_of_names_serves_every_user():
    assert lexicon.WORD_CLASSES["names"] is lexicon.NAMES
    assert lexicon.simple_vocabulary() >= lexicon.NAMES  # names count as simple words in the metrics
    # a name only the taxonomy's list used to hold is now simple for the metrics too
    assert {"olivia", "finn", "whiskers"} <= lexicon.NAMES
    assert vocabulary_simplicity(["Olivia and Finn saw Whiskers."])["outside_share"] == 0.0


def test_class_token_ids_are_whole_words(bpe_tokenizer):
    ids = lexicon.class_token_ids(bpe_tokenizer)
    assert set(ids) == set(lexicon.WORD_CLASSES)
    for name, words in lexicon.WORD_CLASSES.items():
        assert all(bpe_tokenizer.decode([i]).strip().lower() in words for i in ids[name])
    assert ids["determiners"] and ids["pronouns"]  # " the", " he" are single tokens of any story BPE
