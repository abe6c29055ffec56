"""The TinyLM module against Hugging Face and the TransformerLens bridge; configs; checkpoint errors."""

from __future__ import annotations

import json

import pytest
import torch

from tiny_interp.errors import CheckpointError, ConfigError
from tiny_interp.model import ModelConfig, TinyLM, get_preset
from tiny_interp.model.checkpoint import load_tinylm, load_tokenizer, save_model

FAMILIES = ["tiny", "tiny-llama"]


@pytest.mark.parametrize("preset", FAMILIES)
def test_logits_agree_with_hf_and_bridge_beyond_local_window(preset, make_model_dir):
    from transformers import AutoModelForCausalLM

    import tiny_interp

    # 320-token context so gpt-neo's local layers (window 256) really cut attention short
    path = make_model_dir(preset, n_ctx=320, **({"max_position_embeddings": 320} if preset == "tiny" else {}))
    ours = load_tinylm(path)
    ids = torch.randint(0, ours.cfg.vocab_size, (2, 300), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = ours(ids)
        hf = AutoModelForCausalLM.from_pretrained(str(path)).eval()
        b = hf(ids).logits
        bridge = tiny_interp.load(path)
        c = bridge(ids)
    assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()
    assert torch.allclose(a, c, atol=1e-4), (a - c).abs().max()
    assert bridge.tokenizer is not None


def test_local_window_changes_late_positions(make_model_dir):
    """The window matters: a gpt-neo model with every layer global must differ after position 256."""
    path = make_model_dir("tiny", n_ctx=320, max_position_embeddings=320)
    local = load_tinylm(path)
    glob = TinyLM(local.cfg.replace(attention_layers=("global", "global")))
    glob.load_state_dict(local.state_dict())
    ids = torch.randint(0, local.cfg.vocab_size, (1, 300), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b = local(ids), glob.eval()(ids)
    assert torch.allclose(a[:, :256], b[:, :256], atol=1e-5)
    assert not torch.allclose(a[:, 256:], b[:, 256:], atol=1e-3)


def test_gpt_neo_attention_is_unscaled(make_model_dir):
    """HF GPTNeo skips the 1/sqrt(d_head) scaling: scaling q by sqrt(d_head) elsewhere would change logits."""
    path = make_model_dir("tiny", seed=3)
    model = load_tinylm(path)
    assert all(block.attn.scale == 1.0 for block in model.blocks)


def test_presets_have_the_paper_shapes():
    shapes = {
        "1M": (64, 8),
        "3M": (128, 8),
        "8M": (256, 8),
        "28M": (512, 8),
        "33M": (768, 4),
        "1L-21M": (1024, 1),
        "2L-33M": (1024, 2),
    }
    for name, (d, layers) in shapes.items():
        cfg = get_preset(name)
        assert (cfg.family, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.d_mlp) == ("gpt-neo", d, layers, 16, 4 * d)
    assert get_preset("tinystories-1m") == get_preset("1M")


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown preset 'huge'.*1M"):
        get_preset("huge")


def test_config_roundtrips_through_json():
    cfg = get_preset("llama-260k").replace(vocab_size=512, dropout=0.1)
    assert ModelConfig.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(ConfigError, match="divisible"):
        ModelConfig(d_model=65, n_heads=16)


def test_saved_directory_is_standard_hf(make_model_dir):
    from transformers import AutoConfig, AutoTokenizer

    path = make_model_dir("tiny-llama")
    assert AutoConfig.from_pretrained(str(path)).architectures == ["LlamaForCausalLM"]
    tok = AutoTokenizer.from_pretrained(str(path))
    assert tok.decode(tok.encode("Once upon a time")) == "Once upon a time"
    assert {"config.json", "model.safetensors", "tiny_interp.json", "tokenizer.json"} <= {
        p.name for p in path.iterdir()
    }
    assert not list(path.glob("*.bin"))


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_tinylm(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_tinylm(tmp_path / "empty")


def test_truncated_safetensors_names_the_file(tmp_path, make_model_dir):
    import shutil

    import tiny_interp

    broken = tmp_path / "broken"
    shutil.copytree(make_model_dir("tiny"), broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="model.safetensors.*truncated or corrupt"):
        load_tinylm(broken)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        tiny_interp.load(broken)


def test_pickle_checkpoints_are_refused(tmp_path, make_model_dir):
    import shutil

    d = tmp_path / "pickled"
    shutil.copytree(make_model_dir("tiny"), d)
    (d / "model.safetensors").rename(d / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pickle"):
        load_tinylm(d)


def test_save_is_atomic_replacement(tmp_path, bpe_tokenizer):
    cfg = get_preset("tiny").replace(vocab_size=len(bpe_tokenizer))
    out = tmp_path / "m"
    torch.manual_seed(0)
    save_model(out, TinyLM(cfg), bpe_tokenizer)
    torch.manual_seed(1)
    second = TinyLM(cfg)
    save_model(out, second, bpe_tokenizer)
    reloaded = load_tinylm(out)
    assert torch.equal(reloaded.tok_embed.weight, second.tok_embed.weight)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp dirs left behind
    assert load_tokenizer(out).eos_token == "<|endoftext|>"


def test_attention_dropout_follows_dropout_unless_set(tmp_path):
    from tiny_interp.model.hf_format import to_hf_config

    base = get_preset("tiny-llama").replace(dropout=0.1)
    assert base.attn_dropout == 0.1
    cpu_friendly = base.replace(attention_dropout=0.0)
    assert (
        cpu_friendly.attn_dropout == 0.0 and ModelConfig.from_dict(json.loads(cpu_friendly.to_json())) == cpu_friendly
    )
    assert to_hf_config(cpu_friendly).attention_dropout == 0.0
    with pytest.raises(ConfigError, match="attention_dropout"):
        base.replace(attention_dropout=1.5)
    # in training mode attention dropout alone makes two forward passes differ; set to 0 they agree
    ids = torch.randint(0, base.vocab_size, (2, 16))
    for attention_dropout, same in ((0.5, False), (0.0, True)):
        model = TinyLM(base.replace(dropout=0.0, attention_dropout=attention_dropout)).train()
        assert torch.equal(model(ids), model(ids)) is same
