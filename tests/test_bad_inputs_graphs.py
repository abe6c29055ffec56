"""``tiny-interp graph`` and the graphs' Python entry points refuse bad input in one line naming the value or file
(exit 2) and write nothing: empty or over-long prompts, an empty target, broken transcoder folders, output paths
that are folders or someone else's files, NaN settings and interventions out of range."""

from __future__ import annotations

import math
import shutil

import pytest
from storygen import write_txt
from test_bad_inputs import W
from test_bad_inputs_features import enter_workspace, run_refused, save_transcoders

from tiny_interp.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, make_model_dir, story_texts):
    w = tmp_path_factory.mktemp("bad-graphs")
    shutil.copytree(make_model_dir("tiny"), w / "model")
    save_transcoders(w / "tc")
    save_transcoders(w / "tc-not-json")
    (w / "tc-not-json" / "blocks.1.transcoder" / "cfg.json").write_text("[1, 2")
    save_transcoders(w / "tc-cut")
    weights = w / "tc-cut" / "blocks.0.transcoder" / "sae_weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    save_transcoders(w / "tc-one-layer", n_layers=1)
    save_transcoders(w / "tc-wide", d_model=48)
    write_txt(w / "stories.txt", story_texts[:5])
    (w / "a-dir").mkdir()
    (w / "users").mkdir()
    (w / "users" / "page.html").write_text("<html>my own page</html>\n")
    (w / "users" / "graph.json").write_text('{"mine": true}\n')
    return w


@pytest.fixture
def in_workspace(workspace, monkeypatch, tmp_path):
    return enter_workspace(workspace, monkeypatch, tmp_path)


G = ["graph", f"{W}/model", "--transcoders", f"{W}/tc"]
P = ["--prompt", "Lily gave the ball to"]
OUT = ["--out", f"{W}/g.html"]
LONG = "Once upon a time there was a girl. " * 60  # far past the tiny model's 128-token context

CASES = [
    ("empty-target", [*G, *P, *OUT, "--target", ""], ["--target ''", "names no token"]),
    ("multi-token-target", [*G, *P, *OUT, "--target", " elephantine hippopotamus"], ["target", "tokens, not one"]),
    ("empty-prompt", [*G, "--prompt", "  ", *OUT], ["prompt is empty"]),
    ("prompt-longer-than-context", [*G, "--prompt", LONG, *OUT], ["context of 128 tokens", "shorten"]),
    ("out-is-a-folder", [*G, *P, "--out", f"{W}/a-dir"], ["a-dir", "is a directory"]),
    ("out-folder-missing", [*G, *P, "--out", f"{W}/nowhere/g.html"], ["nowhere", "does not exist"]),
    ("out-is-users-page", [*G, *P, "--out", f"{W}/users/page.html"], ["users/page.html", "not written"]),
    ("json-is-users-file", [*G, *P, *OUT, "--json", f"{W}/users/graph.json"], ["users/graph.json", "not written"]),
    ("transcoders-missing", ["graph", f"{W}/model", "--transcoders", f"{W}/nowhere", *P, *OUT], ["nowhere"]),
    (
        "transcoders-is-a-file",
        ["graph", f"{W}/model", "--transcoders", f"{W}/stories.txt", *P, *OUT],
        ["stories.txt", "is a file"],
    ),
    ("transcoders-empty", ["graph", f"{W}/model", "--transcoders", f"{W}/a-dir", *P, *OUT], ["a-dir", "layer"]),
    (
        "transcoders-not-json",
        ["graph", f"{W}/model", "--transcoders", f"{W}/tc-not-json", *P, *OUT],
        ["blocks.1.transcoder/cfg.json"],
    ),
    (
        "transcoders-truncated",
        ["graph", f"{W}/model", "--transcoders", f"{W}/tc-cut", *P, *OUT],
        ["sae_weights.safetensors", "truncated"],
    ),
    (
        "transcoders-missing-a-layer",
        ["graph", f"{W}/model", "--transcoders", f"{W}/tc-one-layer", *P, *OUT],
        ["layer(s) [1]"],
    ),
    (
        "transcoders-of-another-width",
        ["graph", f"{W}/model", "--transcoders", f"{W}/tc-wide", *P, *OUT],
        ["48", "d_model 32"],
    ),
    ("model-missing", ["graph", f"{W}/nowhere", "--transcoders", f"{W}/tc", *P, *OUT], ["nowhere"]),
    ("model-not-a-model", ["graph", f"{W}/a-dir", "--transcoders", f"{W}/tc", *P, *OUT], ["a-dir"]),
    ("nan-node-threshold", [*G, *P, *OUT, "--node-threshold", "nan"], ["--node-threshold", "nan"]),
    ("edge-threshold-above-1", [*G, *P, *OUT, "--edge-threshold", "2"], ["--edge-threshold"]),
    ("zero-batch", [*G, *P, *OUT, "--batch-size", "0"], ["--batch-size"]),
    ("negative-max-logits", [*G, *P, *OUT, "--max-logits=-4"], ["--max-logits"]),
    ("logit-mass-inf", [*G, *P, *OUT, "--logit-mass", "inf"], ["--logit-mass"]),
]


@pytest.mark.parametrize("argv, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_graph_input_is_one_line_exit_2_and_changes_nothing(in_workspace, argv, words, capsys):
    run_refused(in_workspace, argv, words, capsys)


def test_graph_writes_its_own_files_again_and_claims_them(in_workspace, capsys):
    """The first run claims the page and the JSON (the folder's manifest); a second run replaces them; a user's
    file of another name beside them stays as it was."""
    out = in_workspace / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep\n")
    argv = [
        a.replace(W, str(in_workspace)) for a in [*G, *P, "--out", f"{W}/mine/g.html", "--json", f"{W}/mine/g.json"]
    ]
    from tiny_interp.cli import main
    from tiny_interp.ownership import manifest

    assert main([*argv, "--target", " the"]) == 0
    first = (out / "g.html").read_bytes()
    assert manifest(out, "graph") == {"g.html", "g.json"}
    assert main(argv) == 0
    assert (out / "g.html").read_bytes() != first and (out / "notes.txt").read_text() == "keep\n"
    capsys.readouterr()
    shutil.rmtree(out)


def test_interventions_refuse_nan_values_and_positions_outside_the_prompt(in_workspace):
    from tiny_interp.graphs.api import open_graph_model
    from tiny_interp.graphs.interventions import FeatureEdit

    gm = open_graph_model(in_workspace / "model", in_workspace / "tc")
    n = len(gm.encode("Lily gave the ball to"))
    for value in (math.nan, math.inf, "5"):
        with pytest.raises(ConfigError, match="intervention value .* not a finite number"):
            FeatureEdit(0, 1, value)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=rf"position {n + 3} is outside the prompt's {n} tokens"):
        gm.intervene("Lily gave the ball to", [FeatureEdit(0, 1, 3.0, pos=n + 3)])
    with pytest.raises(ConfigError, match="feature 99 does not exist"):
        gm.intervene("Lily gave the ball to", [FeatureEdit(0, 99, 3.0)])
    with pytest.raises(DataError, match="target is empty"):
        gm.graph("Lily gave the ball to", target="")
    with pytest.raises(DataError, match="context of 128 tokens"):
        gm.graph(LONG)
    table = gm.intervene("Lily gave the ball to", [FeatureEdit(0, 1, 3.0, pos=-1)])
    assert all(math.isfinite(row["new"]) for row in table)


def test_hostile_prompt_text_stays_text_in_the_page(in_workspace, capsys):
    """A prompt that closes the page's script and opens its own is written as data, never as markup."""
    from tiny_interp.cli import main

    hostile = "Lily said </script><img src=x onerror=alert(1)><script>alert(2)</script> to"
    out = in_workspace / "hostile.html"
    assert main([*[a.replace(W, str(in_workspace)) for a in G], "--prompt", hostile, "--out", str(out)]) == 0
    page = out.read_text()
    assert "<img src=x" not in page and "<script>alert(2)" not in page
    out.unlink()
    (in_workspace / ".tiny-interp-graph.json").unlink()
    capsys.readouterr()


def test_a_page_aimed_into_a_shipped_model_goes_to_runs(in_workspace, tmp_path, capsys):
    from test_bad_inputs import snapshot

    from tiny_interp.cli import main

    shipped = tmp_path / "shipped"
    shutil.copytree(in_workspace / "model", shipped)
    (shipped / "card_config.json").write_text('{"name": "shipped"}\n')
    before = snapshot(shipped)
    argv = ["graph", str(shipped), "--transcoders", str(in_workspace / "tc"), *P, "--out", str(shipped / "g.html")]
    assert main(argv) == 0
    assert snapshot(shipped) == before and (tmp_path / "runs" / "shipped" / "g.html").is_file()
    assert f"wrote {tmp_path / 'runs' / 'shipped' / 'g.html'}" in capsys.readouterr().out
    assert main([*argv, "--beside-model"]) == 0 and (shipped / "g.html").is_file()  # asked for by flag
