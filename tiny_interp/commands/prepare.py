"""tiny-interp prepare: stories -> tokenizer + cached uint16 token shards, ready for training."""

from __future__ import annotations

import argparse

from ..cli_args import add_config_args, config_from_args
from ..train.config import DataConfig

DESCRIPTION = """\
Read TinyStories-style stories, build or load a tokenizer, and tokenize the stories into uint16 token files
(shards) that `tiny-interp train` reads. Results are cached under --cache-dir by a fingerprint of the data files,
the tokenizer and the options: running the same command again reuses them at once.

Data (--data, --val-data):
  a .txt file in the TinyStories format (each story followed by a line <|endoftext|>; CRLF and a BOM are fine),
  a .jsonl/.json file (field "story" or "text"), a .parquet file (column "story" or "text"), .gz of the text
  formats, a folder of such files, or the Hugging Face dataset roneneldan/TinyStories (needs network), optionally
  with a split after a colon: roneneldan/TinyStories:validation, roneneldan/TinyStories:train-v2 (GPT-4-only V2
  files), roneneldan/TinyStories:validation-v2. Blank stories are dropped and counted.

Tokenizer (--tokenizer):
  bpe           train a byte-level BPE with --vocab-size tokens on the training stories (default)
  gpt-neo       GPT-Neo's GPT-2 tokenizer (50,257 tokens) from the hub, as the official TinyStories models use
  gpt-neo:DIR   the same from a local folder holding vocab.json and merges.txt
  DIR           any saved Hugging Face tokenizer folder (must contain <|endoftext|>)
"""

EPILOG = """\
examples:
  tiny-interp prepare --data train.txt --val-data valid.txt
  tiny-interp prepare --data train.txt --val-data valid.txt --tokenizer gpt-neo:../shared/tokenizers/gpt-neo
  tiny-interp prepare --data roneneldan/TinyStories:train-v2 --val-data roneneldan/TinyStories:validation-v2
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare",
        help="tokenize stories into cached token shards (and train a BPE tokenizer)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(p, DataConfig, required=("data",))
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    cfg = config_from_args(DataConfig, args)
    prepared = cfg.prepare(progress=not args.quiet)
    print(f"{'reused cached shards' if prepared.reused else 'prepared shards'} in {prepared.directory}")
    print(f"tokenizer: {args.tokenizer} ({prepared.vocab_size} tokens) in {prepared.tokenizer_dir}")
    for name, shard in (("train", prepared.train), ("val", prepared.val)):
        if shard is None:
            continue
        m = shard.meta
        print(
            f"{name}: {m['n_stories']:,} stories, {m['n_tokens']:,} tokens, {m['n_bytes']:,} bytes, "
            f"{m['bytes_per_token']:.2f} bytes/token, {m['n_blank_dropped']} blank stories dropped "
            f"-> {shard.bin_path}"
        )
    print(f"fingerprint={prepared.fingerprint}")
    return 0
