"""The one readout: predictions are the model's own last step; directions go through the final norm's linear part;
the lens, the feature atlas, the graph pages and the StoryInspector all read logits through it and agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tiny_interp import Model
from tiny_interp.model.readout import readout_of

REPO = Path(__file__).resolve().parents[1]
STORY = "Once upon a time, there was a little girl named Lily. She loved to play outside."


def shipped(name: str) -> Model:
    path = REPO / "trained_models" / name
    if not (path / "model.safetensors").is_file():
        pytest.skip(f"shipped model {path} is not in this checkout")
    return Model.from_pretrained(path)


@pytest.fixture(scope="module", params=["ts-1L", "ts-best"])  # LayerNorm and RMSNorm
def model(request) -> Model:
    return shipped(request.param)


def test_predictions_are_the_models_logits(model):
    L = model.cfg.n_layers
    logits, cache = model.run_with_cache(STORY, names=f"blocks.{L - 1}.hook_resid_post")
    read = model.readout.logits(cache[f"blocks.{L - 1}.hook_resid_post"])
    assert torch.allclose(read, logits.float(), atol=1e-4)
    assert model.readout is model.readout  # one per handle
    assert torch.equal(readout_of(model.module).W_U, model.readout.W_U)


def test_directions_are_the_norms_linear_part(model):
    """For a residual row x: logits(x) == directions(x) / scale(x) + the constant the biases add."""
    L = model.cfg.n_layers
    _, cache = model.run_with_cache(STORY, names=f"blocks.{L - 1}.hook_resid_post")
    x = cache[f"blocks.{L - 1}.hook_resid_post"][0]
    r = model.readout
    const = torch.zeros(r.W_U.shape[0])
    if r.norm.bias is not None:
        const = const + r.W_U @ r.norm.bias
    if r.b_U is not None:
        const = const + r.b_U
    assert torch.allclose(r.directions(x) / r.norm.scale(x) + const, r.logits(x), atol=1e-3)
    u = torch.randn(3, model.cfg.d_model)
    assert torch.allclose(r.directions(2.5 * u), 2.5 * r.directions(u), atol=1e-4)  # no scale, no bias
    shifted = r.directions(u + 7.0)
    if r.norm.center:  # LayerNorm ignores a constant shift; RMSNorm does not
        assert torch.allclose(shifted, r.directions(u), atol=1e-3)
    else:
        assert not torch.allclose(shifted, r.directions(u), atol=1e-3)


def test_lens_and_story_inspector_read_through_it(model):
    from tiny_interp import StoryInspector, logit_lens

    lens = logit_lens(model, STORY, top_k=3)
    L = model.cfg.n_layers
    logits, cache = model.run_with_cache(STORY, names=f"blocks.{L - 1}.hook_resid_post")
    final = model.readout.logits(cache[f"blocks.{L - 1}.hook_resid_post"][0, -1])
    last = lens[lens["layer"] == L - 1].sort_values("rank")
    assert last["token_id"].tolist() == final.topk(3).indices.tolist()
    inspector = StoryInspector(model, story=STORY, dictionaries=None)
    data = inspector.static_data()
    pos = data["positions"][-1]
    assert data["strings"][pos["lens"][L][0][0]] == model.tokenizer.decode([int(final.argmax())])


def test_graph_pages_and_feature_atlas_agree_for_every_shipped_transcoder_feature():
    """Every feature of the shipped ts-1M-neo transcoders: the graph page's top-5 promoted and suppressed tokens are
    the feature atlas' top-5 (which the FeatureExplorer shows)."""
    from tiny_interp.graphs.pages import decoder_logits

    neo = shipped("ts-1M-neo")
    atlas = neo.feature_atlas
    assert atlas is not None and neo.saes
    pos, neg = np.asarray(atlas.a["logit_pos_ids"]), np.asarray(atlas.a["logit_neg_ids"])
    pieces = [neo.tokenizer.decode([i]) for i in range(neo.cfg.vocab_size)]
    row, disagree, silent = 0, [], 0
    for sae in neo.saes:
        for f in range(sae.cfg.d_sae):
            if not sae.W_dec[f].any():  # a latent that never fired in calibration writes nothing: every token ties
                silent, row = silent + 1, row + 1
                continue
            page = decoder_logits(neo.module, sae, f, neo.tokenizer)
            scores = neo.readout.directions(sae.W_dec[f])
            for side, stored, sign in (("up", pos[row, :5], 1), ("down", neg[row, :5], -1)):
                if [t for t, _ in page[side]] == [pieces[i] for i in stored]:
                    continue
                # tokens may differ only where two scores tie to float precision (batched vs one-row products)
                if not torch.allclose(
                    sign * scores[torch.from_numpy(stored).long()],
                    torch.tensor([sign * v for _, v in page[side]]),
                    atol=1e-3,
                ):
                    disagree.append((sae.cfg.hook_name, f, side))
            row += 1
    assert row == pos.shape[0] == 8 * 1024 and silent < row // 4
    assert disagree == [], f"{len(disagree)} features disagree, e.g. {disagree[:3]}"


def test_atlas_logit_effects_are_the_readouts_directions():
    from tiny_interp.features.feature_atlas import decoder_logit_effects

    neo = shipped("ts-1M-neo")
    sae = neo.saes[3]
    effects = decoder_logit_effects(neo.module, sae.W_dec)
    assert torch.equal(effects, neo.readout.directions(sae.W_dec))
    # the stored atlas values are these effects in half precision
    stored = np.asarray(neo.feature_atlas.a["logit_pos_values"][3 * 1024 : 3 * 1024 + 5, 0], dtype=np.float32)
    assert np.allclose(stored, effects[:5].max(-1).values.numpy(), rtol=1e-2, atol=1e-2)
