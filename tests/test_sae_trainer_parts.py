"""The TopK objective's fast paths against their plain definitions, the trainer's prefetching thread, and its
generated options."""

from __future__ import annotations

import threading

import pytest
import torch

from tiny_interp.features.config import SAETrainConfig
from tiny_interp.features.objective import _aux_recon, _gather_decode, _sparse_codes, select_topk, topk_loss
from tiny_interp.features.prefetch import Prefetched
from tiny_interp.features.sae import SAE, SAEConfig


def _sae(d_in=24, d_sae=1100, k=5) -> SAE:
    torch.manual_seed(0)
    sae = SAE(SAEConfig(architecture="topk", d_in=d_in, d_sae=d_sae, hook_name="h", k=k, apply_b_dec_to_input=True))
    with torch.no_grad():
        sae.b_enc.normal_()
    return sae


def test_blockwise_selection_equals_topk_of_the_full_preactivations():
    sae = _sae()
    x = torch.randn(1300, 24)  # more than one block of rows, the last one short
    dead = torch.tensor([3, 50, 700, 1099, 12, 400, 401])
    sel = select_topk(sae.W_enc, sae.b_enc, x, 5, dead, 4)
    pre = x @ sae.W_enc + sae.b_enc
    top = pre.topk(5, dim=-1)
    torch.testing.assert_close(sel.vals, top.values)
    assert torch.equal(sel.idx, top.indices)
    masked = torch.full_like(pre, float("-inf"))
    masked[:, dead] = pre[:, dead]
    aux = masked.topk(4, dim=-1)
    torch.testing.assert_close(sel.aux_vals, aux.values)
    assert torch.equal(sel.aux_idx, aux.indices)


def test_sparse_encoder_gradient_equals_autograd_of_the_dense_codes():
    sae = _sae()
    x = torch.randn(64, 24)
    sel = select_topk(sae.W_enc, sae.b_enc, x, 5)
    _gather_decode(sae, sel.idx, _sparse_codes(sae, x, sel.vals, sel.idx)).pow(2).sum().backward()
    fast = sae.W_enc.grad.clone(), sae.b_enc.grad.clone()
    sae.zero_grad()
    pre = x @ sae.W_enc + sae.b_enc
    codes = torch.zeros_like(pre).scatter(-1, sel.idx, pre.gather(-1, sel.idx).relu())
    (codes @ sae.W_dec + sae.b_dec).pow(2).sum().backward()
    torch.testing.assert_close(fast[0], sae.W_enc.grad)
    torch.testing.assert_close(fast[1], sae.b_enc.grad)


def test_dense_aux_path_equals_selecting_every_dead_latent():
    sae = _sae()
    x = torch.randn(40, 24)
    dead = torch.tensor([7, 90, 333])
    every = select_topk(sae.W_enc, sae.b_enc, x, 5, dead, 3)  # aux_k = n_dead: the gather path over all of them
    dense = select_topk(sae.W_enc, sae.b_enc, x, 5)  # no aux selection: the dense path
    torch.testing.assert_close(_aux_recon(sae, x, dead, dense), _aux_recon(sae, x, dead, every))


def test_aux_loss_joins_only_when_latents_are_dead():
    sae = _sae()
    cfg = SAETrainConfig(latents=1100, k=5, aux_k=2)
    x = torch.randn(50, 24)
    alive = torch.zeros(1100, dtype=torch.bool)
    assert topk_loss(sae, cfg, x, x, alive).aux is None
    dead = alive.clone()
    dead[[1, 2, 3]] = True  # more than aux_k: the selected path
    out = topk_loss(sae, cfg, x, x, dead)
    assert out.aux is not None and torch.isfinite(out.aux)
    assert out.loss > out.fvu


def test_prefetched_keeps_order_and_content():
    with Prefetched(lambda: iter(range(50)), ahead=2) as items:
        assert list(items) == list(range(50))


def test_prefetched_raises_the_producers_error_at_its_item():
    def make():
        yield 1
        yield 2
        raise ValueError("bad story file")

    got = []
    with pytest.raises(ValueError, match="bad story file"):
        with Prefetched(make) as items:
            for item in items:
                got.append(item)
    assert got == [1, 2]


def test_closing_early_stops_a_blocked_producer():
    produced = []

    def make():
        for i in range(10**6):
            produced.append(i)
            yield i

    with Prefetched(make) as items:
        for item in items:
            if item == 3:
                break
    assert not any(t.name == "prefetch" and t.is_alive() for t in threading.enumerate())
    assert len(produced) <= 6  # one item ahead of the consumer, not the whole stream


def test_generated_options_round_trip_a_config_with_default_on_flags_turned_off():
    import argparse

    from tiny_interp.cli_args import add_config_args, config_argv, config_from_args

    cfg = SAETrainConfig(prefetch=False, reuse=3, threads=2, lr=1e-3)
    parser = argparse.ArgumentParser()
    add_config_args(parser, SAETrainConfig)
    argv = config_argv(cfg)
    assert "--no-prefetch" in argv
    assert config_from_args(SAETrainConfig, parser.parse_args(argv)) == cfg
