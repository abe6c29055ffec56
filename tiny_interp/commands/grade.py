"""tiny-interp grade: the paper's teacher grading of completions through an OpenAI-compatible endpoint."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli_args import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    from ..llm.runner import add_endpoint_args

    p = sub.add_parser(
        "grade",
        help="grade completions like a teacher (grammar, creativity, consistency, plot, age group)",
        description="Send each completion from `tiny-interp complete` to an LLM teacher (beginning *** completion) "
        "and record grammar, creativity, consistency and plot out of 10 plus an age group A-F. Answers are "
        "requested as JSON (--free-text for endpoints without response_format). Unreadable answers are failures "
        "with their raw text, never zeros; rerun to retry them. Writes FILE (JSONL log), FILE.table.md/.json "
        "(per-model means with 95%% CIs) and FILE.plot.html. The API key comes from $OPENAI_API_KEY.",
    )
    p.add_argument("completions", help="JSONL from `tiny-interp complete`")
    p.add_argument("--out", required=True, help="JSONL log of grades (appended; latest record per id wins)")
    p.add_argument("--kinds", default="story", help="completion kinds to grade (default story)")
    p.add_argument("--free-text", action="store_true", help="ask for plain text grades instead of a JSON schema")
    p.add_argument("--max-tokens", type=positive_int, default=600, help="max tokens per answer (default 600)")
    p.add_argument(
        "--paper-figures",
        default=None,
        help="JSON list of grades by d_model/n_layers to show beside ours instead of the built-in side "
        "table (the paper's Figure 4, Eldan & Li 2023)",
    )
    add_endpoint_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..atomic import write_json_atomic, write_text_atomic
    from ..llm.grade import grade_figure, grade_handler, grade_items, grade_table, load_paper_figures, table_markdown
    from ..llm.runner import config_from_args, run_items

    out = Path(args.out)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    # every input is read and checked before the first (paid) request
    paper = load_paper_figures(args.paper_figures) if args.paper_figures else None
    items = grade_items(args.completions, structured=not args.free_text, kinds=kinds)
    cfg = config_from_args(args, max_tokens=args.max_tokens, temperature=0.0)
    summary = run_items(items, out, cfg, grade_handler, progress=not args.no_progress, desc="grade")
    print("\n".join(summary.lines()), file=sys.stderr)
    if not args.free_text and any(c.startswith("client_error_4") for c in summary.failures_by_cause):
        print(
            "  hint: if the endpoint does not support response_format (JSON schema), rerun with --free-text",
            file=sys.stderr,
        )
    rows = grade_table(out, paper)
    write_json_atomic(out.with_name(out.name + ".table.json"), rows)
    md = table_markdown(rows)
    write_text_atomic(out.with_name(out.name + ".table.md"), md)
    grade_figure(rows).write_html(str(out.with_name(out.name + ".plot.html")), include_plotlyjs=True)
    print(md)
    return 1 if summary.failed else 0
