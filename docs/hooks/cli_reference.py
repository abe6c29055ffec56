"""MkDocs hook: the CLI reference page, written from ``tiny_interp.cli.build_parser()`` at build time.

The reference can then never disagree with the command line: a new option shows up in the docs with its help
text the next time they are built. ``tests/test_docs.py`` uses :func:`commands` to check the docs' examples.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

MARKER = "<!-- cli-reference -->"
REPO = Path(__file__).resolve().parents[2]


def build_parser() -> argparse.ArgumentParser:
    # the docs are built from a checkout: its own package, not whichever copy the environment has installed
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tiny_interp.cli import build_parser as build

    return build()


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's direct subcommands by name (empty for a leaf)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


Parsers = dict[tuple[str, ...], argparse.ArgumentParser]


def commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Parsers:
    """Every command path (``("sae", "train")``) with its parser, the inner nodes included, in declaration order."""
    found: Parsers = {}
    for name, sub in subparsers(parser).items():
        path = (*prefix, name)
        found[path] = sub
        found.update(commands(sub, path))
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _option_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        name = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.dest}`"
        if action.choices is not None:
            name += "<br>" + " / ".join(f"`{c}`" for c in action.choices)
        default = action.default
        shown = "required" if action.required else "" if default in (None, False, argparse.SUPPRESS) else f"`{default}`"
        rows.append(f"| {name} | {shown} | {_cell(action.help or '')} |")
    return rows


def _section(path: tuple[str, ...], parser: argparse.ArgumentParser) -> str:
    title = "tiny-interp " + " ".join(path)
    parts = [f"{'#' * min(len(path) + 1, 4)} `{title}`", ""]
    if parser.description:
        parts += ["```text", parser.description.rstrip(), "```", ""]
    # argparse wraps usage lines to the terminal: a fixed width makes every build write the same page
    parser.formatter_class = functools.partial(argparse.HelpFormatter, width=100)
    parts += ["```text", parser.format_usage().removeprefix("usage: ").rstrip(), "```", ""]
    rows = _option_rows(parser)
    if rows:
        parts += ["| argument | default | meaning |", "|---|---|---|", *rows, ""]
    return "\n".join(parts)


def reference_markdown() -> str:
    """One section per command and subcommand."""
    parser = build_parser()
    return "\n".join(_section(path, sub) for path, sub in commands(parser).items())


def on_page_markdown(markdown: str, page: object, config: object, files: object) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, reference_markdown())
