"""Our dictionary files against SAELens 6's own loader and writer, both ways, for every architecture (transcoders
with and without skip terms included), and the shipped dictionaries on real activations. Runs in the peers
environment (`make test-peers`); elsewhere skipped, and in CI a missing SAELens fails (tests/peers.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import REPO, TINYSTORIES, read_shared_stories
from peers import need

from tiny_interp.features import SAE, SAEConfig, load_sae
from tiny_interp.features.kinds import SAELENS_ARCHITECTURES

SHIPPED = REPO / "trained_models"
# (our kind, latent activation, skip term)
KINDS = [
    ("standard", "relu", False),
    ("topk", "relu", False),
    ("jumprelu", "relu", False),
    ("batchtopk", "relu", False),
    ("transcoder", "relu", False),
    ("transcoder", "relu", True),
    ("transcoder", "jumprelu", False),
    ("transcoder", "jumprelu", True),
]


def random_dictionary(kind: str, activation: str, skip: bool, d_in: int = 32, d_sae: int = 96) -> SAE:
    transcoder = kind == "transcoder"
    sae = SAE(
        SAEConfig(
            architecture=kind,
            d_in=d_in,
            d_sae=d_sae,
            hook_name="blocks.0.ln2.hook_normalized" if transcoder else "blocks.0.hook_mlp_out",
            hook_name_out="blocks.0.hook_mlp_out" if transcoder else None,
            d_out=d_in if transcoder else None,
            k=8 if kind in ("topk", "batchtopk") or activation == "topk" else None,
            activation=activation,
            apply_b_dec_to_input=not transcoder,
        )
    )
    if skip:
        sae.add_skip()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in sae.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
        if sae.threshold is not None:
            sae.threshold.copy_(0.05 + 0.1 * torch.rand(d_sae, generator=g))
    return sae


def assert_same_maths(theirs, ours: SAE, x: torch.Tensor, tol: float = 1e-5) -> torch.Tensor:
    """encode, decode (the latents' part) and forward (skip term included) equal to ``tol``."""
    with torch.no_grad():
        f = ours.encode(x)
        torch.testing.assert_close(theirs.encode(x), f, rtol=tol, atol=tol)
        torch.testing.assert_close(theirs.decode(f), ours.decode(f), rtol=tol, atol=tol)
        torch.testing.assert_close(theirs(x), ours(x), rtol=tol, atol=tol)
    return f


@pytest.mark.parametrize("kind, activation, skip", KINDS)
def test_saelens_loader_opens_our_files_and_computes_alike(kind, activation, skip, tmp_path):
    sae_lens = need("sae_lens")
    ours = random_dictionary(kind, activation, skip)
    directory = ours.save(tmp_path / "d")
    cfg = json.loads((directory / "cfg.json").read_text())
    assert cfg["architecture"] in SAELENS_ARCHITECTURES and "activation" not in cfg
    theirs = sae_lens.SAE.load_from_disk(str(directory), device="cpu")
    assert (
        type(theirs).__name__
        == {
            "standard": "StandardSAE",
            "topk": "TopKSAE",
            "jumprelu": "JumpReLUSAE",
            "transcoder": "Transcoder",
            "skip_transcoder": "SkipTranscoder",
            "jumprelu_transcoder": "JumpReLUTranscoder",
            "jumprelu_skip_transcoder": "JumpReLUSkipTranscoder",
        }[cfg["architecture"]]
    )
    if kind == "transcoder":  # the peers' names for the MLP's input and output
        assert theirs.cfg.metadata.hook_name == "blocks.0.mlp.hook_in"
        assert theirs.cfg.metadata.hook_name_out == "blocks.0.mlp.hook_out"
    x = torch.randn(64, 32, generator=torch.Generator().manual_seed(4))
    f = assert_same_maths(theirs, load_sae(directory), x)
    assert (f > 0).any()


TC = {"d_out": 24, "apply_b_dec_to_input": False}
SAELENS_CLASSES = [
    ("StandardSAE", {}),
    ("TopKSAE", {"k": 8}),
    ("JumpReLUSAE", {}),
    ("Transcoder", TC),
    ("SkipTranscoder", TC),
    ("JumpReLUTranscoder", TC),
    ("JumpReLUSkipTranscoder", TC),
]


@pytest.mark.parametrize("cls, extra", SAELENS_CLASSES, ids=[c for c, _ in SAELENS_CLASSES])
def test_load_sae_opens_files_saelens_wrote(cls, extra, tmp_path):
    sae_lens = need("sae_lens")
    config = getattr(sae_lens, f"{cls}Config")(d_in=32, d_sae=96, **extra)
    if "d_out" in extra:  # what SAELens' transcoder training records of the points it reads and writes
        config.metadata.hook_name, config.metadata.hook_name_out = "blocks.0.mlp.hook_in", "blocks.0.mlp.hook_out"
    theirs = getattr(sae_lens, cls)(config)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(0.05 * torch.randn_like(p))
    theirs.save_model(str(tmp_path / cls))
    ours = load_sae(tmp_path / cls)
    assert ours.cfg.out_dim == extra.get("d_out", 32) and (ours.W_skip is not None) == ("Skip" in cls)
    assert_same_maths(theirs.eval(), ours, torch.randn(40, 32))


def shipped_dirs() -> list[Path]:
    return sorted(p.parent for p in SHIPPED.glob("*/saes/*/cfg.json"))


def real_inputs(model_dir: Path, sae: SAE, n_stories: int = 12) -> torch.Tensor:
    """The dictionary's input activations on real held-out stories."""
    from tiny_interp.features.calibrate import calibration_activations
    from tiny_interp.model.checkpoint import load_tinylm, load_tokenizer

    stories = read_shared_stories("valid.txt", n_stories)
    ((x, _),) = calibration_activations(load_tinylm(model_dir), load_tokenizer(model_dir), [sae], stories, 256)
    return x


@pytest.mark.skipif(not (TINYSTORIES / "valid.txt").exists(), reason="needs ../shared/data/tinystories")
@pytest.mark.parametrize("directory", shipped_dirs(), ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_every_shipped_dictionary_opens_in_saelens_and_encodes_as_we_do(directory):
    sae_lens = need("sae_lens")
    cfg = json.loads((directory / "cfg.json").read_text())
    assert cfg["architecture"] in SAELENS_ARCHITECTURES
    theirs = sae_lens.SAE.load_from_disk(str(directory), device="cpu", dtype="float32")
    ours = load_sae(directory)
    x = real_inputs(directory.parents[1], ours)
    f = assert_same_maths(theirs, ours, x)
    assert 1 <= float((f > 0).sum(-1).float().mean()) <= 24


def test_topk_transcoders_open_here_and_saelens_refuses_them_by_name(tmp_path):
    sae_lens = need("sae_lens")
    ours = random_dictionary("transcoder", "topk", True)
    directory = ours.save(tmp_path / "topk")
    assert json.loads((directory / "cfg.json").read_text())["architecture"] == "topk_skip_transcoder"
    with pytest.raises(KeyError, match="topk_skip_transcoder"):
        sae_lens.SAE.load_from_disk(str(directory), device="cpu")
    x = torch.randn(10, 32)
    with torch.no_grad():
        assert torch.equal(load_sae(directory)(x), ours(x))
