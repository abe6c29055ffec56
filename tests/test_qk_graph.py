"""QK tracing in attribution graphs: ``tiny-interp graph`` explains the heads on the strongest attention paths of a
shipped model's graph, writes them into the graph JSON under Neuronpedia's ``qk_tracing_results`` fields (ids of
features, errors and tokens are the graph's node ids), and the graph view shows the panel on the target node."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tiny_interp.cli import main

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "trained_models" / "ts-1M-neo"
CHROMIUM = Path("/usr/bin/chromium")
PROMPT = "Tom and Lily went to the park. Tom gave the ball to"


@pytest.fixture(scope="module")
def graph_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("qkgraph")
    page, js = out / "g.html", out / "g.json"
    argv = ["graph", str(MODEL), "--prompt", PROMPT, "--transcoders", str(MODEL / "saes")]
    assert main([*argv, "--out", str(page), "--json", str(js), "--qk-paths", "3"]) == 0
    return page, json.loads(js.read_text())


def test_qk_tracing_results_in_graph_json(graph_files):
    _, data = graph_files
    traced = [n for n in data["nodes"] if "qk_tracing_results" in n]
    assert 1 <= len(traced) <= 3
    for n in traced:
        qk = n["qk_tracing_results"]
        pairs, qm, km = (
            qk[k] for k in ("pair_wise_contributors", "top_q_marginal_contributors", "top_k_marginal_contributors")
        )
        assert pairs and all(len(p) == 3 and isinstance(p[2], float) for p in pairs)
        assert all(len(m) == 2 for m in qm + km)
        assert abs(sum(p[2] for p in pairs) + qk["rest"] - qk["score"]) < 1e-4
        assert qk["query"] == n["ctx_idx"] and qk["key"] < qk["query"] and re.fullmatch(r"L\d+H\d+", qk["head"])
        for cid in {p[0] for p in pairs} | {p[1] for p in pairs} | {m[0] for m in qm + km}:
            assert cid in qk["labels"]
        assert any(re.fullmatch(r"E_\d+_\d+|\d+_-?\d+_\d+", m[0]) for m in qm + km)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")
def test_graph_view_shows_the_qk_panel(graph_files):
    sync_api = pytest.importorskip("playwright.sync_api")
    page_file, data = graph_files
    html = page_file.read_text()
    view = json.loads(re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', html, re.S).group(1))
    target = int(next(iter(view["qk"])))
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"], headless=True)
        try:
            page = b.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_file.as_uri())
            page.wait_for_selector(".tg-svg")
            page.locator(".tg-node").nth(target).click(force=True)
            text = page.locator(".tg-panel .ti-qk").inner_text()
            assert text.startswith("Why L") and "Biggest pairs" in text and "What the key offers" in text
            assert not errors
        finally:
            b.close()
