"""tiny_interp.Model: one handle on a shipped model, TransformerLens' token semantics, the fast decoder, the
hookable module, the bridge on demand, the shipped dictionaries and atlases; opened once however often asked."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import torch

import tiny_interp
from tiny_interp import Model
from tiny_interp.model import opener

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "trained_models"
FAMILIES = ["ts-1L", "ts-best"]  # gpt-neo and llama
TEXTS = ["Once upon a time, there was a girl named Lily.", "Tom saw a big dog. He was scared!", ""]


def shipped(name: str) -> Path:
    path = SHIPPED / name
    if not (path / "model.safetensors").is_file():
        pytest.skip(f"shipped model {path} is not in this checkout")
    return path


@pytest.fixture(scope="module", params=FAMILIES)
def pair(request):
    shipped(request.param)
    model = Model.from_pretrained(request.param)
    return model, model.bridge()


def test_short_name_path_and_cache(monkeypatch):
    from tiny_interp.model import checkpoint

    path = shipped("ts-1L")
    reads = []
    real = checkpoint.load_tinylm
    monkeypatch.setattr(checkpoint, "load_tinylm", lambda *a, **k: reads.append(a) or real(*a, **k))
    opener.forget_all()
    a = Model.from_pretrained("ts-1L")
    assert a is Model.from_pretrained(path) is tiny_interp.Model.from_pretrained(str(path)) and a.path == path
    assert len(reads) == 1  # opened once, whatever it is called
    wide = Model.from_pretrained("ts-1L", dtype=torch.float64)
    assert wide is not a and wide.dtype == torch.float64 and len(reads) == 2
    assert a.cfg.n_layers == 1 and a.name == "ts-1L" and a.card.settings["name"] == "ts-1L"
    assert "ts-1L" in a.card.readme and "model_config" in a.card.meta


def test_changed_files_are_read_again(tmp_path):
    src = shipped("ts-1L")
    copy = tmp_path / "m"
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("saes", "atlas", "checkpoints"))
    first = Model.from_pretrained(copy)
    assert Model.from_pretrained(copy) is first
    meta = copy / "tiny_interp.json"
    st = meta.stat()
    os.utime(meta, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # as a re-save in place would
    assert Model.from_pretrained(copy) is not first


def test_unknown_name_is_one_clear_error():
    from tiny_interp.errors import CheckpointError

    with pytest.raises(CheckpointError, match="does not exist"):
        Model.from_pretrained("no-such-model-here")


def test_tokens_match_transformerlens(pair):
    model, bridge = pair
    for prepend in (None, True, False):
        for text in TEXTS[:2]:
            assert torch.equal(model.to_tokens(text, prepend_bos=prepend), bridge.to_tokens(text, prepend_bos=prepend))
            assert model.to_str_tokens(text, prepend_bos=prepend) == bridge.to_str_tokens(text, prepend_bos=prepend)
        assert torch.equal(
            model.to_tokens(TEXTS[:2], prepend_bos=prepend), bridge.to_tokens(TEXTS[:2], prepend_bos=prepend)
        )
    for side in ("left", "right"):
        assert torch.equal(
            model.to_tokens(TEXTS[:2], padding_side=side), bridge.to_tokens(TEXTS[:2], padding_side=side)
        )
    ids = model.to_tokens(TEXTS[0])
    assert model.to_str_tokens(ids) == bridge.to_str_tokens(ids)
    assert model.to_str_tokens(ids[0].tolist()) == bridge.to_str_tokens(ids[0])
    assert model.to_string(ids[0]) == bridge.to_string(ids[0])
    assert model.to_tokens("word " * 2000).shape[1] == model.cfg.n_ctx == bridge.to_tokens("word " * 2000).shape[1]
    assert model.to_single_token(" Lily") == int(bridge.to_single_token(" Lily"))


def test_logits_and_cache_match_the_bridge(pair):
    model, bridge = pair
    ids = model.to_tokens(TEXTS[:2])
    logits, cache = model.run_with_cache(ids, names=lambda n: n.endswith("hook_resid_post"))
    with torch.no_grad():
        ref = bridge(ids)
    assert torch.allclose(logits, ref, atol=1e-4, rtol=1e-4)
    assert torch.equal(model(ids), logits) and torch.equal(model(TEXTS[:2]), logits)
    assert sorted(cache) == [f"blocks.{l}.hook_resid_post" for l in range(model.cfg.n_layers)]
    assert set(model.hook_names) == set(model.module.hook_dict) and "hook_embed" in model.hook_names
    zero = model.run_with_hooks(ids, fwd_hooks=[("blocks.0.hook_attn_out", lambda x, name: torch.zeros_like(x))])
    assert not torch.allclose(zero, logits)


def test_generate_is_the_cli_generate(pair, capsys):
    from tiny_interp.cli import main

    model, _ = pair
    prompt = "Once upon a time"
    text = model.generate(prompt, max_new_tokens=24, temperature=0)
    assert text.startswith(prompt) and len(text) > len(prompt)
    assert main(["generate", str(model.path), "--prompt", prompt, "--max-new-tokens", "24", "--temperature", "0"]) == 0
    assert capsys.readouterr().out.strip() == text.strip()
    sampled = model.generate([prompt, "Tom"], max_new_tokens=16, temperature=1.0, top_k=20, top_p=0.9, seed=3)
    assert sampled == model.generate([prompt, "Tom"], max_new_tokens=16, temperature=1.0, top_k=20, top_p=0.9, seed=3)
    assert isinstance(sampled, list) and sampled[1].startswith("Tom")


def test_bridge_shares_the_handles_module(pair):
    from tiny_interp.interp.seam import analysis_module

    model, bridge = pair
    assert model.bridge() is bridge
    assert analysis_module(bridge) is model.module  # no second read from disk behind the bridge
    assert analysis_module(model) is model.module


def test_shipped_dictionaries_and_atlases():
    neo = Model.from_pretrained(shipped("ts-1M-neo"))
    assert [s.cfg.architecture for s in neo.saes] == ["transcoder"] * neo.cfg.n_layers
    assert neo.feature_atlas is not None and neo.atlas is not None
    assert neo.feature_atlas.dictionary_names[0] == "blocks.0.transcoder"
    best = Model.from_pretrained(shipped("ts-best"))
    assert best.saes == [] and best.feature_atlas is None and best.atlas is None


def test_views_and_analyses_take_the_handle(monkeypatch):
    """One object flows through: no view or analysis opens the weights again."""
    from tiny_interp import StoryInspector, logit_lens
    from tiny_interp.model import checkpoint
    from tiny_interp.widgets.attention import story_attention

    model = Model.from_pretrained(shipped("ts-1L"))
    reads = []
    real = checkpoint.load_tinylm
    monkeypatch.setattr(checkpoint, "load_tinylm", lambda *a, **k: reads.append(a) or real(*a, **k))
    lens = logit_lens(model, TEXTS[0])
    assert list(lens["stage"].unique()) == ["embed", "layer 0"]
    att = story_attention(model, TEXTS[0])
    assert att.tokens[0] == "<|endoftext|>"
    inspector = StoryInspector(model, story=TEXTS[0], dictionaries=None)
    assert inspector.model is model and inspector.static_data()["tokens"] == model.to_str_tokens(TEXTS[0])
    assert logit_lens("ts-1L", TEXTS[0]).equals(lens)  # a name is opened through the same cache
    assert reads == []


def test_nothing_outside_model_opens_weights_directly():
    offenders = []
    for file in (REPO / "tiny_interp").rglob("*.py"):
        if file.parent.name == "model" and file.parent.parent.name == "tiny_interp":
            continue
        if re.search(r"\bload_tinylm\(", file.read_text(encoding="utf-8")):
            offenders.append(str(file.relative_to(REPO)))
    assert offenders == [], f"open models through tiny_interp.Model / model.opener.open_model: {offenders}"


def test_a_bare_tinylm_needs_its_tokenizer():
    from tiny_interp.model.handle import as_model

    model = Model.from_pretrained(shipped("ts-1L"))
    with pytest.raises(ValueError, match="tokenizer"):
        as_model(model.module)
    wrapped = as_model(model.module, model.tokenizer)
    assert wrapped.module is model.module and wrapped.path is None and "model" in repr(wrapped)


def test_the_guides_code_runs(tmp_path, monkeypatch):
    """Every Python block of docs/guides/model-handle.md, in order, in one namespace per block."""
    shipped("ts-1M-neo")
    guide = (REPO / "docs" / "guides" / "model-handle.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", guide, flags=re.S)
    assert len(blocks) >= 8
    monkeypatch.chdir(REPO)  # the guide's relative paths are the repository's
    for i, block in enumerate(blocks):
        exec(compile(block, f"model-handle.md block {i}", "exec"), {"__name__": f"guide_{i}"})
