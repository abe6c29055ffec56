"""Batched generation with a KV cache: equal to full recomputation, deterministic, with working controls."""

from __future__ import annotations

import pytest
import torch

from tiny_interp.model.checkpoint import load_tinylm, load_tokenizer
from tiny_interp.model.generate import generate_ids, generate_text
from tiny_interp.model.sampling import SamplingConfig


def greedy_by_recompute(model, prompt, generated):
    """What greedy decoding must have produced, from one uncached forward over prompt + generated."""
    with torch.no_grad():
        logits = model(torch.tensor([list(prompt) + list(generated)]))[0]
    return logits[len(prompt) - 1 : len(prompt) - 1 + len(generated)].argmax(-1).tolist()


@pytest.mark.parametrize("preset", ["tiny", "tiny-llama"])
def test_cached_greedy_equals_recompute_and_left_padding(preset, make_model_dir):
    model = load_tinylm(
        make_model_dir(preset, seed=5, n_ctx=320, **({"max_position_embeddings": 320} if preset == "tiny" else {}))
    )
    prompts = [[0, 5, 9, 11], [0, 7], [0, 3, 4, 5, 6, 7, 8]]
    # long enough to cross gpt-neo's 256-token local window with a cache
    sampling = SamplingConfig(max_new_tokens=270, temperature=0, stop_at_eos=False)
    batched = generate_ids(model, prompts, sampling)
    for prompt, got in zip(prompts, batched):
        expected = greedy_by_recompute(model, prompt, got)
        assert got == expected


def test_seeded_sampling_is_reproducible_and_seed_sensitive(make_model_dir):
    model = load_tinylm(make_model_dir("tiny"))
    s = SamplingConfig(max_new_tokens=30, temperature=1.0, seed=3, stop_at_eos=False)
    a = generate_ids(model, [[0]] * 4, s)
    assert a == generate_ids(model, [[0]] * 4, s)
    assert a != generate_ids(
        model, [[0]] * 4, SamplingConfig(max_new_tokens=30, temperature=1.0, seed=4, stop_at_eos=False)
    )
    assert len({tuple(r) for r in a}) > 1  # rows of a batch differ


def test_top_k_one_is_greedy_and_top_p_restricts(make_model_dir):
    model = load_tinylm(make_model_dir("tiny"))
    greedy = generate_ids(model, [[0, 9]], SamplingConfig(max_new_tokens=20, temperature=0, stop_at_eos=False))
    topk1 = generate_ids(
        model, [[0, 9]], SamplingConfig(max_new_tokens=20, temperature=1.5, top_k=1, seed=1, stop_at_eos=False)
    )
    assert greedy == topk1
    tiny_p = generate_ids(
        model, [[0, 9]], SamplingConfig(max_new_tokens=20, temperature=1.5, top_p=1e-6, seed=1, stop_at_eos=False)
    )
    assert tiny_p == greedy


def test_stops_at_end_of_text(make_model_dir):
    model = load_tinylm(make_model_dir("tiny", seed=7))
    eos = model.cfg.eos_token_id
    with torch.no_grad():
        # every position's final hidden state gets a large bias along one direction that only EOS reads
        model.norm_f.weight.zero_()
        model.norm_f.bias.fill_(1.0)
        model.unembed.weight[eos].fill_(1.0)
    out = generate_ids(model, [[0, 1, 2]], SamplingConfig(max_new_tokens=50, temperature=0))
    assert out == [[eos]]


def test_generate_text_round_trips_prompt(make_model_dir):
    path = make_model_dir("tiny")
    model, tok = load_tinylm(path), load_tokenizer(path)
    texts = generate_text(model, tok, ["Once upon a time", "Lily"], SamplingConfig(max_new_tokens=10, temperature=0))
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)


def test_cli_generate_prints_prompt_then_continuation(make_model_dir, capsys):
    from tiny_interp.cli import main

    path = make_model_dir("tiny")
    assert (
        main(["generate", str(path), "--prompt", "Once upon a time", "--max-new-tokens", "12", "--temperature", "0"])
        == 0
    )
    first = capsys.readouterr().out
    assert first.startswith("Once upon a time")
    assert (
        main(["generate", str(path), "--prompt", "Once upon a time", "--max-new-tokens", "12", "--temperature", "0"])
        == 0
    )
    assert capsys.readouterr().out == first  # greedy is deterministic


def test_bad_sampling_values_are_rejected():
    from tiny_interp.errors import ConfigError

    with pytest.raises(ConfigError):
        SamplingConfig(temperature=-1)
    with pytest.raises(ConfigError):
        SamplingConfig(top_p=0)


def test_small_ops_take_one_thread_unless_the_machine_has_free_cores(monkeypatch):
    from tiny_interp.model import threads

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)

    def used(n_elements: int, load: float) -> list[int]:
        seen.clear()
        monkeypatch.setattr(threads.os, "getloadavg", lambda: (load, load, load))
        with threads.threads_for(n_elements, "cpu"):
            pass
        return list(seen)

    busy, idle = 3.0, 1.1  # another process on both cores / only this process running
    assert used(64 * 172, busy) == [1, 2]  # batch-64 decode on a shared box: one thread, then restored
    assert used(64 * 172, idle) == []  # ... on a free box: all threads
    assert used(16 * 172, idle) == [1, 2]  # too small to split even when free
    assert used(threads.SMALL_WORK, busy) == []  # big ops always get every thread
