"""Tokenizers: a trained byte-level BPE and GPT-Neo's, saved as standard Hugging Face files."""

from __future__ import annotations

import pytest
from conftest import GPT_NEO_TOKENIZER, TINYSTORIES, read_shared_stories

from tiny_interp.data.tokenizer import (
    EOT,
    eot_id,
    gpt_neo_tokenizer,
    load_tokenizer_spec,
    tokenizer_fingerprint,
    train_bpe_tokenizer,
)
from tiny_interp.errors import ConfigError, DataError, TinyInterpError

needs_gpt_neo = pytest.mark.skipif(
    not (GPT_NEO_TOKENIZER / "vocab.json").exists(), reason=f"GPT-Neo tokenizer files not found at {GPT_NEO_TOKENIZER}"
)


def held_out(story_texts, n=20):
    if (TINYSTORIES / "valid.txt").exists():
        return read_shared_stories("valid.txt", n)
    return story_texts[-n:]


def test_bpe_saved_dir_loads_with_autotokenizer_and_round_trips(tmp_path, bpe_tokenizer, story_texts):
    from transformers import AutoTokenizer

    bpe_tokenizer.save_pretrained(str(tmp_path))
    tok = AutoTokenizer.from_pretrained(str(tmp_path))
    assert len(tok) == len(bpe_tokenizer) <= 512
    assert tok.bos_token == tok.eos_token == EOT and tok.eos_token_id == eot_id(tok) == 0
    texts = held_out(story_texts) + ["Ünïcode, tabs\tand  double  spaces 🐸\n\nnew paragraph"]
    for text in texts:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == text
        assert ids == bpe_tokenizer(text, add_special_tokens=False)["input_ids"]
    # a vocabulary learned on stories: clearly fewer tokens than bytes
    n_bytes = sum(len(t.encode()) for t in texts[:-1])
    n_tokens = sum(len(tok(t)["input_ids"]) for t in texts[:-1])
    assert n_bytes / n_tokens > 2.0
    assert tokenizer_fingerprint(tok) == tokenizer_fingerprint(AutoTokenizer.from_pretrained(str(tmp_path)))


def test_bpe_vocab_size_is_respected_and_checked(story_texts):
    tok = train_bpe_tokenizer(story_texts[:200], vocab_size=300)
    assert len(tok) == 300
    with pytest.raises(ConfigError, match="vocab_size"):
        train_bpe_tokenizer(story_texts[:10], vocab_size=100)


@needs_gpt_neo
def test_gpt_neo_local_gives_gpt2_ids(tmp_path):
    from transformers import AutoTokenizer

    tok = gpt_neo_tokenizer(GPT_NEO_TOKENIZER)
    assert tok("Once upon a time", add_special_tokens=False)["input_ids"] == [7454, 2402, 257, 640]
    assert len(tok) == 50257 and eot_id(tok) == 50256 == tok.eos_token_id
    spec = load_tokenizer_spec(f"gpt-neo:{GPT_NEO_TOKENIZER}")
    assert tokenizer_fingerprint(spec) == tokenizer_fingerprint(tok)
    tok.save_pretrained(str(tmp_path))
    again = AutoTokenizer.from_pretrained(str(tmp_path))
    assert again("Once upon a time", add_special_tokens=False)["input_ids"] == [7454, 2402, 257, 640]


def test_tokenizer_spec_errors(tmp_path):
    with pytest.raises(ConfigError, match="gpt-neo:DIR"):
        load_tokenizer_spec("sentencepiece")
    with pytest.raises(DataError, match="vocab.json"):
        load_tokenizer_spec(f"gpt-neo:{tmp_path}")
    with pytest.raises(DataError, match=str(tmp_path)):
        load_tokenizer_spec(str(tmp_path))


def test_gpt_neo_from_hub_offline_fails_clearly(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache
    from tiny_interp.hub import hub_reachable

    hub_reachable.cache_clear()
    with pytest.raises(TinyInterpError, match="gpt-neo:PATH"):
        load_tokenizer_spec("gpt-neo")
