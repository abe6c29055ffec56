"""argparse building blocks shared by every command: range-checked numbers, and options generated from a frozen
config dataclass (its fields, defaults, help and ranges), plus the reverse: the argv that reproduces a config.

Range limits live in each dataclass field's metadata (``field(default=..., metadata=opt("help", low=1))``), so a
new config field appears in the CLI, the model card's reproduce command and the lab's trainer at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar, Union

from .config_keys import build_config

C = TypeVar("C")


def opt(
    help: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    flag: bool = True,
    aliases: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Field metadata: the option's help, its allowed range (``low_open``: strictly above ``low``), whether it is
    a CLI option at all, and other spellings of its flag (``--arch`` for ``--architecture``)."""
    return {"help": help, "low": low, "high": high, "low_open": low_open, "flag": flag, "aliases": aliases}


def number(
    kind: type = int, low: float | None = None, high: float | None = None, low_open: bool = False
) -> Callable[[str], Any]:
    """An argparse ``type`` that parses ``kind`` and rejects NaN, infinities and values outside the range."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"{text} is out of range: must be {'>' if low_open else '>='} {low:g}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text} is out of range: must be <= {high:g}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


positive_int = number(int, 1)
count = number(int, 0)  # zero allowed
positive_float = number(float, 0, low_open=True)
nonneg_float = number(float, 0)
probability = number(float, 0, 1, low_open=True)


def device(text: str) -> str:
    """An argparse ``type`` for ``--device``: auto, cpu, cuda or cuda:N (availability is checked when used)."""
    if text in ("auto", "cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not a device: use cpu, cuda, cuda:N or auto")


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as a single ``error:`` line (exit code 2), like every other bad input."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True)."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(tp))
    return tp, False


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def config_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.metadata.get("flag", True) and f.init]


def add_config_args(
    parser: argparse.ArgumentParser, cls: type, required: Iterable[str] = (), skip: Iterable[str] = ()
) -> None:
    """One option per field of the dataclass ``cls`` (``--field-name``), typed, range-checked and documented."""
    hints = typing.get_type_hints(cls)
    required, skip = set(required), set(skip)
    for f in config_fields(cls):
        if f.name in skip:
            continue
        tp, _ = _unwrap(hints[f.name])
        meta = f.metadata
        kw: dict[str, Any] = {"help": meta.get("help"), "dest": f.name}
        if f.name in required:
            kw["required"] = True
        else:
            kw["default"] = f.default
        if tp is bool:  # an option that is on by default is turned off with --no-NAME
            action = argparse.BooleanOptionalAction if f.default is True else "store_true"
            parser.add_argument(flag_name(f.name), *meta.get("aliases", ()), action=action, **kw)
            continue
        if typing.get_origin(tp) is Literal:
            kw["choices"] = list(typing.get_args(tp))
        elif tp in (int, float):
            kw["type"] = number(tp, meta.get("low"), meta.get("high"), meta.get("low_open", False))
            kw["metavar"] = "N" if tp is int else "X"
        parser.add_argument(flag_name(f.name), *meta.get("aliases", ()), **kw)


def config_from_args(cls: type[C], args: argparse.Namespace, **extra: object) -> C:
    """The dataclass built from the parsed options it generated (``extra`` fills or overrides fields)."""
    values = {f.name: getattr(args, f.name) for f in config_fields(cls) if hasattr(args, f.name)}
    return build_config(cls, {**values, **extra})


def config_argv(cfg: Any, skip: Iterable[str] = (), keep: Iterable[str] = ()) -> list[str]:
    """The options that rebuild ``cfg`` through ``add_config_args``: fields that differ from their defaults
    (and the ``keep`` fields always)."""
    skip, keep = set(skip), set(keep)
    argv: list[str] = []
    for f in config_fields(type(cfg)):
        value = getattr(cfg, f.name)
        if f.name in skip or (f.name not in keep and value == f.default):
            continue
        if isinstance(value, bool):  # a bool that differs from its default: its flag, or --no-NAME
            argv += [flag_name(f.name) if value else "--no-" + flag_name(f.name)[2:]]
        elif value is not None:
            argv += [flag_name(f.name), str(value)]
    return argv
