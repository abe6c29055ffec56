"""The graph page in a real Chromium: click a node, hover an edge, group a supernode, pin a path, no network."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_graphs import random_transcoders

from tiny_interp.graphs.api import open_graph_model
from tiny_interp.graphs.prune import prune
from tiny_interp.model.checkpoint import load_tinylm
from tiny_interp.widgets.graph import graph_view_data, save_graph_html

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[1]
PROMPT = "Lily and Tom went to the park. Lily gave the ball to"
EVIL = "</script><img src=x onerror=alert(1)>"


def _info(layer: int, feature: int) -> dict:
    return {
        "explanation": f"an explanation of {layer}/{feature} {EVIL}",
        "examples": [{"tokens": ["Lily", " gave", EVIL], "acts": [0.0, 2.0, 1.0]}, {"text": "plain example"}],
    }


def _page(tmp_path, make_model_dir) -> tuple[Path, dict]:
    path = make_model_dir("tiny", window_size=6)
    gm = open_graph_model(path, random_transcoders(load_tinylm(path), True, "relu"))
    graph = gm.graph(PROMPT)
    data = graph_view_data(graph, prune(graph), gm.model, gm.transcoders, gm.tokenizer, info=_info)
    return save_graph_html(tmp_path / "graph.html", data), data


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium")
def test_graph_page_in_chromium(tmp_path, make_model_dir):
    from playwright.sync_api import sync_playwright

    page_file, data = _page(tmp_path, make_model_dir)
    assert page_file.stat().st_size < 2_000_000
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    requests, problems = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(page_file.as_uri())
            page.wait_for_selector(".tg-svg")
            assert page.locator(".tg-node").count() == len(data["nodes"])
            assert page.locator("line.tg-edge").count() == len(data["edges"]) > 0
            # click a feature node: its page (explanation, examples, logits, interventions) and strongest edges
            page.locator("circle.tg-node").first.click()
            panel = page.locator(".tg-panel").inner_text()
            for part in (
                "activation",
                "Strongest inputs",
                "Strongest outputs",
                "Ablate it",
                "Double it",
                "Logits of its decoder direction",
                "explanation of",
                "plain example",
            ):
                assert part in panel, part
            assert page.locator(".tg-edge.tg-hot").count() > 0
            # hover an edge: its weight in the tooltip
            page.locator("line.tg-edge").first.hover(force=True)
            tip = page.locator(".tg-tip")
            assert tip.is_visible() and "weight" in tip.inner_text()
            # shift-click two nodes and group them into a named supernode
            circles = page.locator("circle.tg-node")
            circles.nth(0).click(modifiers=["Shift"])
            circles.nth(1).click(modifiers=["Shift"])
            page.fill(".tg-name", "name mover")
            page.click(".tg-group")
            assert (
                page.locator(".tg-super").count() == 1 and "name mover" in page.locator(".tg-supernodes").text_content()
            )
            # pin the strongest path through the selected node
            page.click(".tg-pin")
            assert page.locator(".tg-edge.tg-pinned").count() >= 1
            assert page.locator("img[src=x]").count() == 0 and EVIL in page.locator(".tg-panel").inner_text()
            page.screenshot(path=str(artifacts / "graph.png"), full_page=True)
        finally:
            browser.close()
    assert not problems, problems
    external = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert not external, external
