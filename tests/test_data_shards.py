"""Token shards: layout, metadata, caching by fingerprint, the prepare command, and real data."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import GPT_NEO_TOKENIZER, TINYSTORIES, needs_shared, read_shared_stories
from storygen import write_txt

from tiny_interp.cli import main
from tiny_interp.data import shards
from tiny_interp.data.shards import load_prepared, prepare_data
from tiny_interp.errors import ConfigError, DataError

SEP = "<|endoftext|>"


@pytest.fixture(scope="module")
def prepared(story_files, tmp_path_factory):
    train, val = story_files
    return prepare_data(train, val, vocab_size=512, cache_dir=tmp_path_factory.mktemp("cache"), progress=False)


def test_shard_layout(prepared, story_texts):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(prepared.tokenizer_dir))
    eot = tok.convert_tokens_to_ids(SEP)
    assert eot == prepared.eot_id == tok.eos_token_id == tok.bos_token_id
    for shard, texts in ((prepared.train, story_texts[:360]), (prepared.val, story_texts[360:])):
        tokens, starts = shard.tokens, shard.story_starts
        assert isinstance(tokens, np.memmap) and tokens.dtype == np.uint16 and tokens.ndim == 1
        assert starts.dtype == np.int64 and len(starts) == len(texts) == shard.n_stories
        assert starts[0] == 0 and np.all(np.diff(starts) > 1)
        assert np.all(tokens[starts] == eot) and tokens[-1] == eot
        assert int((tokens == eot).sum()) == len(texts) + 1  # nothing else is an EOT
        for i in (0, 1, len(texts) // 2, len(texts) - 1):
            ids = shard.story(i).tolist()
            assert ids == tok(texts[i].strip(), add_special_tokens=False)["input_ids"]
            assert tok.decode(ids) == texts[i].strip()
        m = shard.meta
        assert m["n_tokens"] == len(tokens) == len(shard)
        assert m["n_bytes"] == sum(len(t.strip().encode()) for t in texts)
        assert m["n_blank_dropped"] == 0 and m["dtype"] == "uint16" and m["vocab_size"] == len(tok) <= 512
        assert m["fingerprint"] == prepared.fingerprint and m["tokenizer_fingerprint"]
    assert prepared.tokenizer.decode(prepared.train.story(0)) == story_texts[0].strip()
    assert not prepared.reused
    assert prepared.directory.name == prepared.fingerprint
    assert load_prepared(prepared.directory) == prepared


def test_second_call_reuses_without_tokenizing(prepared, story_files, monkeypatch):
    train, val = story_files
    mtime = os.stat(prepared.train.bin_path).st_mtime_ns

    def must_not_run(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(shards, "_write_shard", must_not_run)
    monkeypatch.setattr(shards, "train_bpe_tokenizer", must_not_run)
    again = prepare_data(train, val, vocab_size=512, cache_dir=prepared.directory.parent, progress=False)
    assert again.reused and again.fingerprint == prepared.fingerprint
    assert os.stat(again.train.bin_path).st_mtime_ns == mtime
    # the tokenizer saved with the shards, passed as a directory, is the same tokenizer: same shards
    by_dir = prepare_data(
        train, val, tokenizer=str(prepared.tokenizer_dir), cache_dir=prepared.directory.parent, progress=False
    )
    assert by_dir.reused and by_dir.fingerprint == prepared.fingerprint


def test_changed_inputs_make_new_shards(story_files, story_texts, tmp_path):
    train = tmp_path / "train.txt"
    write_txt(train, story_texts[:100])
    first = prepare_data(train, None, vocab_size=300, cache_dir=tmp_path / "c", progress=False)
    assert first.val is None and first.train.n_stories == 100
    assert prepare_data(train, None, vocab_size=300, cache_dir=tmp_path / "c", progress=False).reused
    other_vocab = prepare_data(train, None, vocab_size=320, cache_dir=tmp_path / "c", progress=False)
    capped = prepare_data(train, None, vocab_size=300, cache_dir=tmp_path / "c", max_stories=10, progress=False)
    write_txt(train, story_texts[:101])
    edited = prepare_data(train, None, vocab_size=300, cache_dir=tmp_path / "c", progress=False)
    fps = {first.fingerprint, other_vocab.fingerprint, capped.fingerprint, edited.fingerprint}
    assert len(fps) == 4 and not (other_vocab.reused or capped.reused or edited.reused)
    assert capped.train.n_stories == 10 and edited.train.n_stories == 101


def test_blank_stories_counted_in_meta(tmp_path, story_texts):
    train = tmp_path / "train.txt"
    train.write_text(f"{story_texts[0]}\n{SEP}\n\n{SEP}\n{story_texts[1]}\n{SEP}\n \n{SEP}\n", encoding="utf-8")
    out = prepare_data(train, None, vocab_size=300, cache_dir=tmp_path / "c", progress=False)
    assert (out.train.meta["n_stories"], out.train.meta["n_blank_dropped"]) == (2, 2)


def test_vocab_too_large_for_uint16(story_files, tmp_path):
    with pytest.raises(ConfigError, match="65536"):
        prepare_data(story_files[0], None, vocab_size=70_000, cache_dir=tmp_path, progress=False)


def test_bad_data_errors_name_the_file(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=str(empty)):
        prepare_data(empty, None, vocab_size=300, cache_dir=tmp_path / "c", progress=False)
    leftovers = [p.name for p in (tmp_path / "c").rglob("*") if not p.name.endswith(".lock")]
    assert leftovers == ["tokenizers"]  # nothing half-built left behind
    with pytest.raises(DataError, match="HF_HUB_OFFLINE"):
        prepare_data("roneneldan/TinyStories", None, cache_dir=tmp_path / "c", progress=False)


def test_cli_prepare_prints_summary_and_errors(story_files, tmp_path, capsys):
    train, val = story_files
    args = [
        "prepare",
        "--data",
        str(train),
        "--val-data",
        str(val),
        "--vocab-size",
        "400",
        "--cache-dir",
        str(tmp_path),
        "--quiet",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "prepared shards in" in out and "train: 360 stories" in out and "val: 40 stories" in out
    assert "bytes/token" in out and "blank stories dropped" in out and "(400 tokens)" in out
    assert main(args) == 0
    assert "reused cached shards" in capsys.readouterr().out
    missing = tmp_path / "missing.txt"
    assert main(["prepare", "--data", str(missing), "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "Traceback" not in err


@needs_shared
@pytest.mark.skipif(not (GPT_NEO_TOKENIZER / "vocab.json").exists(), reason="GPT-Neo tokenizer files absent")
def test_real_data_with_gpt_neo_tokenizer(tmp_path):
    out = prepare_data(
        TINYSTORIES / "train.txt",
        TINYSTORIES / "valid.txt",
        tokenizer=f"gpt-neo:{GPT_NEO_TOKENIZER}",
        cache_dir=tmp_path,
        max_stories=400,
        progress=False,
    )
    assert out.train.n_stories == out.val.n_stories == 400
    assert out.eot_id == 50256 and out.vocab_size == 50257
    first = read_shared_stories("valid.txt", 1)[0]
    assert out.tokenizer.decode(out.val.story(0)) == first
    assert out.val.story(0)[:4].tolist() == out.tokenizer(first[:40])["input_ids"][:4]
    bpt = out.val.meta["bytes_per_token"]
    assert 3.5 < bpt < 4.6  # GPT-2's BPE reads about 4 bytes per token of TinyStories


@needs_shared
def test_real_data_bpe_through_cli(tmp_path, capsys):
    args = [
        "prepare",
        "--data",
        str(TINYSTORIES / "train.txt"),
        "--val-data",
        str(TINYSTORIES / "valid.txt"),
        "--max-stories",
        "1500",
        "--cache-dir",
        str(tmp_path),
        "--quiet",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "train: 1,500 stories" in out and "(4096 tokens)" in out
    prepared = load_prepared(next(p for p in tmp_path.iterdir() if (p / "prepared.json").exists()))
    # 4096 tokens learned on stories read held-out stories almost as compactly as GPT-2 (~4 bytes/token)
    assert prepared.val.meta["bytes_per_token"] > 3.5
    assert prepared.tokenizer.decode(prepared.val.story(3)) == read_shared_stories("valid.txt", 4)[3]
