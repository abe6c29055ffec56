"""Quantile examples of the atlas: the streamed sample equals the exact one (each band's tokens of smallest hash key,
from all activations of the corpus), whatever the batch order, resume point or number of worker processes; the
examples point at their activations; atlases written before quantiles still open."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tiny_interp.interp.atlas import batch_plan, neuron_activations
from tiny_interp.interp.atlas.quantiles import scale_above, token_keys
from tiny_interp.interp.common import encode, pad_rows
from tiny_interp.interp.neurons import Atlas, build_atlas
from tiny_interp.model.checkpoint import load_tinylm, load_tokenizer

KW = dict(batch_size=6, max_len=80, top_k=4, window=2, quantile_bands=4, quantile_per_band=3, progress=False)


@pytest.fixture(scope="module")
def corpus(make_model_dir, story_texts):
    return make_model_dir("tiny", seed=5), story_texts[:60]


def exact_sample(model, stories, bands: int, per_band: int, seed: int = 0):
    """[units][band] -> sorted (story, position) list: each band's ``per_band`` tokens of smallest key, from every
    activation, computed in the build's batches so the activations are bit for bit the build's."""
    net, tok = load_tinylm(model), load_tokenizer(model)
    rows = encode(tok, stories, min(KW["max_len"], net.cfg.n_ctx))
    acts, story, pos = [], [], []
    with torch.inference_mode():
        for idx in batch_plan(rows, KW["batch_size"]):
            ids, valid = pad_rows([rows[i] for i in idx], pad_id=tok.eos_token_id or 0)
            acts.append(neuron_activations(net, ids, valid))
            for i in idx:
                story += [i] * len(rows[i])
                pos += list(range(len(rows[i])))
    acts = torch.cat(acts)
    keys = token_keys(torch.tensor(story), torch.tensor(pos), seed).numpy()
    scale = scale_above(acts.max(0).values).numpy()
    out = []
    for f in range(acts.shape[1]):
        a = acts[:, f].numpy()
        band = np.floor(a / max(scale[f], 1e-30) * bands).clip(0, bands - 1)
        per = []
        for j in range(bands):
            idx = np.flatnonzero((a > 0) & (band == j))
            chosen = idx[np.argsort(keys[idx], kind="stable")[:per_band]]
            per.append(sorted((story[i], pos[i]) for i in chosen))
        out.append(per)
    return out, acts.numpy(), scale


def built_sample(atlas: Atlas):
    stories, positions = np.asarray(atlas.a["quantile_story"]), np.asarray(atlas.a["quantile_position"])
    return [
        [
            sorted((int(s), int(p)) for s, p in zip(stories[f, j], positions[f, j]) if s >= 0)
            for j in range(stories.shape[1])
        ]
        for f in range(len(stories))
    ]


def test_streamed_quantiles_equal_the_exact_sample(corpus, tmp_path):
    model, stories = corpus
    atlas = build_atlas(model, stories, out=tmp_path / "atlas", **KW)
    exact, acts, scale = exact_sample(model, stories, KW["quantile_bands"], KW["quantile_per_band"])
    assert built_sample(atlas) == exact
    np.testing.assert_array_equal(atlas.a["quantile_scale"], scale)
    # these dense GELU neurons fire on hundreds of tokens: their lower bands took new entries only from the tokens
    # of smallest key (the cut-off at 1/16 of the key range), their upper bands from every token
    assert (acts > 0).sum(0).min() > 50 * KW["quantile_per_band"]
    # each example points at its activation, in its band, strongest first, with its window around it
    f = int(np.argmax([len(sum(u, [])) for u in exact]))
    layer, neuron = divmod(f, atlas.d_mlp)
    df = atlas.band_examples(layer, neuron)
    bands = atlas.quantile_bands(layer, neuron)
    assert len(bands) == int(acts[:, f].max() / scale[f] * KW["quantile_bands"]) + 1
    assert bands[0][0] == 0 and bands[-1][0] <= acts[:, f].max() < bands[-1][1]
    assert list(df.band) == sorted(df.band, reverse=True) and len(df) > len(bands)
    for r in df.itertuples():
        assert r.lo <= r.activation < r.hi
        assert r.acts[min(r.position, KW["window"])] == pytest.approx(r.activation, rel=1e-2)
        assert "[[" in r.context
    for _, band in df.groupby("band"):
        assert band.activation.is_monotonic_decreasing


def test_quantiles_are_the_same_resumed_or_in_worker_processes(corpus, tmp_path):
    model, stories = corpus
    one = build_atlas(model, stories, out=tmp_path / "one", **KW)
    assert build_atlas(model, stories, out=tmp_path / "two", stop_after_batches=3, **KW) is None
    resumed = build_atlas(model, stories, out=tmp_path / "two", **KW)
    parallel = build_atlas(model, stories, out=tmp_path / "three", workers=2, **KW)
    for atlas in (resumed, parallel):
        for name in (
            "quantile_scale",
            "quantile_values",
            "quantile_story",
            "quantile_position",
            "quantile_window_tokens",
            "quantile_window_acts",
        ):
            np.testing.assert_array_equal(atlas.a[name], one.a[name], err_msg=name)
    # another seed draws other examples from the same bands
    other = build_atlas(model, stories, out=tmp_path / "seed", quantile_seed=1, **KW)
    np.testing.assert_array_equal(other.a["quantile_scale"], one.a["quantile_scale"])
    assert built_sample(other) != built_sample(one)


def test_an_atlas_without_quantiles_still_opens(corpus, tmp_path):
    model, stories = corpus
    atlas = build_atlas(model, stories[:12], out=tmp_path / "atlas", **KW)
    meta = json.loads((atlas.path / "atlas.json").read_text())
    meta["files"] = [n for n in meta["files"] if not n.startswith("quantile_")]  # as atlases written before them
    (atlas.path / "atlas.json").write_text(json.dumps(meta))
    old = Atlas.open(atlas.path)
    assert not old.has_quantiles and old.quantile_bands(0, 1) == [] and old.band_examples(0, 1).empty
    assert atlas.quantile_bands(0, 1) and not atlas.band_examples(0, 1).empty
    none = build_atlas(
        model,
        stories[:12],
        out=tmp_path / "none",
        quantile_per_band=0,
        **{k: v for k, v in KW.items() if k != "quantile_per_band"},
    )
    assert not none.has_quantiles
