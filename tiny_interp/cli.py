"""``tiny-interp``: one subcommand per module in ``tiny_interp.commands``.

Each command module exposes ``register(subparsers)``; it sets ``run`` as the parser default and imports its heavy
dependencies inside ``run`` so ``tiny-interp --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from . import __version__
from .cli_args import OneLineParser
from .errors import TinyInterpError

COMMANDS = [
    "prepare",
    "train",
    "generate",
    "lab",
    "synth",
    "complete",
    "grade",
    "metrics",
    "atlas",
    "heads",
    "import_llama2c",
    "eval_bpb",
    "report",
    "ship",
    "sae",
    "autointerp",
    "graph",
    "attention_why",
]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="tiny-interp",
        description="Train, open, inspect and grade TinyStories-scale language models.",
    )
    parser.add_argument("--version", action="version", version=f"tiny-interp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"tiny_interp.commands.{name}").register(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001 - warnings' signature
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.formatwarning = _one_line_warning  # library warnings reach a CLI user as one line each
    try:
        return int(args.run(args) or 0)
    except TinyInterpError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a file the user named cannot be read or written (missing, a directory, no permission)
        where = f" {e.filename}" if e.filename else ""
        print(f"error:{where}: {e.strerror or e}; check the path and its permissions", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
