"""tiny-interp synth: write TinyStories-style stories with an LLM (resumable JSONL log)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli_args import number, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    from ..llm.runner import add_endpoint_args

    p = sub.add_parser(
        "synth",
        help="generate a TinyStories-style dataset through an OpenAI-compatible endpoint",
        description="Ask an LLM for N stories, each with a random verb, noun and adjective from the simple-word "
        "lists and a random subset of story features (the paper's protocol). Records are appended to --out as "
        "they arrive; rerun the same command to finish failed or missing items (done ones are never asked again). "
        "The API key comes from $OPENAI_API_KEY and is never written.",
    )
    p.add_argument("--n", type=positive_int, required=True, help="number of stories")
    p.add_argument("--out", required=True, help="JSONL log of story records (appended; latest record per id wins)")
    p.add_argument("--seed", type=int, default=0, help="seed for the word/feature draws (default 0)")
    p.add_argument("--feature-prob", type=number(float, 0, 1), default=0.3, help="chance of each feature (default 0.3)")
    p.add_argument("--max-tokens", type=positive_int, default=1024, help="max tokens per story (default 1024)")
    p.add_argument(
        "--temperature", type=number(float, 0, 2), default=1.0, help="sampling temperature, 0..2 (default 1.0)"
    )
    p.add_argument("--summaries", action="store_true", help="then ask for a 1-2 sentence summary of each story")
    p.add_argument("--export", default=None, help="then write finished stories as a JSON array (released schema)")
    p.add_argument("--instruct", default=None, help="then write TinyStories-Instruct text for the trainer")
    add_endpoint_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..atomic import write_json_atomic
    from ..llm.runner import config_from_args, run_items
    from ..llm.synth import (
        SynthConfig,
        dataset_records,
        export_dataset,
        story_handler,
        summary_handler,
        summary_items,
        synth_config_json,
        synth_items,
        write_instruct_txt,
    )

    out = Path(args.out)
    scfg = SynthConfig(n=args.n, seed=args.seed, feature_prob=args.feature_prob, source=args.model)
    rcfg = config_from_args(args, max_tokens=args.max_tokens, temperature=args.temperature)
    write_json_atomic(out.with_name(out.name + ".synth.json"), synth_config_json(scfg))
    summary = run_items(synth_items(scfg), out, rcfg, story_handler, progress=not args.no_progress, desc="stories")
    print("\n".join(summary.lines()), file=sys.stderr)
    failed = summary.failed
    summaries_log = None
    if args.summaries:
        summaries_log = out.with_name(out.stem + ".summaries.jsonl")
        s2 = run_items(
            summary_items(out),
            summaries_log,
            config_from_args(args, max_tokens=200, temperature=0.0),
            summary_handler,
            progress=not args.no_progress,
            desc="summaries",
        )
        print("summaries: " + "\n".join(s2.lines()), file=sys.stderr)
        failed += s2.failed
    if args.export:
        n = export_dataset(out, args.export, summaries_log)
        print(f"wrote {n} stories to {args.export}", file=sys.stderr)
    if args.instruct:
        n = write_instruct_txt(dataset_records(out, summaries_log), args.instruct, seed=args.seed)
        print(f"wrote {n} instruct examples to {args.instruct}", file=sys.stderr)
    return 1 if failed else 0
