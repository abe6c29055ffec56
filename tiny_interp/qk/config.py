"""What ``attention-why`` explains: one head, one query, one key (or the head's strongest key)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True)
class WhyConfig:
    layer: int = field(default=0, metadata={"help": "layer of the head", "low": 0})
    head: int = field(default=0, metadata={"help": "the head within the layer", "low": 0})
    query: int = field(default=-1, metadata={"help": "query position (negative counts from the end; default: last)"})
    key: int | None = field(
        default=None, metadata={"help": "key position (default: the key the head attends to most from the query)"}
    )
    top: int = field(default=10, metadata={"help": "pair terms and marginals shown", "low": 1})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "WhyConfig":
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown attention-why config keys {sorted(unknown)}")
        return cls(**d)
