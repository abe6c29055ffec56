"""Every view of the docs, drawn from the shipped models in a real Chromium: each must draw without a page error
or a request leaving the machine. With $TINY_INTERP_SCREENSHOTS set (`make screenshots`) the pictures the guides
show are saved under docs/assets/screens/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO, save_doc_screenshot
from test_browser import CHROMIUM, browser, local  # noqa: F401 (browser: the shared Chromium fixture)

MODELS = REPO / "trained_models"
STORY = (
    "Lily and Tom went to the park. Lily had a red ball. She threw the ball to Tom, and Tom threw it back. "
    'Then the ball rolled into the pond. Tom was sad, but Lily said, "Do not worry, we can get it together."'
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)"),
    pytest.mark.skipif(not (MODELS / "ts-1L" / "saes").is_dir(), reason="the shipped models are not checked out"),
]


def draw(browser, page_file: Path, selector: str, name: str, click: str | None = None) -> None:  # noqa: F811
    """Open a saved page, wait for the view to draw, check it stayed local and error-free, then shoot it (after
    clicking the element ``click`` names, for the views whose best part shows on a click)."""
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    # what went wrong, in order: a page error, or a request for anything not on this machine
    trouble: list[str] = []
    page.on("request", lambda r: None if local(r.url) else trouble.append(f"request {r.url}"))
    page.on("pageerror", lambda e: trouble.append(f"error {e}"))
    page.goto(page_file.as_uri(), wait_until="load", timeout=60_000)
    page.wait_for_selector(selector, timeout=60_000)
    assert page.evaluate("document.body.scrollHeight") > 300  # drawn, not just a line of text
    if click is not None:
        page.locator(click).click()
    assert trouble == []
    save_doc_screenshot(page, name)
    page.close()


@pytest.fixture(scope="module")
def one_layer():
    import torch

    import tiny_interp

    torch.set_num_threads(1)
    return tiny_interp.load(str(MODELS / "ts-1L"))


def test_attention_explorer(browser, one_layer, tmp_path):  # noqa: F811
    from tiny_interp.widgets import AttentionExplorer, save_html

    page = save_html(tmp_path / "a.html", AttentionExplorer(one_layer, story=STORY, head=3))
    draw(browser, page, ".ti-root .ti-big", "attention-explorer")


def test_neuron_explorer(browser, tmp_path):  # noqa: F811
    from tiny_interp.widgets import NeuronExplorer, save_html

    page = save_html(tmp_path / "n.html", NeuronExplorer(str(MODELS / "ts-1M-neo"), layer=3, neuron=117))
    draw(browser, page, ".ti-snip", "neuron-explorer")


def test_story_inspector(browser, one_layer, tmp_path):  # noqa: F811
    from tiny_interp.widgets import StoryInspector, save_html

    page = save_html(tmp_path / "s.html", StoryInspector(one_layer, story=STORY))
    # "She": what the model reads at a pronoun
    draw(browser, page, ".ti-root .ti-tok", "story-inspector", click=".ti-root .ti-tok >> nth=15")


def test_feature_explorer(browser, tmp_path):  # noqa: F811
    from tiny_interp.widgets import save_html
    from tiny_interp.widgets.features import FeatureExplorer

    ex = FeatureExplorer(str(MODELS / "ts-1L" / "saes"), text=STORY)
    draw(browser, save_html(tmp_path / "f.html", ex), ".ti-snip", "feature-explorer")


def test_graph_view(browser, tmp_path):  # noqa: F811
    from tiny_interp.graphs.api import open_graph_model
    from tiny_interp.graphs.trace import trace
    from tiny_interp.widgets.graph import save_graph_html

    gm = open_graph_model(str(MODELS / "ts-1M-neo"), str(MODELS / "ts-1M-neo" / "saes"))
    t = trace(gm, "Lily and Tom went to the park. Lily gave the ball to", target=" Tom")
    page = save_graph_html(tmp_path / "g.html", json.loads(t.view().data))
    draw(browser, page, ".tg-svg", "graph-view", click="circle.tg-node >> nth=0")
