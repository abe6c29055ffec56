"""The machine a run trains on: its description for model cards, and the CPU matrix kernel it trains with."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from ..errors import ConfigError
from ..model.linear import GemmBackend, onednn_available
from .config import TrainConfig


def hardware_description(device: str, gemm: GemmBackend = "aten") -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda})"
    threads = torch.get_num_threads()
    kernel = ", oneDNN GEMM" if gemm == "onednn" else ""
    return f"CPU {cpu_name()}, {threads} thread{'s' if threads != 1 else ''}{kernel}"


def _cpuinfo(key: str) -> str | None:
    """The first ``key`` line of /proc/cpuinfo (Linux), None where there is none."""
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        return None
    for line in path.read_text().splitlines():
        if line.startswith(key):
            return line.split(":", 1)[1].strip()
    return None


def cpu_name() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def cpu_vendor() -> str:
    """ "GenuineIntel", "AuthenticAMD", ... (Windows puts the vendor in ``platform.processor()``); "" if unknown."""
    vendor = _cpuinfo("vendor_id")
    if vendor:
        return vendor
    processor = platform.processor()
    return next((v for v in ("GenuineIntel", "AuthenticAMD") if v in processor), "")


def resolve_gemm(cfg: TrainConfig, device_type: str, bf16: bool) -> GemmBackend:
    """The kernel for the model's float32 CPU products.

    "auto" takes oneDNN where MKL is known to be slow, x86 CPUs not made by Intel, and only for eager float32
    training on the CPU (autocast and torch.compile choose their own kernels); elsewhere PyTorch's own path, so
    runs on Intel CPUs and GPUs compute as before. "onednn" asks for it anywhere it can apply."""
    if cfg.cpu_gemm == "aten":
        return "aten"
    applies = device_type == "cpu" and not bf16 and not cfg.compile
    if cfg.cpu_gemm == "onednn":
        if not onednn_available():
            raise ConfigError("--cpu-gemm onednn: this PyTorch build has no oneDNN; use --cpu-gemm aten")
        if not applies:
            raise ConfigError(
                "--cpu-gemm onednn applies to eager float32 training on the CPU; drop --compile and "
                "--precision bf16, use --device cpu, or leave --cpu-gemm auto"
            )
        return "onednn"
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    slow_blas = x86 and cpu_vendor() not in ("GenuineIntel", "")
    return "onednn" if applies and slow_blas and onednn_available() else "aten"
