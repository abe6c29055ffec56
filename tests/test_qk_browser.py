"""The attention view's "why" panel in real Chromium: an exported report carries the cells the author explained
(one from code, one asked for by the view as a click would), shows words first, hides and shows the panel as the
pin moves, says when a cell was not worked out, and a clicked earlier head opens in the view."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_browser import CHROMIUM, browser  # noqa: F401 - the Chromium fixture of the report tests

from tiny_interp.widgets import AttentionExplorer, save_html

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
MODEL = Path(__file__).resolve().parents[1] / "trained_models" / "ts-1M-neo"
STORY = "Once upon a time, Tom and Lily went to the park. Tom saw a big dog. The dog ran to Lily and she said"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)"),
]


def clear_winner(ex: AttentionExplorer) -> int:
    """A query whose strongest key leads the next one clearly (the view finds it from 8-bit weights)."""
    p = ex.attention.pattern(ex.layer)[ex.head]
    top = p.topk(2, dim=-1).values
    return int((top[:, 0] - top[:, 1])[5:].argmax()) + 5


def test_why_panel_in_an_exported_report(tmp_path, browser):  # noqa: F811 - the imported fixture
    from tiny_interp import load

    ex = AttentionExplorer(load(MODEL), story=STORY, taxonomy=None, layer=5, head=3, transcoders=MODEL / "saes")
    ex._from_view({"new": {"_from": "view", "layer": 5, "head": 3, "pin": 9, "why": {"query": 9, "key": 2}}})
    assert "5,3,9,2" in ex.whys
    q = clear_winner(ex)
    why = ex.explain(q)
    assert f"5,3,{q},{why.key}" in ex.whys and ex.pin == q
    out = save_html(tmp_path / "why.html", ex)
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(out.as_uri(), wait_until="load")
    panel = page.wait_for_selector(".ti-why .ti-qk", timeout=30_000)
    text = panel.inner_text()
    assert text.index("Head L5H3 at") < text.index("Biggest pairs") and "What the key offers" in text
    assert ex.attention.tokens[q].strip() in text.split("\n")[1]
    spans = page.query_selector_all(".ti-tokens .ti-tok")
    spans[q].click()  # unpin: the panel goes
    assert page.query_selector(".ti-why .ti-qk") is None
    spans[q].click()  # pin again: its strongest key, explained in the report
    page.wait_for_selector(".ti-why .ti-qk")
    spans[q - 1].click()
    assert "not worked out for this cell" in page.inner_text(".ti-why")
    spans[q].click()
    heads = [e for e in page.query_selector_all(".ti-why .ti-link") if re.match(r"L\d+H\d+ from", e.inner_text())]
    assert heads, "an earlier head among the top parts"
    layer, head = re.match(r"L(\d+)H(\d+)", heads[0].inner_text()).groups()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "qk_why_panel.png"), full_page=True)
    heads[0].click()
    assert f"layer {layer}, head {head}" in page.inner_text(".ti-root .ti-bar-top")
    assert not errors
