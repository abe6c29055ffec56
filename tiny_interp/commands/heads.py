"""tiny-interp heads: the head taxonomy of a model on a story file."""

from __future__ import annotations

import argparse

from ..cli_args import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "heads",
        help="classify every attention head (previous-token, offset, distance, induction, sink, semantic, ...)",
        description="Score every head on stories (previous-token, dominant offset, mass on the last few tokens, "
        "induction, sink, duplicate-token, attention on names/objects/pronouns/determiners, entropy) and label it.",
    )
    p.add_argument("model", help="model directory or hub id")
    p.add_argument("--stories", required=True, help="TinyStories-format .txt file")
    p.add_argument("--n-stories", type=positive_int, default=200, help="stories to score on (default 200)")
    p.add_argument("--csv", default=None, help="also write the full table to this CSV file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..atomic import write_text_atomic
    from ..errors import utf8_input
    from ..interp.heads import head_taxonomy
    from ..loading import load

    with utf8_input(args.stories):
        table = head_taxonomy(load(args.model), args.stories, n_stories=args.n_stories)
    lifts = [c for c in table.columns if c.startswith("lift_")]
    shown = table.assign(best_lift=table[lifts].max(axis=1)) if lifts else table
    cols = (
        [
            "layer",
            "head",
            "label",
            "prev_token",
            "dominant_offset",
            "offset_share",
            "local_mass",
            "induction",
            "sink",
            "duplicate_token",
        ]
        + (["best_lift"] if lifts else [])
        + ["entropy"]
    )
    print(shown[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if args.csv:
        write_text_atomic(args.csv, table.to_csv(index=False))
    return 0
