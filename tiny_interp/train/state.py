"""The resumable training state, in safetensors + JSON (no pickle): weights, AdamW moments, RNG, position."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_directory
from ..errors import CheckpointError

STATE_DIR = "resume"


def _optimizer_tensors(optimizer: torch.optim.Optimizer, names: dict[int, str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            name = names[id(p)]
            for key, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value):
                    tensors[f"{name}::{key}"] = value.detach().cpu().contiguous()
                else:
                    scalars[f"{name}::{key}"] = value
    return tensors, scalars


def save_state(
    run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, progress: dict[str, Any]
) -> None:
    """Write ``run_dir/resume`` in one atomic rename: a kill at any moment leaves the previous state readable."""
    from safetensors.torch import save_file

    names = {id(p): n for n, p in model.named_parameters()}
    opt_tensors, opt_scalars = _optimizer_tensors(optimizer, names)
    rng = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["torch_cuda"] = torch.cuda.get_rng_state()
    weights = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters()}
    with atomic_directory(run_dir / STATE_DIR) as tmp:
        save_file(weights, str(tmp / "weights.safetensors"))
        save_file(opt_tensors or {"_empty": torch.zeros(1)}, str(tmp / "optimizer.safetensors"))
        save_file(rng, str(tmp / "rng.safetensors"))
        (tmp / "progress.json").write_text(json.dumps({**progress, "optimizer_scalars": opt_scalars}, indent=2))


def has_state(run_dir: Path) -> bool:
    return (run_dir / STATE_DIR / "progress.json").exists()


def load_state(
    run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """Restore weights, optimizer moments and RNG in place; return the saved progress record."""
    from safetensors.torch import load_file

    folder = run_dir / STATE_DIR
    try:
        progress = json.loads((folder / "progress.json").read_text())
        weights = load_file(str(folder / "weights.safetensors"))
        opt_tensors = load_file(str(folder / "optimizer.safetensors"))
        rng = load_file(str(folder / "rng.safetensors"))
    except Exception as e:  # noqa: BLE001 - any failure here means the state is unusable
        raise CheckpointError(f"cannot read the training state in {folder} ({e}); start without --resume") from e
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(weights[name])
    scalars = progress.pop("optimizer_scalars", {})
    for group in optimizer.param_groups:
        for p in group["params"]:
            name = next(n for n, q in params.items() if q is p)
            state: dict[str, Any] = {}
            for key in ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                t = opt_tensors.get(f"{name}::{key}")
                if t is not None:
                    state[key] = t.to(p.device) if key != "step" else t
            for k, v in scalars.items():
                if k.startswith(f"{name}::"):
                    state[k.split("::", 1)[1]] = v
            if state:
                optimizer.state[p] = state
    torch.set_rng_state(rng["torch_cpu"])
    if "torch_cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["torch_cuda"])
    return progress
