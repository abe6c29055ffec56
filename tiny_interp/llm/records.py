"""The append-only JSONL log that every LLM job writes: one record per item attempt, the latest per id wins.

A crash can leave a half-written last line; readers skip it (it was never acknowledged as written), and writers
start a fresh line before appending so the next record is never glued onto the fragment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from ..jsonl import AppendLog, iter_jsonl

__all__ = ["AppendLog", "done_ids", "iter_records", "latest_records"]


def iter_records(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Every complete JSON object line in ``path`` (none when the file does not exist)."""
    for rec in iter_jsonl(path):
        if isinstance(rec, dict) and "id" in rec:
            yield rec


def latest_records(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The latest record for each id (later lines supersede earlier ones)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in iter_records(path):
        out[str(rec["id"])] = rec
    return out


def done_ids(path: str | os.PathLike) -> set[str]:
    return {i for i, r in latest_records(path).items() if r.get("status") == "done"}
