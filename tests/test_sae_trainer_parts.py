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
    with pytest.raises(ValueError, match="bad story file"), Prefetched(make) as items:
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


@pytest.mark.parametrize(
    "arch,activation",
    [("topk", "relu"), ("jumprelu", "relu"), ("batchtopk", "relu"), ("transcoder", "topk"), ("transcoder", "jumprelu")],
)
def test_folded_scales_read_raw_activations(arch, activation):
    """A dictionary trained on scaled activations, folded, gives the trained latents / scale_out and the raw target."""
    from tiny_interp.features.trainer import fold_scales

    torch.manual_seed(1)
    transcoder = arch == "transcoder"
    cfg = SAEConfig(
        architecture=arch,
        d_in=12,
        d_sae=40,
        hook_name="h",
        k=6 if arch != "jumprelu" else None,
        d_out=9 if transcoder else None,
        hook_name_out="o" if transcoder else None,
        activation=activation if transcoder else "relu",
        apply_b_dec_to_input=not transcoder,
    )
    trained = SAE(cfg)
    if transcoder:
        trained.add_skip()
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(torch.randn_like(p) * 0.3)
        if trained.threshold is not None:
            trained.threshold.uniform_(0.0, 0.5)
    folded = SAE(cfg)
    if transcoder:
        folded.add_skip()
    folded.load_state_dict(trained.state_dict())
    c_in, c_out = 3.0, (0.25 if transcoder else 3.0)
    fold_scales(folded, c_in, c_out)
    x = torch.randn(30, 12)
    with torch.no_grad():
        torch.testing.assert_close(folded.encode(x), trained.encode(c_in * x) / c_out, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(folded(x), trained(c_in * x) / c_out, rtol=1e-4, atol=1e-5)


def test_a_config_recorded_before_normalize_existed_reads_as_not_normalized():
    old = SAETrainConfig().to_dict()
    del old["normalize"]
    assert SAETrainConfig.from_dict(old).normalize is False
    assert SAETrainConfig.from_dict(SAETrainConfig().to_dict()).normalize is True
