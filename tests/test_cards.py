"""Shipping a run: fp16 export with snapshots, a model card with measured figures, and a command that reproduces it."""

from __future__ import annotations

import json
import shlex

import pytest
import torch
from conftest import TINYSTORIES, shared_or_skip
from safetensors.torch import load_file

from tiny_interp.cards.command import train_command
from tiny_interp.cards.svg import line_chart
from tiny_interp.cli import main


@pytest.fixture(scope="module")
def shipped(tmp_path_factory, story_files):
    train, valid = story_files
    work = tmp_path_factory.mktemp("ship")
    run = work / "runs" / "toy"
    args = [
        "train",
        "--preset",
        "tiny",
        "--set",
        "n_layers=1",
        "--data",
        str(train),
        "--val-data",
        str(valid),
        "--out",
        str(run),
        "--max-steps",
        "12",
        "--batch-size",
        "4",
        "--seq-len",
        "64",
        "--vocab-size",
        "300",
        "--eval-every",
        "6",
        "--eval-batches",
        "2",
        "--warmup-steps",
        "2",
        "--lr",
        "3e-3",
        "--keep-checkpoints",
        "3",
        "--cache-dir",
        str(work / "cache"),
        "--quiet",
    ]
    assert main(args) == 0
    root = work / "trained_models"
    assert (
        main(
            [
                "ship",
                str(run),
                "--name",
                "toy",
                "--root",
                str(root),
                "--valid-data",
                str(valid),
                "--test-data",
                str(valid),
                "--with-checkpoints",
                "--summary",
                "A toy.",
            ]
        )
        == 0
    )
    return work, run, root / "toy"


def test_export_is_half_precision_and_keeps_snapshots(shipped):
    _, run, out = shipped
    weights = load_file(str(out / "model.safetensors"))
    assert {t.dtype for t in weights.values()} == {torch.float16}
    full = load_file(str(run / "model.safetensors"))
    for k in full:
        assert torch.allclose(weights[k].float(), full[k], atol=1e-2, rtol=1e-2)
    snapshots = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert snapshots == sorted(p.name for p in (run / "checkpoints").iterdir()) and len(snapshots) == 3
    assert (out / "checkpoints" / snapshots[0] / "tokenizer.json").exists()
    import tiny_interp

    tiny_interp.load(out / "checkpoints" / snapshots[0])  # every snapshot opens on its own


def test_card_has_measured_figures_samples_taxonomy_and_command(shipped):
    _, _, out = shipped
    card = (out / "README.md").read_text()
    for section in (
        "## Model",
        "## Data and training",
        "## Bits per byte",
        "## Samples",
        "## Head taxonomy",
        "## Reproduce",
    ):
        assert section in card
    ev = json.loads((out / "tiny_interp.json").read_text())["evaluation"]
    assert 0 < ev["valid_bpb"] < 10 and ev["valid_stories"] == 40
    assert f"| toy (shipped) | {ev['valid_bpb']} |" in card
    assert "TinyStories-1M (paper), val loss converted | 0.74" in card
    assert card.count("> **") == 5  # five samples from the fixed prompts
    assert (out / "loss.svg").read_text().startswith("<svg")


def test_card_command_reproduces_the_run(shipped, tmp_path):
    work, run, out = shipped
    config = json.loads((out / "train_config.json").read_text())
    command = shlex.split(train_command(config, str(tmp_path / "again")))
    assert command[:2] == ["tiny-interp", "train"] and "--set" in command and "n_layers=1" in command
    assert main(command[1:] + ["--cache-dir", str(work / "cache"), "--quiet"]) == 0
    a, b = load_file(str(run / "model.safetensors")), load_file(str(tmp_path / "again" / "model.safetensors"))
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_card_only_keeps_settings_and_figures_and_reads_the_atlas(shipped):
    """A rewrite after building an atlas: same summary and data, stored bits per byte reused, a Neurons section."""
    from tiny_interp.interp import build_atlas

    work, _, out = shipped
    valid = json.loads((out / "card_config.json").read_text())["valid_data"]
    ev_before = json.loads((out / "tiny_interp.json").read_text())["evaluation"]
    build_atlas(out, valid, batch_size=8, max_len=64, top_k=4, progress=False)
    assert main(["ship", "unused", "--name", "toy", "--root", str(out.parent), "--card-only"]) == 0
    card = (out / "README.md").read_text()
    assert "A toy." in card and f"| toy (shipped) | {ev_before['valid_bpb']} |" in card
    assert json.loads((out / "tiny_interp.json").read_text())["evaluation"] == ev_before
    neurons = card.split("## Neurons", 1)[1].split("##", 1)[0]
    tokens = json.loads((out / "atlas" / "atlas.json").read_text())["tokens"]
    assert f"({tokens:,} tokens of 40 validation stories" in neurons
    # the toy 300-token BPE has no whole-word names/verbs/adjectives: the card says so instead of an empty table
    # (one trained on the generated stand-in stories, with their few distinct words, keeps some whole words)
    shared_or_skip(TINYSTORIES / "train.txt", "the card's note on a vocabulary without whole words")
    assert "No word of these classes is a single token" in neurons


def test_line_chart_escapes_labels():
    svg = line_chart({"<loss>": [(1, 2.0), (10, 1.0)]}, "a & b", "x", "y", log_x=True)
    assert "&lt;loss&gt;" in svg and "a &amp; b" in svg and "<polyline" in svg


def test_shipped_1m_atlas_finds_the_papers_neuron_classes():
    """The shipped ts-1M-neo (the paper's 1M shape) has name, action and adjective neurons, as in section 5."""
    from conftest import REPO

    from tiny_interp.cards.card import neuron_summary

    summary = neuron_summary(REPO / "trained_models" / "ts-1M-neo")
    for word_class in ("names", "actions", "adjectives"):
        assert f"| {word_class} | L" in summary
