"""Official TinyStories models open offline from a (locally built) Hugging Face cache, or fail at once."""

from __future__ import annotations

import time

import pytest
import torch
from conftest import GPT_NEO_TOKENIZER, shared_or_skip

needs_tokenizer = pytest.mark.skipif(
    not (GPT_NEO_TOKENIZER / "vocab.json").exists(), reason=f"GPT-Neo tokenizer not found at {GPT_NEO_TOKENIZER}"
)
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _snapshot(cache, repo):
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(COMMIT)
    snap = root / "snapshots" / COMMIT
    snap.mkdir(parents=True, exist_ok=True)
    return snap


@pytest.fixture(scope="module")
def fake_hub(tmp_path_factory):
    """An HF cache holding TinyStories-1M (pytorch_model.bin, no tokenizer, like the hub), Instruct-1M
    (model.safetensors + tokenizer files) and GPT-Neo's tokenizer, all built locally in the official 1M shape."""
    from tiny_interp.data.tokenizer import gpt_neo_tokenizer
    from tiny_interp.model import TinyLM, get_preset
    from tiny_interp.model.checkpoint import write_model_files
    from tiny_interp.model.hf_format import to_hf_config, to_hf_state_dict

    shared_or_skip(GPT_NEO_TOKENIZER / "vocab.json", "the fake hub (it holds GPT-Neo's real tokenizer)")
    cache = tmp_path_factory.mktemp("hf") / "hub"
    tokenizer = gpt_neo_tokenizer(GPT_NEO_TOKENIZER)
    cfg = get_preset("1M").replace(vocab_size=50257, max_position_embeddings=2048, n_ctx=2048)
    torch.manual_seed(0)
    model = TinyLM(cfg).eval()
    snap = _snapshot(cache, "roneneldan/TinyStories-1M")
    to_hf_config(cfg).save_pretrained(snap)
    state = to_hf_state_dict(cfg, model.state_dict())
    state["lm_head.weight"] = state["transformer.wte.weight"]  # tied, as in the hub's pickle
    torch.save(state, snap / "pytorch_model.bin")
    write_model_files(_snapshot(cache, "roneneldan/TinyStories-Instruct-1M"), model, tokenizer)
    tokenizer.save_pretrained(_snapshot(cache, "EleutherAI/gpt-neo-125M"))
    return cache, model


@pytest.fixture()
def offline_env(fake_hub, tmp_path, monkeypatch):
    cache, _ = fake_hub
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TINY_INTERP_CACHE", str(tmp_path / "ti-cache"))
    return cache


@needs_tokenizer
@pytest.mark.parametrize("name", ["roneneldan/TinyStories-1M", "roneneldan/TinyStories-Instruct-1M"])
def test_official_model_opens_offline_through_the_bridge(offline_env, fake_hub, name):
    import tiny_interp

    _, model = fake_hub
    bridge = tiny_interp.load(name)
    assert bridge.cfg.n_ctx == 512
    ids = bridge.tokenizer("Once upon a time", return_tensors="pt")["input_ids"]
    assert ids[0, -4:].tolist() == [7454, 2402, 257, 640]  # GPT-2/GPT-Neo ids (the bridge may prepend BOS)
    with torch.inference_mode():
        assert torch.allclose(bridge(ids), model(ids), atol=1e-4)


@needs_tokenizer
def test_official_model_works_with_generate_and_eval_bpb(offline_env, fake_hub, tmp_path, capsys):
    from tiny_interp.cli import main
    from tiny_interp.loading import resolve_model_dir
    from tiny_interp.model.checkpoint import load_tinylm

    path = resolve_model_dir("TinyStories-1M")  # owner optional
    assert load_tinylm(path).cfg.n_ctx == 512
    assert (
        main(
            ["generate", "roneneldan/TinyStories-1M", "--prompt", "Once", "--max-new-tokens", "5", "--temperature", "0"]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("Once")
    data = tmp_path / "s.txt"
    data.write_text("Tom had a ball.\n<|endoftext|>\nSue saw a cat.\n<|endoftext|>\n")
    assert main(["eval-bpb", "roneneldan/TinyStories-1M", "--data", str(data)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("bpb=")


def test_missing_official_model_fails_at_once_with_download_hint(offline_env):
    from tiny_interp.errors import TinyInterpError
    from tiny_interp.loading import resolve_model_dir

    start = time.monotonic()
    with pytest.raises(TinyInterpError, match="huggingface-cli download roneneldan/TinyStories-33M"):
        resolve_model_dir("roneneldan/TinyStories-33M")
    assert time.monotonic() - start < 5


def test_every_official_name_resolves_to_an_official_shape():
    from tiny_interp.model import get_preset
    from tiny_interp.official import OFFICIAL_MODELS, official_repo

    assert len(OFFICIAL_MODELS) == 14
    assert official_repo("roneneldan/TinyStories-Instruct-1Layer-21M") == "roneneldan/TinyStories-Instuct-1Layer-21M"
    assert official_repo("roneneldan/tinystories-33m") == "roneneldan/TinyStories-33M"
    assert official_repo("someone/TinyStories-33M") is None
    for repo, preset in OFFICIAL_MODELS.items():
        assert official_repo(repo) == repo
        assert get_preset(preset).family == "gpt-neo"
