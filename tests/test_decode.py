"""The fast decode path computes what TinyLM.forward computes, for both families, padding and local windows."""

from __future__ import annotations

import pytest
import torch

from tiny_interp.model import TinyLM, get_preset
from tiny_interp.model.decode import Decoder
from tiny_interp.model.generate import generate_ids
from tiny_interp.model.kv_cache import KVCache
from tiny_interp.model.sampling import SamplingConfig

CASES = {
    "llama-gqa": get_preset("tiny-llama").replace(vocab_size=97, n_ctx=64),
    "gpt-neo-local": get_preset("tiny").replace(vocab_size=97, n_ctx=64, window_size=6),
}
PROMPTS = [[5, 6, 7, 8, 9, 10, 11], [3], [40, 41, 42]]  # unequal lengths: left padding


def prefilled(model, prompts, steps, padded_mask):
    """Left-padded prompts run through two identical caches (reference and fast path); ``padded_mask`` forces
    the key-validity mask even when every prompt has the same length."""
    longest, B = max(map(len, prompts)), len(prompts)
    ids = torch.zeros((B, longest), dtype=torch.long)
    valid = torch.zeros((B, longest + steps), dtype=torch.bool)
    for r, p in enumerate(prompts):
        ids[r, longest - len(p) :] = torch.tensor(p)
        valid[r, longest - len(p) :] = True
    key_valid = valid if padded_mask or len(set(map(len, prompts))) > 1 else None
    caches = [KVCache(model.cfg, B, longest + steps, model.device, torch.float32) for _ in range(2)]
    for c in caches:
        model(ids, cache=c, key_valid=key_valid)
    return caches, key_valid


def assert_steps_match_forward(model, caches, key_valid, decoder, prompts, steps):
    """Greedy decoding from the prompts' last tokens: every fast step's logits equal the cached forward's."""
    tok = torch.tensor([p[-1] for p in prompts])
    for _ in range(steps - 1):
        ref = model(tok[:, None], cache=caches[0], key_valid=key_valid)[:, -1]
        torch.testing.assert_close(decoder.step(tok), ref, atol=1e-5, rtol=1e-5)
        tok = ref.argmax(-1)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("prompts", [PROMPTS, [[1, 2, 3]] * 2])
def test_decoder_steps_equal_forward(name, prompts):
    torch.manual_seed(0)
    model = TinyLM(CASES[name]).eval()
    steps = 20
    with torch.inference_mode():
        caches, key_valid = prefilled(model, prompts, steps, padded_mask=False)
        assert_steps_match_forward(model, caches, key_valid, Decoder(model, caches[1], key_valid), prompts, steps)


def test_generation_with_hooks_uses_the_forward_and_agrees():
    torch.manual_seed(0)
    model = TinyLM(CASES["llama-gqa"]).eval()
    sampling = SamplingConfig(max_new_tokens=30, temperature=1.0, seed=3, stop_at_eos=False)
    fast = generate_ids(model, PROMPTS, sampling)
    calls = []
    handle = model.blocks[0].register_forward_hook(lambda *a: calls.append(1))
    assert not Decoder.usable(model)
    hooked = generate_ids(model, PROMPTS, sampling)
    handle.remove()
    assert Decoder.usable(model) and len(calls) == 30  # prefill + 29 steps, all through forward
    assert fast == hooked


def test_inverse_cdf_sampling_follows_the_distribution():
    from tiny_interp.model.sampling import sample_from_probs

    probs = torch.tensor([[0.1, 0.0, 0.6, 0.3]]).expand(20000, 4)
    g = torch.Generator().manual_seed(0)
    draws = sample_from_probs(probs, g)
    freq = torch.bincount(draws, minlength=4).float() / len(draws)
    assert freq[1] == 0
    assert torch.allclose(freq, probs[0], atol=0.015)
    again = sample_from_probs(probs, torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)


def test_top_k_never_samples_outside_the_top_k():
    torch.manual_seed(1)
    model = TinyLM(CASES["gpt-neo-local"]).eval()
    logits_seen = []
    handle = model.unembed.register_forward_hook(lambda m, i, o: logits_seen.append(o[:, -1] if o.dim() == 3 else o))
    out = generate_ids(
        model, [[1, 2]] * 8, SamplingConfig(max_new_tokens=12, temperature=1.5, top_k=3, seed=0, stop_at_eos=False)
    )
    handle.remove()
    for step in range(12):
        top3 = logits_seen[step].topk(3, dim=-1).indices
        chosen = torch.tensor([row[step] for row in out])
        assert (top3 == chosen[:, None]).any(-1).all()


def test_compiled_decoder_equals_forward_and_greedy_matches():
    from tiny_interp.model.compiled_decode import CompiledDecoder, compile_wanted

    torch.manual_seed(0)
    model = TinyLM(CASES["llama-gqa"]).eval()
    assert not compile_wanted(model, 3, 20, None)  # small jobs are not worth a compilation
    assert not compile_wanted(TinyLM(CASES["gpt-neo-local"]).eval(), 3, 20, True)  # llama family only
    prompts, steps = PROMPTS, 12
    with torch.inference_mode():
        caches, valid = prefilled(model, prompts, steps, padded_mask=True)
        assert_steps_match_forward(model, caches, valid, CompiledDecoder(model, caches[1], valid), prompts, steps)
    greedy = SamplingConfig(max_new_tokens=steps, temperature=0.0, stop_at_eos=False)
    assert generate_ids(model, prompts, greedy, compile=True) == generate_ids(model, prompts, greedy, compile=False)
    seeded = SamplingConfig(max_new_tokens=steps, temperature=1.0, seed=5, stop_at_eos=False)
    assert generate_ids(model, prompts, seeded, compile=True) == generate_ids(model, prompts, seeded, compile=True)
