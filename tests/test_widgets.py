"""Notebook views: data agrees with the interp tools, stays small for long stories, is escaped, and renders in a
real Chromium without network access, errors or script injection."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import tiny_interp
from tiny_interp.interp import build_atlas, direct_logit_attribution, logit_lens
from tiny_interp.widgets import AttentionExplorer, NeuronExplorer, StoryInspector, neuron_data, safe_json, save_html
from tiny_interp.widgets.attention import bridge_patterns, story_attention
from tiny_interp.widgets.base import story_ids
from tiny_interp.widgets.render import KERNEL, PageState, reset_page
from tiny_interp.widgets.story import story_data

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
EVIL = ['<script>alert(1)</script>', '"></div>', '</script><img src=x onerror=alert(1)>']
EVIL_STORY = "Lily saw " + " and ".join(EVIL) + " in the park."


def _decode(layer: dict, n_heads: int, T: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.frombuffer(base64.b64decode(layer["idx"]), dtype="<u2").reshape(n_heads, T, k)
    val = np.frombuffer(base64.b64decode(layer["val"]), dtype=np.uint8).reshape(n_heads, T, k)
    return idx, val


def test_safe_json_never_closes_a_script():
    data = {"tokens": EVIL + ["a\u2028b\u2029c", "x&y"]}
    text = safe_json(data)
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == data


@pytest.mark.parametrize("preset,overrides", [
    ("tiny", {}), ("tiny-llama", {}), ("tiny", {"window_size": 8, "attention_layers": ("global", "local")}),
], ids=["gpt-neo", "llama-gqa", "gpt-neo-local"])
def test_attention_view_matches_the_bridge_patterns(make_model_dir, story_texts, preset, overrides):
    bridge = tiny_interp.load(make_model_dir(preset, seed=1, **overrides))
    story = " ".join(story_texts[:3])
    att = story_attention(bridge, story, top_k=6)
    ids, _ = story_ids(bridge, story)
    ref = bridge_patterns(bridge, ids)
    T, H = len(att.tokens), bridge.cfg.n_heads
    assert att.tokens == [bridge.tokenizer.decode([i]) for i in ids[0].tolist()]
    data = att.view_data()
    assert [x["layer"] for x in data["layers"]] == list(range(bridge.cfg.n_layers))
    for l, layer in enumerate(data["layers"]):
        idx, val = _decode(layer, H, T, 6)
        p = ref[l].p.numpy()
        assert np.abs(att.pattern(l).numpy() - p).max() < 1e-5
        # the stored keys are the pattern's strongest keys, weights to within one quantisation step
        kept = np.take_along_axis(p, idx.astype(np.int64), -1)
        assert np.abs(kept * 255 - val).max() <= 0.5 + 1e-3
        assert np.allclose(np.sort(kept, -1), np.sort(np.sort(p, -1)[..., -6:], -1), atol=1e-6)


def test_long_stories_stay_bounded(make_model_dir, story_texts):
    bridge = tiny_interp.load(make_model_dir("tiny", n_ctx=1024))
    long_story = " ".join(story_texts[:40])
    sizes = {}
    for n in (256, 512, 1024):
        att = story_attention(bridge, long_story, top_k=8, max_tokens=n)
        assert len(att.tokens) == n
        sizes[n] = len(safe_json(att.view_data([0])))
    # linear in the story (top-k keys per query), never quadratic; and a cut story says so
    assert sizes[1024] < 2.3 * sizes[512] < 2.3 * 2.3 * sizes[256]
    H = bridge.cfg.n_heads
    assert sizes[1024] < 1024 * H * 8 * 3 * 4 / 3 + 1024 * 40
    assert "first 1024" in story_attention(bridge, long_story, max_tokens=1024).note
    short = AttentionExplorer(bridge, story=long_story, taxonomy=None)
    assert len(short.attention.tokens) == 1024 and "1024" in short.status.value


def test_story_inspector_agrees_with_lens_and_attribution(make_model_dir, story_texts):
    bridge = tiny_interp.load(make_model_dir("tiny", seed=2))
    story = story_texts[5][:300]
    data = story_data(bridge, story, n_attr=50)
    S, T = data["strings"], len(data["tokens"])
    for pos in (3, T - 1):
        P = data["positions"][pos]
        lens = logit_lens(bridge, story, position=pos, top_k=3)
        last = lens[lens["layer"] == bridge.cfg.n_layers - 1]
        assert [S[e[0]] for e in P["lens"][-1]] == list(last["token"])
        assert np.allclose([e[1] for e in P["lens"][-1]], last["prob"], atol=2e-3)
        dla = direct_logit_attribution(bridge, story, position=pos).set_index("component")["contribution"]
        assert S[P["pred"]] == direct_logit_attribution(bridge, story, position=pos).attrs["token"]
        for name, value in P["attr"]:
            assert value == pytest.approx(float(dla[name]), abs=2e-3)
        assert len(P["neurons"]) == 8


@pytest.fixture(scope="module")
def atlas_model(make_model_dir, story_texts):
    path = make_model_dir("tiny", seed=3)
    if not (path / "atlas" / "atlas.json").exists():
        build_atlas(path, story_texts[:80], progress=False)
    return path


def test_neuron_view_data(atlas_model):
    from tiny_interp.interp import open_atlas

    atlas = open_atlas(atlas_model)
    d = neuron_data(atlas, 1, 5, n_examples=8, focus=" the")
    top = atlas.top_examples(1, 5, n=8)
    assert [round(e["act"], 4) for e in d["examples"]] == [round(x, 4) for x in top["activation"]]
    assert [e["tokens"] for e in d["examples"]] == list(top["tokens"])
    assert all(0 <= a <= 255 for e in d["examples"] for a in e["acts"])
    assert max(max(e["acts"]) for e in d["examples"]) == 255
    edges, counts = atlas.histogram(1, 5)
    assert d["hist"]["counts"] == counts.tolist()
    # "neurons for this token" agrees with the atlas's own selectivity query
    expect = atlas.selective_for_token(" the", n=6)
    assert [(r[0], r[1]) for r in d["token_neurons"][" the"]] == list(zip(expect["layer"], expect["neuron"]))


def test_neuron_explorer_offers_to_build(make_model_dir, story_files):
    path = make_model_dir("tiny", seed=4)
    ex = NeuronExplorer(str(path))
    assert ex.atlas is None and "no neuron atlas" in ex.status.value
    ex.stories_box.value = str(story_files[1])
    ex.build(n_stories=20)
    assert ex.atlas is not None and (path / "atlas" / "atlas.json").exists()
    assert json.loads(ex.view.data)["kind"] == "neuron"


def test_bundle_goes_on_a_page_once(make_model_dir):
    bridge = tiny_interp.load(make_model_dir("tiny"))
    reset_page()
    a = AttentionExplorer(bridge, story=EVIL_STORY, taxonomy=None)
    s = StoryInspector(bridge, story=EVIL_STORY)
    first, second = a._repr_mimebundle_(), s._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in first and "text/html" in first
    assert first["text/html"].count('<script data-tiny-interp="views">') == 1
    assert '<script data-tiny-interp="views">' not in second["text/html"]
    assert KERNEL.bundle
    for evil in EVIL:
        assert evil not in first["text/html"] and evil not in second["text/html"]
    page = PageState()
    html = a.to_html(page) + s.to_html(page)
    assert html.count('<script data-tiny-interp="views">') == 1
    assert not re.search(r"<(script|link)[^>]+src=", html)


def _evil_page(tmp_path: Path, atlas_model: Path, story_texts) -> Path:
    bridge = tiny_interp.load(atlas_model)
    long_story = EVIL_STORY + " " + " ".join(story_texts[:12])
    views = [AttentionExplorer(bridge, story=long_story, stories=story_texts[:8]), NeuronExplorer(bridge),
             StoryInspector(bridge, story=EVIL_STORY)]
    return save_html(tmp_path / "views.html", *views)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
def test_views_render_in_chromium(tmp_path, atlas_model, story_texts):
    from playwright.sync_api import sync_playwright

    page_file = _evil_page(tmp_path, atlas_model, story_texts)
    html = page_file.read_text()
    assert html.count('<script data-tiny-interp="views">') == 1 and html.count("plotly.js v") <= 2
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    requests, problems, dialogs = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(page_file.as_uri())
            page.wait_for_selector(".ti-root .ti-big")
            page.wait_for_selector(".ti-map-check, .js-plotly-plot .heatmaplayer", timeout=10_000)
            assert page.locator(".ti-root").count() == 3
            H = tiny_interp.load(atlas_model).cfg.n_heads
            assert page.locator(".ti-thumb").count() == H
            # the big pattern canvas is drawn (non-white pixels)
            inked = page.evaluate("""() => { const c = document.querySelector('.ti-big'); const d = c.getContext('2d')
                .getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4)
                if (d[i] < 250) n++; return n; }""")
            assert inked > 0
            # hover a token: the info line names it and earlier tokens get a background
            attn_tokens = page.locator(".ti-root").nth(0).locator(".ti-tokens .ti-tok")
            attn_tokens.nth(20).hover()
            info = page.locator(".ti-root").nth(0).locator(".ti-info").inner_text()
            assert "position 20" in info and "attends to" in info
            lit = page.evaluate("""() => [...document.querySelectorAll('.ti-root')[0].querySelectorAll('.ti-tokens .ti-tok')]
                .filter(s => s.style.background).length""")
            assert 1 <= lit <= 8
            # clicking a head in the plotly taxonomy map selects it in the attention view
            page.evaluate("""() => { const gd = document.querySelector('.js-plotly-plot');
                gd.emit('plotly_click', {points: [{x: 2, y: 1}]}); }""")
            assert "layer 1, head 2" in page.locator(".ti-root").nth(0).locator(".ti-head").first.inner_text()
            page.locator(".ti-thumb").nth(3).click()
            assert "head 3" in page.locator(".ti-root").nth(0).locator(".ti-head").first.inner_text()
            # neuron view: snippets and histogram; story view: clicking a token shows lens / attribution / neurons
            assert page.locator(".ti-snip").count() > 0 and page.locator("svg.ti-hist rect").count() > 10
            story = page.locator(".ti-root").nth(2)
            story.locator(".ti-tok").nth(4).click()
            assert "position 4" in story.inner_text() and story.locator("table").count() == 2
            # hostile text shows as text and ran nothing
            text = page.locator("body").inner_text()
            for evil in EVIL:
                assert evil in text
            assert page.locator("img[src=x]").count() == 0
            page.screenshot(path=str(artifacts / "widgets.png"), full_page=True)
        finally:
            browser.close()
    assert not dialogs, dialogs
    assert not problems, problems
    external = [u for u in requests if not (u.startswith("file://") or u.startswith(("http://127.0.0.1", "data:")))]
    assert not external, external
