"""The run directory's rules: who may write it, when a run resumes, refuses, or starts afresh.

A run directory is claimed as ``train-run`` output (``tiny_interp.ownership``) and locked by one process for the
whole run. ``--resume`` needs a complete state and the same settings; a fresh run never overwrites an earlier one
unless ``--force`` says so, and then it removes only the files a run writes.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ResumeError
from ..model.config import ModelConfig
from ..ownership import check_output_dir, claim_output_dir, owns
from .config import TrainConfig
from .state import STATE_DIR, has_state, newest_valid_state, saved_step

KIND = "train-run"
LOCK_FILE = f".tiny-interp-{KIND}.lock"
# everything a run writes besides the tokenizer files (which every publish rewrites)
RUN_FILES = ("config.json", "model.safetensors", "tiny_interp.json", "metrics.jsonl", "train_config.json")
RUN_DIRS = (STATE_DIR, f".{STATE_DIR}.old", "checkpoints", ".publish.tmp")


def is_earlier_run(path: Path) -> bool:
    """A run directory written before ownership markers existed (a shipped model is not one: it has a card)."""
    return has_state(path) or ((path / "train_config.json").exists() and not (path / "card_config.json").exists())


def check_run_dir(out: Path, resume: bool, force: bool) -> bool:
    """Refuse what would lose work, writing nothing; True when a fresh start must first clear an earlier run."""
    if resume and force:
        raise ConfigError("--resume continues a run and --force starts afresh: pass one of them")
    ours = out.is_dir() and (owns(out, KIND) or is_earlier_run(out))
    if resume:
        if not ours:
            raise ResumeError(
                f"cannot resume {out}: it holds no training run; drop --resume to start one there"
                if out.is_dir()
                else f"cannot resume {out}: it does not exist; drop --resume"
            )
        newest_valid_state(out)  # refuses, saying what is missing, before anything is written
        return False
    if ours and (has_state(out) or (out / "model.safetensors").exists()) and not force:
        raise ResumeError(
            f"{out} already holds a training run (step {saved_step(out)}); pass --resume to continue it, "
            "--force to start afresh there (replaces the run's files), or pick another --out"
        )
    check_output_dir(out, KIND, force=force, legacy=is_earlier_run)
    return ours


def prepare_run_dir(out: Path, resume: bool, force: bool) -> None:
    """Check again (under the run's lock), then claim ``out``; a fresh start clears the earlier run's own files
    (its log and states would mislead a later ``--resume``)."""
    if check_run_dir(out, resume, force):
        _clear_run(out)
    claim_output_dir(out, KIND, force=force, legacy=is_earlier_run)
    stale = [name for name in ("README.md", "card_config.json", "atlas") if (out / name).exists()]
    if force and stale:
        warnings.warn(
            f"{out}: {', '.join(stale)} describe the model that was there before this run; "
            "rewrite them (tiny-interp ship --card-only, tiny-interp atlas) once it is trained",
            stacklevel=2,
        )


def _clear_run(out: Path) -> None:
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for name in RUN_DIRS:
        shutil.rmtree(out / name, ignore_errors=True)


def check_resumable(out: Path, cfg: TrainConfig, model_cfg: ModelConfig, fingerprint: str) -> None:
    """Refuse a resume whose settings, model shape or data differ from the saved run's."""
    saved_path = out / "train_config.json"
    if not saved_path.exists():
        raise ResumeError(
            f"cannot resume {out}: train_config.json is missing; start afresh with --force or a new --out"
        )
    try:
        saved: dict[str, Any] = json.loads(saved_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ResumeError(
            f"cannot resume {out}: {saved_path} is not valid JSON ({e}); restore it from a copy"
        ) from None
    differs = [
        k
        for k, v in cfg.to_dict().items()
        if k not in TrainConfig.RESUMABLE_CHANGES and saved.get("train", {}).get(k) != v
    ]
    if differs:
        raise ConfigError(
            f"cannot resume {out}: settings changed since it started ({', '.join(differs)}); "
            "use the original settings or a new --out"
        )
    if saved.get("model") != model_cfg.to_dict():
        raise ConfigError(f"cannot resume {out}: the model shape differs from the saved run")
    if fingerprint and saved.get("data_fingerprint") not in (None, fingerprint):
        raise ConfigError(f"cannot resume {out}: the training data or tokenizer differs from the saved run")
