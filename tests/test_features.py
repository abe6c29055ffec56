"""Sparse dictionaries: training (every architecture, resume after SIGKILL), evaluation spliced through the hook
seam, the CLI and the feature atlas, on real tiny models and real stories."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tiny_interp.cli import main as cli_main
from tiny_interp.features import SAE, SAEConfig, load_sae
from tiny_interp.features.config import SAETrainConfig
from tiny_interp.features.evaluate import evaluate
from tiny_interp.features.trainer import Trainer
from tiny_interp.model.checkpoint import load_tinylm, load_tokenizer

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(
    latents=64,
    k=4,
    tokens=256 * 12,
    batch_tokens=256,
    buffer_stories=48,
    model_batch=16,
    max_len=64,
    warmup_steps=2,
    save_every=4,
    log_every=2,
    dead_tokens=512,
    aux_k=8,
)


def _train(model, data, out, **kw) -> list[Path]:
    cfg = SAETrainConfig(**{**SMALL, **kw})
    return Trainer(model, data, out, cfg, progress=False).run()


@pytest.mark.parametrize("arch", ["topk", "batchtopk", "jumprelu", "standard"])
def test_every_sae_architecture_trains_and_saves_in_saelens_layout(arch, make_model_dir, story_files, tmp_path):
    model = make_model_dir("tiny")
    (d,) = _train(model, story_files[0], tmp_path / "run", architecture=arch, hooks=("blocks.1.hook_resid_post",))
    cfg = json.loads((d / "cfg.json").read_text())
    # SAELens' names: BatchTopK is saved as its inference form, a JumpReLU with the learned threshold
    assert cfg["architecture"] == {"batchtopk": "jumprelu"}.get(arch, arch) and cfg["d_in"] == 32 and cfg["d_sae"] == 64
    assert cfg["hook_name"] == "blocks.1.hook_resid_post"
    weights = load_file(d / "sae_weights.safetensors")
    assert weights["W_enc"].shape == (32, 64) and weights["W_dec"].shape == (64, 32)
    assert ("threshold" in weights) == (arch in ("jumprelu", "batchtopk"))
    assert torch.allclose(weights["W_dec"].norm(dim=1), torch.ones(64), atol=1e-4)  # unit-norm decoder rows
    rec = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rec] == [2, 4, 6, 8, 10, 12]
    first, last = rec[0]["blocks.1.hook_resid_post"]["fvu"], rec[-1]["blocks.1.hook_resid_post"]["fvu"]
    assert last < first  # it learns
    saved = json.loads((d / "train_config.json").read_text())
    assert saved["config"]["architecture"] == arch and saved["tokens"] == 256 * 12
    assert not (tmp_path / "run" / "resume.safetensors").exists()
    sae = load_sae(d)
    x = torch.randn(5, 32)
    assert sae.encode(x).shape == (5, 64) and sae(x).shape == (5, 32)


@pytest.mark.parametrize("arch", ["topk", "transcoder"])
def test_bf16_autocast_training_learns_with_float32_weights(arch, make_model_dir, story_files, tmp_path):
    """--precision bf16 (the CUDA setting, runnable on any CPU) trains through autocast: the forward and encoder
    products in bfloat16, the weights, Adam and the saved file in float32, and dead latents still reached by AuxK."""
    model = make_model_dir("tiny")
    dirs = _train(
        model,
        story_files[0],
        tmp_path / "run",
        architecture=arch,
        precision="bf16",
        dead_tokens=256,
        layers=(1,) if arch == "transcoder" else (),
    )
    rec = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    name = dirs[0].name
    assert rec[-1][name]["fvu"] < rec[0][name]["fvu"]
    assert all(v.dtype == torch.float32 for v in load_file(dirs[0] / "sae_weights.safetensors").values())


def test_transcoders_for_every_layer_in_one_pass_and_all_spliced_at_once(make_model_dir, story_files, tmp_path):
    model = make_model_dir("tiny")
    dirs = _train(model, story_files[0], tmp_path / "tc", architecture="transcoder", skip=True)
    assert [d.name for d in dirs] == ["blocks.0.transcoder", "blocks.1.transcoder"]
    sae = load_sae(dirs[1])
    assert sae.cfg.hook_name == "blocks.1.ln2.hook_normalized" and sae.cfg.out_hook == "blocks.1.hook_mlp_out"
    assert sae.W_skip is not None and sae.W_skip.abs().sum() > 0
    net, tok = load_tinylm(model), load_tokenizer(model)
    stories = story_files[1].read_text().split("<|endoftext|>")[:20]
    r = evaluate(net, tok, [load_sae(d) for d in dirs], [s for s in stories if s.strip()])
    (group,) = r["spliced"]
    assert group["hooks"] == ["blocks.0.hook_mlp_out", "blocks.1.hook_mlp_out"]
    assert group["kl"] > 0 and group["ce_zero_ablated"] != group["ce_spliced"]
    assert set(r["dictionaries"]) == {"blocks.0.hook_mlp_out", "blocks.1.hook_mlp_out"}


def _identity_sae(d: int, hook: str) -> SAE:
    """relu(x) - relu(-x) = x: a 'dictionary' that reconstructs exactly, so splicing it must change nothing."""
    sae = SAE(SAEConfig(architecture="standard", d_in=d, d_sae=2 * d, hook_name=hook))
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], 1))
        sae.W_dec.copy_(torch.cat([eye, -eye], 0))
        sae.b_enc.zero_(), sae.b_dec.zero_()
    return sae


def test_exact_reconstruction_recovers_all_of_the_loss(story_texts):
    model = REPO / "trained_models" / "ts-1L"  # a trained model: zero-ablating its MLP costs a lot of loss
    net, tok = load_tinylm(model), load_tokenizer(model)
    r = evaluate(net, tok, [_identity_sae(256, "blocks.0.hook_mlp_out")], story_texts[:6])
    (group,) = r["spliced"]
    assert group["ce_loss_recovered"] == pytest.approx(1.0, abs=1e-5)
    assert group["kl"] == pytest.approx(0.0, abs=1e-6)
    assert group["ce_zero_ablated"] > r["ce_clean"]
    m = r["dictionaries"]["blocks.0.hook_mlp_out"]
    assert m["explained_variance"] == pytest.approx(1.0, abs=1e-5) and 0 < m["l0"] <= 512


def _cli(*args: str, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tiny_interp.cli", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_sigkilled_run_resumes_to_the_same_weights(make_model_dir, story_files, tmp_path):
    model = make_model_dir("tiny")
    args = [
        "sae",
        "train",
        str(model),
        "--data",
        str(story_files[0]),
        "--hook",
        "blocks.0.hook_mlp_out",
        "--latents",
        "64",
        "--k",
        "4",
        "--tokens",
        str(256 * 16),
        "--batch-tokens",
        "256",
        "--buffer-stories",
        "48",
        "--model-batch",
        "16",
        "--max-len",
        "64",
        "--save-every",
        "3",
        "--log-every",
        "1",
    ]
    whole = _cli(*args, "--out", str(tmp_path / "whole"))
    assert whole.wait(timeout=300) == 0, whole.stderr.read()
    killed = _cli(*args, "--out", str(tmp_path / "cut"))
    state = tmp_path / "cut" / "resume.safetensors"
    deadline = time.time() + 300
    while not state.exists() and killed.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert state.exists()
    again = _cli(*args, "--out", str(tmp_path / "cut"))
    assert again.wait(timeout=60) == 2 and "--resume" in again.stderr.read()  # refuses to restart silently
    resumed = _cli(*args, "--out", str(tmp_path / "cut"), "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    a = load_file(tmp_path / "whole" / "blocks.0.hook_mlp_out" / "sae_weights.safetensors")
    b = load_file(tmp_path / "cut" / "blocks.0.hook_mlp_out" / "sae_weights.safetensors")
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)
    steps = [json.loads(l)["step"] for l in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 17))  # every step logged once


@pytest.mark.parametrize(
    "bad, message",
    [
        (["--k", "0"], "--k: 0 is out of range"),
        (["--latents", "-4"], "--latents: -4 is out of range"),
        (["--lr", "nan"], "not a finite number"),
        (["--arch", "nope"], "invalid choice: 'nope'"),
        (["--layers", "x"], "comma-separated int"),
        (["--k", "5000", "--latents", "64"], "k must be in 1..latents (64)"),
    ],
)
def test_bad_training_values_end_in_one_line(bad, message, make_model_dir, story_files, tmp_path, capsys):
    argv = [
        "sae",
        "train",
        str(make_model_dir("tiny")),
        "--data",
        str(story_files[0]),
        "--out",
        str(tmp_path / "o"),
        *bad,
    ]
    try:
        code = cli_main(argv)
    except SystemExit as e:  # argparse's own checks (ranges, choices, types) exit from the parser
        code = e.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1 and err.startswith("error:"), err
    assert not (tmp_path / "o").exists()


def test_training_refuses_a_foreign_directory(make_model_dir, story_files, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code = cli_main(["sae", "train", str(make_model_dir("tiny")), "--data", str(story_files[0]), "--out", str(out)])
    assert code == 2 and "holds files tiny-interp did not write" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me" and sorted(p.name for p in out.iterdir()) == ["notes.txt"]


@pytest.fixture(scope="module")
def feature_run(make_model_dir, story_files, tmp_path_factory):
    """Transcoders of every layer of a tiny model, and their feature atlas."""
    from tiny_interp.features.feature_atlas import build_feature_atlas

    model = make_model_dir("tiny")
    run = tmp_path_factory.mktemp("features") / "saes"
    _train(model, story_files[0], run, architecture="transcoder", latents=48)
    atlas = build_feature_atlas(run, story_files[1], n_stories=30, progress=False, max_len=64, batch_size=8)
    return model, run, atlas


def test_feature_atlas_examples_logits_and_queries(feature_run):
    model, run, atlas = feature_run
    assert (run / "atlas" / "atlas.json").is_file() and atlas.meta["unit_kind"] == "feature"
    assert (atlas.n_layers, atlas.d_mlp) == (2, 48)
    fired = atlas.stats().query("frac_active > 0").iloc[0]
    top = atlas.top_examples(int(fired.layer), int(fired.neuron), n=3)
    assert len(top) == 3 and top.activation.is_monotonic_decreasing and "[[" in top.context[0]
    logits = atlas.logit_effects(0, 5)
    assert list(logits.sign) == ["+"] * 10 + ["-"] * 10
    assert logits.effect[:10].min() >= logits.effect[10:].max()
    # the stored effects are the decoder direction through the final norm's gain and the unembedding
    from tiny_interp.features.feature_atlas import decoder_logit_effects

    net = load_tinylm(model)
    with torch.no_grad():
        effects = decoder_logit_effects(net, atlas.dictionaries()[0].W_dec)[5]
    assert logits.token_id[0] == int(effects.argmax()) and logits.effect[0] == pytest.approx(
        float(effects.max()), rel=1e-2
    )
    near = atlas.nearest(1, 3, n=4)
    assert len(near) == 4 and 3 not in set(near.feature) and near.cosine.is_monotonic_decreasing
    tok = atlas.top_examples(int(fired.layer), int(fired.neuron), n=1).token[0]
    found = atlas.features_for_token(int(atlas.tokenizer(tok, add_special_tokens=False)["input_ids"][0]), n=3)
    assert {"dictionary", "feature", "selectivity"} <= set(found.columns)


def test_feature_page_export_live_text_and_steering(feature_run, tmp_path):
    import gzip

    from tiny_interp.widgets.features import FeatureExplorer, export_features, steer

    model, run, atlas = feature_run
    chosen = [(b, f) for b in range(2) for f in range(10)]
    page = export_features(tmp_path / "features.html", atlas, chosen)
    html = page.read_text()
    assert "tinyInterpFeatures" in html and html.count('type="application/json"') == 1
    base = export_features(tmp_path / "one.html", atlas, chosen[:1]).read_bytes()
    per_feature = (len(gzip.compress(page.read_bytes())) - len(gzip.compress(base))) / (len(chosen) - 1)
    assert per_feature <= 5 * 1024, per_feature

    ex = FeatureExplorer(run, block=1, feature=2, text="Once upon a time, Tom saw a big dog.")
    d = ex.data()
    assert d["kind"] == "feature" and "".join(d["live"]["tokens"][1:]) == "Once upon a time, Tom saw a big dog."
    assert len(d["live"]["acts"]) == len(d["live"]["tokens"]) == len(d["live"]["top"])
    saes = atlas.dictionaries()
    result = steer(ex.net, ex.tokenizer, saes[1], 2, "Once upon a time", value=200.0, max_new_tokens=12)
    assert result["steered"] != result["unsteered"]
    again = steer(ex.net, ex.tokenizer, saes[1], 2, "Once upon a time", value=0.0, max_new_tokens=12)
    assert again["steered"] == again["unsteered"]  # adding nothing changes nothing (same seed)
    assert "tinyInterpFeatures" in ex.to_html()
