"""tiny-interp ship: export a training run into trained_models/ with half-precision weights and a model card."""

from __future__ import annotations

import argparse
import dataclasses
import re


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ship",
        help="export a run as a shipped model with a model card",
        description="Copy a run's final model (float16 weights, tokenizer, metrics.jsonl, train_config.json, and with "
        "--with-checkpoints its log-spaced snapshots) to trained_models/NAME, measure bits per byte on the given "
        "validation and test files, and write README.md (the model card) and loss.svg there.",
    )
    p.add_argument("run_dir", metavar="RUN", help="a training run directory (tiny-interp train --out)")
    p.add_argument(
        "--name",
        required=True,
        type=model_name,
        help="shipped model name, a plain folder name (letters, digits, '.', '_', '-'), e.g. ts-1L",
    )
    p.add_argument("--root", default="trained_models", help="where shipped models live")
    p.add_argument("--valid-data", default=None, help="validation stories for bits per byte and the head taxonomy")
    p.add_argument("--test-data", default=None, help="held-out test stories for the headline bits per byte")
    p.add_argument("--summary", default="", help="one paragraph describing the model")
    p.add_argument("--what-worked", default="", help="notes on what worked in training (markdown)")
    p.add_argument("--with-checkpoints", action="store_true", help="also ship checkpoints/step-* (training dynamics)")
    p.add_argument(
        "--dtype",
        choices=["float16", "bfloat16", "float32"],
        default="float16",
        help="precision of the shipped weights (default float16)",
    )
    p.add_argument(
        "--card-only",
        action="store_true",
        help="rewrite the card of an already shipped model (settings not given come from its card_config.json; "
        "bits per byte already measured on the same files are kept)",
    )
    p.add_argument("--re-evaluate", action="store_true", help="with --card-only: measure bits per byte again")
    p.add_argument(
        "--force",
        action="store_true",
        help="ship into ROOT/NAME even though it holds files that are not a shipped model (only the "
        "model's files are replaced)",
    )
    p.set_defaults(run=run)


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def model_name(text: str) -> str:
    """A shipped model's name: one plain folder name inside --root (no path, no '.', '..' or hidden name)."""
    if not _NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a plain folder name: use letters, digits, '.', '_' and '-', starting with a letter "
            "or digit (e.g. ts-1L)"
        )
    return text


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from ..cards import CardConfig, export_model, write_card
    from ..cards.card import read_card_config
    from ..model.checkpoint import check_model_dir

    out = Path(args.root) / args.name
    if args.card_only:
        check_model_dir(out)
    else:
        export_model(
            args.run_dir,
            out,
            dtype=getattr(torch, args.dtype),
            with_checkpoints=args.with_checkpoints,
            force=args.force,
        )
    given = {
        "summary": args.summary,
        "valid_data": args.valid_data,
        "test_data": args.test_data,
        "what_worked": args.what_worked,
    }
    previous = read_card_config(out) if args.card_only else {}
    # a value given now wins, then the card's earlier one, then the config's default
    chosen = {k: v or previous.get(k) for k, v in given.items()}
    cfg = dataclasses.replace(CardConfig(name=args.name), **{k: v for k, v in chosen.items() if v})
    card = write_card(
        out, cfg, evaluate_now=bool(cfg.valid_data or cfg.test_data), force_eval=not args.card_only or args.re_evaluate
    )
    print(f"shipped {out} (card: {card})")
    return 0
