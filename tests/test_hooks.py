"""The activation seam: TinyLM's named hook points against the TransformerLens bridge of the same model."""

from __future__ import annotations

import pytest
import torch

import tiny_interp
from tiny_interp.model.checkpoint import load_tinylm
from tiny_interp.model.decode import Decoder

FAMILIES = ["tiny", "tiny-llama"]


def _window_model(make_model_dir, preset: str):
    # 320-token context so gpt-neo's local layers (window 256) really cut attention short
    extra = {"max_position_embeddings": 320} if preset == "tiny" else {}
    return make_model_dir(preset, n_ctx=320, **extra)


def _ids(model, T: int = 300) -> torch.Tensor:
    return torch.randint(0, model.cfg.vocab_size, (2, T), generator=torch.Generator().manual_seed(3))


@pytest.fixture(scope="module", params=FAMILIES)
def pair(request, make_model_dir):
    path = _window_model(make_model_dir, request.param)
    return request.param, load_tinylm(path), tiny_interp.load(path)


def test_every_point_equals_the_bridge_past_the_local_window(pair):
    preset, ours, bridge = pair
    ids = _ids(ours)
    with torch.no_grad():
        logits, cache = ours.run_with_cache(ids)
        _, ref = bridge.run_with_cache(ids)
    expected = {"hook_embed", "ln_final.hook_normalized", "blocks.1.mlp.hook_post", "blocks.1.attn.hook_pattern"}
    expected |= (
        {"blocks.0.attn.hook_rot_q", "blocks.0.mlp.hook_pre_linear"} if preset == "tiny-llama" else {"hook_pos_embed"}
    )
    assert expected <= set(cache)
    assert torch.allclose(logits, bridge(ids), atol=1e-4)
    for name, ours_act in cache.items():
        assert name in ref, f"{name} is not a bridge hook point"
        theirs = ref[name]
        assert ours_act.shape == theirs.shape, (name, ours_act.shape, theirs.shape)
        if name.endswith("hook_attn_scores"):
            # masked scores: -inf here, the dtype's minimum (llama) or the pattern itself (gpt-neo) in the bridge
            if preset == "tiny":
                continue
            keep = torch.isfinite(ours_act)
            ours_act, theirs = ours_act[keep], theirs[keep]
        err = (ours_act - theirs).abs().max().item()
        assert err <= 1e-5, f"{name}: max difference {err}"


def test_hooks_edit_like_the_bridge(pair):
    """Zero-ablating an MLP and steering the residual give the bridge's logits under the same edit."""
    _, ours, bridge = pair
    ids = _ids(ours, 40)
    direction = torch.randn(ours.cfg.d_model, generator=torch.Generator().manual_seed(0))
    edits = [
        ("blocks.0.hook_mlp_out", lambda x, *_: torch.zeros_like(x)),
        ("blocks.1.hook_resid_pre", lambda x, *_: x + 3 * direction),
        ("blocks.0.attn.hook_v", lambda x, *_: x * 0.5),
    ]
    with torch.no_grad():
        clean = ours(ids)
        for name, fn in edits:
            a = ours.run_with_hooks(ids, fwd_hooks=[(name, fn)])
            b = bridge.run_with_hooks(ids, fwd_hooks=[(name, lambda x, hook, fn=fn: fn(x))])
            assert not torch.allclose(a, clean, atol=1e-3), f"{name}: the edit changed nothing"
            assert torch.allclose(a, b, atol=1e-4), (name, (a - b).abs().max())
    assert not ours.hooks_active()


def test_an_edited_pattern_is_the_one_applied(pair):
    """Uniform causal attention set through hook_pattern equals hook_z replaced by the running mean of the values.

    (The bridge cannot serve as the reference here: for gpt-neo it discards edits of its pattern.)"""
    _, ours, _ = pair
    ids = _ids(ours, 40)
    T, groups = ids.shape[1], ours.cfg.n_heads // ours.cfg.kv_heads

    def uniform(x, name):
        causal = torch.tril(torch.ones_like(x))
        return causal / causal.sum(-1, keepdim=True)

    with torch.no_grad():
        _, cache = ours.run_with_cache(ids, names=["blocks.1.attn.hook_v"])
        v = cache["blocks.1.attn.hook_v"].repeat_interleave(groups, dim=2)  # [batch, pos, heads, d_head]
        running_mean = v.cumsum(1) / torch.arange(1, T + 1).view(1, T, 1, 1)
        a = ours.run_with_hooks(ids, fwd_hooks=[("blocks.1.attn.hook_pattern", uniform)])
        b = ours.run_with_hooks(ids, fwd_hooks=[("blocks.1.attn.hook_z", lambda x, n: running_mean)])
    assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()
    assert not torch.allclose(a, ours(ids), atol=1e-3)


def test_cache_selection_and_early_stop(pair):
    _, ours, _ = pair
    ids = _ids(ours, 16)
    logits, cache = ours.run_with_cache(ids, names=lambda n: n.endswith("hook_resid_pre"), stop_at_layer=1)
    assert logits is None
    assert set(cache) == {"blocks.0.hook_resid_pre"}
    resid = ours.run_with_hooks(ids, stop_at_layer=1)
    _, full = ours.run_with_cache(ids, names=["blocks.1.hook_resid_pre"])
    assert torch.equal(resid, full["blocks.1.hook_resid_pre"])
    with pytest.raises(KeyError, match="no hook point named 'blocks.9.hook_nope'"):
        ours.run_with_hooks(ids, fwd_hooks=[("blocks.9.hook_nope", lambda x, n: None)])


def test_a_failing_hook_is_detached_and_hooks_disable_the_fast_decoder(pair):
    _, ours, _ = pair

    def broken(x, name):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        ours.run_with_hooks(_ids(ours, 8), fwd_hooks=[("blocks.0.hook_resid_post", broken)])
    assert not ours.hooks_active()
    assert Decoder.usable(ours)
    with ours.hooks([("blocks.0.hook_mlp_out", lambda x, n: x * 0)]):
        assert not Decoder.usable(ours)


def test_attention_patterns_are_one_function_for_both_kinds(pair):
    from tiny_interp.interp.patterns import attention_patterns

    _, ours, bridge = pair
    ids = _ids(ours, 20)
    mine = attention_patterns(ours, ids, layers=[0])
    theirs = attention_patterns(bridge, ids)
    assert set(mine) == {0} and set(theirs) == {0, 1}
    assert mine[0].shape == (2, ours.cfg.n_heads, 20, 20)
    assert torch.allclose(mine[0], theirs[0], atol=1e-5)
    assert torch.allclose(mine[0].sum(-1), torch.ones(2, ours.cfg.n_heads, 20), atol=1e-5)
    with pytest.raises(ValueError, match="layer 5 does not exist"):
        attention_patterns(ours, ids, layers=[5])
