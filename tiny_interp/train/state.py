"""The resumable training state, in safetensors + JSON (no pickle): weights, AdamW moments, RNG, position.

Each save is a complete directory ``resume/step-XXXXXXXX`` built under a temporary name and renamed in one step,
with a ``manifest.json`` (written last) holding the SHA-256 of every file. Loading takes the newest state whose
checksums hold, so a kill at any moment -- or one damaged state -- costs at most one save interval. The two
newest states are kept.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from ..atomic import keep_umask, write_json_atomic
from ..errors import ResumeError

STATE_DIR = "resume"
KEEP_STATES = 2
STATE_FILES = ("weights.safetensors", "optimizer.safetensors", "rng.safetensors", "progress.json")
MANIFEST = "manifest.json"


def _optimizer_tensors(
    optimizer: torch.optim.Optimizer, names: dict[int, str]
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
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


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def state_dirs(run_dir: Path) -> list[Path]:
    """Complete-looking states, newest first (the ``step-*`` directories that carry a manifest)."""
    root = Path(run_dir) / STATE_DIR
    if not root.is_dir():
        return []
    return sorted((d for d in root.glob("step-*") if (d / MANIFEST).is_file()), key=lambda d: d.name, reverse=True)


def save_state(
    run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, progress: dict[str, Any]
) -> Path:
    """Write ``run_dir/resume/step-N`` atomically, then drop all but the two newest states."""
    from safetensors.torch import save_file

    names = {id(p): n for n, p in model.named_parameters()}
    opt_tensors, opt_scalars = _optimizer_tensors(optimizer, names)
    rng = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["torch_cuda"] = torch.cuda.get_rng_state()
    weights = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters()}
    root = Path(run_dir) / STATE_DIR
    final = root / f"step-{int(progress['step']):08d}"
    tmp = root / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)  # our own leftover from a kill mid-save
    tmp.mkdir(parents=True)
    save_file(weights, str(tmp / "weights.safetensors"))
    save_file(opt_tensors or {"_empty": torch.zeros(1)}, str(tmp / "optimizer.safetensors"))
    save_file(rng, str(tmp / "rng.safetensors"))
    for name in ("weights.safetensors", "optimizer.safetensors", "rng.safetensors"):
        keep_umask(tmp / name)
    write_json_atomic(tmp / "progress.json", {**progress, "optimizer_scalars": opt_scalars})
    write_json_atomic(tmp / MANIFEST, {"sha256": {f: _sha256(tmp / f) for f in STATE_FILES}})
    if final.exists():
        shutil.rmtree(final)  # the same step saved again (a resumed run repeating its last save)
    tmp.rename(final)
    _prune(root)
    return final


def _prune(root: Path) -> None:
    for old in state_dirs(root.parent)[KEEP_STATES:]:
        shutil.rmtree(old)
    for name in STATE_FILES:  # the single-state layout of earlier versions, superseded now
        (root / name).unlink(missing_ok=True)
    shutil.rmtree(root.parent / f".{STATE_DIR}.old", ignore_errors=True)


def has_state(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds any training state (complete or not): a fresh run must not overwrite it."""
    root = Path(run_dir) / STATE_DIR
    return (
        bool(state_dirs(run_dir))
        or (root / "progress.json").exists()
        or (Path(run_dir) / f".{STATE_DIR}.old" / "progress.json").exists()
    )


def verify_state(folder: Path) -> str | None:
    """Why ``folder`` is not a usable state (None when every checksum holds)."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        missing = [f for f in STATE_FILES if not (folder / f).is_file()]
        return f"missing {', '.join(missing)}" if missing else None  # earlier layout: no checksums to verify
    try:
        sums = json.loads(manifest.read_text())["sha256"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        return f"unreadable {MANIFEST} ({e})"
    for name in STATE_FILES:
        if not (folder / name).is_file():
            return f"missing {name}"
        if _sha256(folder / name) != sums.get(name):
            return f"{name} fails its checksum"
    return None


def _candidates(run_dir: Path) -> list[Path]:
    legacy = [Path(run_dir) / STATE_DIR, Path(run_dir) / f".{STATE_DIR}.old"]
    return state_dirs(run_dir) + [d for d in legacy if (d / "progress.json").exists()]


def newest_valid_state(run_dir: Path) -> Path:
    """The newest state whose checksums hold; a ``ResumeError`` saying what is wrong when there is none."""
    problems: list[str] = []
    for folder in _candidates(run_dir):
        why = verify_state(folder)
        if why is None:
            if problems:
                warnings.warn(
                    f"skipped damaged training state(s): {'; '.join(problems)}; resuming from {folder}", stacklevel=2
                )
            return folder
        problems.append(f"{folder.name}: {why}")
    found = "; ".join(problems) if problems else f"no {STATE_DIR}/step-* directory"
    raise ResumeError(
        f"cannot resume {run_dir}: no complete training state ({found}); to start fresh, drop --resume and "
        f"pass --force (replaces this run's files) or choose a new --out"
    )


def saved_step(run_dir: Path) -> int:
    """The step the newest state records (0 when the directory holds none)."""
    for folder in _candidates(Path(run_dir)):
        try:
            return int(json.loads((folder / "progress.json").read_text())["step"])
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a damaged state: an older one may still say where the run is
    return 0


def load_state(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore weights, optimizer moments and RNG in place from the newest valid state; return its progress."""
    from safetensors.torch import load_file

    folder = newest_valid_state(run_dir)
    progress = json.loads((folder / "progress.json").read_text())
    weights = load_file(str(folder / "weights.safetensors"))
    opt_tensors = load_file(str(folder / "optimizer.safetensors"))
    rng = load_file(str(folder / "rng.safetensors"))
    params = dict(model.named_parameters())
    missing = sorted(set(params) - set(weights))
    if missing:
        raise ResumeError(
            f"cannot resume {run_dir}: {folder / 'weights.safetensors'} lacks {missing[:3]} "
            "(another model shape); choose a new --out"
        )
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(weights[name])
    _restore_optimizer(optimizer, params, opt_tensors, progress.pop("optimizer_scalars", {}))
    torch.set_rng_state(rng["torch_cpu"])
    if "torch_cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["torch_cuda"])
    return progress


def _restore_optimizer(
    optimizer: torch.optim.Optimizer,
    params: dict[str, torch.nn.Parameter],
    tensors: dict[str, torch.Tensor],
    scalars: dict[str, Any],
) -> None:
    names = {id(p): n for n, p in params.items()}
    for group in optimizer.param_groups:
        for p in group["params"]:
            name = names[id(p)]
            state: dict[str, Any] = {}
            for key in ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                t = tensors.get(f"{name}::{key}")
                if t is not None:
                    state[key] = t.to(p.device) if key != "step" else t
            for k, v in scalars.items():
                if k.startswith(f"{name}::"):
                    state[k.split("::", 1)[1]] = v
            if state:
                optimizer.state[p] = state
