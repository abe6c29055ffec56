"""tiny-interp complete: N completions per evaluation prompt from a local model (resumable JSONL)."""

from __future__ import annotations

import argparse
import sys

from ..cli_args import device, nonneg_float, positive_int, probability


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "complete",
        help="complete the evaluation prompts with a model (input for grade and metrics)",
        description="Complete the built-in evaluation prompts (50 story beginnings, most cut mid-sentence, plus "
        "knowledge, reasoning and context-tracking probes) N times each. The N samples of a prompt are one seeded "
        "batch. Records are appended to --out; rerunning finishes what is missing. Several models may share one "
        "file (ids are NAME/PROMPT/SAMPLE).",
    )
    p.add_argument("model", help="model directory or Hugging Face hub id")
    p.add_argument("--out", required=True, help="JSONL of completion records (appended)")
    p.add_argument("--n", type=positive_int, default=10, help="completions per prompt (default 10)")
    p.add_argument("--name", default=None, help="model name in the records (default: the model directory name)")
    p.add_argument(
        "--kinds", default="story,knowledge,reasoning,context", help="prompt kinds, comma-separated (default all)"
    )
    p.add_argument("--max-new-tokens", type=positive_int, default=200, help="tokens per completion (default 200)")
    p.add_argument("--temperature", type=nonneg_float, default=1.0, help="0 = greedy; default 1.0")
    p.add_argument("--top-k", type=positive_int, default=None, help="sample from the k most likely tokens only")
    p.add_argument("--top-p", type=probability, default=None, help="nucleus sampling: smallest set with this mass")
    p.add_argument("--seed", type=int, default=0, help="base seed (each prompt's batch seed derives from it)")
    p.add_argument("--device", type=device, default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..llm.complete import CompleteConfig, complete

    name = args.name or Path(args.model.rstrip("/")).name
    cfg = CompleteConfig(
        model=args.model,
        name=name,
        n=args.n,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        kinds=tuple(k.strip() for k in args.kinds.split(",") if k.strip()),
        device=args.device,
    )
    counts = complete(cfg, args.out, progress=not args.no_progress)
    redone = f" ({counts['redone']} completions redone: made with other settings)" if counts["redone"] else ""
    print(
        f"{name}: completed {counts['generated_prompts']} prompts, {counts['skipped_prompts']} already done"
        f"{redone} -> {args.out}",
        file=sys.stderr,
    )
    return 0
