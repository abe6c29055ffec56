"""tiny-interp eval-bpb: bits per byte of a model on stories, comparable across tokenizers."""

from __future__ import annotations

import argparse
from itertools import islice
from pathlib import Path
from typing import Iterator

EOT_LINE = "<|endoftext|>"


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
    p.add_argument("--data", required=True, help="stories: a .txt in the TinyStories format, .jsonl/.parquet, or a hub dataset id")
    p.add_argument("--max-stories", type=int, default=None, help="score only the first N stories")
    p.add_argument("--split", default="validation", help="dataset split for a hub id (default validation)")
    p.add_argument("--batch-size", type=int, default=16, help="windows per forward pass (default 16)")
    p.add_argument("--stride", type=int, default=None, help="sliding-window step for long stories (default: half the context)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.set_defaults(run=run)


def _read_txt_stories(path: Path) -> Iterator[str]:
    """Stories of a TinyStories .txt (each followed by a line <|endoftext|>); blank ones dropped."""
    from ..errors import DataError

    if not path.is_file():
        raise DataError(f"{path} does not exist; pass a TinyStories .txt file")
    buf: list[str] = []
    found = False
    try:
        with open(path, encoding="utf-8-sig", newline=None) as fh:
            for line in fh:
                if line.strip() == EOT_LINE:
                    text = "".join(buf).strip()
                    buf = []
                    if text:
                        found = True
                        yield text
                else:
                    buf.append(line)
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not valid UTF-8 ({e}); re-save it as UTF-8") from e
    text = "".join(buf).strip()
    if text:
        found = True
        yield text
    if not found:
        raise DataError(f"{path} holds no stories")


def read_stories(source: str, split: str) -> Iterator[str]:
    try:
        from ..data.stories import iter_stories
    except ImportError:  # until the data module lands: the TinyStories .txt format only
        from ..errors import DataError

        path = Path(source)
        if path.suffix != ".txt":
            raise DataError(f"{source}: only TinyStories .txt files can be read by this build") from None
        return _read_txt_stories(path)
    if Path(source).exists():
        return iter_stories(source)
    return iter_stories(source, split=split)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..eval.bpb import bits_per_byte
    from ..loading import resolve_model_dir
    from ..model.checkpoint import load_tinylm, load_tokenizer

    if args.max_stories is not None and args.max_stories < 1:
        raise ConfigError(f"--max-stories must be >= 1, got {args.max_stories}")
    path = resolve_model_dir(args.model)
    model = load_tinylm(path, device=args.device)
    tokenizer = load_tokenizer(path)
    stories = read_stories(args.data, args.split)
    if args.max_stories is not None:
        stories = islice(stories, args.max_stories)
    result = bits_per_byte(model, tokenizer, stories, batch_size=args.batch_size, stride=args.stride, progress=True)
    print(f"model: {path}")
    print(f"stories={result.n_stories} bytes={result.n_bytes} tokens={result.n_tokens} "
          f"bytes_per_token={result.bytes_per_token:.4f} nats_per_token={result.nats_per_token:.4f}")
    print(f"bpb={result.bpb:.6f}")
    return 0
