"""tiny-interp heads: the head taxonomy of a model on a story file."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "heads",
        help="classify every attention head (previous-token, offset, induction, sink, semantic, ...)",
        description="Score every head on stories (previous-token, dominant offset, induction, sink, "
        "duplicate-token, attention on names/objects/pronouns/determiners, entropy) and label it.",
    )
    p.add_argument("model", help="model directory or hub id")
    p.add_argument("--stories", required=True, help="TinyStories-format .txt file")
    p.add_argument("--n-stories", type=int, default=200, help="stories to score on (default 200)")
    p.add_argument("--csv", default=None, help="also write the full table to this CSV file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..atomic import write_text_atomic
    from ..interp.heads import head_taxonomy
    from ..loading import load

    table = head_taxonomy(load(args.model), args.stories, n_stories=args.n_stories)
    cols = ["layer", "head", "label", "prev_token", "dominant_offset", "offset_share", "induction", "sink",
            "duplicate_token", "entropy"]
    print(table[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if args.csv:
        write_text_atomic(args.csv, table.to_csv(index=False))
    return 0
