"""Export a training run as a compact shipped model directory (half-precision weights, same files otherwise)."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import torch

from ..atomic import staged_into
from ..model.checkpoint import check_model_dir, read_meta, write_model_files
from ..model.opener import open_model
from ..ownership import claim_output_dir

RUN_FILES = ("metrics.jsonl", "train_config.json")
KIND = "shipped-model"


def is_shipped(path: Path) -> bool:
    """A shipped model from before ownership markers (it has a card's settings)."""
    return (path / "card_config.json").is_file()


def export_model(
    run_dir: str | os.PathLike,
    out: str | os.PathLike,
    dtype: torch.dtype = torch.float16,
    with_checkpoints: bool = False,
    force: bool = False,
) -> Path:
    """Copy ``run_dir``'s final model (and optionally its ``checkpoints/step-*``) to ``out`` in ``dtype``.

    The training log and config travel along so the card can draw the loss curve and print the command. ``out``
    must be new, empty or an earlier shipped model (``force``: any folder); only the files written here are
    replaced there.
    """
    run_dir = check_model_dir(run_dir)
    claim_output_dir(out, KIND, force, legacy=is_shipped)
    if (Path(out) / "atlas").is_dir():
        warnings.warn(
            f"{Path(out) / 'atlas'} was built from the model shipped there before; rebuild it with "
            "`tiny-interp atlas` (the card's neuron section reads it)",
            stacklevel=2,
        )
    with staged_into(out) as tmp:
        _export_one(run_dir, tmp, dtype)
        for name in RUN_FILES:
            if (run_dir / name).exists():
                shutil.copy2(run_dir / name, tmp / name)
        if with_checkpoints and (run_dir / "checkpoints").is_dir():
            for step_dir in sorted((run_dir / "checkpoints").glob("step-*")):
                target = tmp / "checkpoints" / step_dir.name
                target.mkdir(parents=True)
                _export_one(step_dir, target, dtype)
    return Path(out)


def _export_one(src: Path, dst: Path, dtype: torch.dtype) -> None:
    # each snapshot keeps its own tokenizer files so it opens on its own, like any model directory
    meta = {k: v for k, v in read_meta(src).items() if k != "model_config"}
    meta["weights_dtype"] = str(dtype).removeprefix("torch.")
    handle = open_model(src)
    write_model_files(dst, handle.module, handle.tokenizer, meta, dtype=dtype)
