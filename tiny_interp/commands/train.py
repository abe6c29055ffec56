"""tiny-interp train: prepare data (cached) and train a model into a Hugging Face-standard directory."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..cli_args import add_config_args, config_from_args
from ..train.config import DataConfig, TrainConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a story model",
        description="Train a model from a preset on TinyStories-format data. The output directory is a Hugging "
        "Face model (config.json, model.safetensors, tokenizer) that tiny_interp.load() opens, plus metrics.jsonl, "
        "train_config.json, resume/ (for --resume) and checkpoints/ (with --keep-checkpoints). Run several GPUs "
        "with `torchrun --nproc_per_node N -m tiny_interp.cli train ...`.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_config_args(p, TrainConfig, required=("preset", "max_steps"))
    add_config_args(p, DataConfig, required=("data",))
    p.add_argument("--out", required=True, help="run / model directory to write")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out (exactly where it stopped)")
    p.add_argument(
        "--force",
        action="store_true",
        help="start afresh in --out even though it holds other files or an earlier run (replaces only "
        "the run's own files)",
    )
    p.add_argument(
        "--set",
        dest="model_set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a model config field, e.g. --set n_ctx=256 --set d_mlp=512 (repeatable)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def parse_overrides(items: list[str]) -> dict[str, object]:
    """``--set KEY=VALUE`` items as a dict (values parsed as JSON where they are JSON); unknown keys refused."""
    from ..errors import ConfigError
    from ..model.config import ModelConfig

    defaults = ModelConfig()
    known = set(ModelConfig.__dataclass_fields__)
    out: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        if key not in known:
            raise ConfigError(f"--set {key}: not a model config field; known: {', '.join(sorted(known))}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        _check_type(key, value, getattr(defaults, key))
        out[key] = value
    return out


def _check_type(key: str, value: object, default: object) -> None:
    from ..errors import ConfigError

    numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
    wrong = (
        (isinstance(default, bool) and not isinstance(value, bool))
        or (numeric and (isinstance(value, bool) or not isinstance(value, (int, float))))
        or (isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float))
    )
    if wrong:
        raise ConfigError(f"--set {key}={value!r}: expected {type(default).__name__} like the default {default!r}")


def run(args: argparse.Namespace) -> int:
    from ..model.presets import get_preset
    from ..train.loop import TrainData, resolve_device, train

    cfg = config_from_args(TrainConfig, args)
    data_cfg = config_from_args(DataConfig, args)
    overrides = parse_overrides(args.model_set)
    get_preset(cfg.preset).replace(**overrides)  # fail on a bad preset or value before spending minutes on data
    resolve_device(cfg.device)
    prepared = data_cfg.prepare(progress=not args.quiet)
    data = TrainData(
        train_tokens=prepared.train.tokens,
        val_tokens=prepared.val.tokens if prepared.val is not None else None,
        tokenizer=prepared.tokenizer,
        fingerprint=prepared.fingerprint,
        train_meta=prepared.train.meta,
        val_meta=prepared.val.meta if prepared.val is not None else {},
    )
    final = train(
        cfg,
        data,
        Path(args.out),
        resume=args.resume,
        model_overrides=overrides,
        progress=not args.quiet,
        force=args.force,
    )
    summary = ", ".join(
        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in final.items() if v is not None
    )
    print(f"trained {args.out}: {summary}")
    return 0
