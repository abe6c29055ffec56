"""The oneDNN CPU kernel of ``Linear`` and the trainer's choice of it: same values and gradients as ``nn.Linear``
(float32 rounding apart), PyTorch's own path wherever oneDNN does not apply, and clear refusals."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from test_train import small_run_args
from torch import nn

from tiny_interp.errors import ConfigError
from tiny_interp.model import TinyLM, get_preset
from tiny_interp.model.checkpoint import META_FILE
from tiny_interp.model.linear import Linear, onednn_available, use_gemm
from tiny_interp.train import hardware
from tiny_interp.train.config import TrainConfig

needs_onednn = pytest.mark.skipif(not onednn_available(), reason="this PyTorch build has no oneDNN")


def _pair(d_in: int, d_out: int, bias: bool) -> tuple[Linear, nn.Linear]:
    torch.manual_seed(0)
    fast = Linear(d_in, d_out, bias=bias)
    plain = nn.Linear(d_in, d_out, bias=bias)
    plain.load_state_dict(fast.state_dict())
    use_gemm(fast, "onednn")
    return fast, plain


@needs_onednn
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(7, 48), (3, 5, 48), (2, 3, 4, 48)])
def test_onednn_linear_matches_nn_linear_values_and_gradients(bias, shape):
    fast, plain = _pair(48, 80, bias)
    x = torch.randn(*shape)
    x_fast, x_plain = x.clone().requires_grad_(), x.clone().requires_grad_()
    grad_out = torch.randn(*shape[:-1], 80)
    y_fast, y_plain = fast(x_fast), plain(x_plain)
    assert y_fast.shape == y_plain.shape
    torch.testing.assert_close(y_fast, y_plain, rtol=1e-5, atol=1e-5)
    assert y_fast.grad_fn is not None and "OneDNN" in type(y_fast.grad_fn).__name__  # the oneDNN path ran
    y_fast.backward(grad_out)
    y_plain.backward(grad_out)
    torch.testing.assert_close(x_fast.grad, x_plain.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast.weight.grad, plain.weight.grad, rtol=1e-5, atol=1e-5)
    if bias:
        torch.testing.assert_close(fast.bias.grad, plain.bias.grad, rtol=1e-5, atol=1e-5)


@needs_onednn
def test_onednn_linear_takes_strided_inputs_and_frozen_weights():
    fast, plain = _pair(32, 16, True)
    x = torch.randn(32, 10).t()  # a transposed (column-major) view
    fast.weight.requires_grad_(False)
    torch.testing.assert_close(fast(x), plain(x), rtol=1e-5, atol=1e-5)
    x_grad = x.detach().clone().requires_grad_()
    fast(x_grad).sum().backward()
    assert fast.weight.grad is None and x_grad.grad is not None and fast.bias.grad is not None


@needs_onednn
def test_non_float32_and_autocast_take_pytorch_path():
    fast, plain = _pair(32, 16, True)
    x = torch.randn(4, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = fast(x)
        assert y.dtype == torch.bfloat16
        assert torch.equal(y, plain(x))
    fast64, plain64 = fast.double(), plain.double()
    assert torch.equal(fast64(x.double()), plain64(x.double()))


@needs_onednn
def test_training_steps_on_onednn_follow_the_aten_run():
    """Five AdamW steps of the tied-embedding gpt-neo and the llama shapes: the losses agree to float32 rounding."""
    for preset in ("tiny", "tiny-llama"):
        losses = {}
        for gemm in ("aten", "onednn"):
            torch.manual_seed(0)
            model = TinyLM(get_preset(preset).replace(vocab_size=97))
            use_gemm(model, gemm)
            opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
            ids = torch.randint(0, 97, (4, 33), generator=torch.Generator().manual_seed(1))
            run = []
            for _ in range(5):
                loss = F.cross_entropy(model(ids[:, :-1]).flatten(0, 1), ids[:, 1:].flatten())
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                run.append(loss.item())
            losses[gemm] = run
        assert losses["onednn"] == pytest.approx(losses["aten"], rel=1e-4), preset
        assert losses["onednn"][-1] < losses["onednn"][0]


def test_unknown_backend_is_refused():
    with pytest.raises(ConfigError, match="gemm backend"):
        use_gemm(Linear(2, 2), "blas")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="cpu_gemm must be"):
        TrainConfig(cpu_gemm="mkl")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("vendor", "machine", "expected"),
    [("AuthenticAMD", "x86_64", "onednn"), ("GenuineIntel", "x86_64", "aten"), ("", "x86_64", "aten")],
)
def test_auto_takes_onednn_only_on_non_intel_x86_in_eager_float32(monkeypatch, vendor, machine, expected):
    monkeypatch.setattr(hardware, "cpu_vendor", lambda: vendor)
    monkeypatch.setattr(hardware.platform, "machine", lambda: machine)
    monkeypatch.setattr(hardware, "onednn_available", lambda: True)
    auto = TrainConfig(device="cpu")
    assert hardware.resolve_gemm(auto, "cpu", bf16=False) == expected
    # autocast, torch.compile and GPUs keep PyTorch's own kernels
    assert hardware.resolve_gemm(auto, "cpu", bf16=True) == "aten"
    assert hardware.resolve_gemm(TrainConfig(device="cpu", compile=True), "cpu", bf16=False) == "aten"
    assert hardware.resolve_gemm(auto, "cuda", bf16=False) == "aten"
    assert hardware.resolve_gemm(TrainConfig(cpu_gemm="aten"), "cpu", bf16=False) == "aten"


def test_asking_for_onednn_where_it_cannot_apply_is_one_clear_error(monkeypatch):
    asked = TrainConfig(cpu_gemm="onednn")
    monkeypatch.setattr(hardware, "onednn_available", lambda: True)
    assert hardware.resolve_gemm(asked, "cpu", bf16=False) == "onednn"
    for device, bf16, cfg in (
        ("cpu", True, asked),
        ("cuda", False, asked),
        ("cpu", False, TrainConfig(cpu_gemm="onednn", compile=True)),
    ):
        with pytest.raises(ConfigError, match="--cpu-gemm onednn applies to eager float32 training on the CPU"):
            hardware.resolve_gemm(cfg, device, bf16)
    monkeypatch.setattr(hardware, "onednn_available", lambda: False)
    with pytest.raises(ConfigError, match="no oneDNN; use --cpu-gemm aten"):
        hardware.resolve_gemm(asked, "cpu", bf16=False)


@needs_onednn
def test_train_cli_records_the_kernel_and_refuses_a_bad_pairing(tmp_path, story_files, capsys):
    from tiny_interp.cli import main

    train, valid = story_files
    out = tmp_path / "run"
    assert main(small_run_args(train, valid, out, tmp_path / "cache", steps=10, cpu_gemm="onednn")) == 0
    meta = json.loads((out / "train_config.json").read_text())
    assert meta["train"]["cpu_gemm"] == "onednn"
    assert json.loads((out / META_FILE).read_text())["hardware"].endswith(", oneDNN GEMM")
    bad = tmp_path / "bad"
    args = small_run_args(train, valid, bad, tmp_path / "cache", steps=1, cpu_gemm="onednn", precision="bf16")
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("or leave --cpu-gemm auto") and not bad.exists()
