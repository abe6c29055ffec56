"""Interpretability core: head taxonomy, logit lens / DLA, patching, neuron atlas, training dynamics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from interp_models import planted_gpt_neo, planted_llama

import tiny_interp
from tiny_interp.errors import CheckpointError, ConfigError, DataError
from tiny_interp.interp.common import encode
from tiny_interp.interp.heads import head_taxonomy
from tiny_interp.interp.lens import direct_logit_attribution, logit_lens
from tiny_interp.interp.neurons import Atlas, AtlasConfig, build_atlas
from tiny_interp.interp.patching import activation_patching
from tiny_interp.model import TinyLM, get_preset
from tiny_interp.model.checkpoint import load_tinylm, save_model

PRESETS = ["tiny", "tiny-llama"]


def _strong_model(tmp_path, tokenizer, preset: str, seed: int = 0, gain: float = 6.0):
    """Random weights scaled up so heads and MLPs write large, distinct amounts (tests can fail on small errors)."""
    cfg = get_preset(preset).replace(vocab_size=len(tokenizer))
    torch.manual_seed(seed)
    model = TinyLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.mul_(gain)
    return save_model(tmp_path / f"{preset}-strong", model, tokenizer)


# ---------------------------------------------------------------- head taxonomy


@pytest.mark.parametrize("builder", [planted_gpt_neo, planted_llama], ids=["gpt-neo", "llama"])
def test_planted_heads_get_their_labels(tmp_path, bpe_tokenizer, story_texts, builder):
    path = builder(tmp_path / "planted", bpe_tokenizer, offsets=(1, 3))
    table = head_taxonomy(tiny_interp.load(path), story_texts[:24], max_len=48, induction_seqs=4, induction_len=12)
    assert list(table["label"]) == ["previous-token", "offset-3"]
    assert list(table["dominant_offset"]) == [1, 3]
    assert table["offset_share"].min() > 0.9
    assert table.loc[0, "prev_token"] > 0.9 and table.loc[1, "prev_token"] < 0.05
    # sharp heads: near-zero entropy, nothing on the first token
    assert table["entropy"].max() < 0.1 and table["sink"].max() < 0.05


@pytest.mark.parametrize("preset", PRESETS)
def test_taxonomy_table_is_tidy_and_bounded(make_model_dir, story_texts, preset):
    path = make_model_dir(preset)
    table = head_taxonomy(str(path), story_texts[:20], max_len=64, induction_seqs=4)
    cfg = get_preset(preset)
    assert len(table) == cfg.n_layers * cfg.n_heads
    assert sorted(zip(table["layer"], table["head"])) == [
        (l, h) for l in range(cfg.n_layers) for h in range(cfg.n_heads)
    ]
    masses = [
        "prev_token",
        "offset_share",
        "induction",
        "sink",
        "duplicate_token",
        "entropy",
        "sem_pronouns",
        "sem_determiners",
    ]
    for col in masses:
        assert table[col].between(0, 1 + 1e-6).all(), col
    # random weights attend almost uniformly: diffuse heads, semantic lifts near 1
    assert (table["label"] == "diffuse").all()
    assert table["lift_determiners"].between(0.8, 1.25).all()


# ---------------------------------------------------------------- logit lens and DLA


@pytest.mark.parametrize("preset", PRESETS)
def test_dla_contributions_sum_to_the_logit(tmp_path, bpe_tokenizer, story_texts, preset):
    path = _strong_model(tmp_path, bpe_tokenizer, preset)
    bridge = tiny_interp.load(path)
    story = story_texts[0][:200]
    ids = torch.tensor([encode(bridge.tokenizer, [story], 128)[0]])
    with torch.no_grad():
        ours = load_tinylm(path)(ids)[0]
    for position, token in [(-1, None), (7, " the"), (12, 5)]:
        df = direct_logit_attribution(bridge, story, token=token, position=position)
        tid = df.attrs["token_id"]
        assert df.attrs["logit"] == pytest.approx(float(ours[position, tid]), abs=1e-4)
        assert abs(df["contribution"].sum() - df.attrs["logit"]) < 1e-3
        assert df["contribution"].abs().max() > 0.05  # contributions are not all trivially zero
    cfg = get_preset(preset)
    assert (df["kind"] == "head").sum() == cfg.n_layers * cfg.n_heads
    assert (df["kind"] == "mlp").sum() == cfg.n_layers
    assert ("pos_embed" in set(df["component"])) == (cfg.family == "gpt-neo")


@pytest.mark.parametrize("preset", PRESETS)
def test_logit_lens_last_layer_is_the_model_output(tmp_path, bpe_tokenizer, story_texts, preset):
    path = _strong_model(tmp_path, bpe_tokenizer, preset, seed=1)
    bridge = tiny_interp.load(path)
    story = story_texts[1][:150]
    df = logit_lens(bridge, story, position=-1, top_k=3)
    cfg = get_preset(preset)
    assert sorted(df["layer"].unique()) == list(range(-1, cfg.n_layers))
    ids = torch.tensor([encode(bridge.tokenizer, [story], 128)[0]])
    with torch.no_grad():
        probs = load_tinylm(path)(ids)[0, -1].softmax(-1)
    last = df[df["layer"] == cfg.n_layers - 1].sort_values("rank")
    assert list(last["token_id"]) == probs.topk(3).indices.tolist()
    np.testing.assert_allclose(last["prob"], probs.topk(3).values.numpy(), atol=1e-5)


@pytest.mark.parametrize("preset", PRESETS)
def test_lens_and_attribution_hold_at_every_position_at_once(tmp_path, bpe_tokenizer, story_texts, preset):
    from tiny_interp.interp import lens

    path = _strong_model(tmp_path, bpe_tokenizer, preset, seed=3)
    bridge = tiny_interp.load(path)
    ids = torch.tensor([encode(bridge.tokenizer, [story_texts[2]], 96)[0]])
    with torch.no_grad():
        ours = load_tinylm(path)(ids)[0]
    logits, cache = lens.run_cache(bridge, ids)
    torch.testing.assert_close(logits, ours, atol=1e-4, rtol=0)
    targets = torch.randint(len(bpe_tokenizer), (ids.shape[1],), generator=torch.Generator().manual_seed(0))
    attr = lens.attribution(bridge, cache, targets)
    T = ids.shape[1]
    torch.testing.assert_close(attr.shares.sum(1) + attr.constant, ours[torch.arange(T), targets], atol=1e-3, rtol=0)
    top = lens.lens_top(bridge, cache, 4)
    assert top.token_ids.shape == (get_preset(preset).n_layers + 1, T, 4)
    assert torch.equal(top.token_ids[-1], ours.topk(4, dim=-1).indices)
    torch.testing.assert_close(top.probs[-1], ours.softmax(-1).topk(4, dim=-1).values, atol=1e-5, rtol=0)


# ---------------------------------------------------------------- patching


@pytest.mark.parametrize("preset", PRESETS)
def test_patching_localises_the_changed_token(tmp_path, bpe_tokenizer, preset):
    path = _strong_model(tmp_path, bpe_tokenizer, preset, seed=2)
    bridge = tiny_interp.load(path)
    clean = "Once upon a time, Lily found a ball. She gave the ball to"
    ids = encode(bridge.tokenizer, [clean], 128)[0]
    changed = 4
    corrupt_ids = list(ids)
    corrupt_ids[changed] = (ids[changed] + 17) % len(bridge.tokenizer)
    df = activation_patching(bridge, ids, corrupt_ids, answer=int(ids[changed]), wrong=int(corrupt_ids[changed]))
    assert df.attrs["clean"] != pytest.approx(df.attrs["counterfactual"], abs=1e-3)
    layer0 = df[(df.kind == "resid_pre") & (df.layer == 0)].set_index("position")["normalized"]
    # the only difference entering layer 0 is the changed token's embedding
    assert layer0[changed] == pytest.approx(1.0, abs=1e-4)
    assert layer0.drop(changed).abs().max() < 1e-4
    # at the last layer only positions whose residual differs (the changed one onward) can matter
    last = df[(df.kind == "resid_pre") & (df.layer == get_preset(preset).n_layers - 1)].set_index("position")["effect"]
    assert last.loc[: changed - 1].abs().max() < 1e-5
    heads = df[df.kind == "head"]
    assert len(heads) == get_preset(preset).n_layers * get_preset(preset).n_heads
    assert heads["effect"].abs().max() > 0


def test_patching_needs_equal_token_lengths(make_model_dir):
    bridge = tiny_interp.load(make_model_dir("tiny"))
    with pytest.raises(DataError, match="same length"):
        activation_patching(bridge, "Lily had a ball.", "Lily and her brother had a big red ball.", answer=1)


# ---------------------------------------------------------------- neuron atlas


def _bridge_neurons(bridge, rows):
    """[story][position, layer * d_mlp] from the bridge's MLP post-activation hooks."""
    out = []
    L = bridge.cfg.n_layers
    names = [f"blocks.{l}.mlp.hook_post" for l in range(L)]
    with torch.no_grad():
        for r in rows:
            _, cache = bridge.run_with_cache(torch.tensor([r]), names_filter=lambda n: n in names)
            out.append(torch.cat([cache[n][0] for n in names], -1).float().numpy())
    return out


@pytest.mark.parametrize("preset", PRESETS)
def test_atlas_matches_the_bridge_hooks(tmp_path, bpe_tokenizer, story_texts, preset):
    path = _strong_model(tmp_path, bpe_tokenizer, preset, gain=2.0)
    stories = story_texts[:40]
    atlas = build_atlas(path, stories, batch_size=8, max_len=96, top_k=5, window=3, progress=False)
    bridge = tiny_interp.load(path)
    rows = encode(bridge.tokenizer, stories, 96)
    acts = _bridge_neurons(bridge, rows)
    allacts = np.concatenate(acts)
    assert atlas.meta["tokens"] == len(allacts)
    # streaming top-k equals the exact top-k over the whole corpus, and each example points at its activation
    top = np.asarray(atlas.a["top_values"])
    np.testing.assert_allclose(top, -np.sort(-allacts, axis=0)[:5].T, rtol=1e-4, atol=1e-5)
    d_mlp = atlas.d_mlp
    for f in [0, d_mlp + 7, allacts.shape[1] - 1]:
        layer, neuron = divmod(f, d_mlp)
        ex = atlas.top_examples(layer, neuron)
        for r in ex.itertuples():
            story_acts = acts[r.story][:, f]
            assert story_acts[r.position] == pytest.approx(r.activation, rel=1e-4, abs=1e-5)
            lo = max(r.position - 3, 0)
            np.testing.assert_allclose(r.acts, story_acts[lo : r.position + 4], rtol=2e-3, atol=2e-3)
            assert r.token == bridge.tokenizer.decode([rows[r.story][r.position]])
            assert "[[" in r.context
    stats = atlas.stats()
    np.testing.assert_allclose(stats["mean"], allacts.mean(0), rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(stats["max"], allacts.max(0), rtol=1e-5)
    edges, counts = atlas.histogram(1, 2)
    assert len(edges) == atlas.meta["config"]["n_bins"] + 1 and counts.sum() > 0
    # per-token means: exact up to the int8 step of each neuron (half of max |mean| / 127)
    ids = np.concatenate([np.asarray(r) for r in rows])
    seen = np.unique(ids)
    exact = np.stack([allacts[ids == t].mean(0) for t in seen])
    step = np.abs(exact).max(0) / 127
    assert np.all(np.abs(atlas.token_means(rows=seen) - exact) <= step / 2 + 1e-4)
    assert atlas.a["token_mean_q"].dtype == np.int8


def test_atlas_resumes_and_answers_queries(tmp_path, bpe_tokenizer, story_texts):
    cfg = get_preset("tiny").replace(vocab_size=len(bpe_tokenizer))
    torch.manual_seed(3)
    model = TinyLM(cfg)
    dead = 5
    with torch.no_grad():
        model.blocks[1].mlp.up.bias[dead] = -50.0  # gelu(-50) is never positive: a dead neuron
    path = save_model(tmp_path / "m", model, bpe_tokenizer)
    stories = story_texts[:48]
    kw = dict(batch_size=8, max_len=80, top_k=4, checkpoint_every=1, progress=False)
    assert build_atlas(path, stories, stop_after_batches=2, **kw) is None
    partial = path / "atlas" / ".build" / "state.npz"  # a stopped build keeps its state inside its own directory
    assert partial.exists() and not (path / "atlas" / "atlas.json").exists()
    with pytest.raises(ConfigError, match="fresh"):
        build_atlas(path, stories[:40], **kw)  # other stories: refuses to mix them with the saved state
    resumed = build_atlas(path, stories, **kw)
    assert not partial.exists()
    full = build_atlas(path, stories, out=tmp_path / "full-atlas", **kw)
    for name in ("top_values", "top_story", "top_position", "hist_counts", "token_count"):
        np.testing.assert_array_equal(resumed.a[name], full.a[name])
    np.testing.assert_allclose(resumed.token_means(), full.token_means(), rtol=1e-3)
    assert resumed.meta["tokens"] == full.meta["tokens"]

    atlas = Atlas.open(path)  # the model directory finds its atlas
    dead_df = atlas.dead_neurons()
    assert (1, dead) in set(zip(dead_df.layer, dead_df.neuron))
    assert len(dead_df) < 5
    sel = atlas.selective_for_class("pronouns", n=5)
    assert len(sel) == 5 and sel["selectivity"].is_monotonic_decreasing
    tok = atlas.top_tokens(0, 0, n=3)
    assert len(tok) == 3 and tok["mean_activation"].is_monotonic_decreasing
    single = atlas.selective_for_token(int(tok.token_id[0]), n=3)
    assert len(single) == 3
    with pytest.raises(IndexError):
        atlas.top_examples(9, 0)

    # a model directory moved elsewhere (a clone, a copy) keeps a working atlas: tokens decode from its own files
    moved = tmp_path / "moved"
    path.rename(moved)
    assert list(Atlas.open(moved).top_tokens(0, 0, n=3)["token"]) == list(tok["token"])
    # the same stories and settings again: the finished atlas is reused, not rebuilt; fresh=True rebuilds
    built_at = (moved / "atlas" / "atlas.json").stat().st_mtime_ns
    assert build_atlas(moved, stories, **kw).meta["build_seconds"] == resumed.meta["build_seconds"]
    assert (moved / "atlas" / "atlas.json").stat().st_mtime_ns == built_at
    assert build_atlas(moved, stories[:8], **kw).meta["stories"] == 8  # other stories: a new build
    built_at = (moved / "atlas" / "atlas.json").stat().st_mtime_ns
    build_atlas(moved, stories[:8], fresh=True, **kw)
    assert (moved / "atlas" / "atlas.json").stat().st_mtime_ns != built_at


# ---------------------------------------------------------------- imported models


def test_parallel_atlas_build_equals_one_process(tmp_path, bpe_tokenizer, story_texts):
    """workers=2 (spawned processes, shards merged in order) gives the one-process atlas, also when it picks up a
    stopped one-process build."""
    path = _strong_model(tmp_path, bpe_tokenizer, "tiny", gain=2.0)
    stories = story_texts[:60]
    kw = dict(batch_size=6, max_len=80, top_k=5, window=2, progress=False)
    one = build_atlas(path, stories, out=tmp_path / "one", **kw)
    assert build_atlas(path, stories, out=tmp_path / "two", stop_after_batches=2, **kw) is None
    two = build_atlas(path, stories, out=tmp_path / "two", workers=2, **kw)
    for atlas in (two, build_atlas(path, stories, out=tmp_path / "fresh2", workers=2, **kw)):
        for name in (
            "top_values",
            "top_story",
            "top_position",
            "top_window_tokens",
            "hist_counts",
            "token_count",
            "token_mean_q",
        ):
            np.testing.assert_array_equal(atlas.a[name], one.a[name], err_msg=name)
        np.testing.assert_allclose(atlas.a["neuron_stats"], one.a["neuron_stats"], rtol=1e-5, atol=1e-6)
        assert atlas.meta["tokens"] == one.meta["tokens"]
    assert not (tmp_path / "two" / ".build").exists()
    with pytest.raises(ConfigError, match="workers"):
        build_atlas(path, stories, out=tmp_path / "x", workers=2, stop_after_batches=1, **kw)

    # a finished shard left by a stopped parallel build is read, not rebuilt: a damaged one is reported as such
    from tiny_interp.interp.neurons import _State, batch_plan, shard_bounds

    assert build_atlas(path, stories, out=tmp_path / "three", stop_after_batches=1, **kw) is None
    partial = tmp_path / "three" / ".build"
    rows = encode(tiny_interp.load(path).tokenizer, stories, 80)
    a, b = shard_bounds(rows, batch_plan(rows, 6), 1, workers=2)[0]
    cfg = get_preset("tiny")
    damaged = _State(
        cfg.n_layers, cfg.d_mlp, len(bpe_tokenizer), AtlasConfig(top_k=5, window=2, batch_size=6, max_len=80)
    )
    damaged.batches_done = b - a + 1
    saved = json.loads(bytes(np.load(partial / "state.npz")["progress"]).decode())
    damaged.save(partial / f"shard-{a:06d}-{b:06d}.npz", {"identity": saved["identity"]})
    with pytest.raises(CheckpointError, match=f"holds {b - a + 1} batches, expected {b - a}"):
        build_atlas(path, stories, out=tmp_path / "three", workers=2, **kw)


def test_imported_hf_llama_works(tmp_path, bpe_tokenizer, story_texts):
    """A plain Hugging Face directory (no tiny_interp.json), as an import leaves it."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(4)
    hf = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(bpe_tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=128,
            tie_word_embeddings=False,
        )
    )
    out = tmp_path / "hf-llama"
    hf.save_pretrained(out, safe_serialization=True)
    bpe_tokenizer.save_pretrained(out)
    df = direct_logit_attribution(str(out), story_texts[2][:120])
    assert abs(df["contribution"].sum() - df.attrs["logit"]) < 1e-3
    atlas = build_atlas(out, story_texts[:16], batch_size=8, max_len=64, top_k=3, progress=False)
    assert atlas.meta["family"] == "llama" and atlas.a["top_values"].shape == (2 * 64, 3)


# ---------------------------------------------------------------- training dynamics


def test_training_dynamics_over_run_checkpoints(tmp_path, bpe_tokenizer, story_texts):
    from tiny_interp.interp.dynamics import list_checkpoints, training_dynamics

    cfg = get_preset("tiny").replace(vocab_size=len(bpe_tokenizer))
    run = tmp_path / "run"
    for i, step in enumerate([20, 100, 5]):
        torch.manual_seed(i)
        meta = {"step": step, "tokens_seen": step * 1000, "metrics": {"train_loss": 6.0 - i}}
        save_model(run / "checkpoints" / f"step-{step:08d}", TinyLM(cfg), bpe_tokenizer, meta)
    log = [{"step": 5, "tokens_seen": 5000, "loss": 6.2, "lr": 1e-3}, {"step": 10, "tokens_seen": 10000, "loss": 6.0}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log) + '{"step": 15, "lo')
    dirs = list_checkpoints(run)
    assert [d.name for d in dirs] == ["step-00000005", "step-00000020", "step-00000100"]
    stories = story_texts[:12]
    df = training_dynamics(run, stories, neurons=[(0, 3), (1, 7)], n_stories=12, progress=False)
    assert list(df.columns) == ["checkpoint", "step", "tokens_seen", "kind", "layer", "unit", "metric", "value"]
    loss = df[(df.kind == "eval") & (df.metric == "loss")].set_index("step")["value"]
    assert list(loss.index) == [5, 20, 100]
    # the loss is the mean next-token cross-entropy over the stories, as the bridge computes it
    bridge = tiny_interp.load(dirs[0])
    rows = encode(bridge.tokenizer, stories, cfg.n_ctx)
    nll, n = 0.0, 0
    with torch.no_grad():
        for r in rows:
            logits = bridge(torch.tensor([r]), return_type="logits")[0]
            nll += torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(r[1:]), reduction="sum").item()
            n += len(r) - 1
    assert loss[5] == pytest.approx(nll / n, rel=1e-4)
    heads = df[df.kind == "head"]
    assert set(heads.unit) == set(range(cfg.n_heads)) and set(heads.layer) == {0, 1}
    assert heads.groupby("step").size().nunique() == 1
    neurons = df[df.kind == "neuron"]
    assert set(zip(neurons.layer, neurons.unit)) == {(0, 3), (1, 7)}
    assert set(neurons.metric) == {"mean", "max", "frac_active"}
    # ... and they are the bridge's mlp.hook_post over every token of the stories
    with torch.no_grad():
        acts = torch.cat(
            [
                bridge.run_with_cache(torch.tensor([r]), names_filter="blocks.1.mlp.hook_post")[1][
                    "blocks.1.mlp.hook_post"
                ][0, :, 7]
                for r in rows
            ]
        )
    got = neurons[(neurons.step == 5) & (neurons.layer == 1) & (neurons.unit == 7)].set_index("metric")["value"]
    assert got["mean"] == pytest.approx(float(acts.mean()), rel=1e-4, abs=1e-6)
    assert got["max"] == pytest.approx(float(acts.max()), rel=1e-4, abs=1e-6)
    assert got["frac_active"] == pytest.approx(float((acts > 0).float().mean()))
    assert df[(df.kind == "train") & (df.step == 20)]["value"].item() == 6.0
    logged = df[df.kind == "log"]
    assert sorted(zip(logged.step, logged.metric, logged.value)) == [
        (5, "loss", 6.2),
        (5, "lr", 1e-3),
        (10, "loss", 6.0),
    ]
    # a plain list of model directories works too (no heads: faster)
    df2 = training_dynamics([dirs[1]], stories, heads=False, n_stories=12, progress=False)
    assert set(df2.kind) == {"train", "eval"} and df2[df2.metric == "loss"]["step"].item() == 20


# ---------------------------------------------------------------- CLI


def test_cli_atlas_and_heads(make_model_dir, story_files, tmp_path, capsys):
    from tiny_interp.cli import main

    model = make_model_dir("tiny-llama")
    train, _ = story_files
    out = tmp_path / "atlas"
    assert (
        main(
            [
                "atlas",
                str(model),
                "--stories",
                str(train),
                "--n-stories",
                "16",
                "--out",
                str(out),
                "--show",
                "1:2",
                "--dead",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "layer 1 neuron 2" in text and "[[" in text and "dead neurons" in text
    assert (out / "atlas.json").exists()
    assert main(["atlas", str(model), "--out", str(tmp_path / "none")]) == 2  # no atlas, no stories: a clear error
    csv = tmp_path / "heads.csv"
    assert main(["heads", str(model), "--stories", str(train), "--n-stories", "8", "--csv", str(csv)]) == 0
    cfg = get_preset("tiny-llama")
    assert csv.read_text().count("\n") == 1 + cfg.n_layers * cfg.n_heads
    assert "dominant_offset" in capsys.readouterr().out


def test_taxonomy_scores_and_labels_on_constructed_patterns():
    """The scorer itself, on hand-made attention patterns: a sink, an induction, a duplicate-token, a
    name-attending head and a distance-based head (mass decaying with distance, no single dominant offset)."""
    from tiny_interp.interp.heads import TaxonomyConfig, _Accumulator, scores_table

    g = torch.Generator().manual_seed(0)
    T, name = 64, 7
    ids = torch.randint(1, 5, (2, T), generator=g)
    ids[torch.rand((2, T), generator=g) < 0.15] = name
    ids[:, 0] = 0
    valid = torch.ones_like(ids, dtype=torch.bool)
    causal = torch.tril(torch.ones(T, T))

    def rows_to(mask):  # normalise each query's row over a key mask, falling back to itself
        mask = mask * causal
        mask = torch.where(mask.sum(-1, keepdim=True) > 0, mask, torch.eye(T))
        return mask / mask.sum(-1, keepdim=True)

    story_p = torch.zeros(2, 5, T, T)
    distance = torch.arange(T)[:, None] - torch.arange(T)[None, :]
    decaying = torch.where(distance >= 0, 0.7 ** distance.clamp(min=0).float(), torch.zeros(()))
    for b in range(2):
        earlier = torch.tril(torch.ones(T, T), -1)
        story_p[b, 0] = rows_to(torch.zeros(T, T).index_fill_(1, torch.tensor([0]), 1.0))
        story_p[b, 1] = rows_to(torch.ones(T, T))
        story_p[b, 2] = rows_to((ids[b][:, None] == ids[b][None, :]).float() * earlier)
        story_p[b, 3] = rows_to((ids[b] == name).float()[None, :].expand(T, T) * earlier)
        story_p[b, 4] = rows_to(decaying)
    half = 10
    ind_p = rows_to(torch.ones(T, T))[: 2 * half + 1, : 2 * half + 1].clone().expand(3, 5, -1, -1).clone()
    ind_p = ind_p / ind_p.sum(-1, keepdim=True)
    for q in range(half + 1, 2 * half + 1):
        ind_p[:, 1, q] = 0
        ind_p[:, 1, q, q - half + 1] = 1
    acc = _Accumulator(1, 5, max_offset=10, class_names=["names", "objects", "pronouns", "determiners"])
    classes = {
        "names": torch.tensor([name]),
        "objects": torch.tensor([99]),
        "pronouns": torch.tensor([98]),
        "determiners": torch.tensor([97]),
    }
    acc.add_stories([story_p], ids, valid, classes)
    acc.add_induction([ind_p])
    table = scores_table(acc.result(), TaxonomyConfig())
    assert list(table["label"]) == ["sink", "induction", "duplicate-token", "semantic:names", "distance"]
    assert table.loc[4, "offset_share"] < 0.5 < table.loc[4, "local_mass"]  # no single offset would catch it
    assert table.loc[4, "local_lift"] > 2 and table.loc[1, "local_lift"] == pytest.approx(1.0)
    assert table.loc[0, "sink"] == pytest.approx(1.0)
    assert table.loc[1, "induction"] == pytest.approx(1.0)
    assert table.loc[2, "duplicate_token"] == pytest.approx(1.0)
    assert table.loc[3, "sem_names"] == pytest.approx(1.0) and table.loc[3, "lift_names"] > 3
    assert table.loc[1, "entropy"] > 0.9 and table.loc[0, "entropy"] < 0.05
    assert np.isnan(table.loc[0, "sem_objects"])  # no object tokens: no score rather than a fake zero
