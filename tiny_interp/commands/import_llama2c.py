"""tiny-interp import-llama2c: convert a llama2.c checkpoint and tokenizer into a model directory."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-llama2c",
        help="convert a llama2.c model (.bin or .pt) and tokenizer into a model directory",
        description="Read a karpathy/llama2.c checkpoint (legacy .bin export with its 7-int header, shared or "
        "separate classifier, or a train.py .pt checkpoint) and its tokenizer (SentencePiece .model or llama2.c "
        "tok*.bin), and write a Hugging Face Llama directory with a fast tokenizer that encodes exactly like "
        "SentencePiece. Open it with tiny_interp.load(DIR) or `tiny-interp generate DIR`.",
    )
    p.add_argument("model", help="llama2.c checkpoint: MODEL.bin (legacy export) or ckpt.pt (training checkpoint)")
    p.add_argument("--tokenizer", required=True, help="SentencePiece tokenizer.model or llama2.c tok*.bin")
    p.add_argument(
        "--out",
        required=True,
        help="directory to write: new, empty, or an earlier import (its model files are replaced one by "
        "one; other files stay)",
    )
    p.add_argument("--force", action="store_true", help="write the model files into a folder that holds other files")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..llama2c import import_llama2c
    from ..model.checkpoint import model_config_of

    out = import_llama2c(args.model, args.tokenizer, args.out, force=args.force)
    cfg = model_config_of(out)
    print(
        f"wrote {out}: llama d_model={cfg.d_model} layers={cfg.n_layers} heads={cfg.n_heads}/{cfg.kv_heads} "
        f"vocab={cfg.vocab_size} context={cfg.n_ctx} params={cfg.n_params():,}"
    )
    return 0
