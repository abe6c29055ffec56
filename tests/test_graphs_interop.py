"""circuit-tracer reads our graph JSON: its pydantic ``Model`` loads it and its local server serves it. Runs in the
peers environment (`make test-peers`); elsewhere skipped, and in CI a missing circuit-tracer fails."""

from __future__ import annotations

import json
import urllib.request

from peers import need
from test_graphs import random_transcoders

from tiny_interp.graphs.api import open_graph_model
from tiny_interp.graphs.export import graph_json, write_graph_dir
from tiny_interp.graphs.prune import prune
from tiny_interp.model.checkpoint import load_tinylm


def test_circuit_tracer_loads_and_serves_our_json(tmp_path, make_model_dir):
    need("circuit_tracer")
    from circuit_tracer.frontend.graph_models import Model
    from circuit_tracer.frontend.local_server import serve

    path = make_model_dir("tiny-llama")
    gm = open_graph_model(path, random_transcoders(load_tinylm(path), True, "relu"))
    graph = gm.graph("Lily gave the ball to")
    data = graph_json(graph, prune(graph), slug="lily-ball")
    write_graph_dir(tmp_path, data)
    model = Model.model_validate_json((tmp_path / "lily-ball.json").read_text())
    server = serve(data_dir=str(tmp_path), port=0)
    port = server.httpd.server_address[1]
    try:
        served = urllib.request.urlopen(f"http://127.0.0.1:{port}/graph_data/lily-ball.json", timeout=30).read()
        index = json.loads(
            urllib.request.urlopen(f"http://127.0.0.1:{port}/data/graph-metadata.json", timeout=30).read()
        )
    finally:
        server.stop()
    again = Model.model_validate_json(served)
    assert len(model.nodes) == len(again.nodes) == len(data["nodes"]) and len(model.links) == len(data["links"])
    assert {"embedding", "logit", "cross layer transcoder"} <= {n.feature_type for n in model.nodes}
    assert [g["slug"] for g in index["graphs"]] == ["lily-ball"]
    assert len([n for n in model.nodes if n.is_target_logit]) == 1
    scores = json.loads(served)["metadata"]["scores"]
    assert 0 <= scores["circuit_tracer"]["replacement_score"] <= 1 and "error_share" in scores["tiny_interp"]
