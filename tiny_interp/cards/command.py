"""The exact ``tiny-interp train`` command that reproduces a run, rebuilt from its ``train_config.json``."""

from __future__ import annotations

import shlex
from typing import Any

from ..model.presets import get_preset
from ..train.config import TrainConfig

# model fields the trainer sets itself (from the tokenizer or --dropout), never through --set
_DERIVED = {"vocab_size", "bos_token_id", "eos_token_id", "dropout"}
_NOT_FLAGS = {"preset", "max_steps", "device"}


def train_command(train_config: dict[str, Any], out: str) -> str:
    train, model = train_config["train"], train_config["model"]
    data, val = train_config.get("train_data", {}), train_config.get("val_data", {})
    args = ["tiny-interp", "train", "--preset", train["preset"], "--data", data.get("source", "TRAIN.txt")]
    if val.get("source"):
        args += ["--val-data", val["source"]]
    args += ["--out", out, "--max-steps", str(train["max_steps"])]
    if data.get("tokenizer", "bpe") != "bpe":
        args += ["--tokenizer", data["tokenizer"]]
    if data.get("tokenizer", "bpe") == "bpe" and data.get("vocab_size", 4096) != 4096:
        args += ["--vocab-size", str(data["vocab_size"])]
    defaults = TrainConfig().to_dict()
    for key, value in train.items():
        if key in _NOT_FLAGS or value == defaults.get(key):
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            args += [flag] if value else []
        else:
            args += [flag, str(value)]
    preset = get_preset(train["preset"]).to_dict()
    for key, value in model.items():
        if key not in _DERIVED and preset.get(key) != value:
            args += ["--set", f"{key}={value}"]
    if data.get("max_stories"):
        args += ["--max-stories", str(data["max_stories"])]
    return shlex.join(args)
