"""The views bundle is split by view (static/common.js, heads.js, view_<kind>.js, views.js): every file travels in
the bundle, each view registers its kind, a page holding the bundle twice draws every view once, and the shared
helpers stand alone for other bundles."""

from __future__ import annotations

from contextlib import closing
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from tiny_interp.atomic import write_text_atomic
from tiny_interp.widgets.figures import patterns_view, scatter_view
from tiny_interp.widgets.render import LIB_FILE, VIEW_FILES, PageState, bundle_js, lib_js, page_html

CHROMIUM = Path("/usr/bin/chromium")
KINDS = ["attention", "neuron", "patterns", "scatter", "story"]
EVIL = "</script><img src=x onerror=alert(1)>"


def test_every_view_file_travels_in_the_bundle_in_order():
    static = resources.files("tiny_interp.widgets").joinpath("static")
    views = sorted(p.name for p in static.iterdir() if p.name.startswith("view_") and p.name.endswith(".js"))
    assert [f"view_{k}.js" for k in KINDS] == views and set(views) <= set(VIEW_FILES)
    assert VIEW_FILES[0] == LIB_FILE and VIEW_FILES[-1] == "views.js" and lib_js() in bundle_js()
    js = bundle_js()
    assert [js.index(static.joinpath(n).read_text(encoding="utf-8")) for n in VIEW_FILES] == sorted(
        js.index(static.joinpath(n).read_text(encoding="utf-8")) for n in VIEW_FILES
    )


def _figures() -> tuple[list, int]:
    tokens = ["<|endoftext|>", "Lily", " saw", EVIL, " cat"]
    pattern = np.tril(np.random.default_rng(0).random((4, 5, 5)).astype(np.float32))
    pattern /= pattern.sum(-1, keepdims=True)
    points = [{"x": i, "y": i * i, "group": "even" if i % 2 == 0 else "odd", "text": f"p{i}"} for i in range(7)]
    return [patterns_view(tokens, pattern, [0, 2], title="two heads"), scatter_view(points, "x", "y")], len(points)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium")
def test_split_bundle_draws_each_view_once_even_when_embedded_twice(tmp_path):
    from playwright.sync_api import sync_playwright
    from test_widgets import launch, watched_page

    views, n_points = _figures()
    # two pages' worth of HTML on one page: the bundle lands twice (as after reset_page in a notebook)
    parts = [views[0].to_html(PageState()), views[1].to_html(PageState())]
    assert "".join(parts).count('<script data-tiny-interp="views">') == 2
    page_file = tmp_path / "figures.html"
    write_text_atomic(page_file, page_html(parts))
    requests, problems, dialogs = [], [], []
    with sync_playwright() as p, closing(launch(p)) as b:
        page = watched_page(b, 1200, 900, requests, problems, dialogs)
        page.goto(page_file.as_uri())
        page.wait_for_selector(".ti-scatter")
        assert page.evaluate("Object.keys(window.tinyInterpLib.kinds).sort()") == KINDS
        assert page.locator(".ti-root").count() == 2 and page.locator(".ti-big").count() == 2
        inked = page.evaluate("""() => [...document.querySelectorAll('.ti-big')].map(c => { const d = c.getContext('2d')
            .getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4)
            if (d[i] < 250) n++; return n; })""")
        assert all(n > 0 for n in inked), inked
        assert page.locator("svg.ti-scatter circle").count() == n_points
        # the shared helpers serve other bundles: text goes in as text
        made = page.evaluate("(t) => window.tinyInterpLib.h('b', 'x', t).outerHTML", EVIL)
        assert made == '<b class="x">&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;</b>'
        assert page.locator("img[src=x]").count() == 0 and EVIL in page.locator("body").inner_text()
    assert not problems and not dialogs, (problems, dialogs)
    assert all(u.startswith(("file://", "data:")) for u in requests), requests
