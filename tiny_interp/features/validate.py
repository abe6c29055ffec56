"""Checks on what a user hands the dictionary commands, each ending in one line that names the file or value:
a dictionary's ``cfg.json`` and weights, whether it fits the model it is used with, hook names and devices.

They run before anything is written or claimed, so a refused command leaves every folder as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    from torch import Tensor

    from ..model.transformer import TinyLM
    from .sae import SAE

DTYPES = ("float32", "float16", "bfloat16", "float64")
_INT_FIELDS = ("d_in", "d_sae", "d_out", "k")


def check_sae_cfg(raw: object, where: Path) -> None:
    """A ``cfg.json``'s values have the types and ranges a dictionary needs (SAELens' loader is no stricter)."""
    if not isinstance(raw, dict):
        raise CheckpointError(f"{where} holds {type(raw).__name__}, not a JSON object of SAE settings")
    for name in _INT_FIELDS:
        value = raw.get(name)
        if value is None and name in ("d_out", "k"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise CheckpointError(f"{where}: {name} is {value!r}, expected a positive integer; fix or replace the file")
    dtype = raw.get("dtype", "float32")
    if dtype not in DTYPES:
        raise CheckpointError(f"{where}: dtype {dtype!r} is not one of {', '.join(DTYPES)}; fix the file")


def expected_shapes(d_in: int, d_sae: int, d_out: int) -> dict[str, tuple[int, ...]]:
    return {
        "W_enc": (d_in, d_sae),
        "b_enc": (d_sae,),
        "W_dec": (d_sae, d_out),
        "b_dec": (d_out,),
        "threshold": (d_sae,),
        "W_skip": (d_out, d_in),  # SAELens' orientation, applied x @ W_skip.T
    }


def read_weights(path: Path, d_in: int, d_sae: int, d_out: int) -> dict[str, Tensor]:
    """The tensors of ``sae_weights.safetensors``, refused by name when the file is cut short, is not safetensors,
    or holds tensors whose shapes disagree with ``cfg.json``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({e}); it may be truncated: re-save it"
        ) from None
    shapes = expected_shapes(d_in, d_sae, d_out)
    for name, tensor in state.items():
        want = shapes.get(name)
        if want is not None and tuple(tensor.shape) != want:
            raise CheckpointError(
                f"{path}: {name} has shape {tuple(tensor.shape)} but cfg.json (d_in {d_in}, d_sae {d_sae}) "
                f"asks for {want}; the weights and cfg.json belong to different dictionaries"
            )
        if not tensor.is_floating_point():
            raise CheckpointError(f"{path}: {name} holds {tensor.dtype}, not floating-point weights")
    return state


def activation_width(net: TinyLM, hook: str) -> int | None:
    """The width of the activation at ``hook`` of our TinyLM (None where it is not a plain [.., d] vector)."""
    cfg = net.cfg
    if hook.endswith(("mlp.hook_post", "mlp.hook_pre")):
        return int(cfg.d_mlp)
    if hook.endswith(("hook_resid_pre", "hook_resid_mid", "hook_resid_post", "hook_mlp_out", "hook_attn_out")):
        return int(cfg.d_model)
    if hook.endswith(("hook_normalized", "ln1.hook_out", "ln2.hook_out", "mlp.hook_in", "mlp.hook_out")):
        return int(cfg.d_model)
    if hook in ("hook_embed", "ln_final.hook_out"):
        return int(cfg.d_model)
    return None


def check_hooks(points: Mapping[str, object], names: Iterable[str], option: str) -> None:
    """Every name is a hook point of the model (``model.hooks.check_names`` says which are near)."""
    from ..model.hooks import check_names

    try:
        check_names(dict(points), list(names))
    except KeyError as e:  # check_names reports an unknown name as a KeyError; the user sees its message
        raise ConfigError(f"{option}: {e.args[0] if e.args else e}") from None


def check_fits(saes: Iterable[SAE], dirs: Iterable[Path], net: TinyLM) -> None:
    """Each dictionary reads and writes hook points this model has, at this model's widths."""
    points = getattr(net, "hook_dict", None)
    for sae, where in zip(saes, dirs):
        cfg = sae.cfg
        for hook, width in ((cfg.hook_name, cfg.d_in), (cfg.out_hook, cfg.out_dim)):
            if points is not None and hook not in points:
                raise CheckpointError(
                    f"{where} reads {hook!r}, which this model does not have: it was built for another model "
                    f"({cfg.model_name or 'unknown'}); pass the model it belongs to (--model)"
                )
            want = activation_width(net, hook) if points is not None else None
            if want is not None and want != width:
                raise CheckpointError(
                    f"{where}: {hook} is {want} wide in this model but the dictionary expects {width}: it was "
                    f"built for another model ({cfg.model_name or 'unknown'}); pass the model it belongs to"
                )


def check_device(device: str, option: str = "--device") -> str:
    """``cpu``, or a CUDA device that PyTorch can see; anything else is refused in one line."""
    import torch

    if device == "cpu":
        return device
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ConfigError(f"{option} {device}: no CUDA GPU is visible to PyTorch on this machine; use {option} cpu")
        return device
    raise ConfigError(f"{option} {device!r} is not a device: use cpu, cuda or cuda:N")


def check_count(value: int | None, option: str, low: int = 1) -> None:
    """A count the user gave (``--n-stories``): None (all) or at least ``low``."""
    if value is not None and (isinstance(value, bool) or value < low):
        raise ConfigError(f"{option} must be {'positive' if low == 1 else f'>= {low}'}, got {value}")


def check_dir(path: str | os.PathLike, what: str) -> Path:
    """A directory the user named: it exists and is not a file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{what} {path} does not exist; check the path")
    if not path.is_dir():
        raise CheckpointError(f"{what} {path} is a file, not a directory; pass the directory that holds it")
    return path
