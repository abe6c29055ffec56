"""The StoryInspector's features panel on the shipped models and dictionaries: its numbers are the dictionaries' own
encodings of the activations at each position, it carries the feature atlas's explanations and promoted tokens,
it can be turned off or given other dictionaries, and an exported page updates the panel on a click in Chromium."""

from __future__ import annotations

import json
import shutil
from contextlib import closing
from pathlib import Path

import pytest
import torch

import tiny_interp
from tiny_interp.errors import CheckpointError, ConfigError
from tiny_interp.features.feature_atlas import FeatureAtlas
from tiny_interp.features.sae import SAE, SAEConfig, load_sae
from tiny_interp.interp.seam import run_with_cache
from tiny_interp.model.checkpoint import load_tinylm
from tiny_interp.widgets import StoryInspector, save_html
from tiny_interp.widgets.base import story_ids
from tiny_interp.widgets.features import FeatureExplorer

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "trained_models"
CHROMIUM = Path("/usr/bin/chromium")
STORY = "Lily and Tom went to the park. Lily gave the ball to Tom, and they played all day."
EVIL = "</script><img src=x onerror=alert(1)>"


def expected_top(model_dir: Path, sae: SAE, story: str, n: int) -> list[list[tuple[int, float]]]:
    """Each position's top active features, straight from the model's cache (seam) and the dictionary's encode."""
    bridge = tiny_interp.load(model_dir)
    ids, _ = story_ids(bridge, story)
    with torch.no_grad():
        _, cache = run_with_cache(load_tinylm(model_dir), ids, names=[sae.cfg.hook_name])
        codes = sae.encode(cache[sae.cfg.hook_name][0].float())
    top = codes.topk(n, dim=-1)
    return [[(int(f), float(v)) for v, f in zip(vs, fs) if v > 0] for vs, fs in zip(top.values, top.indices)]


@pytest.mark.parametrize(
    "model, dictionary", [("ts-1L", "blocks.0.hook_mlp_out"), ("ts-1M-neo", "blocks.5.transcoder")]
)
def test_panel_numbers_are_the_dictionary_encoding_at_each_position(model, dictionary):
    model_dir = SHIPPED / model
    ins = StoryInspector(tiny_interp.load(model_dir), story=STORY, n_features=5)
    F = ins.static_data()["features"]
    names = [d["name"] for d in F["dictionaries"]]
    assert (names == [dictionary]) if model == "ts-1L" else (len(names) == 8 and dictionary in names)
    di = names.index(dictionary)
    sae = load_sae(model_dir / "saes" / dictionary)
    want = expected_top(model_dir, sae, STORY, 5)
    assert len(F["top"]) == len(want) == len(ins.static_data()["tokens"])
    for p, row in enumerate(F["top"]):
        got = row[di]
        assert [f for f, _ in got] == [f for f, _ in want[p]], p
        assert [v for _, v in got] == pytest.approx([v for _, v in want[p]], abs=1e-3)
        assert [v for _, v in got] == sorted((v for _, v in got), reverse=True)
    # every feature shown carries the tokens its decoder promotes, from the atlas beside the dictionaries
    atlas = FeatureAtlas.open(model_dir / "saes")
    block = atlas.dictionary_names.index(dictionary)
    f = F["top"][3][di][0][0]
    effects = atlas.logit_effects(block, f)
    assert F["info"][f"{di}:{f}"]["promotes"] == list(effects[effects["sign"] == "+"]["token"][:3])
    assert all(f"{i}:{r[0]}" in F["info"] for row in F["top"] for i, rows in enumerate(row) for r in rows)


@pytest.fixture(scope="module")
def explained_copy(tmp_path_factory) -> tuple[Path, int]:
    """A copy of ts-1L whose SAE atlas has one auto-interp explanation (hostile text): the strongest feature at
    position 3 of STORY."""
    model_dir = tmp_path_factory.mktemp("explained") / "ts-1L"
    shutil.copytree(SHIPPED / "ts-1L", model_dir)
    sae = load_sae(model_dir / "saes" / "blocks.0.hook_mlp_out")
    feature = expected_top(model_dir, sae, STORY, 1)[3][0][0]
    (model_dir / "saes" / "atlas" / "explanations.json").write_text(json.dumps({f"0:{feature}": f"balls {EVIL}"}))
    return model_dir, feature


def test_panel_shows_explanations_and_opens_a_clicked_feature(explained_copy):
    model_dir, feature = explained_copy
    ins = StoryInspector(tiny_interp.load(model_dir), story=STORY)
    info = ins.static_data()["features"]["info"]
    assert info[f"0:{feature}"]["explanation"] == f"balls {EVIL}"
    assert sum("explanation" in v for v in info.values()) == 1
    assert ins.features is None
    ins.view.selection = {"position": 3, "dictionary": 0, "feature": feature, "_from": "view"}
    assert isinstance(ins.features, FeatureExplorer) and ins.neuron_box.children == (ins.features,)
    assert json.loads(ins.features.view.data)["feature"] == feature
    ins.view.selection = {"position": 3, "layer": 0, "neuron": 2, "_from": "view"}
    assert ins.neuron_box.children == (ins.neurons,)


def test_dictionaries_can_be_passed_or_turned_off(make_model_dir, tmp_path):
    model_dir = SHIPPED / "ts-1L"
    bridge = tiny_interp.load(model_dir)
    assert "features" not in StoryInspector(bridge, story=STORY, dictionaries=None).static_data()
    assert "features" not in StoryInspector(tiny_interp.load(make_model_dir("tiny", seed=4)), story=STORY).static_data()
    # one dictionary's folder finds the atlas of its run; a bare SAE object has no atlas to describe its features
    sae_dir = model_dir / "saes" / "blocks.0.hook_mlp_out"
    one = StoryInspector(bridge, story=STORY, dictionaries=sae_dir).static_data()["features"]
    assert one["dictionaries"][0]["atlas"] and all(v["promotes"] for v in one["info"].values())
    bare = StoryInspector(bridge, story=STORY, dictionaries=[load_sae(sae_dir)]).static_data()["features"]
    assert bare["top"] == one["top"] and not any(bare["info"].values())
    # bad dictionaries end in one line naming what to do
    with pytest.raises(CheckpointError, match="is not a directory"):
        StoryInspector(bridge, story=STORY, dictionaries=tmp_path / "nope")
    elsewhere = SAE(SAEConfig(architecture="topk", d_in=256, d_sae=8, k=2, hook_name="blocks.3.hook_mlp_out"))
    with pytest.raises(ConfigError, match="blocks.3.hook_mlp_out.*does not have"):
        StoryInspector(bridge, story=STORY, dictionaries=elsewhere)
    with pytest.raises(ConfigError, match="n_features must be at least 1"):
        StoryInspector(bridge, story=STORY, n_features=0)
    narrow = SAE(SAEConfig(architecture="topk", d_in=64, d_sae=8, k=2, hook_name="blocks.0.hook_mlp_out"))
    with pytest.raises(ConfigError, match="reads 64 values"):
        StoryInspector(bridge, story=STORY, dictionaries=narrow)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium")
def test_exported_inspector_updates_the_features_panel_on_a_click(explained_copy, tmp_path):
    from playwright.sync_api import sync_playwright
    from test_widgets import launch, watched_page

    model_dir, feature = explained_copy
    ins = StoryInspector(tiny_interp.load(model_dir), story=STORY)
    F = ins.static_data()["features"]
    page_file = save_html(tmp_path / "inspector.html", ins)
    requests, problems, dialogs = [], [], []
    with sync_playwright() as p, closing(launch(p)) as b:
        page = watched_page(b, 1280, 1200, requests, problems, dialogs)
        page.goto(page_file.as_uri())
        page.wait_for_selector(".ti-features")
        for pos in (3, 9):
            page.locator(".ti-tokens .ti-tok").nth(pos).click()
            assert f"position {pos}" in page.locator(".ti-root .ti-head").nth(1).inner_text()
            rows = page.locator(".ti-features tr.ti-feature")
            assert rows.count() == len(F["top"][pos][0]) > 0
            cells = [r.split("\t") for r in rows.all_inner_texts()]
            assert [c[0] for c in cells] == [f"F{f}" for f, _ in F["top"][pos][0]]
            assert [float(c[1]) for c in cells] == pytest.approx([v for _, v in F["top"][pos][0]], abs=0.006)
        # position 3's strongest feature shows its explanation as text; the others the tokens they promote
        page.locator(".ti-tokens .ti-tok").nth(3).click()
        first = page.locator(".ti-features tr.ti-feature").first.inner_text()
        assert f"F{feature}" in first and f"balls {EVIL}" in first
        assert "promotes" in page.locator(".ti-features tr.ti-feature").nth(1).inner_text()
        assert page.locator("img[src=x]").count() == 0
        (REPO / "test-artifacts").mkdir(exist_ok=True)
        page.screenshot(path=str(REPO / "test-artifacts" / "inspector_features.png"), full_page=True)
    assert not problems and not dialogs, (problems, dialogs)
    assert all(u.startswith(("file://", "data:")) for u in requests), requests
