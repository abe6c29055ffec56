"""argparse options generated from a frozen config dataclass, so a new field appears on the command line at once.

Each field becomes ``--field-name`` with the field's type and default; a field's ``metadata["help"]`` is its help.
Booleans get ``--name`` / ``--no-name``; tuples take comma-separated values.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any


def _item_type(hint: Any) -> type:
    args = typing.get_args(hint)
    return args[0] if args else str


def _parser_for(hint: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        item = _item_type(hint)

        def parse(text: str) -> tuple:
            try:
                return tuple(item(v.strip()) for v in text.split(",") if v.strip())
            except ValueError:
                raise argparse.ArgumentTypeError(f"--{name} takes comma-separated {item.__name__} values, got {text!r}")

        return parse
    return hint


def add_config_options(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = (),
                       aliases: dict[str, str] | None = None) -> None:
    """One option per field of ``cls`` (except ``skip``); ``aliases`` adds a second flag for a field."""
    aliases = aliases or {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flags = ["--" + f.name.replace("_", "-")] + ([aliases[f.name]] if f.name in aliases else [])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = f.metadata.get("help", "")
        hint = hints[f.name]
        if hint is bool:
            parser.add_argument(*flags, action=argparse.BooleanOptionalAction, default=default, help=help_text)
            continue
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        parser.add_argument(*flags, type=_parser_for(hint, f.name), default=default, dest=f.name,
                            help=f"{help_text} (default: {shown})")


def config_from_args(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**{**values, **overrides})
