"""JSON lines: the one reader and writer of every append-only ``.jsonl`` log (LLM job records, training metrics).

Writers append one record per line and flush it. A kill mid-write can leave a torn last line: writers start a
fresh line before appending (so the next record is never glued onto the fragment) and readers skip lines that do
not parse, since such a fragment was never acknowledged as written. With ``strict=True`` only the last line may
be torn; a bad line anywhere else is a damaged file and names itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import DataError


def iter_jsonl(path: str | os.PathLike, strict: bool = False) -> Iterator[Any]:
    """Every parsed non-blank line of ``path``, in order (nothing when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return
    if path.is_dir():
        raise DataError(f"{path} is a directory; pass a JSONL file (one JSON record per line)")
    torn: tuple[int, str] | None = None
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = _decode(path, lineno, raw)
            if not line.strip():
                continue
            if torn is not None and strict:
                raise DataError(f"{path} line {torn[0]} is not JSON ({torn[1]}); fix or remove that line")
            record, error = _parse(line)
            if error is not None:
                torn = (lineno, error)
                continue
            yield record


def _decode(path: Path, lineno: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path}: line {lineno} is not valid UTF-8 (byte {e.start}); pass the JSONL file "
            "tiny-interp wrote, or re-save it as UTF-8"
        ) from None


def _parse(line: str) -> tuple[Any, str | None]:
    """(the line's value, None), or (None, why) for a line that is not JSON."""
    try:
        return json.loads(line), None
    except json.JSONDecodeError as e:
        return None, str(e)


def encode_record(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, default=str) + "\n"


def append_jsonl(path: str | os.PathLike, record: Any) -> None:
    """Append one record (opening and closing the file: for logs written now and then, like training metrics)."""
    with AppendLog(path, fsync=False) as log:
        log.append(record)


class AppendLog:
    """Append JSON records one per line to a file held open; each is flushed (and fsynced) before ``append``
    returns."""

    def __init__(self, path: str | os.PathLike, fsync: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        needs_newline = self.path.exists() and self.path.stat().st_size > 0 and not _ends_with_newline(self.path)
        # held open for the log's lifetime (close() / __exit__ close it), so no with-block can own it
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        if needs_newline:
            self._fh.write("\n")

    def append(self, record: Any) -> None:
        self._fh.write(encode_record(record))
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
