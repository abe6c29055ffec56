"""``tiny-interp autointerp`` refuses bad input in one line (exit 2) and writes nothing; a shipped model stays as
shipped (its results go to ``runs/``, where the explorers find them); one run writes a store at a time; an LLM's
non-answer is a failure kept with its raw text, never an explanation.

The documented workflow runs whole here: ``autointerp MODEL --units features:saes`` on a shipped-style model,
then ``FeatureExplorer`` and ``export_features`` show the explanations it wrote.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from llm_stub import StubServer
from storygen import write_txt
from test_bad_inputs import W, snapshot
from test_bad_inputs_features import enter_workspace, run_refused, save_sae

from tiny_interp.cli import main
from tiny_interp.locking import exclusive_lock, lock_path


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, make_model_dir, story_texts):
    from tiny_interp.features.feature_atlas import build_feature_atlas
    from tiny_interp.interp.neurons import build_atlas

    w = tmp_path_factory.mktemp("bad-autointerp")
    model = w / "model"
    shutil.copytree(make_model_dir("tiny"), model)
    write_txt(w / "stories.txt", story_texts[:120])
    build_atlas(model, w / "stories.txt", n_stories=30, progress=False, max_len=48)
    save_sae(model / "saes" / "sae0", d_sae=12)
    build_feature_atlas(model / "saes", w / "stories.txt", n_stories=30, progress=False, max_len=48)
    shutil.copytree(model, w / "bare", ignore=shutil.ignore_patterns("atlas", "saes"))
    shutil.copytree(model, w / "shipped")
    (w / "shipped" / "card_config.json").write_text('{"name": "shipped"}\n')
    (w / "bad-utf8.txt").write_bytes(b"Once upon a time \xff\xfe there was a cat.\n<|endoftext|>\n")
    (w / "a-dir").mkdir()
    (w / "users-model").mkdir()
    shutil.copytree(model, w / "users-model" / "m")
    (w / "users-model" / "m" / "autointerp").mkdir()
    (w / "users-model" / "m" / "autointerp" / "notes.md").write_text("my notes\n")
    return w


@pytest.fixture
def in_workspace(workspace, monkeypatch, tmp_path):
    return enter_workspace(workspace, monkeypatch, tmp_path)


A = ["autointerp", f"{W}/model", "--stories", f"{W}/stories.txt", "--model", "baseline", "--no-progress"]
A += ["--heldout-stories", "40", "--window", "6"]

CASES = [
    ("negative-n", [*A, "--n=-1"], ["--n", "-1"]),
    ("unknown-units", [*A, "--units", "heads"], ["--units", "'heads'"]),
    ("features-without-name", [*A, "--units", "features:"], ["--units"]),
    ("missing-sae", [*A, "--units", "features:nope"], ["'nope'", "saes"]),
    ("sae-is-a-file", [*A, "--units", f"features:{W}/stories.txt"], ["stories.txt"]),
    ("no-neuron-atlas", [*A[:1], f"{W}/bare", *A[2:]], ["atlas"]),
    ("atlas-not-an-atlas", [*A, "--atlas", f"{W}/a-dir"], ["a-dir"]),
    ("model-missing", [*A[:1], f"{W}/nowhere", *A[2:]], ["nowhere"]),
    ("stories-bad-utf8", [*A[:3], f"{W}/bad-utf8.txt", *A[4:]], ["bad-utf8.txt", "UTF-8"]),
    ("stories-missing", [*A[:3], f"{W}/nowhere.txt", *A[4:]], ["nowhere.txt"]),
    ("stories-a-folder-of-nothing", [*A[:3], f"{W}/a-dir", *A[4:]], ["a-dir"]),
    ("run-name-path", [*A, "--name", "../escape"], ["run name", "../escape"]),
    ("run-name-dot", [*A, "--name", ".hidden"], ["run name"]),
    ("window-too-small", [*A, "--window", "1"], ["window"]),
    ("active-frac-nan", [*A, "--active-frac", "nan"], ["active_frac"]),
    ("active-frac-above-1", [*A, "--active-frac", "3"], ["active_frac"]),
    ("zero-heldout", [*A, "--heldout-stories", "0"], ["n_stories"]),
    ("negative-skip", [*A, "--skip=-2"], ["skip"]),
    ("unknown-scorer", [*A, "--scorers", "vibes"], ["vibes"]),
    ("baseline-with-llm-explainer", [*A, "--explainer", "llm"], ["--model baseline"]),
    ("zero-concurrency", [*A, "--concurrency", "0"], ["--concurrency"]),
    (
        "store-is-users-folder",
        [*A[:1], f"{W}/users-model/m", *A[2:]],
        ["users-model/m/autointerp", "did not write"],
    ),
]


@pytest.mark.parametrize("argv, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_autointerp_input_is_one_line_exit_2_and_changes_nothing(in_workspace, argv, words, capsys):
    run_refused(in_workspace, argv, words, capsys)


def test_a_live_run_makes_a_second_writer_refuse_naming_its_pid(in_workspace, capsys):
    store = in_workspace / "model" / "autointerp"
    with exclusive_lock(lock_path(store, "autointerp"), "test"):
        run_refused(in_workspace, [*A, "--n", "3"], ["auto-interp store", f"pid {os.getpid()}"], capsys)
    shutil.rmtree(store)


def test_documented_feature_workflow_on_a_shipped_model_writes_to_runs_and_the_explorers_show_it(
    in_workspace, tmp_path, capsys
):
    from tiny_interp.features.feature_atlas import FeatureAtlas
    from tiny_interp.widgets.features import FeatureExplorer, export_features, feature_data

    shipped = in_workspace / "shipped"
    before = snapshot(shipped)
    argv = [a.replace(W, str(in_workspace)) for a in [*A[:1], f"{W}/shipped", *A[2:], "--units", "features:saes"]]
    assert main([*argv, "--n", "6"]) == 0, capsys.readouterr().err
    assert snapshot(shipped) == before  # nothing written beside the shipped model
    result = json.loads((tmp_path / "runs" / "shipped" / "saes" / "autointerp" / "baseline__rules.json").read_text())
    explained = {k: u for k, u in result["units"].items() if u["explanation"]}
    assert explained and all(k.startswith("D0/F") for k in explained)
    key, unit = next(iter(explained.items()))
    atlas = FeatureAtlas.open(shipped / "saes")
    d = feature_data(atlas, unit["layer"], unit["index"])
    assert d["explanation"] == unit["explanation"]
    assert [e["explanation"] for e in d["explanations"]] == [unit["explanation"]]  # keys D0/F17 read, no crash
    explorer = FeatureExplorer(shipped / "saes", feature=unit["index"])
    assert explorer.data()["explanation"] == unit["explanation"]
    page = export_features(tmp_path / "features.html", atlas, [(unit["layer"], unit["index"])])
    assert json.dumps(unit["explanation"])[1:-1] in page.read_text()
    # --beside-model is the explicit way to write there
    assert main([*argv, "--n", "2", "--name", "beside", "--beside-model"]) == 0
    assert (shipped / "saes" / "autointerp" / "beside.json").is_file()
    shutil.rmtree(shipped / "saes" / "autointerp")
    capsys.readouterr()


def test_a_non_answer_from_the_llm_is_a_failure_kept_with_its_raw_text(in_workspace, tmp_path, capsys):
    refusal = "I refuse to answer in JSON"
    model = tmp_path / "m"
    shutil.copytree(in_workspace / "model", model)
    argv = [a.replace(W, str(in_workspace)) for a in A]
    argv[1], argv[argv.index("baseline")] = str(model), "stub-llm"
    with StubServer(lambda body, n: ("ok", refusal)) as server:
        rc = main([*argv, "--n", "3", "--scorer", "rules", "--base-url", server.base_url])
    assert rc == 1  # failures: exit 1, rerun to retry
    result = json.loads((model / "autointerp" / "stub-llm__rules.json").read_text())
    assert result["explain_failed"] == 3
    for unit in result["units"].values():
        assert unit["explanation"] is None
        assert unit["explain_failure"]["raw"] == refusal and unit["explain_failure"]["cause"] == "parse_error"
    assert "explained by stub-llm" in capsys.readouterr().err


def test_neuron_explorer_refuses_layers_and_neurons_it_does_not_have(in_workspace):
    from tiny_interp.errors import ConfigError
    from tiny_interp.widgets.neurons import NeuronExplorer

    with pytest.raises(ConfigError, match=r"layer 2 is out of range: this atlas has layers 0\.\.1"):
        NeuronExplorer(in_workspace / "model", layer=2)
    with pytest.raises(ConfigError, match=r"neuron 1000000 is out of range: this atlas has neurons 0\.\.127"):
        NeuronExplorer(in_workspace / "model", neuron=10**6)
    assert NeuronExplorer(in_workspace / "model", layer=1, neuron=127).data()["neuron"] == 127
