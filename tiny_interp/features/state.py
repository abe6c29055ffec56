"""A training run's resumable state as one safetensors file: every dictionary's weights, Adam moments and
dead-latent counters, plus the stream position and step in its metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import CheckpointError
from .sae import SAE, SAEConfig


def pack_state(trainer: Any) -> tuple[dict[str, Tensor], dict[str, Any]]:
    tensors: dict[str, Tensor] = {}
    for i, d in enumerate(trainer.dicts):
        for name, p in d.sae.named_parameters():
            tensors[f"{i}.param.{name}"] = p.detach()
            st = d.opt.state.get(p, {})
            for key in ("step", "exp_avg", "exp_avg_sq"):
                if key in st:
                    tensors[f"{i}.adam.{name}.{key}"] = (
                        torch.as_tensor(st[key]).reshape(-1) if key == "step" else st[key]
                    )
        tensors[f"{i}.since_fired"] = d.since_fired
        for key, value in d.extra.items():
            tensors[f"{i}.extra.{key}"] = value.reshape(-1)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {
        "identity": trainer.identity,
        "step": trainer.step_i,
        "buffer": trainer.buffer,
        "batch_in_buffer": trainer.batch_in_buffer,
        "sae_configs": [d.sae.cfg.to_dict() for d in trainer.dicts],
        "names": [[d.name, d.hook_in, d.hook_out] for d in trainer.dicts],
    }
    return tensors, meta


def unpack_state(trainer: Any, file: Path) -> None:
    """Restore ``trainer`` (after setup) from ``file``; refuses a state of other settings or data."""
    from safetensors import SafetensorError, safe_open

    try:
        # safe_open is not a mapping: keys() is its only listing of tensor names
        with safe_open(str(file), framework="pt") as f:
            meta = json.loads(f.metadata()["progress"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"{file} is truncated or corrupt ({e}); run with --force to start over") from e
    if meta["identity"] != trainer.identity:
        raise CheckpointError(
            f"{file} belongs to a run with other settings, data or model; resume with the original "
            "settings or run with --force to start over"
        )
    dev = trainer.cfg.device
    for i, ((name, hook_in, hook_out), cfg_dict) in enumerate(zip(meta["names"], meta["sae_configs"])):
        sae = SAE(SAEConfig.from_dict(cfg_dict))
        if f"{i}.param.W_skip" in tensors:
            sae.add_skip()
        with torch.no_grad():
            for pname, p in sae.named_parameters():
                p.copy_(tensors[f"{i}.param.{pname}"])
        d = trainer._dictionary(name, hook_in, hook_out, sae.to(dev))
        for pname, p in d.sae.named_parameters():
            if f"{i}.adam.{pname}.exp_avg" in tensors:
                d.opt.state[p] = {
                    "step": tensors[f"{i}.adam.{pname}.step"].reshape(()).clone(),
                    "exp_avg": tensors[f"{i}.adam.{pname}.exp_avg"].to(dev),
                    "exp_avg_sq": tensors[f"{i}.adam.{pname}.exp_avg_sq"].to(dev),
                }
        d.since_fired = tensors[f"{i}.since_fired"].to(dev)
        prefix = f"{i}.extra."
        d.extra = {k[len(prefix) :]: v.reshape(()).to(dev) for k, v in tensors.items() if k.startswith(prefix)}
        trainer.dicts.append(d)
    trainer.step_i, trainer.buffer, trainer.batch_in_buffer = meta["step"], meta["buffer"], meta["batch_in_buffer"]
