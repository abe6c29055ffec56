"""Our dictionary files against SAELens' own loader and writer, in the side venv (SAELens 6 needs TransformerLens 3,
which cannot share our environment). Skipped when the side venv is absent: `make saelens-venv` builds it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

from tiny_interp.features import SAE, SAEConfig, load_sae

REPO = Path(__file__).resolve().parents[1]
SIDE = REPO / ".saelens-venv" / "bin" / "python"
pytestmark = pytest.mark.skipif(not SIDE.exists(), reason="no SAELens side venv (make saelens-venv)")

ENCODE = """
import sys, torch
from sae_lens import SAE
sae = SAE.load_from_disk(sys.argv[1], device="cpu")
x = torch.load(sys.argv[2])
with torch.no_grad():
    torch.save({"f": sae.encode(x), "recon": sae.decode(sae.encode(x))}, sys.argv[3])
"""
WRITE = """
import sys, torch
from sae_lens import {cls}, {cls}Config
torch.manual_seed(0)
sae = {cls}({cls}Config(d_in=32, d_sae=96{extra}))
with torch.no_grad():
    for p in sae.parameters():
        p.add_(0.05 * torch.randn_like(p))
sae.save_model(sys.argv[1])
"""


def _side(code: str, *args: str) -> None:
    out = subprocess.run([str(SIDE), "-c", code, *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]


def _ours(arch: str, tmp_path: Path) -> Path:
    sae = SAE(
        SAEConfig(
            architecture=arch,
            d_in=32,
            d_sae=96,
            hook_name="blocks.0.hook_mlp_out",
            k=8 if arch == "topk" else None,
            apply_b_dec_to_input=True,
        )
    )
    with torch.no_grad():
        for p in sae.parameters():
            p.add_(0.05 * torch.randn_like(p))
        if sae.threshold is not None:
            sae.threshold.fill_(0.1)
    return sae.save(tmp_path / arch)


@pytest.mark.parametrize("arch", ["topk", "jumprelu", "standard"])
def test_saelens_loader_reads_our_files_and_encodes_alike(arch, tmp_path):
    torch.manual_seed(1)
    directory = _ours(arch, tmp_path)
    x = torch.randn(50, 32)
    torch.save(x, tmp_path / "x.pt")
    _side(ENCODE, str(directory), str(tmp_path / "x.pt"), str(tmp_path / "theirs.pt"))
    theirs = torch.load(tmp_path / "theirs.pt")
    ours = load_sae(directory)
    with torch.no_grad():
        f = ours.encode(x)
        torch.testing.assert_close(theirs["f"], f, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(theirs["recon"], ours.decode(f), rtol=1e-5, atol=1e-5)
    assert (f > 0).any()


@pytest.mark.parametrize("cls, extra", [("TopKSAE", ", k=8"), ("JumpReLUSAE", ""), ("StandardSAE", "")])
def test_load_sae_opens_saelens_files(cls, extra, tmp_path):
    directory = tmp_path / cls
    _side(WRITE.format(cls=cls, extra=extra), str(directory))
    ours = load_sae(directory)
    x = torch.randn(40, 32)
    torch.save(x, tmp_path / "x.pt")
    _side(ENCODE, str(directory), str(tmp_path / "x.pt"), str(tmp_path / "theirs.pt"))
    with torch.no_grad():
        torch.testing.assert_close(torch.load(tmp_path / "theirs.pt")["f"], ours.encode(x), rtol=1e-5, atol=1e-5)
    assert json.loads((directory / "cfg.json").read_text())["d_sae"] == 96


def test_saelens_reads_the_shipped_float16_sae(tmp_path):
    directory = REPO / "trained_models" / "ts-1L" / "saes" / "blocks.0.hook_mlp_out"
    x = 0.5 * torch.randn(30, 256)
    torch.save(x, tmp_path / "x.pt")
    _side(ENCODE, str(directory), str(tmp_path / "x.pt"), str(tmp_path / "theirs.pt"))
    with torch.no_grad():
        ours = load_sae(directory).encode(x)
    torch.testing.assert_close(torch.load(tmp_path / "theirs.pt")["f"], ours, rtol=1e-4, atol=1e-4)
    assert int((ours > 0).sum(-1).max()) == 16
