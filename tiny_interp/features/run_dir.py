"""A dictionary run's folder: who may write it, when a run resumes or refuses, and what a run that trained nothing
leaves (nothing). The run takes ``locking``'s lock on it and claims it as ``sae-run`` output with a manifest of
its own files (``ownership``), so ``--force`` replaces those and never a same-named file of anyone else's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, ConfigError, DataError

RUN_KIND = "tiny-interp-sae-run"
OUTPUT_KIND = "sae-run"
MARKER = "train_config.json"
STATE_FILE = "resume.safetensors"
METRICS_FILE = "metrics.jsonl"


def check_run_dir(out: Path, resume: bool, force: bool, own_files: list[str], under_lock: bool = False) -> None:
    """Refuse, writing nothing: a live writer (naming its pid; skipped ``under_lock``, where the probe would meet
    our own lock), someone else's folder or file, a resume with nothing to resume, a fresh start over a run."""
    from ..locking import check_unlocked, lock_path
    from ..ownership import check_files, check_output_dir

    state = out / STATE_FILE
    if not under_lock:
        check_unlocked(lock_path(out, OUTPUT_KIND), f"dictionary run {out}")
    check_output_dir(out, OUTPUT_KIND, force=force, legacy=is_earlier_run)
    if out.is_dir():
        check_files(out, OUTPUT_KIND, own_files, legacy=lambda _: is_earlier_run(out))
    if resume and not state.is_file():
        raise ConfigError(f"nothing to resume in {out} (no {STATE_FILE}); run without --resume to start fresh")
    if (state.is_file() or any(out.glob("*/cfg.json"))) and not resume and not force:
        raise ConfigError(
            f"{out} already holds a dictionary run; pass --resume to continue it or --force to replace it"
        )


def discard_empty_run(out: Path, created: bool, data: str, batch_tokens: int) -> None:
    """Not one step: the data holds fewer tokens than one batch. Nothing is saved; a folder this run created is
    removed again, so the refusal leaves things as they were."""
    if created:
        shutil.rmtree(out)  # only what this run wrote: the folder did not exist before it
    raise DataError(
        f"{data} gave fewer than --batch-tokens {batch_tokens:,} tokens, not one training step: "
        "lower --batch-tokens (and --buffer-stories) or give more stories"
    )


def is_earlier_run(out: Path) -> bool:
    """A run directory written before ownership markers (its train_config.json says it is ours)."""
    marker = out / MARKER
    return marker.is_file() and _read_json(marker).get("kind") == RUN_KIND


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path} is unreadable ({e}); fix or remove it") from e
    return value if isinstance(value, dict) else {}


def last_logged_step(path: Path) -> int:
    if not path.is_file():
        return 0
    last = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                last = max(last, int(json.loads(line).get("step", 0)))
            except ValueError:
                continue  # a line cut by a kill mid-write: the resumed run writes it again
    return last
