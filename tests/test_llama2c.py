"""llama2.c import: exact tokenizer, exact forward pass (against an independent numpy oracle), bad input."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch
from conftest import LLAMA2C, TINYSTORIES, read_shared_stories
from llama2c_oracle import Llama2cOracle

from tiny_interp.cli import main

needs_llama2c = pytest.mark.skipif(
    not (LLAMA2C / "stories260K.bin").exists() or not (TINYSTORIES / "valid.txt").exists(),
    reason=f"llama2.c reference files not found at {LLAMA2C}",
)
pytestmark = needs_llama2c
README_START = (
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
    "One day, she saw a big, red ball."
)


@pytest.fixture(scope="module")
def oracle():
    return Llama2cOracle(LLAMA2C / "stories260K.bin")


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("llama2c") / "stories260K"
    rc = main(
        [
            "import-llama2c",
            str(LLAMA2C / "stories260K.bin"),
            "--tokenizer",
            str(LLAMA2C / "tok512.model"),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    return out


@pytest.mark.parametrize("tokenizer_file", ["tok512.model", "tok512.bin"])
def test_tokenizer_encodes_like_sentencepiece_on_all_valid_stories(tokenizer_file):
    import sentencepiece as spm

    from tiny_interp.llama2c.tokenizer import build_fast_tokenizer, read_tokenizer_vocab

    sp = spm.SentencePieceProcessor(model_file=str(LLAMA2C / "tok512.model"))
    tok = build_fast_tokenizer(read_tokenizer_vocab(LLAMA2C / tokenizer_file))
    stories = read_shared_stories("valid.txt", 3000)
    assert len(stories) == 3000
    edge = ["  two  spaces  ", "", "   ", "x  \n  y", " \n lead", "héllo ünïcode 😀 12345", "\tTab\t", "日本語"]
    texts = stories + edge
    ours = tok(texts, add_special_tokens=False)["input_ids"]
    ref = sp.encode(texts)
    mismatched = [i for i in range(len(texts)) if ours[i] != ref[i]]
    assert not mismatched, f"{len(mismatched)} texts encode differently, first: {texts[mismatched[0]][:80]!r}"
    assert all(tok.decode(o) == sp.decode(r) for o, r in zip(ours[:200], ref[:200]))


def test_greedy_from_bos_matches_llama2c(imported, oracle, capsys):
    expected_ids = oracle.greedy([1], steps=200)
    from tiny_interp.model.checkpoint import load_tokenizer

    expected = load_tokenizer(imported).decode([1] + expected_ids, skip_special_tokens=True)
    assert expected.startswith(README_START)
    assert main(["generate", str(imported), "--temperature", "0", "--max-new-tokens", "200"]) == 0
    printed = capsys.readouterr().out
    assert printed.rstrip("\n") == expected


@pytest.mark.parametrize("prompt", ["Tom had a red kite", "The cat sat on the mat. It was"])
def test_generate_with_prompt_matches_greedy_decode_of_llama2c_weights(imported, oracle, prompt, capsys):
    from tiny_interp.model.checkpoint import load_tokenizer

    tok = load_tokenizer(imported)
    ids = tok(prompt)["input_ids"]
    assert ids[0] == 1
    new = 40
    expected_ids = oracle.greedy(ids, steps=len(ids) + new - 1)
    expected = tok.decode(ids + expected_ids, skip_special_tokens=True)
    assert (
        main(["generate", str(imported), "--prompt", prompt, "--temperature", "0", "--max-new-tokens", str(new)]) == 0
    )
    assert capsys.readouterr().out.rstrip("\n") == expected


def test_bridge_opens_imported_model(imported):
    import tiny_interp
    from tiny_interp.model.checkpoint import load_tinylm

    bridge = tiny_interp.load(imported)
    ids = bridge.tokenizer("Lily and Ben went to the park.", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        ours = load_tinylm(imported)(ids)
        theirs = bridge(ids)
    assert torch.allclose(ours, theirs, atol=1e-4)
    assert bridge.cfg.n_ctx == 512


def _write_bin(path, header, arrays):
    with open(path, "wb") as fh:
        fh.write(struct.pack("<7i", *header))
        for a in arrays:
            fh.write(np.ascontiguousarray(a, dtype="<f4").tobytes())


def _oracle_arrays(o: Llama2cOracle):
    rope = np.zeros((o.seq_len, o.hs // 2), np.float32)
    return [o.emb, o.rms_att, o.wq, o.wk, o.wv, o.wo, o.rms_ffn, o.w1, o.w2, o.w3, o.rms_final, rope, rope]


def test_separate_classifier_bin_matches_oracle(tmp_path, oracle):
    from tiny_interp.llama2c.convert import load_llama2c_model

    rng = np.random.default_rng(0)
    wcls = (oracle.emb * 0.5 + rng.normal(0, 0.05, oracle.emb.shape)).astype(np.float32)
    header = [oracle.dim, oracle.hidden, oracle.layers, oracle.heads, oracle.kv_heads, -oracle.vocab, oracle.seq_len]
    path = tmp_path / "unshared.bin"
    _write_bin(path, header, _oracle_arrays(oracle) + [wcls])
    model = load_llama2c_model(path)
    assert not model.cfg.tie_embeddings
    other = Llama2cOracle(path)
    tokens = [1, 400, 261, 300, 13]
    with torch.inference_mode():
        ours = model(torch.tensor([tokens]))[0].numpy()
    for pos, t in enumerate(tokens):
        np.testing.assert_allclose(ours[pos], other.step(t, pos), atol=2e-4)


def test_pt_checkpoint_imports_like_bin(tmp_path, oracle):
    from tiny_interp.llama2c.convert import load_llama2c_model

    o = oracle
    state = {"tok_embeddings.weight": o.emb, "norm.weight": o.rms_final, "output.weight": o.emb}
    for i in range(o.layers):
        p = f"_orig_mod.layers.{i}"
        state.update(
            {
                f"{p}.attention_norm.weight": o.rms_att[i],
                f"{p}.ffn_norm.weight": o.rms_ffn[i],
                f"{p}.attention.wq.weight": o.wq[i],
                f"{p}.attention.wk.weight": o.wk[i],
                f"{p}.attention.wv.weight": o.wv[i],
                f"{p}.attention.wo.weight": o.wo[i],
                f"{p}.feed_forward.w1.weight": o.w1[i],
                f"{p}.feed_forward.w2.weight": o.w2[i],
                f"{p}.feed_forward.w3.weight": o.w3[i],
            }
        )
    ckpt = {
        "model": {k: torch.tensor(np.array(v)) for k, v in state.items()},
        "model_args": {
            "dim": o.dim,
            "n_layers": o.layers,
            "n_heads": o.heads,
            "n_kv_heads": o.kv_heads,
            "vocab_size": o.vocab,
            "multiple_of": 4,
            "max_seq_len": o.seq_len,
            "dropout": 0.0,
        },
        "iter_num": 10,
        "best_val_loss": 1.5,
    }
    torch.save(ckpt, tmp_path / "ckpt.pt")
    from_pt = load_llama2c_model(tmp_path / "ckpt.pt")
    from_bin = load_llama2c_model(LLAMA2C / "stories260K.bin")
    assert from_pt.cfg == from_bin.cfg
    ids = torch.tensor([[1, 400, 261, 300, 13, 77]])
    with torch.inference_mode():
        assert torch.equal(from_pt(ids), from_bin(ids))


def test_truncated_bin_gives_error_naming_file(tmp_path, capsys):
    bad = tmp_path / "cut.bin"
    bad.write_bytes((LLAMA2C / "stories260K.bin").read_bytes()[:-100])
    rc = main(["import-llama2c", str(bad), "--tokenizer", str(LLAMA2C / "tok512.model"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and str(bad) in err and "header" in err
    assert not (tmp_path / "o").exists()


def test_garbage_header_gives_error(tmp_path):
    from tiny_interp.errors import CheckpointError
    from tiny_interp.llama2c.convert import load_llama2c_model

    bad = tmp_path / "garbage.bin"
    bad.write_bytes(struct.pack("<7i", 64, 172, 5, 7, 4, 512, 512) + b"\0" * 4000)
    with pytest.raises(CheckpointError, match="garbage.bin"):
        load_llama2c_model(bad)


def test_tokenizer_of_wrong_size_gives_error(tmp_path, capsys):
    data = (LLAMA2C / "tok512.bin").read_bytes()
    offset = 4
    for _ in range(256):  # keep the first 256 token records
        _, length = struct.unpack_from("<fi", data, offset)
        offset += 8 + length
    small = tmp_path / "tok256.bin"
    small.write_bytes(data[:offset])
    rc = main(
        ["import-llama2c", str(LLAMA2C / "stories260K.bin"), "--tokenizer", str(small), "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert rc == 2 and str(small) in err and "256" in err and "512" in err
