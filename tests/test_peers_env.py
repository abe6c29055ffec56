"""One environment with the peers: in .peers-venv (TransformerLens 3.2, transformers 4.57) tiny-interp's bridge
opens our models and matches our module; the versions are the verified ones."""

from __future__ import annotations

import importlib.metadata

import torch
from conftest import REPO
from peers import need

MODEL = REPO / "trained_models" / "ts-1M-neo"


def test_the_verified_versions_share_this_environment():
    need("sae_lens")
    need("circuit_tracer")
    versions = {p: importlib.metadata.version(p) for p in ("sae-lens", "circuit-tracer", "transformer-lens")}
    assert versions == {"sae-lens": "6.54.12", "circuit-tracer": "0.5.0", "transformer-lens": "3.2.1"}


def test_the_bridge_opens_our_model_on_transformer_lens_3():
    need("sae_lens")  # the peers' environment: TransformerLens 3 beside SAELens
    import tiny_interp
    from tiny_interp.model.checkpoint import load_tinylm

    bridge = tiny_interp.load(MODEL)
    ids = bridge.to_tokens("Lily gave the ball to")
    assert ids[0, 0].item() == bridge.tokenizer.bos_token_id
    with torch.no_grad():
        torch.testing.assert_close(bridge(ids), load_tinylm(MODEL)(ids), atol=1e-4, rtol=1e-4)
    assert "blocks.3.mlp.hook_in" in bridge.hook_dict  # the names our transcoder files carry
