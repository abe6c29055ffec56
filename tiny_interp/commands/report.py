"""tiny-interp report: execute a notebook with parameters and publish one self-contained HTML file."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="run a notebook with parameters and write a self-contained HTML report",
        description="Execute NOTEBOOK in a fresh kernel with --param values injected after its 'parameters' cell "
        "(papermill style), then write one HTML file that needs no kernel and no network: plotly and the views "
        "inline, a table of contents, and the run's model, data, package version, git commit, parameters and date.",
    )
    p.add_argument("notebook", help="the .ipynb to run (e.g. notebooks/05_attention_heads.ipynb)")
    p.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a parameter; VALUE is a Python literal or plain text (repeatable)",
    )
    p.add_argument("--out", required=True, help="HTML file to write")
    p.add_argument("--cwd", default=None, help="working directory of the kernel (default: the current one)")
    p.add_argument("--cell-timeout", type=float, default=1800, help="seconds one cell may run (default 1800)")
    p.add_argument(
        "--save-executed",
        default=None,
        metavar="FILE.ipynb",
        help="also save the executed notebook (also on failure, to see which cell broke)",
    )
    p.add_argument(
        "--beside-model",
        action="store_true",
        help="let --out land inside a shipped model (default: such a path goes under runs/<model>/)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..report import build_report, parse_params
    from ..shipped import results_path

    out = results_path(args.out, args.beside_model)  # a report inside a shipped model goes under runs/
    meta = build_report(
        args.notebook,
        out,
        parse_params(args.param),
        cwd=args.cwd,
        cell_timeout=args.cell_timeout,
        executed_copy=args.save_executed,
    )
    print(
        f"wrote {out} ({meta['execution_seconds']} s; model {meta.get('model')}, commit {meta.get('git_commit')})",
        file=sys.stderr,
    )
    return 0
