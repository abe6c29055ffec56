"""The exact ``tiny-interp train`` command that reproduces a run, rebuilt from its ``train_config.json``."""

from __future__ import annotations

import shlex
from typing import Any

from ..model.presets import get_preset
from ..train.argv import train_argv
from ..train.config import DataConfig, TrainConfig

# model fields the trainer sets itself (from the tokenizer or --dropout), never through --set
_DERIVED = {"vocab_size", "bos_token_id", "eos_token_id", "dropout"}


def train_command(train_config: dict[str, Any], out: str) -> str:
    train, model = train_config["train"], train_config["model"]
    data, val = train_config.get("train_data", {}), train_config.get("val_data", {})
    tokenizer = data.get("tokenizer", "bpe")
    data_cfg = DataConfig(
        data=data.get("source", "TRAIN.txt"),
        val_data=val.get("source"),
        tokenizer=tokenizer,
        vocab_size=data.get("vocab_size", 4096) if tokenizer == "bpe" else DataConfig.vocab_size,
        max_stories=data.get("max_stories") or None,
    )
    preset = get_preset(train["preset"]).to_dict()
    model_set = [f"{k}={v}" for k, v in model.items() if k not in _DERIVED and preset.get(k) != v]
    # the device belongs to the machine that made the run, not to the recipe
    argv = train_argv(TrainConfig.from_dict(train), data_cfg, out, model_set=model_set, skip=("device",))
    return shlex.join(["tiny-interp", *argv])
