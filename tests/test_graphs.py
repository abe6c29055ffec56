"""Attribution graphs on tiny random models of both families with random transcoders (with and without skip)."""

from __future__ import annotations

import json
import random

import pytest
import torch
from graph_oracle import autograd_transpose, measured_edge

from tiny_interp.features.sae import SAE, SAEConfig
from tiny_interp.graphs.attribute import attribute
from tiny_interp.graphs.config import GraphConfig
from tiny_interp.graphs.export import graph_json
from tiny_interp.graphs.frozen import freeze
from tiny_interp.graphs.interventions import FeatureEdit, ablate, intervene, next_token_table
from tiny_interp.graphs.prune import fidelity, prune
from tiny_interp.graphs.transcoders import load_transcoders
from tiny_interp.model.checkpoint import load_tinylm

# gpt-neo with a 6-token window on its local layer (prompts are longer), llama with grouped KV heads and rotary
CASES = [
    ("tiny", True, "relu"),
    ("tiny", False, "jumprelu"),
    ("tiny-llama", True, "jumprelu"),
    ("tiny-llama", False, "relu"),
]
T = 14


def random_transcoders(model, skip: bool, activation: str, d_sae: int = 32, seed: int = 0) -> list[SAE]:
    """Transcoders of random weights sized like the model's MLP outputs (so error nodes are not huge)."""
    g = torch.Generator().manual_seed(seed)
    d = model.cfg.d_model
    tcs = []
    for l in range(model.cfg.n_layers):
        cfg = SAEConfig(
            "transcoder",
            d,
            d_sae,
            f"blocks.{l}.ln2.hook_normalized",
            hook_name_out=f"blocks.{l}.hook_mlp_out",
            activation=activation,
        )
        tc = SAE(cfg)
        if skip:
            tc.add_skip()
        with torch.no_grad():
            tc.W_enc.copy_(torch.randn(d, d_sae, generator=g) / d**0.5)
            tc.b_enc.copy_(0.3 * torch.randn(d_sae, generator=g))
            tc.W_dec.mul_(0.05)
            tc.b_dec.copy_(0.01 * torch.randn(d, generator=g))
            if tc.threshold is not None:
                tc.threshold.fill_(0.2)
            if tc.W_skip is not None:
                tc.W_skip.copy_(0.02 * torch.randn(d, d, generator=g))
        tcs.append(tc.eval())
    return tcs


def _model(make_model_dir, preset: str):
    path = make_model_dir(preset, window_size=6) if preset == "tiny" else make_model_dir(preset)
    return path, load_tinylm(path)


def _ids(model, seed: int = 1) -> torch.Tensor:
    return torch.randint(1, model.cfg.vocab_size, (T,), generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module", params=CASES, ids=[f"{p}-{'skip' if s else 'noskip'}-{a}" for p, s, a in CASES])
def case(request, make_model_dir):
    preset, skip, activation = request.param
    path, model = _model(make_model_dir, preset)
    tcs = random_transcoders(model, skip, activation)
    ids = _ids(model)
    return path, model, tcs, ids, attribute(model, tcs, ids)


def test_replacement_with_error_nodes_is_the_real_model(case):
    _, model, tcs, ids, graph = case
    with torch.no_grad():
        real = model(ids[None])[0].double()
        rep = freeze(model, tcs, ids)
        assert (rep.replacement_logits(keep_errors=True) - real).abs().max() < 1e-4
        assert (rep.replacement_logits(keep_errors=False) - real).abs().max() > 1e-3  # errors matter
    assert graph.kl_without_errors > 0


def test_hand_written_transpose_is_autograds(case):
    _, model, tcs, ids, _ = case
    rep = freeze(model, tcs, ids)
    g = torch.Generator().manual_seed(2)
    reads = torch.randn(3, rep.n_layers, T, model.cfg.d_model, generator=g, dtype=torch.float64)
    final = torch.randn(3, T, model.cfg.d_model, generator=g, dtype=torch.float64)
    skips = [tc.W_skip.detach() if tc.W_skip is not None else None for tc in rep.transcoders]
    assert torch.allclose(rep.transpose(reads, final, skips), autograd_transpose(rep, reads, final), atol=1e-10)


def test_node_inputs_are_their_edges_plus_biases(case):
    _, model, tcs, ids, graph = case
    with torch.no_grad():
        logits, cache = model.run_with_cache(ids[None])
    assert graph.n_features == graph.n_active  # every active feature is a node here
    for n in range(graph.n_features):
        layer, pos, feat = graph.features[n].tolist()
        real = float(tcs[layer].pre_acts(cache[f"blocks.{layer}.ln2.hook_normalized"][0, pos])[feat].detach())
        total = float(graph.adjacency[n].double().sum() + graph.bias[n])
        assert abs(total - real) < 1e-4, (n, total, real)
    for k, tok in enumerate(graph.logit_ids):
        row = graph.logit_start + k
        total = float(graph.adjacency[row].double().sum() + graph.bias[row])
        assert abs(total - float(logits[0, -1, tok])) < 1e-4


def _some_sources(graph, rng: random.Random) -> list[tuple[tuple, int]]:
    feats = rng.sample(range(graph.n_features), 6)
    out = [(("feature", *graph.features[n].tolist(), float(graph.activations[n])), n) for n in feats]
    for layer, pos in [(0, T - 1), (0, T - 3), (0, 2)]:
        out.append((("error", layer, pos), graph.error_index(layer, pos)))
    out += [(("embedding", p), graph.token_start + p) for p in (0, T - 2, T - 1)]
    return out


def test_edges_are_measured_direct_effects_with_every_other_path_frozen(case):
    _, model, tcs, ids, graph = case
    rep = freeze(model, tcs, ids)
    last = [n for n in range(graph.n_features) if graph.features[n, 0] == 1 and graph.features[n, 1] == T - 1]
    targets = [
        (("feature", *graph.features[last[0]].tolist()), last[0]),
        (("logit", graph.logit_ids[0]), graph.logit_start),
    ]
    nonzero = 0
    for target, row in targets:
        for source, col in _some_sources(graph, random.Random(0)):
            measured = measured_edge(rep, source, target)
            assert abs(float(graph.adjacency[row, col]) - measured) < 1e-4 + 1e-4 * abs(measured), (source, target)
            nonzero += abs(measured) > 1e-6
    assert nonzero >= 6


def test_local_window_cuts_direct_attention_paths(make_model_dir):
    """gpt-neo's local layer (window 6) cannot move a token's embedding 8 positions on in one step."""
    _, model = _model(make_model_dir, "tiny")
    tcs = random_transcoders(model, False, "relu")
    ids = torch.randint(1, model.cfg.vocab_size, (12,), generator=torch.Generator().manual_seed(5))
    graph = attribute(model, tcs, ids)
    rep = freeze(model, tcs, ids)
    target = [n for n in range(graph.n_features) if graph.features[n, 0] == 1 and graph.features[n, 1] == 11][0]
    # an error node of layer 0 at position 2 reaches layer 1 at position 11 only through the local layer's attention
    col = graph.error_index(0, 2)
    assert graph.adjacency[target, col] == 0
    assert measured_edge(rep, ("error", 0, 2), ("feature", *graph.features[target].tolist())) == pytest.approx(
        0, abs=1e-9
    )
    assert graph.adjacency[target, graph.error_index(0, 9)] != 0


def test_exact_transcoders_leave_nothing_to_error_nodes(make_model_dir):
    _, model = _model(make_model_dir, "tiny-llama")
    with torch.no_grad():
        for block in model.blocks:
            block.mlp.down.weight.zero_()  # MLPs write nothing ...
    tcs = random_transcoders(model, False, "relu")
    with torch.no_grad():
        for tc in tcs:
            tc.W_dec.zero_()  # ... and neither do the transcoders: a perfect replacement
            tc.b_dec.zero_()
    graph = attribute(model, tcs, _ids(model))
    assert graph.error_norms.max() < 1e-6 and graph.kl_without_errors < 1e-8
    fid = fidelity(graph, prune(graph))
    assert fid.error_share == 0.0 and fid.completeness == pytest.approx(1.0)


def test_pruning_keeps_outputs_and_the_most_influential_nodes(case):
    _, _, _, _, graph = case
    loose, tight = prune(graph, 0.95, 0.99), prune(graph, 0.5, 0.9)
    for p in (loose, tight):
        assert p.node_mask[graph.logit_start :].all() and p.node_mask[graph.token_start : graph.logit_start].all()
        assert not (p.edge_mask & (graph.adjacency == 0)).any()
        assert not p.edge_mask[:, ~p.node_mask].any() and not p.edge_mask[~p.node_mask].any()
    assert tight.n_nodes <= loose.n_nodes and tight.n_edges <= loose.n_edges
    kept = tight.node_mask[: graph.n_features]
    if kept.any() and (~kept).any():
        inf = tight.node_influence[: graph.n_features]
        assert inf[kept].max() >= inf[~kept].max()
    fid = fidelity(graph, prune(graph))
    assert 0 < fid.error_share < 1 and 0 <= fid.error_share_top <= 1 and 0 < fid.completeness <= 1


def test_feature_budget_keeps_consistent_rows(case):
    _, model, tcs, ids, graph = case
    small = attribute(model, tcs, ids, config=GraphConfig(max_feature_nodes=12, batch_size=5))
    assert small.n_features == 12 and small.n_active == graph.n_active
    full_rows = [graph.feature_index(*f) for f in small.features.tolist()]
    cols = full_rows + list(range(graph.error_start, graph.n_nodes))
    assert torch.allclose(small.adjacency[:12], graph.adjacency[full_rows][:, cols], atol=1e-6)
    assert torch.allclose(
        small.adjacency[small.logit_start :], graph.adjacency[graph.logit_start :][:, cols], atol=1e-6
    )


def test_interventions_edit_the_mlp_output_by_the_decoder_direction(case):
    _, model, tcs, ids, graph = case
    n = int(graph.activations.argmax())
    layer, pos, feat = graph.features[n].tolist()
    act = float(graph.activations[n])
    with torch.no_grad():
        base = model(ids[None])[0]

        def manual(x, name):
            x = x.clone()
            x[0, pos] -= act * tcs[layer].W_dec[feat]
            return x

        expected = model.run_with_hooks(ids[None], fwd_hooks=[(f"blocks.{layer}.hook_mlp_out", manual)])[0]
    assert torch.allclose(intervene(model, tcs, ids, [ablate(layer, feat, pos)]), expected, atol=1e-5)
    same = intervene(model, tcs, ids, [FeatureEdit(layer, feat, act, pos)])  # clamp at its own value: no change
    assert torch.allclose(same, base, atol=1e-5)
    added = intervene(model, tcs, ids, [FeatureEdit(layer, feat, 3.0, T - 1, "add")])
    assert torch.allclose(added[: T - 1], base[: T - 1], atol=1e-5) and not torch.allclose(added[-1], base[-1])
    table = next_token_table(base[-1], added[-1], k=4)
    p_old, p_new = base[-1].softmax(-1), added[-1].softmax(-1)
    assert len(table) == 4
    for row in table:
        assert row["old"] == pytest.approx(float(p_old[row["id"]])) and row["new"] == pytest.approx(
            float(p_new[row["id"]])
        )
    assert int(p_old.argmax()) in [r["id"] for r in table] and int(p_new.argmax()) in [r["id"] for r in table]


def test_export_is_circuit_tracers_schema(case):
    _, _, _, _, graph = case
    data = graph_json(graph, prune(graph), slug="t")
    assert set(data) == {"metadata", "qParams", "nodes", "links"}
    ids = [n["node_id"] for n in data["nodes"]]
    assert len(ids) == len(set(ids))
    assert all(l["source"] in ids and l["target"] in ids for l in data["links"])
    types = {n["feature_type"] for n in data["nodes"]}
    assert {"embedding", "logit"} <= types and sum(n["is_target_logit"] for n in data["nodes"]) == 1
    for n in data["nodes"]:
        assert set(n) >= {"node_id", "feature", "layer", "ctx_idx", "feature_type", "jsNodeId", "clerp"}
        assert isinstance(n["layer"], str) and isinstance(n["feature"], int)
    assert data["metadata"]["prompt_tokens"] == graph.tokens
    json.dumps(data, allow_nan=False)


def _save(tcs, root):
    # directory names in reverse layer order: the loader must go by cfg.json, not by name
    for l, tc in enumerate(tcs):
        tc.save(root / f"tc-{len(tcs) - l}")


def test_loader_finds_layers_by_hook_name(tmp_path, make_model_dir):
    _, model = _model(make_model_dir, "tiny")
    tcs = random_transcoders(model, True, "relu")
    _save(tcs, tmp_path)
    loaded = load_transcoders(tmp_path, model.cfg.n_layers, model.cfg.d_model)
    for a, b in zip(loaded, tcs):
        assert a.cfg.hook_name == b.cfg.hook_name and torch.equal(a.W_dec, b.W_dec)


def _cli(capsys, *args) -> tuple[int, str]:
    from tiny_interp.cli import main

    capsys.readouterr()
    try:
        rc = main(["graph", *map(str, args)])
    except SystemExit as e:  # argparse refuses an option's value before the command runs
        rc = int(e.code or 0)
    return rc, capsys.readouterr().err


def test_cli_writes_the_page_and_json_and_refuses_bad_inputs(tmp_path, make_model_dir, capsys):
    path, model = _model(make_model_dir, "tiny")
    tcs = random_transcoders(model, True, "relu")
    _save(tcs, tmp_path / "tcs")
    out, js = tmp_path / "g.html", tmp_path / "g.json"
    rc, err = _cli(
        capsys, path, "--prompt", "Lily gave the ball to", "--transcoders", tmp_path / "tcs", "--out", out, "--json", js
    )
    assert rc == 0, err
    html = out.read_text()
    assert (
        'data-tiny-interp="graph"' in html
        and len(html.encode()) < 2_000_000
        and "http" not in html.lower().replace("http://www.w3.org/2000/svg", "")
    )
    data = json.loads(js.read_text())
    assert data["metadata"]["prompt"] == "Lily gave the ball to" and data["nodes"]
    assert _cli(capsys, path, "--prompt", "Lily", "--transcoders", tmp_path / "tcs", "--out", out)[0] == 0  # own file
    rc, err = _cli(capsys, path, "--prompt", "  ", "--transcoders", tmp_path / "tcs", "--out", tmp_path / "y.html")
    assert rc == 2 and "prompt is empty" in err
    for extra, words in [
        (["--logit-mass", "nan"], "--logit-mass"),
        (["--max-logits", "0"], "--max-logits"),
        (["--target", " Lily and Tom"], "not one"),
        (["--transcoders", tmp_path / "none"], "none"),
    ]:
        args = [path, "--prompt", "Lily", "--transcoders", tmp_path / "tcs", "--out", tmp_path / "z.html", *extra]
        rc, err = _cli(capsys, *args)
        assert rc == 2 and words in err and err.count("\n") == 1, (extra, err)
    assert not (tmp_path / "z.html").exists()
    rc, err = _cli(capsys, tmp_path / "no-model", "--prompt", "Lily", "--transcoders", tmp_path / "tcs", "--out", out)
    assert rc == 2 and "no-model" in err
    (tmp_path / "tcs" / "tc-1" / "cfg.json").unlink()  # layer 1 gone
    rc, err = _cli(capsys, path, "--prompt", "Lily", "--transcoders", tmp_path / "tcs", "--out", tmp_path / "x.html")
    assert rc == 2 and err.count("\n") == 1 and "layer(s) [1]" in err
    foreign = tmp_path / "notes.html"
    foreign.write_text("my notes")
    rc, err = _cli(capsys, path, "--prompt", "Lily", "--transcoders", tmp_path / "tcs", "--out", foreign)
    assert rc == 2 and "not written by" in err and foreign.read_text() == "my notes"


def test_batched_interventions_equal_one_at_a_time(case):
    from tiny_interp.graphs.interventions import intervene_each

    _, model, tcs, ids, graph = case
    sets = [[ablate(*graph.features[n][[0, 2]].tolist(), pos=int(graph.features[n, 1]))] for n in range(3)]
    sets.append([FeatureEdit(0, 1, 2.0, None, "add"), FeatureEdit(1, 2, 0.5, T - 1)])
    each = intervene_each(model, tcs, ids, sets, chunk=3)
    for i, edits in enumerate(sets):
        assert torch.allclose(each[i], intervene(model, tcs, ids, edits)[-1], atol=1e-5)


def test_a_target_token_leads_the_outputs_whatever_its_probability(make_model_dir):
    from tiny_interp.graphs.api import open_graph_model

    path, model = _model(make_model_dir, "tiny-llama")
    gm = open_graph_model(path, random_transcoders(model, True, "relu"))
    plain = gm.graph("Lily gave the ball to")
    ids = gm.encode("Lily gave the ball to")
    with torch.no_grad():
        probs = model(ids[None])[0, -1].softmax(-1)
    least = int(probs.argmin())
    token = gm.tokenizer.decode([least])
    if gm.tokenizer(token, add_special_tokens=False)["input_ids"] != [least]:
        pytest.skip("the least likely token does not round-trip through the tokenizer")
    g = gm.graph("Lily gave the ball to", target=token)
    assert g.logit_ids[0] == least and g.logit_ids[1:] == plain.logit_ids[: len(g.logit_ids) - 1]
    assert float(g.logit_probs[0]) == pytest.approx(float(probs[least]), rel=1e-4)
    pruned = prune(g, only_top=True)
    assert pruned.node_mask[g.logit_start] and fidelity(g, pruned).error_share_top >= 0


def test_feature_pages_read_the_transcoders_feature_atlas(tmp_path, make_model_dir, story_files):
    import shutil

    from tiny_interp.features.feature_atlas import build_feature_atlas
    from tiny_interp.graphs.api import open_graph_model
    from tiny_interp.graphs.pages import feature_pages

    model_dir = tmp_path / "model"
    shutil.copytree(make_model_dir("tiny"), model_dir)
    _save(random_transcoders(load_tinylm(model_dir), True, "relu"), model_dir / "saes")
    atlas = build_feature_atlas(model_dir / "saes", story_files[1], n_stories=12, progress=False)
    gm = open_graph_model(model_dir, model_dir / "saes")
    graph = gm.graph("Lily gave the ball to")
    nodes = list(range(min(6, graph.n_features)))
    # the auto-interp export the FeatureExplorer reads: one explained feature, the others without
    layer0, _, feat0 = graph.features[nodes[0]].tolist()
    block0 = atlas.dictionary_names.index(gm.transcoder_names[layer0])
    (atlas.path / "explanations.json").write_text(json.dumps({f"{block0}:{feat0}": "balls and toys"}))
    pages = feature_pages(gm.model, gm.transcoders, graph, nodes, gm.tokenizer, gm.feature_info())
    for n in nodes:
        layer, _, feat = graph.features[n].tolist()
        block = atlas.dictionary_names.index(gm.transcoder_names[layer])
        expected = atlas.top_examples(block, feat, 6)
        assert [e["acts"] for e in pages[str(n)]["examples"]] == [list(a) for a in expected["acts"]]
        explained = (layer, feat) == (layer0, feat0)
        assert pages[str(n)].get("explanation") == ("balls and toys" if explained else None)
    assert any(pages[str(n)]["examples"] for n in nodes)
