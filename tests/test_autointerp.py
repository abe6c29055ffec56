"""Auto-interpretation on real tiny models, real atlases, real story files and a loopback OpenAI-compatible server."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter

import numpy as np
import pytest
import torch
from llm_stub import StubServer, last_text
from storygen import write_txt

from tiny_interp.autointerp import (
    AutointerpConfig,
    HeldoutConfig,
    NeuronSet,
    explanations_for,
    run_autointerp,
    sample_units,
    search,
)
from tiny_interp.autointerp.baseline import baseline_explanation, explained_terms, rule_detection, rule_fuzzing
from tiny_interp.autointerp.heldout import Snippet, detection_set, fuzzing_set, heldout_stories, scan
from tiny_interp.autointerp.metrics import set_summary, unit_scores
from tiny_interp.autointerp.prompts import (
    EXPLAIN_SYSTEM,
    AnswerError,
    explain_prompt,
    one_line,
    parse_explanation,
    parse_probabilities,
)
from tiny_interp.cli import main
from tiny_interp.errors import ConfigError
from tiny_interp.interp import build_atlas
from tiny_interp.llm.records import iter_records

N_ATLAS = 60
HELD = HeldoutConfig(n_stories=80, window=6, active_frac=0.5)  # a random model: short windows find quiet ones


@pytest.fixture(scope="module")
def model(tmp_path_factory, make_model_dir, story_texts):
    """A random tiny gpt-neo with an atlas of the first 60 stories, and a story file that starts with them."""
    d = tmp_path_factory.mktemp("autointerp")
    shutil.copytree(make_model_dir("tiny", seed=3), d / "m")
    build_atlas(d / "m", story_texts[:N_ATLAS], batch_size=16, max_len=96, top_k=8, window=4, progress=False)
    write_txt(d / "stories.txt", story_texts[:200])
    return d / "m", d / "stories.txt", story_texts[:200]


# ---------------------------------------------------------------- metrics and parsers


def test_metrics_known_values():
    labels = [1, 1, 1, 0, 0, 0, 0]
    m = unit_scores(labels, [1, 1, 0, 0, 0, 1, 0], n_bootstrap=200)
    assert m["balanced_accuracy"] == pytest.approx(0.5 * (2 / 3 + 3 / 4))
    assert m["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1)) and m["auroc"] is None  # yes/no answers: no AUROC
    lo, hi = m["ci95"]["balanced_accuracy"]
    assert lo <= m["balanced_accuracy"] <= hi and lo < hi
    g = unit_scores(labels, [0.9, 0.8, 0.3, 0.2, 0.1, 0.6, 0.4], n_bootstrap=200)
    assert g["auroc"] == pytest.approx(10 / 12) and g["ci95"]["auroc"][0] <= 10 / 12 <= g["ci95"]["auroc"][1]
    assert unit_scores([1, 0, 0], [0.5, 0.5, 0.1], 0)["auroc"] == pytest.approx(0.75)  # a tie counts half
    with pytest.raises(ValueError, match="both classes"):
        unit_scores([1, 1], [0.2, 0.3], 0)
    s = set_summary([1.0, 0.5, None, float("nan")], n_bootstrap=100)
    assert s["n"] == 2 and s["mean"] == 0.75 and 0.5 <= s["ci95"][0] <= s["ci95"][1] <= 1.0


def test_parsers_accept_common_forms_and_refuse_the_rest():
    assert parse_probabilities('{"answers": [0, 1, 0.25]}', 3) == [0, 1, 0.25]
    assert parse_probabilities('Sure!\n```json\n[1, "no", "80%"]\n```', 3) == [1.0, 0.0, 0.8]
    for bad, why in [
        ('{"answers": [1, 0]}', "2 answers for 3"),
        ("they all fire", "no JSON list"),
        ("[1, 2, 0]", "between 0 and 1"),
        ('[1, "maybe", 0]', "not a probability"),
    ]:
        with pytest.raises(AnswerError, match=why):
            parse_probabilities(bad, 3)
    assert parse_explanation('Thinking...\nExplanation: the word "ball" and toys') == 'the word "ball" and toys'
    assert parse_explanation("names of girls") == "names of girls"
    for bad in ("I am not sure.\nMaybe names?", "Explanation:   ", "Explanation: " + "x" * 400):
        with pytest.raises(AnswerError):
            parse_explanation(bad)


def test_rule_scorer_reads_quoted_tokens_and_classes():
    expl = 'tokens "ball", "kite" (names)'
    assert explained_terms(expl) == (frozenset({"ball", "kite"}), frozenset({"names"}))
    snips = [
        Snippet((" The", " red", " ball"), 1, "q1", 1.0),
        Snippet((" Tom", " ran"), 1, "q2", 1.0),
        Snippet((" a", " cat"), 0, "random", 0.0),
    ]
    assert rule_detection(expl, snips) == [1.0, 1.0, 0.0]
    marked = [Snippet((" The", " ball"), 1, "peak", 1.0, 1), Snippet((" The", " ball"), 0, "decoy", 0.0, 0)]
    assert rule_fuzzing(expl, marked) == [1.0, 0.0]
    assert one_line(marked[0].text()) == " The<< ball>>"


# ---------------------------------------------------------------- held-out examples


def test_heldout_windows_come_from_stories_the_atlas_never_read(model):
    path, _, stories = model
    us = NeuronSet(path)
    units = sample_units(us.units(), 6, 0)
    held, first = heldout_stories(stories, us.atlas.meta, HELD)
    assert first == N_ATLAS and held == stories[N_ATLAS : N_ATLAS + 80]
    with pytest.raises(ConfigError, match="atlas's own stories"):
        heldout_stories(stories, us.atlas.meta, HeldoutConfig(skip=10))
    # another file is read from its start
    assert heldout_stories(stories[N_ATLAS:], us.atlas.meta, HELD)[1] == 0
    hs = scan(us, units, held, first, HELD)
    # every scoring window comes from a story after the atlas's, and is a piece of that story
    assert hs.story_index.min() >= N_ATLAS and hs.story_index.max() < N_ATLAS + 80
    for row in range(0, len(hs.story_index), 37):
        text = "".join(hs.window_tokens(row)).strip()
        if "\ufffd" not in text:  # a character split over byte tokens does not decode piece by piece
            assert text in stories[hs.story_index[row]]
    # the table is the seam's activation: a window's peak equals the hook's max over its tokens
    ids = torch.tensor([us.tokenizer(held[0])["input_ids"][:95]])
    ids = torch.cat([torch.tensor([[us.tokenizer.eos_token_id]]), ids], 1)
    u = units[0]
    acts = us.model.run_with_cache(ids, names=[f"blocks.{u.layer}.mlp.hook_post"])[1][
        f"blocks.{u.layer}.mlp.hook_post"
    ][0, 1:7, u.index]
    row = int(np.flatnonzero(hs.story_index == first)[0])  # the first window of the first held-out story
    assert hs.peak[row, 0] == pytest.approx(float(acts.max()), abs=1e-5)
    assert hs.low[row, 0] == pytest.approx(float(acts.min()), abs=1e-5) and hs.at_peak[row, 0] == int(acts.argmax())
    atlas_text = "\n".join(stories[:N_ATLAS])
    for u in units:
        ev = us.evidence(u)
        prompt = explain_prompt(ev).replace("<<", "").replace(">>", "")  # a mark may split a word's pieces
        for text in ev.texts():  # every prompt example is a window of an atlas story, and in the prompt
            assert text.strip() in atlas_text and text.strip().split()[-1] in prompt
        for make in (detection_set, fuzzing_set):
            snippets, problem = make(ev, hs, HELD)
            assert problem is None and {s.label for s in snippets} == {0, 1}
        kinds = Counter(s.kind for s in detection_set(ev, hs, HELD)[0])
        assert sum(kinds[f"q{q}"] for q in range(1, 5)) >= 4 and kinds["random"] + kinds["hard"] >= 6


# ---------------------------------------------------------------- offline, end to end


def test_baseline_pipeline_runs_offline_and_stores_beside_the_atlas(model):
    path, _, stories = model
    us = NeuronSet(path)
    units = sample_units(us.units(), 8, 1)
    cfg = AutointerpConfig(explainer="baseline", scorer="rules", heldout=HELD, n_bootstrap=100)
    r = run_autointerp(us, stories, units, cfg, progress=False)
    f = path / "autointerp" / "baseline__rules.json"
    saved = json.loads(f.read_text())
    assert saved["units"] == r["units"] and saved["prompt_version"] and saved["date"].endswith("Z")
    assert saved["explainer"]["model"] == "baseline" and saved["scorer"]["model"] == "rules"
    assert set(saved["units"]) == {u.key for u in units}
    for u in units:
        e = saved["units"][u.key]
        assert e["explanation"] == baseline_explanation(us.evidence(u))
        assert e["explanation"].startswith("tokens ")
        for s in ("detection", "fuzzing"):
            assert 0 <= e[s]["balanced_accuracy"] <= 1 and e[s]["n_pos"] > 0 and e[s]["n_neg"] > 0
    assert r["summary"]["detection"]["scored"] == 8
    found = explanations_for(us.atlas_dir)
    word = json.loads("[" + saved["units"][units[0].key]["explanation"].split(" ", 1)[1].split(",")[0] + "]")[0]
    assert any(h["unit"] == units[0].key for h in search(us.atlas_dir, word))
    assert set(found) == {u.key for u in units}


# ---------------------------------------------------------------- against a loopback OpenAI-compatible server


class Oracle:
    """Scripted LLM: explanations naming the unit; detection answered from the true labels (one unit with one
    positive flipped, one unit unreadable on its first try); fuzzing always 0.7; two transient faults first."""

    def __init__(
        self,
        prompts: dict[str, str],
        truth: dict[str, dict[str, int]],
        flip: str,
        bad_detect: str,
        bad_explain: str,
        faults: bool,
    ):
        self.prompts, self.truth, self.flip = prompts, truth, flip
        self.bad = {("explain", bad_explain), ("detection", bad_detect)} if faults else set()
        self.faults = ["500", "429"] if faults else []

    def __call__(self, body, n):
        if self.faults:
            kind = self.faults.pop(0)
            return (kind, 0.05) if kind == "429" else ("500", None)
        text = last_text(body)
        if body["messages"][0]["content"] == EXPLAIN_SYSTEM:
            key = self.prompts[text.split("\n\n")[1]]  # known by its top examples
            if ("explain", key) in self.bad:
                self.bad.discard(("explain", key))
                return ("ok", "I am not sure.\nMaybe names?")
            return ("ok", f"Explanation: stories, unit KEY={key}")
        key = re.search(r"KEY=(\S+)", text).group(1)
        lines = re.findall(r"^\d+\. (.*)$", text, re.M)
        if "one token is marked" in text:
            return ("ok", json.dumps({"answers": [0.7] * len(lines)}))
        if ("detection", key) in self.bad:
            self.bad.discard(("detection", key))
            return ("ok", "They all look like they fire to me.")
        answers = [self.truth[key][line] for line in lines]
        if key == self.flip:
            answers[answers.index(1)] = 0
        return ("ok", json.dumps({"answers": answers}))


def _scanned(model, n, seed):
    """n sampled neurons of the test model, the held-out scan of them and their evidence."""
    path, _, stories = model
    us = NeuronSet(path)
    units = sample_units(us.units(), n, seed)
    held, first = heldout_stories(stories, us.atlas.meta, HELD)
    return us, units, first, scan(us, units, held, first, HELD), {u.key: us.evidence(u) for u in units}


def test_llm_pipeline_scores_scripted_answers_and_resumes_exactly_once(model, tmp_path, monkeypatch):
    path, story_file, stories = model
    us, units, first, hs, evidence = _scanned(model, 5, 0)
    sets = {k: detection_set(ev, hs, HELD)[0] for k, ev in evidence.items()}
    truth = {k: {one_line(s.text()): s.label for s in snips} for k, snips in sets.items()}
    prompts = {explain_prompt(ev).split("\n\n")[1]: k for k, ev in evidence.items()}
    keys = list(evidence)
    flip, bad_detect, bad_explain = keys[0], keys[1], keys[2]
    args = [
        "autointerp",
        str(path),
        "--stories",
        str(story_file),
        "--n",
        "5",
        "--heldout-stories",
        "80",
        "--window",
        "6",
        "--active-frac",
        "0.5",
        "--model",
        "stub-llm",
        "--concurrency",
        "4",
        "--no-progress",
    ]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-autointerp-test-key")
    with StubServer(Oracle(prompts, truth, flip, bad_detect, bad_explain, faults=True)) as server:
        assert main(args + ["--base-url", server.base_url]) == 1  # failures: exit 1, rerun to retry
        assert server.behaviours()[:2] == ["500", "429"]
        explain_texts = [
            last_text(q["body"]) for q in server.requests if q["body"]["messages"][0]["content"] == EXPLAIN_SYSTEM
        ]
    # the prompts' quantile examples come from the stories after the scoring ones, never from those
    prompt_slice = "\n".join(stories[N_ATLAS + 80 : N_ATLAS + 80 + 150])
    quantile_lines = [l[l.index(") ") + 2 :] for t in explain_texts for l in t.split("\n\n")[2].splitlines()[1:]]
    assert quantile_lines and "quantile 1 of 4" in explain_texts[0]
    for line in quantile_lines:
        assert line.replace("<<", "").replace(">>", "").replace("↵", "\n").strip() in prompt_slice
    res_file = path / "autointerp" / "stub-llm__stub-llm.json"
    r = json.loads(res_file.read_text())
    u = r["units"]
    assert u[bad_explain]["explanation"] is None and u[bad_explain]["detection"] is None
    assert u[bad_explain]["explain_failure"]["raw"] == "I am not sure.\nMaybe names?"
    fail = u[bad_detect]["detection"]["failure"]
    assert fail["cause"] == "parse_error" and fail["raw"] == "They all look like they fire to me."
    assert "balanced_accuracy" not in u[bad_detect]["detection"]  # a failure, never a zero
    P = sum(s.label for s in sets[flip])
    assert u[flip]["detection"]["balanced_accuracy"] == pytest.approx(round(0.5 * ((P - 1) / P + 1), 4))
    assert u[flip]["detection"]["f1"] == pytest.approx(round(2 * (P - 1) / (2 * (P - 1) + 1), 4))
    for k in keys[3:]:
        assert u[k]["detection"]["balanced_accuracy"] == 1.0 and u[k]["detection"]["auroc"] is None
        said = u[k]["detection"]["said_fires"]  # a perfect oracle: every quantile found, no negative taken
        assert said.get("hard", 0) == 0 and said["random"] == 0
        assert all(v == 1 for q, v in said.items() if q.startswith("q"))
        fz = u[k]["fuzzing"]
        assert fz["balanced_accuracy"] == 0.5 and fz["f1"] == pytest.approx(
            round(2 * fz["n_pos"] / (2 * fz["n_pos"] + fz["n_neg"]), 4)
        )
    assert r["summary"]["detection"]["failed"] == 1 and r["summary"]["detection"]["scored"] == 3
    assert r["explain_failed"] == 1

    with StubServer(Oracle(prompts, truth, flip, bad_detect, bad_explain, faults=False)) as server:
        assert main(args + ["--base-url", server.base_url]) == 0
        asked = Counter(
            (b["messages"][0]["content"] == EXPLAIN_SYSTEM, "one token is marked" in last_text(b))
            for b in (q["body"] for q in server.requests)
        )
    # only what failed is asked again: one explanation, its detection and fuzzing, and one detection
    assert asked == Counter({(True, False): 1, (False, False): 2, (False, True): 1})
    r = json.loads(res_file.read_text())
    assert all(e["detection"]["balanced_accuracy"] is not None for e in r["units"].values())
    logs = path / "autointerp" / "stub-llm__stub-llm"
    done = Counter(
        x["id"] for step in ("explain", "score") for x in iter_records(logs / f"{step}.jsonl") if x["status"] == "done"
    )
    # every unit explained and scored exactly once across the reruns
    assert done == Counter(keys + [f"{s}:{k}" for s in ("detection", "fuzzing") for k in keys])
    assert "sk-autointerp-test-key" not in "".join(
        p.read_text() for p in (path / "autointerp").rglob("*") if p.is_file()
    )
    # other settings under the same run name are refused, not mixed in
    with StubServer(Oracle(prompts, truth, flip, bad_detect, bad_explain, faults=False)) as server:
        assert main(args[:-1] + ["--window", "8", "--no-progress", "--base-url", server.base_url]) == 2
        assert not server.requests


# ---------------------------------------------------------------- the search box, in a real browser

CHROMIUM = __import__("pathlib").Path("/usr/bin/chromium")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium")
def test_search_box_finds_units_by_explanation_in_chromium(model, tmp_path):
    from playwright.sync_api import sync_playwright

    from tiny_interp.autointerp.view import ExplanationTable
    from tiny_interp.widgets import save_html

    path, _, stories = model
    us = NeuronSet(path)
    cfg = AutointerpConfig(explainer="baseline", scorer="rules", heldout=HELD, n_bootstrap=50)
    r = run_autointerp(us, stories, sample_units(us.units(), 6, 2), cfg, name="view-base", progress=False)
    # a second run whose explanations an LLM wrote (one hostile): the table shows both runs
    keys = list(r["units"])
    hostile = {
        **r,
        "explainer": {"kind": "llm", "model": "some-llm"},
        "date": "2030-01-01T00:00:00Z",
        "units": {
            k: {
                **u,
                "explanation": "deep sadness <img src=x onerror=alert(1)>" if k == keys[0] else "animals in the garden",
            }
            for k, u in r["units"].items()
        },
    }
    (path / "autointerp" / "some-llm.json").write_text(json.dumps(hostile))
    assert [h["unit"] for h in search(us.atlas_dir, "Sadness")] == [keys[0]]
    page_file = save_html(tmp_path / "ai.html", ExplanationTable(us.atlas_dir))
    dialogs, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("request", lambda q: requests.append(q.url))
            page.goto(page_file.as_uri())
            rows = page.locator("tr.ti-ai-row")
            n_all = rows.count()
            assert n_all >= 12  # 6 baseline + 6 LLM explanations (the other runs of this model's atlas too)
            page.fill("input.ti-ai-search", "sadness")
            visible = [rows.nth(i) for i in range(n_all) if rows.nth(i).is_visible()]
            assert len(visible) == 1 and keys[0] in visible[0].inner_text()
            assert "<img src=x onerror=alert(1)>" in visible[0].inner_text()  # shown as text, never markup
            page.fill("input.ti-ai-search", "animals garden")
            assert sum(rows.nth(i).is_visible() for i in range(n_all)) == 5
            assert "5 of" in page.locator(".ti-ai-count").inner_text()
        finally:
            browser.close()
    assert not dialogs and all(u.startswith("file://") for u in requests)


# ---------------------------------------------------------------- features


@pytest.fixture(scope="module")
def feature_model(model, tmp_path_factory, story_texts):
    """A copy of the tiny model with a run of two random top-k SAEs (two hooks) and their feature atlas, built by
    the features' own machinery from the same 60 atlas stories."""
    from tiny_interp.features.feature_atlas import build_feature_atlas
    from tiny_interp.features.sae import SAE, SAEConfig

    path, story_file, stories = model
    work = tmp_path_factory.mktemp("features") / "m"
    shutil.copytree(path, work, ignore=shutil.ignore_patterns("autointerp"))
    torch.manual_seed(0)
    run = work / "saes" / "rand"
    for i, hook in enumerate(["blocks.0.hook_resid_post", "blocks.1.hook_resid_mid"]):
        SAE(SAEConfig(architecture="topk", d_in=32, d_sae=24, hook_name=hook, k=4)).save(run / f"sae{i}")
    build_feature_atlas(run, story_texts[:N_ATLAS], batch_size=16, max_len=96, progress=False)
    return work, story_file, stories


def test_features_explained_and_scored_like_neurons(feature_model, tmp_path):
    from tiny_interp.autointerp.units import FeatureSet, open_unit_set

    path, _, stories = feature_model
    with pytest.raises(ConfigError, match="no feature atlas"):
        open_unit_set(path, f"features:{tmp_path}", atlas=tmp_path)
    fs = open_unit_set(path, "features:rand")
    assert isinstance(fs, FeatureSet) and len(fs.units()) == 48 and fs.units()[30].key == "D1/F6"
    units = [fs.units()[i] for i in (3, 30, 47, 0)]
    held, first = heldout_stories(stories, fs.atlas.meta, HELD)
    assert first == N_ATLAS  # the feature atlas read the same 60 stories: scoring starts after them
    ids = torch.tensor([[fs.tokenizer.eos_token_id] + fs.tokenizer(held[0])["input_ids"][:40]])
    got = fs.activations(ids, units)
    hooks = [s.cfg.hook_name for s in fs.saes]
    _, cache = fs.model.run_with_cache(ids, names=hooks)
    for j, u in enumerate(units):  # the seam's hook, encoded by that dictionary
        assert torch.allclose(got[..., j], fs.saes[u.layer].encode(cache[hooks[u.layer]])[..., u.index], atol=1e-6)
    assert (got != 0).float().mean() < 0.5  # top-k latents are sparse
    ev = fs.evidence(units[0])
    prompt = explain_prompt(ev)
    assert "sparse-autoencoder feature" in prompt and "promotes" in prompt and "suppresses" in prompt
    assert len(ev.logits_up) == 8 and ev.logits_up[0][1] >= ev.logits_up[-1][1]
    cfg = AutointerpConfig(explainer="baseline", scorer="rules", heldout=HELD, n_bootstrap=50)
    r = run_autointerp(fs, stories, sample_units(fs.units(), 10, 0), cfg, progress=False)
    assert r["kind"] == "feature" and r["n_units"] == 10
    assert r["unit_set"] == "features:rand:blocks.0.hook_resid_post+blocks.1.hook_resid_mid"
    assert open_unit_set(path, "features:rand/sae1").sae_dir == path / "saes" / "rand"  # a dictionary of the run
    assert (path / "saes" / "rand" / "autointerp" / "baseline__rules.json").exists()  # beside the feature atlas
    scored = [u for u in r["units"].values() if u["detection"] and "balanced_accuracy" in u["detection"]]
    assert scored and all(0 <= u["detection"]["balanced_accuracy"] <= 1 for u in scored)
    assert all("skipped" in u["detection"] for u in r["units"].values() if u not in scored)
    # the FeatureExplorer shows them: it reads <atlas>/explanations.json
    from tiny_interp.widgets.features import explanation

    first = next(iter(r["units"].values()))
    assert explanation(fs.atlas, first["layer"], first["index"]) == first["explanation"]


# ---------------------------------------------------------------- notebook 09


@pytest.mark.slow
def test_notebook_09_runs_offline_and_against_an_endpoint(feature_model, tmp_path):
    from nb_fixtures import run_nb, text_of

    path, story_file, _ = feature_model
    work = tmp_path / "m"
    shutil.copytree(path, work, ignore=shutil.ignore_patterns("autointerp"))
    params = dict(MODEL=str(work), N=5, STORIES=str(story_file), HELDOUT_STORIES=80, WINDOW=6)
    nb = run_nb("09_autointerp", tmp_path, **params)
    text = text_of(nb)
    assert "baseline" in text and "detection" in text and "features:rand" in text  # both sets, side by side
    assert json.loads((work / "autointerp" / "baseline__rules.json").read_text())["n_units"] == 5
    assert json.loads((work / "saes" / "rand" / "autointerp" / "baseline__rules.json").read_text())["n_units"] == 5
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert text.count('class="ti-ai"') == 2  # the searchable tables of both sets

    def answer(body, n):
        text = last_text(body)
        if not text.startswith("Explanation of the unit"):
            return ("ok", "Explanation: small words")
        return ("ok", json.dumps({"answers": [0.8] * len(re.findall(r"^\d+\. ", text, re.M))}))

    with StubServer(answer) as server:
        nb = run_nb("09_autointerp", tmp_path, **params, BASE_URL=server.base_url, LLM_MODEL="nb-llm")
        n_requests = len(server.requests)
    results = [
        json.loads(f.read_text())
        for f in (
            work / "autointerp" / "nb-llm__nb-llm.json",
            work / "saes" / "rand" / "autointerp" / "nb-llm__nb-llm.json",
        )
    ]
    # each unit explained once, and each scoring set (some units have none) asked once
    assert n_requests == sum(5 + sum(s["scored"] for s in r["summary"].values()) for r in results)
    result = results[0]
    assert {u["explanation"] for u in result["units"].values()} == {"small words"}
    assert "small words" in text_of(nb)


def test_cli_refuses_bad_options_in_one_line(model, capsys):
    path, story_file, _ = model
    base = ["autointerp", str(path), "--stories", str(story_file), "--no-progress"]
    cases = [
        (["--n", "-1", "--model", "baseline"], "--n must be >= 0"),
        (["--window", "2", "--model", "baseline"], "window=2 is out of range"),
        (["--active-frac", "1.5", "--model", "baseline"], "active_frac=1.5"),
        (["--units", "heads", "--model", "baseline"], "--units takes 'neurons' or 'features:SAE'"),
        (["--units", "features:nope", "--model", "baseline"], "no SAE 'nope'"),
        (["--model", "baseline", "--scorer", "llm"], "runs offline"),
        (["--model", "baseline", "--name", "../x"], "run name '../x'"),
        (["--model", "baseline", "--skip", "3"], "skip=3 would score on the atlas's own stories"),
    ]
    for extra, message in cases:
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and "\n" not in err, (extra, err)
    assert main(["autointerp", str(path), "--stories", str(path / "nope.txt"), "--model", "baseline"]) == 2
    assert "nope.txt: no such file" in capsys.readouterr().err


def test_baseline_explanations_scored_by_an_llm(model):
    """The floor, judged by the same LLM scorer as an LLM's explanations: nothing asked to explain."""
    from tiny_interp.llm.runner import RunnerConfig

    path, _, stories = model
    us = NeuronSet(path)
    units = sample_units(us.units(), 3, 4)

    def answer(body, n):
        return ("ok", json.dumps({"answers": [1] * len(re.findall(r"^\d+\. ", last_text(body), re.M))}))

    cfg = AutointerpConfig(explainer="baseline", scorer="llm", heldout=HELD, n_bootstrap=50)
    with StubServer(answer) as server:
        runner = RunnerConfig(model="judge", base_url=server.base_url, fsync=False)
        r = run_autointerp(us, stories, units, cfg, runner, api_key="k", progress=False)
        prompts = [last_text(q["body"]) for q in server.requests]
    assert r["explainer"]["model"] == "baseline" and r["scorer"]["model"] == "judge"
    assert (path / "autointerp" / "baseline__judge.json").exists()
    assert all(p.startswith("Explanation of the unit: tokens ") for p in prompts)  # only scoring requests
    for u in units:
        e = r["units"][u.key]
        assert e["explanation"] == baseline_explanation(us.evidence(u))
        for s in ("detection", "fuzzing"):  # "everything fires": recall 1, specificity 0
            if "balanced_accuracy" in e[s]:
                negative = "random" if s == "detection" else "decoy"
                assert e[s]["balanced_accuracy"] == 0.5 and e[s]["said_fires"][negative] == 1


# ---------------------------------------------------------------- simulation (needs logprobs)


def _digit_answer(evs):
    """Answer tokens "i", ":", " ", digit for each predicted value, the digit's alternatives mixing 0 and 10 so
    that their expected value is exactly the prediction (plus a non-digit alternative that must be ignored)."""
    import math

    out = []
    for i, v in enumerate(evs, 1):
        p10 = v / 10
        top = [(a, math.log(p)) for a, p in (("10", 0.8 * p10), ("0", 0.8 * (1 - p10))) if p > 0] + [
            ("x", math.log(0.2))
        ]
        out += [(str(i), []), (":", []), (" ", []), ("10" if p10 >= 0.5 else "0", top), ("\n", [])]
    return out


def test_simulation_reads_expected_values_from_logprobs():
    import math

    from tiny_interp.autointerp.simulation import expected_value, predictions, simulation_score
    from tiny_interp.llm.runner import ItemFailure

    top = [["5", math.log(0.5)], [" 6", math.log(0.25)], ["cat", math.log(0.25)]]
    assert expected_value(top, "5") == pytest.approx((5 * 0.5 + 6 * 0.25) / 0.75)
    assert expected_value([["cat", 0.0]], "7") == 7.0  # no digit among the alternatives: the chosen one
    lp = [{"token": t, "logprob": 0.0, "top": [[a, x] for a, x in top_]} for t, top_ in _digit_answer([2.5, 9, 0])]
    assert predictions(lp, 3) == pytest.approx([2.5, 9, 0])
    # "10" split into "1" "0", and numbers in the token column, are read at the right place only
    split = [
        {"token": t, "logprob": 0.0, "top": [[t, 0.0]]}
        for t in ["Text", " 1", ":", "\n", "1", ":", " ", "1", "0", "\n", "2", ": ", "3"]
    ]
    assert predictions(split, 2) == [1.0, 3.0]
    with pytest.raises(ItemFailure, match="no prediction for 1 of 3 tokens"):
        predictions(lp[:10], 3)
    assert simulation_score([0, 1, 2, 3], [1, 3, 5, 7], ["q1"])["correlation"] == pytest.approx(1.0)
    assert simulation_score([0, 1, 2], [4, 4, 4], ["q1"])["correlation"] is None  # undefined, never a zero


def test_simulation_scores_the_correlation_of_scripted_logprobs_and_is_unavailable_without(model, monkeypatch):
    from tiny_interp.autointerp.heldout import window_activations
    from tiny_interp.autointerp.simulation import (
        SimulationConfig,
        simulation_prompt,
        simulation_rows,
        simulation_snippets,
    )
    from tiny_interp.llm.runner import RunnerConfig

    path, _, stories = model
    us, units, first, hs, ev = _scanned(model, 3, 5)
    rows = {u.key: simulation_rows(ev[u.key], hs, HELD, SimulationConfig())[0] for u in units}
    acts = window_activations(us, hs, [(u, r) for u in units for r, _ in rows[u.key]], first, HELD)
    # the true activations are the seam's: each window's max is the scan's peak, and one is checked token by token
    u0, (r0, _) = units[0], rows[units[0].key][0]
    assert all(
        acts[(u.key, r)].max() == pytest.approx(hs.peak[r, hs.column(u)], abs=1e-5)
        for u in units
        for r, _ in rows[u.key]
    )
    story = stories[int(hs.story_index[r0])]
    ids = torch.tensor([[us.tokenizer.eos_token_id] + us.tokenizer(story)["input_ids"][: us.model_ctx - 1]])
    start = 1 + HELD.window * int(hs.window_index[r0])
    full = us.activations(ids, [u0])[0, start : start + len(acts[(u0.key, r0)]), 0].numpy()
    assert np.allclose(full, acts[(u0.key, r0)], atol=1e-5)
    truth = {}
    for u in units:
        snips = simulation_snippets(rows[u.key], u.key, hs, acts)
        truth[simulation_prompt(baseline_explanation(ev[u.key]), snips)] = np.concatenate(
            [acts[(u.key, r)] for r, _ in rows[u.key]]
        )
    shapes = [lambda t: t, lambda t: 1 - t, lambda t: t**3]  # correlations 1, -1, and a known in-between

    def simulator(body, n):
        true = truth[last_text(body)]
        scaled = (true - true.min()) / (true.max() - true.min())
        shape = shapes[list(truth).index(last_text(body))]
        return ("logprobs", _digit_answer([10 * float(x) for x in shape(scaled)]))

    cfg = AutointerpConfig(explainer="baseline", scorer="llm", heldout=HELD, n_bootstrap=50, scorers=("simulation",))
    with StubServer(simulator) as server:
        runner = RunnerConfig(model="sim", base_url=server.base_url, fsync=False)
        r = run_autointerp(us, stories, units, cfg, runner, api_key="k", progress=False)
        asked = [q["body"] for q in server.requests]
    assert len(asked) == 3 and all(b["logprobs"] is True and b["top_logprobs"] == 20 for b in asked)
    sims = [r["units"][u.key]["simulation"] for u in units]
    assert sims[0]["correlation"] == pytest.approx(1.0, abs=1e-3)
    assert sims[1]["correlation"] == pytest.approx(-1.0, abs=1e-3)
    t = list(truth.values())[2]
    scaled = (t - t.min()) / (t.max() - t.min())
    assert sims[2]["correlation"] == pytest.approx(np.corrcoef(t, scaled**3)[0, 1], abs=1e-3)
    assert sims[0]["n_tokens"] == len(list(truth.values())[0]) and "detection" not in r["units"][units[0].key]
    assert r["summary"]["simulation"]["scored"] == 3 and r["summary"]["simulation"]["unavailable"] == 0

    # an endpoint without logprobs: unavailable, never a zero (and no other scorer disturbed)
    cfg2 = dataclasses_replace(cfg, scorers=("detection", "simulation"))

    def plain(body, n):
        return (
            "ok",
            json.dumps({"answers": [1] * len(re.findall(r"^\d+\. ", last_text(body), re.M))})
            if "numbered text" in last_text(body)
            else "1: 5\n2: 5",
        )

    with StubServer(plain) as server:
        runner = RunnerConfig(model="plain", base_url=server.base_url, fsync=False)
        r = run_autointerp(us, stories, units, cfg2, runner, api_key="k", progress=False)
        bodies = [q["body"] for q in server.requests]
    # only simulations ask for logprobs, and asking for them is part of what a request is
    assert sorted("logprobs" in b for b in bodies) == [False] * 3 + [True] * 3
    from tiny_interp.llm.runner import LLMItem, request_hash

    item = LLMItem(id="x", messages=[{"role": "user", "content": "hi"}])
    assert request_hash(item, runner) != request_hash(dataclasses_replace(item, top_logprobs=20), runner)
    for u in units:
        assert set(r["units"][u.key]["simulation"]) == {"unavailable"}
        assert "balanced_accuracy" in r["units"][u.key]["detection"]
    s = r["summary"]["simulation"]
    assert s["unavailable"] == 3 and s["scored"] == 0 and s["correlation"]["mean"] is None
    assert "simulation" not in json.dumps(r["summary"]["detection"])
    # the rule scorer simulates too (10 on explained tokens), so the baseline has a simulation floor
    rules = run_autointerp(
        us,
        stories,
        units,
        AutointerpConfig(explainer="baseline", scorer="rules", heldout=HELD, n_bootstrap=50, scorers=("simulation",)),
        name="sim-rules",
        progress=False,
    )
    assert all("correlation" in rules["units"][u.key]["simulation"] for u in units)


def dataclasses_replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)


def test_cli_scorers_option(model, capsys):
    path, story_file, _ = model
    base = [
        "autointerp",
        str(path),
        "--stories",
        str(story_file),
        "--no-progress",
        "--n",
        "3",
        "--heldout-stories",
        "80",
        "--window",
        "6",
        "--active-frac",
        "0.5",
        "--model",
        "baseline",
    ]
    assert main(base + ["--scorers", "detection,telepathy"]) == 2
    assert "telepathy" in capsys.readouterr().err
    assert main(base + ["--scorers", "simulation,detection", "--name", "cli-sim"]) == 0
    err = capsys.readouterr().err
    assert "simulation: correlation" in err and "detection: balanced accuracy" in err and "fuzzing" not in err


def test_notebook_works_on_a_copy_of_a_shipped_model(model, tmp_path):
    """Notebook 09 copies a model shipped in trained_models/ into its working folder (runs/ by default), so its
    results and atlases never land among the shipped files; a user's own model directory is used in place."""
    from tiny_interp.autointerp.compare import working_copy

    path, _, _ = model
    shipped = tmp_path / "trained_models"
    shutil.copytree(path, shipped / "ts-x")
    (shipped / "ts-x" / "autointerp").mkdir(exist_ok=True)
    before = sorted(p.relative_to(shipped) for p in shipped.rglob("*"))
    copy = working_copy(shipped / "ts-x", tmp_path / "runs", shipped=shipped)
    assert copy == tmp_path / "runs" / "ts-x" and (copy / "model.safetensors").exists()
    assert (copy / "atlas" / "atlas.json").exists() and not (copy / "autointerp").exists()
    (copy / "autointerp").mkdir()
    assert working_copy(shipped / "ts-x", tmp_path / "runs", shipped=shipped) == copy  # reused, results kept
    assert (copy / "autointerp").is_dir()
    assert sorted(p.relative_to(shipped) for p in shipped.rglob("*")) == before
    assert working_copy(path, tmp_path / "runs", shipped=shipped) == path.resolve()
    (tmp_path / "other" / "ts-x").mkdir(parents=True)
    with pytest.raises(ConfigError, match="holds no model"):
        working_copy(shipped / "ts-x", tmp_path / "other", shipped=shipped)
