"""The graph view in a published report (the report's own nbconvert page and CSS, real Chromium): it opens at the
output end (top right of a graph wider than the page), keeps its labels at 10 px or more, and every feature page's
ablate/double tables list the traced target's row however unlikely it is."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from test_browser import CHROMIUM, browser  # noqa: F401 - the fixture
from test_graphs import random_transcoders

from tiny_interp.graphs.api import open_graph_model
from tiny_interp.graphs.interventions import intervene
from tiny_interp.graphs.prune import prune
from tiny_interp.model.checkpoint import load_tinylm
from tiny_interp.report.html import render_html
from tiny_interp.widgets.graph import GraphView, graph_view_data

# long enough that the graph is wider than its box on a 1100 px page
PROMPT = (
    "Lily and Tom went to the park with a big red ball. Lily threw the ball high in the sky and Tom ran after it. "
    "Then Lily gave the ball to"
)


def unlikely_token(gm) -> str:
    """The least likely next token that is one token as text: far outside any top 5."""
    logits = intervene(gm.model, gm.transcoders, gm.encode(PROMPT), [])[-1]
    for i in logits.argsort().tolist():
        text = gm.tokenizer.decode([i])
        if text.strip() and gm.tokenizer(text, add_special_tokens=False)["input_ids"] == [i]:
            return text
    raise AssertionError("no single-token text in the vocabulary")


@pytest.fixture(scope="module")
def graph_data(make_model_dir):
    path = make_model_dir("tiny", window_size=6)
    gm = open_graph_model(path, random_transcoders(load_tinylm(path), True, "relu"))
    target = unlikely_token(gm)
    graph = gm.graph(PROMPT, target=target)
    assert graph.logit_ids[0] == gm.token_id(target)
    return graph, graph_view_data(graph, prune(graph), gm.model, gm.transcoders, gm.tokenizer)


def test_intervention_tables_keep_the_traced_target(graph_data):
    graph, data = graph_data
    target = graph.logit_ids[0]
    assert data["pages"]
    for page in data["pages"].values():
        for table in page["interventions"].values():
            assert target in [row["id"] for row in table]


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")
def test_graph_view_in_a_report_opens_at_the_output_and_stays_legible(browser, graph_data, tmp_path):  # noqa: F811
    _, data = graph_data
    nb = nbformat.v4.new_notebook()
    bundle = GraphView(data)._repr_mimebundle_()
    out = nbformat.v4.new_output("display_data", data=bundle[0] if isinstance(bundle, tuple) else bundle)
    nb.cells.append(nbformat.v4.new_code_cell("trace(...).view()", outputs=[out], execution_count=1))
    report = tmp_path / "graph-report.html"
    report.write_text(render_html(nb, {"notebook": "graph.ipynb", "parameters": {}}, "graph"))
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(report.as_uri())
    page.wait_for_selector(".tg-svg")
    box = page.eval_on_selector(
        ".tg-scroll",
        "s => ({left: s.scrollLeft, max: s.scrollWidth - s.clientWidth, top: s.scrollTop})",
    )
    assert box["max"] > 0, "the graph fits its box: the prompt is too short for this check"
    assert abs(box["left"] - box["max"]) <= 1 and box["top"] == 0  # the output end, where the logits are
    sizes = page.eval_on_selector_all(
        ".tg-tok, .tg-axis, .tg-out",
        "els => els.map(e => parseFloat(getComputedStyle(e).fontSize) * "
        "(e.ownerSVGElement.getBoundingClientRect().width / e.ownerSVGElement.width.baseVal.value))",
    )
    assert sizes and min(sizes) >= 10, min(sizes)
    artifacts = Path(__file__).resolve().parents[1] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    page.screenshot(path=str(artifacts / "graph-report.png"))
