"""``nn.Linear`` whose float32 CPU products can run on oneDNN rather than PyTorch's BLAS.

PyTorch's float32 ``addmm``/``mm`` on x86 calls MKL's sgemm, and MKL picks its kernels by CPU vendor: on AMD CPUs it
leaves AVX-512 unused. oneDNN, bundled in the same wheels, dispatches on the instruction set instead. On an AMD EPYC
(Zen 5, 2 cores) its float32 inner product ran the 8M model's shapes 2.0-2.6x faster than MKL (the unembedding,
memory-bound, 1.5x) and a whole training step 1.4x faster (``bench/train_throughput.py``).

``Linear`` keeps ``nn.Linear``'s parameters, state-dict keys and initialisation; its ``gemm`` attribute picks the
kernel. "onednn" runs forward and both gradients as oneDNN inner products in IEEE float32 (no reduced-precision
math mode), for float32 CPU tensors outside autocast; anything else takes ``nn.Linear``'s own path.
"""

from __future__ import annotations

from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable

from ..errors import ConfigError

GemmBackend = Literal["aten", "onednn"]
GEMM_BACKENDS: tuple[GemmBackend, ...] = ("aten", "onednn")


def onednn_available() -> bool:
    """Whether this PyTorch build has oneDNN's CPU inner product (x86 and aarch64 wheels do)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def _inner_product(
    rows: Float[Tensor, "n d_in"], weight: Float[Tensor, "d_out d_in"], bias: Float[Tensor, " d_out"] | None
) -> Float[Tensor, "n d_out"]:
    """``rows @ weight.T + bias`` on oneDNN (strided operands are reordered by oneDNN itself)."""
    return torch.ops.mkldnn._linear_pointwise(rows, weight, bias, "none", [], "")


class _OneDNNLinear(torch.autograd.Function):
    """``F.linear`` with oneDNN products in forward and backward; gradients as ``nn.Linear``'s."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        out = _inner_product(x.reshape(-1, x.shape[-1]), weight, bias)
        return out.view(*x.shape[:-1], weight.shape[0])

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        x, weight = ctx.saved_tensors  # type: ignore[attr-defined]
        need_x, need_w, need_b = ctx.needs_input_grad  # type: ignore[attr-defined]
        g = grad.reshape(-1, grad.shape[-1])
        grad_x = _inner_product(g, weight.t(), None).view(x.shape) if need_x else None
        grad_w = _inner_product(g.t(), x.reshape(-1, x.shape[-1]).t(), None) if need_w else None
        grad_b = g.sum(0) if need_b else None
        return grad_x, grad_w, grad_b


class Linear(nn.Linear):
    """``nn.Linear`` with a choice of CPU kernel (``gemm``); "aten" is exactly ``nn.Linear``."""

    gemm: GemmBackend = "aten"

    def forward(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_out"]:
        if self.gemm == "onednn" and self._onednn_applies(x):
            return _OneDNNLinear.apply(x, self.weight, self.bias)
        return super().forward(x)

    def _onednn_applies(self, x: Tensor) -> bool:
        return (
            x.device.type == "cpu"
            and x.dtype == torch.float32
            and self.weight.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")
        )


def use_gemm(module: nn.Module, backend: GemmBackend) -> None:
    """Set the CPU kernel of every ``Linear`` inside ``module``."""
    if backend not in GEMM_BACKENDS:
        raise ConfigError(f"gemm backend must be one of {', '.join(GEMM_BACKENDS)}, got {backend!r}")
    for m in module.modules():
        if isinstance(m, Linear):
            m.gemm = backend
