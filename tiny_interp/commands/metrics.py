"""tiny-interp metrics: LLM-free story metrics (diversity, novelty vs training, simplicity, repetition, bpb)."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from ..cli_args import device, number, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "metrics",
        help="measure stories without an LLM: diversity, novelty, simplicity, repetition (and bits per byte)",
        description="Measure one set of stories per model (completions JSONL from `tiny-interp complete`) or one "
        "set from a synth JSONL, a dataset .json or a TinyStories .txt: distinct-1/2/3, self-similarity (best "
        "Rouge-2 within the set), vocabulary simplicity (share of words outside the simple-word lists), "
        "repetition, and with --train novelty as in the paper's section 4.4 (share of k-grams seen in training "
        "and best Rouge-2 against any training story, through an n-gram index). With --model, also the model's "
        "bits per byte on --bpb-data (tiny_interp.eval.bpb).",
    )
    p.add_argument("stories", help="completions/synth JSONL, dataset .json, or TinyStories .txt")
    p.add_argument("--out", default=None, help="write the full report here as JSON")
    p.add_argument("--kinds", default="story", help="completion kinds to measure (default story)")
    p.add_argument("--limit", type=positive_int, default=None, help="at most this many stories per set")
    p.add_argument("--train", default=None, help="training stories (.txt) for novelty")
    p.add_argument("--max-train", type=positive_int, default=None, help="index only the first N training stories")
    p.add_argument("--k", type=number(int, 1, 16), default=4, help="k-gram size for the training overlap (default 4)")
    p.add_argument(
        "--keep-mod",
        type=positive_int,
        default=1,
        help="index 1/M of the n-grams (consistent hash sample) to save memory on the full dataset",
    )
    p.add_argument("--model", default=None, help="model directory: also report its bits per byte on --bpb-data")
    p.add_argument("--bpb-data", default=None, help="TinyStories .txt to score with --model (e.g. valid.txt)")
    p.add_argument("--device", type=device, default="cpu", help="cpu or cuda (default cpu)")
    p.set_defaults(run=run)


def _f(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def run(args: argparse.Namespace) -> int:
    from ..atomic import write_json_atomic
    from ..data.stories import read_stories
    from ..errors import ConfigError, utf8_input
    from ..eval.inputs import read_story_groups
    from ..eval.ngrams import NGramIndex, Vocab
    from ..eval.story_metrics import story_metrics

    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    with utf8_input(args.stories):
        groups = read_story_groups(args.stories, kinds, args.limit)
    index_k = index_rouge = None
    if args.train:
        with utf8_input(args.train):
            train = read_stories(args.train, args.max_train)
        vocab = Vocab()
        print(f"indexing {len(train)} training stories ...", file=sys.stderr)
        index_k = NGramIndex(train, n=args.k, keep_mod=args.keep_mod, vocab=vocab)
        index_rouge = index_k if args.k == 2 else NGramIndex(train, n=2, keep_mod=args.keep_mod, vocab=vocab)
    sets: dict[str, dict[str, Any]] = {}
    report: dict[str, object] = {"stories": args.stories, "train": args.train, "sets": sets}
    for name, texts in groups.items():
        sets[name] = story_metrics(texts, k=args.k, keep_mod=args.keep_mod, index_k=index_k, index_rouge=index_rouge)
    if args.model:
        if not args.bpb_data:
            raise ConfigError("--model needs --bpb-data FILE.txt (the stories to score, e.g. valid.txt)")
        # written by the evaluation helper; imported only here so metrics works without it
        import dataclasses

        from ..eval.bpb import bits_per_byte
        from ..model.opener import open_model

        handle = open_model(args.model, device=args.device)
        res = bits_per_byte(handle.module, handle.tokenizer, read_stories(args.bpb_data, args.limit))
        report["bits_per_byte"] = dataclasses.asdict(res) if dataclasses.is_dataclass(res) else res
    if args.out:
        write_json_atomic(args.out, report)
    cols = ["set", "n", "distinct-1", "distinct-2", "self-rouge2", "outside-words", "rep-4", "looping"]
    if index_k is not None:
        cols += [f"train-{args.k}gram", "best-rouge2"]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for name, m in sets.items():
        row = [
            name,
            str(m["n_texts"]),
            _f(m["distinct_1"]),
            _f(m["distinct_2"]),
            _f(m["self_similarity"]["mean_best_rouge"]),
            _f(m["simplicity"]["outside_share"]),
            _f(m["repetition"]["rep_4"]),
            _f(m["repetition"]["looping"]),
        ]
        if index_k is not None:
            row += [_f(m["novelty"][f"kgram_overlap_{args.k}"]), _f(m["novelty"]["best_rouge2_mean"])]
        print("| " + " | ".join(row) + " |")
    if "bits_per_byte" in report:
        print(f"bits per byte: {report['bits_per_byte']}")
    return 0
