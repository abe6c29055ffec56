"""circuit-tracer 0.5 with our files: its own loader opens our exported transcoders and encodes as we do, and its
own ``attribute`` on ts-1M-neo computes our graph (same nodes, adjacency to 1e-3 of the largest edge) once our
graph takes its three conventions (``GraphConfig.circuit_tracer()``). Runs in the peers environment."""

from __future__ import annotations

import pytest
import torch
from conftest import REPO, TINYSTORIES
from peers import circuit_tracer_model, need

from tiny_interp.graphs.api import open_graph_model
from tiny_interp.graphs.config import GraphConfig
from tiny_interp.graphs.scores import circuit_tracer_scores

MODEL = REPO / "trained_models" / "ts-1M-neo"
# notebook 10's prompts
PROMPTS = [
    "Lily and Tom went to the park. Lily gave the ball to",
    "Tom had a big red ball. Lily wanted to play with Tom. She asked",
    "Tom found a shiny red ball in the",
]


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    need("circuit_tracer")
    torch.set_num_threads(1)
    model, transcoders = circuit_tracer_model(MODEL, MODEL / "saes", tmp_path_factory.mktemp("ct"))
    return model, transcoders, open_graph_model(MODEL, MODEL / "saes")


@pytest.mark.skipif(not (TINYSTORIES / "valid.txt").exists(), reason="needs ../shared/data/tinystories")
def test_circuit_tracer_opens_our_transcoders_and_encodes_as_we_do(both):
    from test_saelens_compat import real_inputs

    _, transcoders, gm = both
    for l, (theirs, ours) in enumerate(zip(transcoders, gm.transcoders)):
        x = real_inputs(MODEL, ours)
        with torch.no_grad():
            f = ours.encode(x)
            torch.testing.assert_close(theirs.encode(x), f, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(theirs.decode(f, x), ours.decode(f, x), rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(theirs(x), ours(x), rtol=1e-5, atol=1e-5)
        assert theirs.W_skip is not None and 8 <= float((f > 0).sum(-1).float().mean()) <= 20, l


@pytest.mark.parametrize("prompt", PROMPTS)
def test_circuit_tracer_attribute_computes_our_graph(both, prompt):
    from circuit_tracer import attribute
    from circuit_tracer.graph import compute_graph_scores

    model, _, gm = both
    ids = gm.encode(prompt)
    theirs = attribute(ids, model, batch_size=256)
    ours = gm.graph(prompt, GraphConfig.circuit_tracer())
    assert theirs.input_tokens.tolist() == ids.tolist()
    assert [t.vocab_idx for t in theirs.logit_targets] == ours.logit_ids
    assert torch.equal(theirs.active_features[theirs.selected_features].long(), ours.features.long())
    torch.testing.assert_close(
        theirs.activation_values[theirs.selected_features], ours.activations, atol=1e-5, rtol=1e-5
    )
    A, B = theirs.adjacency_matrix, ours.adjacency
    assert A.shape == B.shape == (ours.n_nodes, ours.n_nodes)
    assert float((A - B).abs().max()) <= 1e-3 * float(A.abs().max())
    replacement, completeness = compute_graph_scores(theirs)
    mine = circuit_tracer_scores(ours)
    assert mine["replacement_score"] == pytest.approx(replacement, abs=1e-4)
    assert mine["completeness_score"] == pytest.approx(completeness, abs=1e-4)


def test_without_its_conventions_the_difference_is_exactly_them(both):
    """Our default graph keeps the first position's features (circuit-tracer's zero_positions drops them): the
    default's extra feature nodes are exactly those."""
    _, _, gm = both
    prompt = PROMPTS[2]
    plain, like = gm.graph(prompt), gm.graph(prompt, GraphConfig.circuit_tracer())
    assert plain.n_active > like.n_active and bool((like.features[:, 1] > 0).all())
    assert int((plain.features[:, 1] == 0).sum()) == plain.n_active - like.n_active
