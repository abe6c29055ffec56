"""The one place that turns training settings back into ``tiny-interp train`` arguments (the model card's
reproduce command and the lab's live trainer both use it; the options themselves come from the dataclasses)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..cli_args import config_argv
from .config import DataConfig, TrainConfig


def train_argv(
    cfg: TrainConfig,
    data: DataConfig,
    out: str | os.PathLike,
    resume: bool = False,
    model_set: Iterable[str] = (),
    skip: Iterable[str] = (),
) -> list[str]:
    """``train`` and the options that rebuild ``cfg`` and ``data`` (non-default fields only; ``skip`` leaves
    fields out, e.g. the device of the machine that made a run)."""
    argv = [
        "train",
        "--preset",
        cfg.preset,
        "--data",
        str(data.data),
        "--out",
        str(out),
        "--max-steps",
        str(cfg.max_steps),
    ]
    argv += config_argv(data, skip={"data", *skip})
    if resume:
        argv.append("--resume")
    argv += config_argv(cfg, skip={"preset", "max_steps", *skip})
    for item in model_set:
        argv += ["--set", item]
    return argv
