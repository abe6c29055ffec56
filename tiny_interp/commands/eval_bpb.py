"""tiny-interp eval-bpb: bits per byte of a model on stories, comparable across tokenizers."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from itertools import chain, islice
from pathlib import Path

from ..cli_args import device, number, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval-bpb",
        help="bits per byte of a model on stories (comparable across tokenizers)",
        description="Score every story as BOS + story + end-of-story with the model and print the negative "
        "log-likelihood in bits per UTF-8 byte of the story text. Every byte of every story counts once; the "
        "end-of-story prediction is included; stories longer than the context use a sliding window (each token "
        "scored once, with at least context - stride tokens before it). The last line is bpb=<number>.",
    )
    p.add_argument("model", help="model directory or Hugging Face hub id")
    p.add_argument(
        "--data", required=True, help="stories: a .txt in the TinyStories format, .jsonl/.parquet, or a hub dataset id"
    )
    p.add_argument("--max-stories", type=positive_int, default=None, help="score only the first N stories")
    p.add_argument("--split", default="validation", help="dataset split for a hub id (default validation)")
    p.add_argument("--batch-size", type=positive_int, default=16, help="windows per forward pass (default 16)")
    p.add_argument(
        "--stride",
        type=positive_int,
        default=None,
        help="sliding-window step for long stories (default: half the context)",
    )
    p.add_argument("--device", type=device, default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument(
        "--protocol",
        choices=["stories", "stream"],
        default="stories",
        help="stories (default): each story from its own BOS, as documented above; stream: llama2.c-style, "
        "the stories joined into one stream cut into --chunk-token chunks (less context, higher figures)",
    )
    p.add_argument("--chunk", type=number(int, 2), default=256, help="chunk length for --protocol stream (default 256)")
    p.set_defaults(run=run)


def read_stories(source: str, split: str) -> Iterator[str]:
    from ..data.stories import iter_stories

    return iter_stories(source) if Path(source).exists() else iter_stories(source, split=split)


def run(args: argparse.Namespace) -> int:
    from ..eval.bpb import bits_per_byte, stream_bits_per_byte
    from ..model.opener import open_model

    handle = open_model(args.model, device=args.device)
    path, model, tokenizer = handle.path, handle.module, handle.tokenizer
    stories = read_stories(args.data, args.split)
    first = next(stories, None)  # a file that cannot be read fails here, before the progress bar starts
    stories = chain([first] if first is not None else [], stories)
    if args.max_stories is not None:
        stories = islice(stories, args.max_stories)
    if args.protocol == "stream":
        result = stream_bits_per_byte(model, tokenizer, stories, chunk=args.chunk, batch_size=args.batch_size)
    else:
        result = bits_per_byte(model, tokenizer, stories, batch_size=args.batch_size, stride=args.stride, progress=True)
    print(f"model: {path} (protocol: {args.protocol})")
    print(
        f"stories={result.n_stories} bytes={result.n_bytes} tokens={result.n_tokens} "
        f"bytes_per_token={result.bytes_per_token:.4f} nats_per_token={result.nats_per_token:.4f}"
    )
    print(f"bpb={result.bpb:.6f}")
    return 0
