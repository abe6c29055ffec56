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
from tiny_interp.widgets.attention import story_attention
from tiny_interp.widgets.base import story_ids
from tiny_interp.widgets.circuits import attention_heads_html
from tiny_interp.widgets.render import KERNEL, PageState, reset_page
from tiny_interp.widgets.story import story_data
from tiny_interp.widgets.taxonomy import TaxonomySource

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
EVIL = ["<script>alert(1)</script>", '"></div>', "</script><img src=x onerror=alert(1)>"]
EVIL_STORY = "Lily saw " + " and ".join(EVIL) + " in the park."


def _decode(layer: dict, n_heads: int, T: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    idx = np.frombuffer(base64.b64decode(layer["idx"]), dtype="<u2").reshape(n_heads, T, k)
    val = np.frombuffer(base64.b64decode(layer["val"]), dtype=np.uint8).reshape(n_heads, T, k)
    rest = np.frombuffer(base64.b64decode(layer["rest"]), dtype=np.uint8).reshape(n_heads, T)
    return idx, val, rest


def bridge_patterns(bridge, ids) -> list[np.ndarray]:
    """The TransformerLens bridge's own patterns (an independent path from the seam our views read)."""
    with torch.no_grad():
        _, cache = bridge.run_with_cache(ids, names_filter=lambda n: n.endswith("attn.hook_pattern"))
    return [cache[f"blocks.{l}.attn.hook_pattern"][0].float().numpy() for l in range(bridge.cfg.n_layers)]


SMALL_TAXONOMY = TaxonomySource(n_stories=6, max_new_tokens=24, max_len=32, induction_seqs=4)


def test_safe_json_never_closes_a_script():
    data = {"tokens": EVIL + ["a\u2028b\u2029c", "x&y"]}
    text = safe_json(data)
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == data


@pytest.mark.parametrize(
    "preset,overrides",
    [
        ("tiny", {}),
        ("tiny-llama", {}),
        ("tiny", {"window_size": 8, "attention_layers": ("global", "local")}),
    ],
    ids=["gpt-neo", "llama-gqa", "gpt-neo-local"],
)
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
        idx, val, rest = _decode(layer, H, T, 6)
        p = ref[l]
        assert np.abs(att.pattern(l).numpy() - p).max() < 1e-5
        # the stored keys are the pattern's strongest keys, weights to within one quantisation step
        kept = np.take_along_axis(p, idx.astype(np.int64), -1)
        assert np.abs(kept * 255 - val).max() <= 0.5 + 1e-3
        assert np.allclose(np.sort(kept, -1), np.sort(np.sort(p, -1)[..., -6:], -1), atol=1e-6)
        # and the mass left outside them, per query, is what the view reports
        assert np.abs((1 - kept.sum(-1)).clip(0, 1) * 255 - rest).max() <= 0.5 + 1e-3
        assert rest[:, :6].max() == 0 and rest[:, -1].max() > 0  # early queries have fewer than 6 keys


def test_long_stories_stay_bounded(make_model_dir, story_texts):
    bridge = tiny_interp.load(make_model_dir("tiny", n_ctx=1024))
    long_story = " ".join(story_texts[:40])
    sizes = {}
    for n in (256, 512, 1024):
        att = story_attention(bridge, long_story, top_k=8, max_tokens=n)
        assert len(att.tokens) == n
        sizes[n] = len(safe_json(att.view_data([0])))
    # linear in the story (top-k keys per query, one byte of left-out mass), never quadratic; a cut story says so
    assert sizes[1024] < 2.3 * sizes[512] < 2.3 * 2.3 * sizes[256]
    H = bridge.cfg.n_heads
    assert sizes[1024] < 1024 * H * (8 * 3 + 1) * 4 / 3 + 1024 * 40
    assert "first 1024" in story_attention(bridge, long_story, max_tokens=1024).note
    short = AttentionExplorer(bridge, story=long_story, taxonomy=None, top_k=8)
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


def test_taxonomy_is_measured_on_sampled_stories_and_again_on_request(make_model_dir):
    bridge = tiny_interp.load(make_model_dir("tiny", seed=5))
    ex = AttentionExplorer(bridge, story="Lily had a red ball.", source=SMALL_TAXONOMY)
    L, H = bridge.cfg.n_layers, bridge.cfg.n_heads
    assert len(ex.table) == L * H and "6 stories sampled from the model (seed 0)" in ex.tax_note
    tax = json.loads(ex.view.data)["taxonomy"]
    assert (tax["n_layers"], tax["n_heads"]) == (L, H) and tax["source"] == ex.tax_note
    assert [tax["labels"][l][h] for l in range(L) for h in range(H)] == [
        ex.labels[(l, h)] for l in range(L) for h in range(H)
    ]
    ex.remeasure()
    assert "(seed 1)" in ex.tax_note and "labels changed" in ex.status.value
    assert json.loads(ex.view.data)["taxonomy"]["source"] == ex.tax_note
    given = AttentionExplorer(
        bridge, story="Tom ran.", stories=["Tom ran home.", "Sue saw a dog.", "A cat sat."], source=SMALL_TAXONOMY
    )
    assert "measured on 3 stories of the given stories" in given.tax_note


def test_selection_travels_between_kernel_and_view(make_model_dir):
    bridge = tiny_interp.load(make_model_dir("tiny", seed=6))
    ex = AttentionExplorer(bridge, story="Lily had a red ball. She gave it to Tom.", taxonomy=None, layer=1, head=2)
    data = json.loads(ex.view.data)
    assert (data["layer"], data["head"]) == (1, 2) and [x["layer"] for x in data["layers"]] == [0, 1]
    ex.view.selection = {"layer": 0, "head": 3, "pin": 5, "mode": "source", "_from": "view"}  # as the browser sends
    assert (ex.layer, ex.head, ex.pin) == (0, 3, 5)
    ex.select(1, 1)
    assert ex.view.selection == {"layer": 1, "head": 1, "pin": 5, "mode": "source", "_from": "kernel"}
    ex.set_story("Tom saw a big dog in the park.")  # new text keeps head, layer and pin for the view
    data = json.loads(ex.view.data)
    assert (data["layer"], data["head"], data["pin"]) == (1, 1, 5)


def test_story_inspector_opens_a_clicked_neuron(atlas_model):
    bridge = tiny_interp.load(atlas_model)
    ins = StoryInspector(bridge, story="Lily and Tom went to the park.")
    assert ins.neurons is None and ins.neuron_box.children == ()
    ins.view.selection = {"position": 3, "layer": 1, "neuron": 7, "_from": "view"}
    assert isinstance(ins.neurons, NeuronExplorer) and ins.neuron_box.children == (ins.neurons,)
    assert json.loads(ins.neurons.view.data)[["layer", "neuron"][0]] == 1
    assert (json.loads(ins.neurons.view.data)["neuron"], ins.neurons.layer_pick.value) == (7, 1)
    ins.view.selection = {"position": 2, "layer": 0, "neuron": 4, "_from": "view"}
    assert ins.neuron_box.children == (ins.neurons,) and json.loads(ins.neurons.view.data)["neuron"] == 4


def test_circuitsvis_export_keeps_tokens_as_text():
    tokens = ["<|endoftext|>", "</script><img src=x onerror=alert(1)>", " cat"]
    pattern = np.tril(np.ones((2, 3, 3), dtype=np.float32))
    pattern /= pattern.sum(-1, keepdims=True)
    html = attention_heads_html(tokens, pattern, ["a", "b"]).html
    # the only closing script tag is ours; the token and the inlined bundle cannot end it early
    assert html.count("</script>") == 1 and html.rstrip().endswith("</script>")
    assert "<img" not in html and "\\u003c/script\\u003e\\u003cimg" in html
    assert not re.search(r"<(script|link)[^>]+src=", html) and "unpkg.com" not in html


def _evil_page(tmp_path: Path, atlas_model: Path, story_texts) -> Path:
    bridge = tiny_interp.load(atlas_model)
    long_story = EVIL_STORY + " " + " ".join(story_texts[:12])
    views = [
        AttentionExplorer(bridge, story=long_story, stories=story_texts[:8], source=SMALL_TAXONOMY),
        NeuronExplorer(bridge),
        StoryInspector(bridge, story=EVIL_STORY),
    ]
    return save_html(tmp_path / "views.html", *views)


def launch(p):
    return p.chromium.launch(
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


def watched_page(b, width: int, height: int, requests: list, problems: list, dialogs: list):
    """A page that records every request, console error, page error and dialog (dismissed)."""
    page = b.new_page(viewport={"width": width, "height": height})
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    return page


OVERLAPS_JS = """(sel) => { const boxes = [...document.querySelectorAll(sel)].map(e => e.getBoundingClientRect())
  .filter(r => r.width > 0); const bad = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) { const a = boxes[i], b = boxes[j];
    if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5)
      bad.push([i, j]); }
  return [boxes.length, bad.slice(0, 5)]; }"""

browser = pytest.mark.browser
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
)


def attention_info(page, n: int = 0) -> str:
    return page.locator(".ti-root").nth(n).locator(".ti-info").first.inner_text()


@browser
@needs_chromium
def test_views_render_in_chromium(tmp_path, atlas_model, story_texts):
    from playwright.sync_api import sync_playwright

    page_file = _evil_page(tmp_path, atlas_model, story_texts)
    html = page_file.read_text()
    assert html.count('<script data-tiny-interp="views">') == 1 and "plotly.js v" not in html
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    requests, problems, dialogs = [], [], []
    with sync_playwright() as p:
        b = launch(p)
        try:
            page = watched_page(b, 1280, 1600, requests, problems, dialogs)
            page.goto(page_file.as_uri())
            page.wait_for_selector(".ti-root .ti-big")
            assert page.locator(".ti-root").count() == 3
            H = tiny_interp.load(atlas_model).cfg.n_heads
            view = page.locator(".ti-root").nth(0)
            assert view.locator(".ti-thumb").count() == H and view.locator("select.ti-layer").count() == 1
            # every thumbnail is labelled with its head and its taxonomy label, in its own colour
            assert view.locator(".ti-thname").all_inner_texts() == [f"H{h}" for h in range(H)]
            assert all(t.strip() for t in view.locator(".ti-thlab").all_inner_texts())
            assert len(set(view.locator(".ti-thumb").evaluate_all("ts => ts.map(t => t.style.color)"))) == H
            # the big pattern canvas is drawn (non-white pixels), with token labels on both axes and a legend
            inked = page.evaluate("""() => { const c = document.querySelector('.ti-big'); const d = c.getContext('2d')
                .getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4)
                if (d[i] < 250) n++; return n; }""")
            assert inked > 0
            T = view.locator(".ti-tokens .ti-tok").count()
            n_x, n_y = view.locator(".ti-xlab .ti-alab").count(), view.locator(".ti-ylab .ti-alab").count()
            assert 0 < n_x == n_y <= T and view.locator(".ti-legend .ti-tick").count() == 6
            # hover a cell: row and column light up, the tooltip names both tokens, thinned labels appear
            big = view.locator(".ti-big").bounding_box()
            page.mouse.move(big["x"] + big["width"] * 0.31, big["y"] + big["height"] * 0.77)
            assert view.locator(".ti-hl-row").is_visible() and view.locator(".ti-hl-col").is_visible()
            assert "\u2192" in view.locator(".ti-tip").inner_text()
            assert view.locator(".ti-alab.ti-on").count() == 2
            # hover a token: the info line names it, earlier tokens get a background, the mass left out is shown
            view.locator(".ti-tokens .ti-tok").nth(20).hover()
            info = attention_info(page)
            assert "position 20" in info and "attends to" in info and "outside the drawn top" in info
            lit = view.locator(".ti-tokens .ti-tok").evaluate_all("ss => ss.filter(s => s.style.background).length")
            assert 1 <= lit <= 16
            # pin a token, then change head (thumbnail and taxonomy map) and layer: the pin stays
            view.locator(".ti-tokens .ti-tok").nth(20).click()
            page.mouse.move(0, 0)
            view.locator(".ti-thumb").nth(3).click()
            assert "head 3" in view.locator(".ti-head").first.inner_text()
            assert "position 20" in attention_info(page) and "[pinned]" in attention_info(page)
            view.locator(".ti-map .ti-cell").nth(H + 2).click()  # layer 1, head 2
            assert "layer 1, head 2" in view.locator(".ti-head").first.inner_text()
            assert view.locator(".ti-cell.ti-sel").count() == 1 and view.locator(".ti-cell").nth(H + 2).get_attribute(
                "class"
            ).endswith("ti-sel")
            view.locator("select.ti-layer").select_option("0")
            assert "layer 0, head 2" in view.locator(".ti-head").first.inner_text() and "[pinned]" in attention_info(
                page
            )
            assert view.locator(".ti-tokens .ti-tok.ti-pin").count() == 1
            # source view: who attends to the pinned token
            view.locator(".ti-mode").click()
            assert "is attended by" in attention_info(page)
            page.screenshot(path=str(artifacts / "widgets.png"), full_page=True)
            # neuron view: snippets and histogram; story view: clicking a token shows lens / attribution / neurons
            assert page.locator(".ti-snip").count() > 0 and page.locator("svg.ti-hist rect").count() > 10
            story = page.locator(".ti-root").nth(2)
            story.locator(".ti-tok").nth(4).click()
            assert "position 4" in story.inner_text() and story.locator("table").count() == 2
            # no label is cut: every attribution label shows its whole text
            assert (
                story.locator(".ti-lab").evaluate_all("ls => ls.filter(l => l.scrollWidth > l.clientWidth + 1).length")
                == 0
            )
            # hostile text shows as text and ran nothing
            text = page.locator("body").inner_text()
            for evil in EVIL:
                assert evil in text
            assert page.locator("img[src=x]").count() == 0
        finally:
            b.close()
    assert not dialogs, dialogs
    assert not problems, problems
    external = [u for u in requests if not (u.startswith("file://") or u.startswith(("http://127.0.0.1", "data:")))]
    assert not external, external


def synthetic_table(n_layers: int, n_heads: int = 16):
    """A head-taxonomy table with every label kind the taxonomy gives (longest names included)."""
    import pandas as pd

    kinds = [
        "previous-token",
        "current-token",
        "offset-3",
        "induction",
        "sink",
        "duplicate-token",
        "distance",
        "semantic:names",
        "semantic:objects",
        "semantic:pronouns",
        "semantic:determiners",
        "diffuse",
        "mixed",
    ]
    rows = [
        {
            "layer": l,
            "head": h,
            "label": kinds[(l * 7 + h) % len(kinds)] if n_layers > 1 else kinds[h % 7],
            "prev_token": 0.1,
            "induction": 0.0,
            "sink": 0.2,
            "entropy": 0.5,
        }
        for l in range(n_layers)
        for h in range(n_heads)
    ]
    return pd.DataFrame(rows)


@browser
@needs_chromium
def test_taxonomy_legend_stays_readable_for_1_to_12_layers(tmp_path, make_model_dir):
    from playwright.sync_api import sync_playwright

    from tiny_interp.widgets.taxonomy import taxonomy_data

    bridge = tiny_interp.load(make_model_dir("tiny", seed=7))
    att = story_attention(bridge, "Lily had a red ball. She gave it to Tom.")
    sizes = (1, 2, 6, 12)
    pages = []
    for L in sizes:
        data = att.view_data(None, 0, 0, None, taxonomy_data(synthetic_table(L), f"{L} layers"))
        data["layer"], data["head"] = 0, att.n_heads - 1
        pages.append(save_html(tmp_path / f"map{L}.html", data))
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = launch(p)
        try:
            page = b.new_page(viewport={"width": 1280, "height": 1400})
            for L, f in zip(sizes, pages):
                page.goto(f.as_uri())
                page.wait_for_selector(".ti-map .ti-cell")
                assert page.locator(".ti-map .ti-cell").count() == 16 * L
                for sel in (
                    ".ti-maplegend .ti-chip",
                    ".ti-mapy",
                    ".ti-mapx",
                    ".ti-legend .ti-tick",
                    ".ti-map .ti-cell",
                ):
                    n, bad = page.evaluate(OVERLAPS_JS, sel)
                    assert n > 0 and bad == [], (L, sel, bad)
                # every legend label is whole and readable (>= 11 px)
                chips = page.locator(".ti-maplegend .ti-chiplab")
                assert chips.count() == len(set(synthetic_table(L)["label"]))
                assert chips.evaluate_all(
                    "cs => cs.every(c => c.scrollWidth <= c.clientWidth + 1"
                    " && parseFloat(getComputedStyle(c).fontSize) >= 11)"
                )
                selected = page.locator(".ti-cell.ti-sel")
                assert selected.count() == 1 and selected.get_attribute("title").startswith(
                    f"layer 0 head {att.n_heads - 1}:"
                )
                page.locator(".ti-map").screenshot(path=str(artifacts / f"taxonomy-{L}-layers.png"))
        finally:
            b.close()


@browser
@needs_chromium
def test_circuitsvis_view_renders_offline(tmp_path):
    from playwright.sync_api import sync_playwright

    tokens = ["<|endoftext|>", "</script><img src=x onerror=alert(1)>", " cat", " sat"]
    pattern = np.tril(np.ones((3, 4, 4), dtype=np.float32))
    pattern /= pattern.sum(-1, keepdims=True)
    f = tmp_path / "cv.html"
    f.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>"
        + attention_heads_html(tokens, pattern, ["L0H0", "L0H1", "L0H2"]).html
        + "</body></html>"
    )
    requests, problems, dialogs = [], [], []
    with sync_playwright() as p:
        b = launch(p)
        try:
            page = watched_page(b, 1000, 900, requests, problems, dialogs)
            page.goto(f.as_uri())
            page.wait_for_selector("text=L0H2")
            # CircuitsVis draws the heads (canvas charts); the hostile token broke nothing out of the one script
            assert page.locator("canvas").count() >= 1 and page.locator("script").count() == 1
            assert page.locator("img[src=x]").count() == 0
            page.screenshot(path=str(REPO / "test-artifacts" / "circuitsvis.png"), full_page=True)
        finally:
            b.close()
    assert not dialogs and not problems, (dialogs, problems)
    assert all(u.startswith(("file://", "data:", "blob:")) for u in requests), requests


# ---------------------------------------------------------------- auto-interpretation in the NeuronExplorer

HOSTILE_EXPLANATION = 'animals </script><img src=x onerror=alert(1)> "quoted" & <b>bold</b>'


@pytest.fixture()
def explained_model(tmp_path, atlas_model, story_texts):
    """A copy of the atlas model with real baseline explanations of 4 neurons beside its atlas, and a second run
    whose (LLM-written) explanations mention animals, one of them hostile markup."""
    import shutil

    from tiny_interp.autointerp import AutointerpConfig, HeldoutConfig, NeuronSet, run_autointerp, sample_units

    path = tmp_path / "m"
    shutil.copytree(atlas_model, path, ignore=shutil.ignore_patterns("autointerp"))
    us = NeuronSet(path)
    cfg = AutointerpConfig(
        explainer="baseline",
        scorer="rules",
        n_bootstrap=20,
        heldout=HeldoutConfig(n_stories=60, window=6, active_frac=0.5),
    )
    r = run_autointerp(us, story_texts[:200], sample_units(us.units(), 4, 0), cfg, progress=False)
    keys = list(r["units"])
    llm = {
        **r,
        "explainer": {"kind": "llm", "model": "some-llm"},
        "date": "2030-01-01T00:00:00Z",
        "units": {
            k: {
                **u,
                "explanation": HOSTILE_EXPLANATION
                if k == keys[0]
                else ("animals in the garden" if k != keys[3] else "sadness"),
            }
            for k, u in r["units"].items()
        },
    }
    (path / "autointerp" / "some-llm.json").write_text(json.dumps(llm))
    return path, keys


def _unit(key: str) -> tuple[int, int]:
    layer, neuron = key[1:].split("/N")
    return int(layer), int(neuron)


def test_neuron_explorer_carries_explanations_and_opens_a_searched_neuron(explained_model):
    from tiny_interp.autointerp.store import search, unit_explanations

    path, keys = explained_model
    layer, neuron = _unit(keys[0])
    ex = NeuronExplorer(str(path), layer=layer, neuron=neuron)
    d = json.loads(ex.view.data)
    assert d["explanations"] == unit_explanations(path / "atlas", keys[0])
    assert {r["explanation"] for r in d["explanations"]} >= {HOSTILE_EXPLANATION}
    assert len(d["explained"]) == 8 and {(r["layer"], r["neuron"]) for r in d["explained"]} == {_unit(k) for k in keys}
    # the view's search result is opened by the kernel: a selection from the view moves the explorer there
    target = next(h["unit"] for h in search(path / "atlas", "garden"))
    ex.view.selection = {"layer": _unit(target)[0], "neuron": _unit(target)[1], "query": "garden", "_from": "view"}
    assert (ex.layer_pick.value, ex.neuron_pick.value) == _unit(target)
    assert "animals in the garden" in {r["explanation"] for r in json.loads(ex.view.data)["explanations"]}


@browser
@needs_chromium
def test_neuron_explanations_and_search_in_chromium(tmp_path, explained_model):
    from playwright.sync_api import sync_playwright

    path, keys = explained_model
    layer, neuron = _unit(keys[0])
    ex = NeuronExplorer(str(path), layer=layer, neuron=neuron)
    page_file = save_html(tmp_path / "neuron.html", ex)
    assert "<img src=x" not in page_file.read_text()
    requests, problems, dialogs = [], [], []
    with sync_playwright() as p:
        b = launch(p)
        try:
            page = watched_page(b, 1280, 1400, requests, problems, dialogs)
            page.goto(page_file.as_uri())
            page.wait_for_selector(".ti-expl-item")
            shown = page.locator(".ti-expl-text").all_inner_texts()
            assert HOSTILE_EXPLANATION in shown and len(shown) == 2  # baseline + the LLM run, as text
            assert page.locator("img[src=x]").count() == 0 and page.locator(".ti-expl b").count() == 0
            assert "detection" in page.locator(".ti-expl-item").first.inner_text()
            # search: every word must match; the hits are the neurons whose explanation says so
            page.fill("input.ti-nsearch", "ANIMALS")
            hits = page.locator(".ti-nhit")
            assert hits.count() == 3 and "3 of 8" in page.locator(".ti-nsearch-count").inner_text()
            page.fill("input.ti-nsearch", "animals garden")
            assert hits.count() == 2
            page.fill("input.ti-nsearch", "sadness")
            assert hits.count() == 1 and keys[3].replace("/", "") in hits.first.inner_text()
            # an exported page: choosing a hit shows that neuron's explanations
            hits.first.click()
            assert "sadness" in page.locator(".ti-note").last.inner_text() + page.locator("body").inner_text()
            assert page.locator(".ti-expl").count() == 2
            # in a live widget the same click asks the kernel to open the neuron (the anywidget hook)
            picked = page.evaluate(
                """(data) => { const el = document.createElement('div'); document.body.appendChild(el);
                let got = null; tinyInterpViews.render(el, data, { live: true, initial: { query: 'garden' },
                  onSelect: (s) => { got = s; } });
                const hit = el.querySelector('.ti-nhit'); hit.click();
                return [el.querySelectorAll('.ti-nhit').length, got]; }""",
                ex.data(),
            )
            assert picked[0] == 2 and picked[1]["query"] == "garden"
            assert (picked[1]["layer"], picked[1]["neuron"]) in {_unit(k) for k in keys[1:3]}
        finally:
            b.close()
    assert not dialogs, dialogs
    assert not problems, problems
    assert all(u.startswith(("file://", "data:")) for u in requests), requests
