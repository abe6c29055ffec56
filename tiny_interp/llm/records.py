"""The append-only JSONL log that every LLM job writes: one record per item attempt, the latest per id wins.

A crash can leave a half-written last line; readers skip it (it was never acknowledged as written), and writers
start a fresh line before appending so the next record is never glued onto the fragment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

from ..errors import DataError


def iter_records(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Every complete JSON object line in ``path`` (none when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return
    if path.is_dir():
        raise DataError(f"{path} is a directory; pass a JSONL file (one JSON record per line)")
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as e:
                raise DataError(f"{path}: line {number} is not valid UTF-8 (byte {e.start}); pass the JSONL file "
                                "tiny-interp wrote, or re-save it as UTF-8") from None
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill mid-write
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


class AppendLog:
    """Append JSON records one per line; each is flushed (and fsynced) before ``append`` returns."""

    def __init__(self, path: str | os.PathLike, fsync: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        needs_newline = self.path.exists() and self.path.stat().st_size > 0 and not _ends_with_newline(self.path)
        self._fh = open(self.path, "a", encoding="utf-8")
        if needs_newline:
            self._fh.write("\n")

    def append(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._fh.flush()
        if self._fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "AppendLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"
