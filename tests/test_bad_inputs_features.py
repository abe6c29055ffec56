"""``sae train / eval / atlas`` and the feature explorers refuse bad input the way every other command does: one
``error:`` line naming the value or file and what to do (exit 2), nothing written or claimed.

The dictionaries are real (saved by our SAE class in SAELens' layout) and the model is a real tiny model; each
broken one is broken the way a user's file breaks: not JSON, another width, cut short, an unknown dtype, built
for another model.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from storygen import write_txt
from test_bad_inputs import W, assert_refused, snapshot

from tiny_interp.cli import main
from tiny_interp.errors import ConfigError
from tiny_interp.features.sae import SAE, SAEConfig
from tiny_interp.locking import exclusive_lock, lock_path

HOOK = "blocks.0.hook_mlp_out"


def save_sae(directory: Path, d_in: int = 32, d_sae: int = 16, hook: str = HOOK, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    return SAE(SAEConfig(architecture="topk", d_in=d_in, d_sae=d_sae, hook_name=hook, k=4)).save(directory)


def save_transcoders(directory: Path, n_layers: int = 2, d_model: int = 32) -> Path:
    torch.manual_seed(0)
    for layer in range(n_layers):
        cfg = SAEConfig(
            architecture="transcoder",
            d_in=d_model,
            d_sae=16,
            hook_name=f"blocks.{layer}.mlp.hook_in",
            hook_name_out=f"blocks.{layer}.hook_mlp_out",
            activation="relu",
        )
        SAE(cfg).save(directory / f"blocks.{layer}.transcoder")
    return directory


def edit_cfg(directory: Path, **changes: object) -> None:
    cfg = json.loads((directory / "cfg.json").read_text())
    (directory / "cfg.json").write_text(json.dumps({**cfg, **changes}))


def broken_dictionaries(model: Path) -> None:
    """One dictionary directory per way a user's dictionary breaks, inside the model (its ``saes/``)."""
    saes = model / "saes"
    save_sae(saes / "good")
    (saes / "good" / "README.md").write_text("my notes on this dictionary\n")
    save_sae(saes / "not-json")
    (saes / "not-json" / "cfg.json").write_text("{not json")
    save_sae(saes / "wide")
    edit_cfg(saes / "wide", d_in=48)  # cfg.json says 48, the weights are 32 wide
    save_sae(saes / "cut")
    data = (saes / "cut" / "sae_weights.safetensors").read_bytes()
    (saes / "cut" / "sae_weights.safetensors").write_bytes(data[: len(data) // 2])
    save_sae(saes / "dtype")
    edit_cfg(saes / "dtype", dtype="float8_e4m3")
    save_sae(saes / "typo-key")
    edit_cfg(saes / "typo-key", hook_nmae="blocks.0.hook_mlp_out")  # neither we nor SAELens write this key
    save_sae(saes / "other-model", hook="blocks.5.hook_mlp_out")  # the model has 2 layers
    save_sae(saes / "other-width", d_in=64)  # consistent in itself, but this model's MLP output is 32 wide
    save_sae(saes / "users-eval")
    (saes / "users-eval" / "eval.json").write_text('{"my": "numbers"}\n')
    save_sae(saes / "users-run" / "a")
    save_sae(saes / "users-run" / "b", hook="blocks.1.hook_mlp_out")
    (saes / "users-run" / "README.md").write_text("# my run\n")
    save_transcoders(model / "tc-not-json")
    (model / "tc-not-json" / "blocks.1.transcoder" / "cfg.json").write_text("[1, 2")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, make_model_dir, story_texts):
    w = tmp_path_factory.mktemp("bad-features")
    shutil.copytree(make_model_dir("tiny"), w / "model")
    broken_dictionaries(w / "model")
    write_txt(w / "stories.txt", story_texts[:30])
    (w / "bad-utf8.txt").write_bytes(b"Once upon a time \xff\xfe there was a cat.\n<|endoftext|>\n")
    (w / "a-dir").mkdir()
    (w / "users").mkdir()
    (w / "users" / "train_config.json").write_text('{"my": "settings"}\n')
    (w / "users" / "metrics.jsonl").write_text('{"step": 1, "mine": true}\n')
    (w / "users" / "atlas.json").write_text('{"my": "map of the world"}\n')
    return w


def run_refused(workspace: Path, argv: list[str], words: list[str], capsys) -> str:
    return assert_refused(workspace, argv, words, capsys)


def enter_workspace(workspace: Path, monkeypatch, tmp_path: Path) -> Path:
    """Work in ``workspace``, with results about shipped models in a ``runs/`` of the test's own (not in it)."""
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("TINY_INTERP_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-used")
    return workspace


@pytest.fixture
def in_workspace(workspace, monkeypatch, tmp_path):
    return enter_workspace(workspace, monkeypatch, tmp_path)


TRAIN = ["sae", "train", f"{W}/model", "--data", f"{W}/stories.txt", "--latents", "16", "--k", "4"]
TRAIN += ["--batch-tokens", "64", "--tokens", "128", "--buffer-stories", "30", "--max-len", "32"]
EVAL = ["sae", "eval", "--data", f"{W}/stories.txt", "--n-stories", "5"]
ATLAS = ["sae", "atlas", "--data", f"{W}/stories.txt", "--n-stories", "5"]
S = f"{W}/model/saes"

CASES = [
    ("train-unknown-hook", [*TRAIN, "--out", f"{W}/r", "--hook", "blocks.9.hook_mlp_out"], ["--hook", "blocks.9"]),
    ("train-hook-typo", [*TRAIN, "--out", f"{W}/r", "--hook", "blocks.0.hook_mlp_outt"], ["--hook", "hook_mlp_outt"]),
    ("train-device-gpu", [*TRAIN, "--out", f"{W}/r", "--device", "gpu"], ["--device", "gpu"]),
    ("train-device-cuda-x", [*TRAIN, "--out", f"{W}/r", "--device", "cuda:x"], ["--device", "cuda:x"]),
    ("train-nan-lr", [*TRAIN, "--out", f"{W}/r", "--lr", "nan"], ["--lr", "nan"]),
    ("train-huge-k", [*TRAIN, "--out", f"{W}/r", "--k", "99"], ["k must be in 1..latents"]),
    ("train-layer-out-of-range", [*TRAIN, "--out", f"{W}/r", "--arch", "transcoder", "--layers", "7"], ["layers"]),
    ("train-out-is-a-file", [*TRAIN, "--out", f"{W}/stories.txt"], ["stories.txt", "is a file"]),
    (
        "train-missing-model",
        ["sae", "train", f"{W}/nowhere", "--data", f"{W}/stories.txt", "--out", f"{W}/r"],
        ["nowhere"],
    ),
    ("train-model-not-a-model", [*TRAIN[:2], f"{W}/a-dir", *TRAIN[3:], "--out", f"{W}/r"], ["a-dir"]),
    ("train-force-users-config", [*TRAIN, "--out", f"{W}/users", "--force"], ["train_config.json", "not written"]),
    ("train-users-folder", [*TRAIN, "--out", f"{W}/users"], ["users", "--force"]),
    ("train-resume-nothing", [*TRAIN, "--out", f"{W}/a-dir", "--resume"], ["a-dir"]),
    (
        "train-batch-larger-than-data",
        [*TRAIN, "--out", f"{W}/r", "--batch-tokens", "1000000", "--tokens", "2000000"],
        ["--batch-tokens", "not one training step"],
    ),
    ("eval-not-json", [*EVAL, f"{S}/not-json"], ["not-json/cfg.json"]),
    ("eval-wrong-d-in", [*EVAL, f"{S}/wide"], ["sae_weights.safetensors", "d_in 48", "different dictionaries"]),
    ("eval-truncated-weights", [*EVAL, f"{S}/cut"], ["cut/sae_weights.safetensors", "truncated"]),
    ("eval-unknown-dtype", [*EVAL, f"{S}/dtype"], ["dtype", "float8_e4m3"]),
    ("eval-unknown-key", [*EVAL, f"{S}/typo-key"], ["'hook_nmae'", "typo-key/cfg.json", "hook_name"]),
    ("atlas-unknown-key", [*ATLAS, f"{S}/typo-key"], ["'hook_nmae'", "typo-key/cfg.json"]),
    ("eval-other-model-hook", [*EVAL, f"{S}/other-model"], ["blocks.5.hook_mlp_out", "another model"]),
    ("eval-other-model-width", [*EVAL, f"{S}/other-width"], ["64", "another model"]),
    ("eval-negative-stories", [*EVAL[:4], "--n-stories=-3", f"{S}/good"], ["--n-stories", "-3"]),
    ("eval-users-eval-json", [*EVAL, f"{S}/users-eval"], ["users-eval/eval.json", "not written"]),
    ("eval-users-readme", [*EVAL, f"{S}/users-run"], ["users-run/README.md", "not written"]),
    ("eval-missing-dir", [*EVAL, f"{S}/nowhere"], ["nowhere", "does not exist"]),
    ("eval-dir-is-a-file", [*EVAL, f"{W}/stories.txt"], ["stories.txt", "is a file"]),
    ("eval-empty-dir", [*EVAL, f"{W}/a-dir"], ["a-dir", "no dictionary"]),
    ("eval-bad-utf8-data", [*EVAL[:3], f"{W}/bad-utf8.txt", f"{S}/good"], ["bad-utf8.txt", "UTF-8"]),
    ("atlas-negative-stories", [*ATLAS[:4], "--n-stories=-3", f"{S}/good"], ["--n-stories", "-3"]),
    ("atlas-not-json", [*ATLAS, f"{S}/not-json"], ["not-json/cfg.json"]),
    ("atlas-truncated", [*ATLAS, f"{S}/cut"], ["truncated"]),
    ("atlas-other-model", [*ATLAS, f"{S}/other-model"], ["blocks.5.hook_mlp_out", "another model"]),
    ("atlas-other-width", [*ATLAS, f"{S}/other-width"], ["another model"]),
    ("atlas-unknown-dtype", [*ATLAS, f"{S}/dtype"], ["float8_e4m3"]),
    ("atlas-bad-utf8", [*ATLAS[:3], f"{W}/bad-utf8.txt", f"{S}/good"], ["bad-utf8.txt", "UTF-8"]),
    ("atlas-missing-data", [*ATLAS[:3], f"{W}/nowhere.txt", f"{S}/good"], ["nowhere.txt"]),
    ("atlas-dir-is-a-file", [*ATLAS, f"{W}/stories.txt"], ["stories.txt", "is a file"]),
]
NEURON_ATLAS = ["atlas", f"{W}/model", "--stories", f"{W}/stories.txt", "--out", f"{W}/na"]
CASES += [
    ("neuron-atlas-device-gpu", [*NEURON_ATLAS, "--device", "gpu"], ["--device", "gpu"]),
    ("neuron-atlas-negative-stories", [*NEURON_ATLAS, "--n-stories=-3"], ["--n-stories", "-3"]),
    ("neuron-atlas-bad-show", [*NEURON_ATLAS, "--show", "1:x"], ["--show", "1:x"]),
    ("neuron-atlas-out-is-a-file", [*NEURON_ATLAS[:-1], f"{W}/stories.txt"], ["stories.txt", "is a file"]),
    ("neuron-atlas-users-folder", [*NEURON_ATLAS[:-1], f"{W}/users"], ["users", "--force"]),
    (
        "neuron-atlas-force-over-users-atlas-json",
        [*NEURON_ATLAS[:-1], f"{W}/users", "--force"],
        ["users/atlas.json", "not written"],
    ),
    ("neuron-atlas-bad-utf8", [*NEURON_ATLAS[:3], f"{W}/bad-utf8.txt", *NEURON_ATLAS[4:]], ["bad-utf8.txt", "UTF-8"]),
]
if not torch.cuda.is_available():
    CASES.append(("train-cuda-on-cpu", [*TRAIN, "--out", f"{W}/r", "--device", "cuda"], ["--device cuda", "CUDA"]))
    CASES.append(("neuron-atlas-cuda-on-cpu", [*NEURON_ATLAS, "--device", "cuda"], ["--device cuda", "CUDA"]))


@pytest.mark.parametrize("argv, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_dictionary_input_is_one_line_exit_2_and_changes_nothing(in_workspace, argv, words, capsys):
    run_refused(in_workspace, argv, words, capsys)


def test_a_live_writer_makes_a_second_one_and_a_resume_refuse_naming_its_pid(in_workspace, capsys):
    """The lock is held here (as a live ``sae train`` holds it); a second writer, a --resume and an atlas build of
    a locked atlas refuse at once, naming this process."""
    run = in_workspace / "live-run"
    run.mkdir()
    atlas = in_workspace / "model" / "saes" / "good" / "atlas"
    with exclusive_lock(lock_path(run, "sae-run"), "test"), exclusive_lock(lock_path(atlas, "atlas"), "test"):
        for extra in ([], ["--resume"], ["--force"]):
            line = run_refused(in_workspace, [*TRAIN, "--out", str(run), *extra], ["pid", str(os.getpid())], capsys)
            assert "being written by another process" in line
        run_refused(in_workspace, [*ATLAS, f"{S}/good"], ["feature atlas", f"pid {os.getpid()}"], capsys)
    shutil.rmtree(run)
    shutil.rmtree(atlas)


def test_a_refused_zero_step_run_leaves_no_folder_behind(in_workspace, capsys):
    run_refused(in_workspace, [*TRAIN, "--out", f"{W}/zero", "--batch-tokens", "99999"], ["--batch-tokens"], capsys)
    assert not (in_workspace / "zero").exists()


def test_feature_explorer_refuses_blocks_and_features_it_does_not_have(in_workspace):
    from tiny_interp.features.feature_atlas import build_feature_atlas
    from tiny_interp.widgets.features import FeatureExplorer, export_features

    run = in_workspace / "model" / "saes" / "good"
    atlas = build_feature_atlas(run, in_workspace / "stories.txt", n_stories=6, progress=False, max_len=32)
    try:
        with pytest.raises(ConfigError, match=r"block 2 is out of range: this atlas has blocks 0\.\.0"):
            FeatureExplorer(run, block=2)
        with pytest.raises(ConfigError, match=r"feature 1000000 is out of range: .* features 0\.\.15"):
            FeatureExplorer(run, feature=10**6)
        with pytest.raises(ConfigError, match="feature -1 is out of range"):
            export_features(in_workspace / "page.html", atlas, [(0, -1)])
        assert not (in_workspace / "page.html").exists()
    finally:
        shutil.rmtree(atlas.path)


def test_force_replaces_only_the_runs_own_files_and_eval_claims_its_own(in_workspace, capsys):
    """A run's second start with --force replaces its files and leaves the user's note beside them; ``sae eval``
    writes its eval.json and card as its own, and a rerun replaces them."""
    from tiny_interp.ownership import manifest

    run = in_workspace / "own-run"
    argv = [a.replace(W, str(in_workspace)) for a in [*TRAIN, "--out", str(run)]]
    assert main(argv) == 0
    assert {"train_config.json", "metrics.jsonl", HOOK} <= (manifest(run, "sae-run") or set())
    (run / "notes.md").write_text("mine\n")
    assert main([*argv, "--force"]) == 0
    assert (run / "notes.md").read_text() == "mine\n" and (run / HOOK / "cfg.json").is_file()
    ev = [a.replace(W, str(in_workspace)) for a in [*EVAL, str(run)]]
    assert main(ev) == 0 and main(ev) == 0  # the second run replaces the files the first one claimed
    assert manifest(run / HOOK, "sae-eval") == {"eval.json"}
    capsys.readouterr()
    shutil.rmtree(run)


def test_a_shipped_models_dictionaries_stay_as_shipped(in_workspace, tmp_path, capsys):
    """``sae eval`` and ``sae atlas`` of a shipped model's dictionaries (a model with a card) write under runs/;
    the readers find the atlas there; the shipped folder is byte for byte as it was."""
    from tiny_interp.features.feature_atlas import FeatureAtlas

    shipped = tmp_path / "shipped"
    shutil.copytree(in_workspace / "model", shipped, ignore=shutil.ignore_patterns("saes"))
    save_sae(shipped / "saes" / "sae0")
    (shipped / "card_config.json").write_text('{"name": "shipped"}\n')
    before = snapshot(shipped)
    stories = str(in_workspace / "stories.txt")
    assert main(["sae", "eval", str(shipped / "saes"), "--data", stories, "--n-stories", "4"]) == 0
    assert main(["sae", "atlas", str(shipped / "saes"), "--data", stories, "--n-stories", "4"]) == 0
    assert snapshot(shipped) == before
    home = tmp_path / "runs" / "shipped" / "saes"
    assert (home / "sae0" / "eval.json").is_file() and (home / "atlas" / "atlas.json").is_file()
    atlas = FeatureAtlas.open(shipped / "saes")
    assert atlas.path == home / "atlas" and atlas.run_dir == (shipped / "saes").resolve()
    assert len(atlas.dictionaries()) == 1
    capsys.readouterr()


def test_sae_config_reads_the_keys_saelens_writes_and_refuses_others(tmp_path):
    """SAELens 6.54's cfg.json keys (its inference and training config fields) open; any other key is refused."""
    cfg = json.loads((save_sae(tmp_path / "d") / "cfg.json").read_text())
    saelens = {"reshape_activations": "none", "rescale_acts_by_decoder_norm": False, "decoder_init_norm": 0.1}
    assert SAEConfig.from_dict({**cfg, **saelens}).hook_name == HOOK
    with pytest.raises(ConfigError, match=r"'d_insae'.*in .*cfg\.json"):
        SAEConfig.from_dict({**cfg, "d_insae": 3}, tmp_path / "d" / "cfg.json")
