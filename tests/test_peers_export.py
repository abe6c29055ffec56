"""`tiny-interp sae export`: the peers' layouts written from our files (no peer needed to run these; the peers'
own loaders read the results in test_saelens_compat.py and test_peers_circuit_tracer.py), older files still open,
and TopK transcoders refused by name."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import REPO
from safetensors.torch import load_file, save_file
from test_saelens_compat import random_dictionary

from tiny_interp.cli import main as cli_main
from tiny_interp.features.hook_names import file_hook, model_hook
from tiny_interp.features.sae import load_sae

SAES = REPO / "trained_models" / "ts-1M-neo" / "saes"


def test_circuit_tracer_export_of_the_shipped_transcoders(tmp_path, capsys):
    assert cli_main(["sae", "export", str(SAES), "--format", "circuit-tracer", "--out", str(tmp_path / "ct")]) == 0
    assert "opens natively in: SAELens, circuit-tracer" in capsys.readouterr().out
    config = (tmp_path / "ct" / "config.yaml").read_text()
    assert "model_kind: transcoder_set" in config and 'feature_input_hook: "mlp.hook_in"' in config
    assert 'feature_output_hook: "mlp.hook_out"' in config and str(tmp_path) not in config  # relative names only
    ours = load_sae(SAES / "blocks.3.transcoder")
    layer = load_file(tmp_path / "ct" / "layer_3.safetensors")
    assert torch.equal(layer["W_enc"], ours.W_enc.detach().T) and torch.equal(layer["W_skip"], ours.W_skip.detach())
    assert torch.equal(layer["activation_function.threshold"], ours.threshold.detach())
    # a second export into its own output is allowed; into a folder of the user's files it is not
    assert cli_main(["sae", "export", str(SAES), "--format", "circuit-tracer", "--out", str(tmp_path / "ct")]) == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert cli_main(["sae", "export", str(SAES), "--format", "saelens", "--out", str(tmp_path / "mine")]) == 2


def test_saelens_export_writes_one_directory_per_dictionary(tmp_path):
    assert cli_main(["sae", "export", str(SAES), "--format", "saelens", "--out", str(tmp_path / "sl")]) == 0
    cfg = json.loads((tmp_path / "sl" / "blocks.0.transcoder" / "cfg.json").read_text())
    assert cfg["architecture"] == "jumprelu_skip_transcoder" and cfg["hook_name"] == "blocks.0.mlp.hook_in"
    x = torch.randn(20, 64)
    with torch.no_grad():
        torch.testing.assert_close(
            load_sae(tmp_path / "sl" / "blocks.0.transcoder")(x), load_sae(SAES / "blocks.0.transcoder")(x)
        )


def test_topk_transcoders_are_refused_with_the_peers_named(tmp_path, capsys):
    random_dictionary("transcoder", "topk", True).save(tmp_path / "tc")
    code = cli_main(["sae", "export", str(tmp_path / "tc"), "--format", "saelens", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "topk_skip_transcoder opens in tiny-interp only" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_older_topk_transcoder_files_still_open(tmp_path):
    """Before the names followed SAELens: "architecture": "transcoder" with "activation": "topk", hooks named by
    the model, W_skip stored [d_in, d_out] and applied x @ W_skip."""
    new = random_dictionary("transcoder", "topk", True)
    d = tmp_path / "old"
    d.mkdir()
    cfg = {**new.cfg.to_dict(), "architecture": "transcoder", "activation": "topk"}
    (d / "cfg.json").write_text(json.dumps(cfg))
    state = {k: v.detach().clone() for k, v in new.state_dict().items()}
    state["W_skip"] = state["W_skip"].T.contiguous()
    save_file(state, d / "sae_weights.safetensors")
    old = load_sae(d)
    x = torch.randn(10, 32)
    with torch.no_grad():
        torch.testing.assert_close(old(x), new(x))
    assert old.cfg.activation == "topk" and old.cfg.hook_name == "blocks.0.ln2.hook_normalized"


@pytest.mark.parametrize(
    "ours, theirs",
    [("blocks.4.ln2.hook_normalized", "blocks.4.mlp.hook_in"), ("blocks.4.hook_mlp_out", "blocks.4.mlp.hook_out")],
)
def test_one_alias_table_both_ways(ours, theirs):
    assert file_hook(ours) == theirs and model_hook(theirs) == ours and model_hook(ours) == ours


def test_topk_transcoder_run_exports_as_calibrated_jumprelu(make_model_dir, story_files, tmp_path, capsys):
    """--calibrate-data converts TopK transcoders on training stories: the JumpReLU copy keeps each latent's firing
    rate on them (so the mean L0 is TopK's k there) and says where it came from."""
    from test_features import _train

    model = make_model_dir("tiny")
    _train(model, story_files[0], tmp_path / "tc", architecture="transcoder", activation="topk", k=4, layers=(1,))
    argv = ["sae", "export", str(tmp_path / "tc"), "--format", "saelens", "--out", str(tmp_path / "o")]
    assert cli_main([*argv, "--calibrate-data", str(story_files[0]), "--calibrate-stories", "40"]) == 0
    assert "opens natively in: SAELens, circuit-tracer" in capsys.readouterr().out
    cfg = json.loads((tmp_path / "o" / "blocks.1.transcoder" / "cfg.json").read_text())
    assert cfg["architecture"] == "jumprelu_skip_transcoder" and cfg["metadata"]["calibration"]["stories"] == 40
    assert str(tmp_path) not in json.dumps(cfg)
    from tiny_interp.data.stories import read_stories
    from tiny_interp.features.calibrate import calibration_activations
    from tiny_interp.model.checkpoint import load_tinylm, load_tokenizer

    net, sae = load_tinylm(model), load_sae(tmp_path / "o" / "blocks.1.transcoder")
    stories = read_stories(story_files[0], 40)
    ((x, _),) = calibration_activations(net, load_tokenizer(model), [sae], stories, net.cfg.n_ctx)
    with torch.no_grad():
        assert float((sae.encode(x) > 0).sum(-1).float().mean()) == pytest.approx(4.0, abs=0.05)
