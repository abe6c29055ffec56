"""tiny-interp train: prepare data (cached) and train a model into a Hugging Face-standard directory."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..train.config import TrainConfig

_D = TrainConfig()


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
    p.add_argument("--preset", required=True, help="model shape: 1M, 3M, 8M, 28M, 33M, 1L-21M, 2L-33M, llama-260k, llama-1M, llama-4M, llama-15M, tiny")
    p.add_argument("--data", required=True, help="training stories: .txt/.jsonl/.json/.parquet or roneneldan/TinyStories")
    p.add_argument("--val-data", default=None, help="validation stories (same formats); enables val_loss/val_bpb")
    p.add_argument("--out", required=True, help="run / model directory to write")
    p.add_argument("--max-steps", type=int, required=True, help="optimizer steps to train for")
    p.add_argument("--device", default=_D.device, choices=["auto", "cpu", "cuda"], help="auto picks cuda when present")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out (exactly where it stopped)")
    p.add_argument("--tokenizer", default="bpe", help="bpe (train one), gpt-neo, gpt-neo:DIR (vocab.json+merges.txt), or a tokenizer dir")
    p.add_argument("--vocab-size", type=int, default=4096, help="vocabulary of a newly trained BPE")
    p.add_argument("--batch-size", type=int, default=_D.batch_size, help="sequences per micro-batch per process")
    p.add_argument("--seq-len", type=int, default=None, help="training window (default: the model context)")
    p.add_argument("--grad-accum", type=int, default=_D.grad_accum, help="micro-batches per optimizer step")
    p.add_argument("--lr", type=float, default=_D.lr, help="peak learning rate")
    p.add_argument("--min-lr-ratio", type=float, default=_D.min_lr_ratio, help="cosine floor as a fraction of --lr")
    p.add_argument("--weight-decay", type=float, default=_D.weight_decay)
    p.add_argument("--warmup-steps", type=int, default=_D.warmup_steps)
    p.add_argument("--schedule", choices=["cosine", "constant"], default=_D.schedule)
    p.add_argument("--grad-clip", type=float, default=_D.grad_clip, help="max gradient norm (0 = off)")
    p.add_argument("--dropout", type=float, default=_D.dropout)
    p.add_argument("--eval-every", type=int, default=_D.eval_every, help="steps between validation runs")
    p.add_argument("--eval-batches", type=int, default=_D.eval_batches, help="validation batches per evaluation")
    p.add_argument("--save-every", type=int, default=_D.save_every, help="steps between checkpoints")
    p.add_argument("--keep-checkpoints", type=int, default=_D.keep_checkpoints, help="log-spaced snapshots to keep in checkpoints/ (0 = none)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (worth it on GPUs)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=_D.precision,
                   help="bf16 autocast: auto = on CUDA only; bf16 also on CPU (1.25-1.9x faster per step measured on a CPU with AMX)")
    p.add_argument("--seed", type=int, default=_D.seed)
    p.add_argument("--set", dest="model_set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a model config field, e.g. --set n_ctx=256 --set d_mlp=512 (repeatable)")
    p.add_argument("--cache-dir", default=".cache/tiny-interp", help="where tokenized shards are cached")
    p.add_argument("--max-stories", type=int, default=None, help="use only the first N training stories")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def parse_overrides(items: list[str]) -> dict[str, object]:
    from ..errors import ConfigError

    out: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def run(args: argparse.Namespace) -> int:
    from ..data.shards import prepare_data
    from ..model.presets import get_preset
    from ..train.loop import TrainData, resolve_device, train

    get_preset(args.preset)  # fail on a bad preset or device before spending minutes on tokenizing
    resolve_device(args.device)

    cfg = TrainConfig(
        preset=args.preset, max_steps=args.max_steps, batch_size=args.batch_size, seq_len=args.seq_len,
        grad_accum=args.grad_accum, lr=args.lr, min_lr_ratio=args.min_lr_ratio, weight_decay=args.weight_decay,
        warmup_steps=args.warmup_steps, schedule=args.schedule, grad_clip=args.grad_clip, dropout=args.dropout,
        eval_every=args.eval_every, eval_batches=args.eval_batches, save_every=args.save_every,
        keep_checkpoints=args.keep_checkpoints, device=args.device, compile=args.compile, precision=args.precision, seed=args.seed,
    )
    prepared = prepare_data(
        args.data, args.val_data, tokenizer=args.tokenizer, vocab_size=args.vocab_size,
        cache_dir=args.cache_dir, max_stories=args.max_stories, progress=not args.quiet,
    )
    data = TrainData(
        train_tokens=prepared.train.tokens,
        val_tokens=prepared.val.tokens if prepared.val is not None else None,
        tokenizer=prepared.tokenizer,
        fingerprint=prepared.fingerprint,
        train_meta=prepared.train.meta,
        val_meta=prepared.val.meta if prepared.val is not None else {},
    )
    final = train(cfg, data, Path(args.out), resume=args.resume, model_overrides=parse_overrides(args.model_set),
                  progress=not args.quiet)
    summary = ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in final.items() if v is not None)
    print(f"trained {args.out}: {summary}")
    return 0
