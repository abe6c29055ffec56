"""Exported feature pages of a real dictionary (ts-1L's shipped SAE, its atlas built here over real valid stories):
at most 5 KB per feature gzipped, and in a real Chromium, offline, every section of a feature's page is drawn
(top and quantile examples, histogram, density, top +/- logits, the explanation) and follows the feature picked."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, TINYSTORIES
from test_browser import CHROMIUM, browser, local  # noqa: F401 (browser: the shared Chromium fixture)

RUN = REPO / "trained_models" / "ts-1L" / "saes"
KB = 1024
N_STORIES = 120

needs_data = pytest.mark.skipif(
    not (TINYSTORIES / "valid.txt").exists() or not RUN.is_dir(),
    reason="needs ../shared valid stories and trained_models/ts-1L/saes",
)


@pytest.fixture(scope="module")
def real_atlas(tmp_path_factory):
    """The feature atlas of ts-1L's shipped SAE over the first valid stories, built (settings as shipped) into a
    temporary directory: the shipped run directory is never written."""
    import torch

    from tiny_interp.features.feature_atlas import FEATURE_DEFAULTS, FeatureAtlas, _logit_arrays
    from tiny_interp.interp.atlas import build_atlas

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("ts1l") / "atlas"
    build_atlas(
        RUN.parent,
        TINYSTORIES / "valid.txt",
        out=out,
        config=FEATURE_DEFAULTS,
        n_stories=N_STORIES,
        progress=False,
        units_factory="tiny_interp.features.feature_atlas:feature_units",
        units_args=(str(RUN),),
        extra=_logit_arrays,
    )
    return FeatureAtlas.open(out)


def busiest(atlas, n: int) -> list[tuple[int, int]]:
    """The n features that fire most often: every band of their quantile examples is full (the largest pages)."""
    density = np.asarray(atlas.a["neuron_stats"][:, 4])
    return [(0, int(f)) for f in np.argsort(-density, kind="stable")[:n]]


def kb_per_feature(atlas, features, tmp_path: Path) -> float:
    from tiny_interp.widgets.features import export_features

    many = export_features(tmp_path / "many.html", atlas, features).read_bytes()
    one = export_features(tmp_path / "one.html", atlas, features[:1]).read_bytes()
    return (len(gzip.compress(many)) - len(gzip.compress(one))) / (len(features) - 1) / KB


def band_labels(atlas, block: int, feature: int) -> list[str]:
    """The band ranges a feature page shows, strongest band first."""
    return [f"{lo:.2f} \u2013 {hi:.2f}" for lo, hi in reversed(atlas.quantile_bands(block, feature))]


@needs_data
def test_exported_feature_pages_stay_under_5_kb_per_feature(real_atlas, tmp_path):
    from tiny_interp.widgets.features import feature_data

    features = busiest(real_atlas, 40)
    pages = [feature_data(real_atlas, *f, compact=True) for f in features]
    # the measured pages carry what they are meant to: 12 top examples, and several band examples on average
    assert all(len(d["examples"]) == 12 for d in pages)
    assert sum(len(b["examples"]) for d in pages for b in d["quantiles"]) >= 4 * len(pages)
    size = kb_per_feature(real_atlas, features, tmp_path)
    print(f"exported ts-1L feature page: {size:.2f} KB per feature (gzip)")
    assert size <= 5.0, size


@needs_data
def test_the_shipped_feature_atlas_page_stays_under_5_kb_per_feature(tmp_path):
    from tiny_interp.features.feature_atlas import FeatureAtlas

    shipped = FeatureAtlas.open(RUN)
    if not shipped.has_quantiles:
        pytest.skip("the shipped ts-1L feature atlas predates quantile examples (rebuild it: tiny-interp sae atlas)")
    assert kb_per_feature(shipped, busiest(shipped, 40), tmp_path) <= 5.0


@pytest.mark.browser
@needs_data
@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")
def test_exported_feature_page_in_chromium(real_atlas, browser, tmp_path):  # noqa: F811
    from tiny_interp.widgets.features import EXPLANATIONS_FILE, export_features, feature_data

    (a, fa), (b, fb) = busiest(real_atlas, 2)
    (real_atlas.path / EXPLANATIONS_FILE).write_text(json.dumps({f"{a}:{fa}": "stories' openings <b>"}))
    page_file = export_features(tmp_path / "features.html", real_atlas, [(a, fa), (b, fb)])
    page = browser.new_page(viewport={"width": 1300, "height": 1400})
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(page_file.as_uri(), wait_until="load")
    page.wait_for_selector(".ti-feat-band")

    def sections() -> dict:
        return page.evaluate("""() => {
          const q = s => [...document.querySelectorAll(s)], text = s => q(s).map(e => e.textContent);
          const heads = q('.ti-head'), after = name => heads.find(h => h.textContent === name);
          const top = after('Top examples');
          let n = 0;
          for (let e = top.nextElementSibling; e && e.classList.contains('ti-snip'); e = e.nextElementSibling) n++;
          return { head: heads[1].textContent, top: n, bands: text('.ti-feat-range'),
                   bandSnips: q('.ti-feat-band').map(b => b.querySelectorAll('.ti-snip').length),
                   coloured: q('.ti-feat-band .ti-tok').filter(t => t.style.background).length,
                   bars: q('svg.ti-hist rect').length, density: text('.ti-muted').find(t => t.startsWith('density')),
                   pos: text('.ti-feat-pos td:first-child'), neg: text('.ti-feat-neg td:first-child'),
                   expl: text('.ti-feat-expl')[0], emptyExpl: q('.ti-feat-expl.ti-empty').length }; }""")

    first = sections()
    assert f"Feature {a}/{fa}" in first["head"] and first["top"] == 12
    assert first["bands"] == band_labels(real_atlas, a, fa)
    shown = feature_data(real_atlas, a, fa, compact=True)["quantiles"]
    assert first["bandSnips"] == [len(b["examples"]) for b in reversed(shown)] and sum(first["bandSnips"]) >= 3
    assert first["coloured"] == sum(len(e["tokens"]) for b in shown for e in b["examples"])
    assert first["bars"] == real_atlas.meta["config"]["n_bins"] and "% of tokens" in first["density"]
    logits = real_atlas.logit_effects(a, fa)
    assert first["pos"] == [t.replace("\n", "\u21b5") for t in logits[logits.sign == "+"].token]
    assert len(first["neg"]) == 10 and first["expl"] == "stories' openings <b>" and first["emptyExpl"] == 0

    page.locator(".ti-feat-pick", has_text=f"{b}/{fb}").first.click()
    second = sections()
    assert f"Feature {b}/{fb}" in second["head"] and second["top"] == 12
    assert second["pos"] != first["pos"] and second["bandSnips"] and second["emptyExpl"] == 1
    assert second["bands"] == band_labels(real_atlas, b, fb) != first["bands"]
    page.screenshot(path=str(tmp_path / "feature-page.png"), full_page=True)
    assert [u for u in requests if not local(u)] == [] and errors == [], (requests, errors)


def neuron_sharing_windows(atlas, layer: int) -> int:
    """A neuron some of whose band windows are also among its top examples, the case the view must leave out (which
    neurons have one depends on the stories: real ones or the generated stand-ins)."""

    def windows(df) -> set:
        return set(zip(df.activation.round(4), df.tokens.map(tuple)))

    for n in range(atlas.d_mlp):
        if windows(atlas.band_examples(layer, n)) & windows(atlas.top_examples(layer, n)):
            return n
    raise AssertionError(f"no neuron of layer {layer} has a band window among its top examples")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")
def test_neuron_explorer_shows_quantile_bands_in_chromium(make_model_dir, story_texts, browser, tmp_path):  # noqa: F811
    from tiny_interp.interp.neurons import build_atlas
    from tiny_interp.widgets import NeuronExplorer, save_html

    model = make_model_dir("tiny", seed=5)
    atlas = build_atlas(model, story_texts[:30], batch_size=8, max_len=64, top_k=4, window=2, progress=False)
    n = neuron_sharing_windows(atlas, 1)
    ex = NeuronExplorer(model, layer=1, neuron=n)
    live = json.loads(ex.view.data)
    assert [(b["lo"], b["hi"]) for b in live["quantiles"]] == atlas.quantile_bands(1, n)
    assert "tinyInterpViews" in ex.view._esm and "tinyInterpFeatures" in ex.view._esm  # the live widget draws both
    # the bands leave out windows that are already among the top examples shown above them
    top = {(e["act"], tuple(e["tokens"])) for e in live["examples"]}
    in_bands = [(e["act"], tuple(e["tokens"])) for b in live["quantiles"] for e in b["examples"]]
    assert in_bands and not top & set(in_bands)
    full = atlas.band_examples(1, n)
    assert len(full) > len(in_bands) and set(zip(full.activation.round(4), full.tokens.map(tuple))) & top
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(save_html(tmp_path / "neuron.html", ex).as_uri(), wait_until="load")
    page.wait_for_selector(".ti-feat-band")
    assert page.locator(".ti-head", has_text=f"Neuron L1N{n}").count() == 1  # the shared neuron view, then the bands
    assert page.locator(".ti-feat-range").all_inner_texts() == band_labels(atlas, 1, n)
    assert page.locator(".ti-feat-band .ti-snip").count() == sum(len(b["examples"]) for b in live["quantiles"]) > 0
    assert errors == []
    # an atlas written before quantile examples: the view says so
    meta = json.loads((atlas.path / "atlas.json").read_text())
    meta["files"] = [n for n in meta["files"] if not n.startswith("quantile_")]
    (atlas.path / "atlas.json").write_text(json.dumps(meta))
    older = NeuronExplorer(model, layer=1, neuron=n)
    assert json.loads(older.view.data)["quantiles"] is None
    page.goto(save_html(tmp_path / "older.html", older).as_uri(), wait_until="load")
    page.wait_for_selector(".ti-feat-quant")
    assert "no quantile examples" in page.locator(".ti-feat-quant").inner_text() and errors == []


@pytest.mark.browser
@needs_data
@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")
def test_live_feature_widget_module_draws_and_reports_clicks_in_chromium(real_atlas, browser, tmp_path):  # noqa: F811
    """The anywidget module alone (shared helpers prepended, no views bundle on the page) renders a feature from a
    model's ``data`` and writes a clicked token back through ``selection``."""
    from tiny_interp.widgets.features import FeatureWidget, feature_data

    ((a, fa),) = busiest(real_atlas, 1)
    data = json.dumps(feature_data(real_atlas, a, fa))
    source = json.dumps(FeatureWidget._esm).replace("</", "<\\/")  # a module from file:// is refused: a blob URL
    (tmp_path / "live.html").write_text(
        f"<html><head><style>{FeatureWidget._css}</style></head><body><div id=root></div><script type=module>\n"
        f"const src = {source};\n"
        "const widget = (await import(URL.createObjectURL(new Blob([src], {type: 'text/javascript'})))).default;\n"
        "const state = {data: " + json.dumps(data).replace("</", "<\\/") + ", selection: {}}; window.saved = [];\n"
        "const model = {get: k => state[k], set: (k, v) => { state[k] = v; }, save_changes: () => "
        "window.saved.push(state.selection), on() {}, off() {}};\n"
        "widget.render({model, el: document.getElementById('root')});\n</script></body></html>"
    )
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((tmp_path / "live.html").as_uri(), wait_until="load")
    page.wait_for_selector(".ti-feat-band")
    assert page.locator(".ti-hist rect").count() == real_atlas.meta["config"]["n_bins"]
    assert page.locator(".ti-snip").count() >= 12
    pick = page.locator(".ti-feat-pick").first  # "features for this token", filled for the first example's token
    b, f = (int(n) for n in pick.inner_text().split()[0].split("/"))
    pick.click()
    saved = page.evaluate("window.saved")
    assert [(s["block"], s["feature"]) for s in saved] == [(b, f)]
    assert errors == []
