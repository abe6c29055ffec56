"""Reading a frozen config dataclass back from a dict (a JSON file beside an artifact): the one strict check every
``from_dict`` shares. A key the dataclass does not have is an error naming the key, the nearest real settings and
the file it came from; a misspelt setting is never dropped without a word."""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from .errors import ConfigError
from .jsontypes import JSONValue

C = TypeVar("C")


def config_kwargs(
    cls: type,
    d: Mapping[str, JSONValue],
    source: str | os.PathLike | None = None,
    retired: Iterable[str] = (),
) -> dict[str, JSONValue]:
    """``d`` as keyword arguments for the dataclass ``cls``. ``retired``: keys older files may hold for settings
    that no longer exist, dropped silently; any other unknown key raises a ConfigError."""
    known = [f.name for f in dataclasses.fields(cls) if f.init]
    gone = set(retired)
    unknown = [k for k in d if k not in known and k not in gone]
    if unknown:
        raise ConfigError(unknown_keys_message(cls.__name__, unknown, known, source))
    return {k: v for k, v in d.items() if k not in gone}


def build_config(cls: type[C], values: Mapping[str, object]) -> C:
    """``cls(**values)``: JSON values meet the dataclass here, and its ``__post_init__`` checks what each field
    needs (a static type cannot: which field a key names is only known at run time)."""
    factory: Callable[..., C] = cls
    return factory(**values)


def config_from_dict(
    cls: type[C],
    d: Mapping[str, JSONValue],
    source: str | os.PathLike | None = None,
    retired: Iterable[str] = (),
) -> C:
    """The dataclass ``cls`` from ``d`` read from ``source``; an unknown key is an error (see ``config_kwargs``)."""
    return build_config(cls, config_kwargs(cls, d, source, retired))


def unknown_keys_message(
    what: str, unknown: list[str], known: list[str], source: str | os.PathLike | None, also: str = ""
) -> str:
    """One line: the unknown keys (with the nearest known ones), where they came from, and ``what``'s settings
    (``also``: words for accepted keys too many to list, e.g. a peer's)."""
    where = f"in {source}" if source is not None else "given"
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=2, cutoff=0.6)
        hints.append(f"{key!r}" + (f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""))
    return (
        f"unknown {what} setting{'s' if len(unknown) > 1 else ''} {', '.join(hints)} {where}; "
        f"{what} has {', '.join(sorted(known))}{also}: fix or remove the key"
    )
