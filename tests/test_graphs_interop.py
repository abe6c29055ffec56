"""circuit-tracer reads our graph JSON: its pydantic ``Model`` loads it and its local server serves it.

circuit-tracer pins transformers <= 4.57 and TransformerLens 3, so it lives in a side virtual environment
(``.cache/ct-venv``, git-ignored, or ``$CIRCUIT_TRACER_PYTHON``); without it the test is skipped:

    python3 -m venv .cache/ct-venv
    .cache/ct-venv/bin/pip install torch==2.13.0 && .cache/ct-venv/bin/pip install circuit-tracer
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from test_graphs import random_transcoders

from tiny_interp.graphs.api import open_graph_model
from tiny_interp.graphs.export import graph_json, write_graph_dir
from tiny_interp.graphs.prune import prune
from tiny_interp.model.checkpoint import load_tinylm

REPO = Path(__file__).resolve().parents[1]
SIDE = Path(os.environ.get("CIRCUIT_TRACER_PYTHON", REPO / ".cache" / "ct-venv" / "bin" / "python"))

CHECK = r"""
import json, sys, urllib.request
from circuit_tracer.frontend.graph_models import Model
from circuit_tracer.frontend.local_server import serve
data_dir, slug = sys.argv[1], sys.argv[2]
model = Model.model_validate_json(open(f"{data_dir}/{slug}.json").read())
server = serve(data_dir=data_dir, port=0)
port = server.httpd.server_address[1]
try:
    served = urllib.request.urlopen(f"http://127.0.0.1:{port}/graph_data/{slug}.json", timeout=30).read()
    index = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/data/graph-metadata.json", timeout=30).read())
finally:
    server.stop()
again = Model.model_validate_json(served)
print(json.dumps({"nodes": len(model.nodes), "links": len(model.links), "served_nodes": len(again.nodes),
                  "types": sorted({n.feature_type for n in model.nodes}), "slugs": [g["slug"] for g in index["graphs"]],
                  "target": [n.node_id for n in model.nodes if n.is_target_logit]}))
"""


def _side_has_circuit_tracer() -> bool:
    if not SIDE.exists():
        return False
    r = subprocess.run([str(SIDE), "-c", "import circuit_tracer.frontend.graph_models"], capture_output=True)
    return r.returncode == 0


@pytest.mark.skipif(not _side_has_circuit_tracer(), reason=f"no circuit-tracer side venv at {SIDE}")
def test_circuit_tracer_loads_and_serves_our_json(tmp_path, make_model_dir):
    path = make_model_dir("tiny-llama")
    gm = open_graph_model(path, random_transcoders(load_tinylm(path), True, "relu"))
    graph = gm.graph("Lily gave the ball to")
    data = graph_json(graph, prune(graph), slug="lily-ball")
    write_graph_dir(tmp_path, data)
    r = subprocess.run(
        [str(SIDE), "-c", CHECK, str(tmp_path), "lily-ball"], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["nodes"] == got["served_nodes"] == len(data["nodes"]) and got["links"] == len(data["links"])
    assert {"embedding", "logit", "cross layer transcoder"} <= set(got["types"])
    assert got["slugs"] == ["lily-ball"] and len(got["target"]) == 1
