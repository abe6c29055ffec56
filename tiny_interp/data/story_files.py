"""Stories from local files: one reader per format (txt, jsonl, json, parquet, each optionally gzipped) and
folders of them, every one streaming and naming the file and place of any problem. ``stories`` picks the reader."""

from __future__ import annotations

import codecs
import gzip
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import DataError, TinyInterpError
from .tokenizer import EOT

SEPARATOR = EOT
FORMATS = {".txt": "txt", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet"}
STORY_FIELDS = ("story", "text")
# No TinyStories story comes near this; a longer one means the separators are missing.
MAX_STORY_CHARS = 4 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"


def file_format(path: Path) -> str:
    """'txt', 'jsonl', 'json' or 'parquet' from the file name; DataError for anything else."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
        if suffixes and suffixes[-1] == ".parquet":
            suffixes = []  # parquet is compressed inside; a gzipped parquet cannot be read in batches
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise DataError(
            f"{path}: unknown data format {''.join(path.suffixes) or '(no extension)'}. Use .txt (stories "
            f"separated by a line {SEPARATOR}), .jsonl/.json (field 'story' or 'text') or .parquet "
            "(column 'story' or 'text'); .txt/.jsonl/.json may be gzipped (.gz)."
        )
    return fmt


def has_known_suffix(path: Path) -> bool:
    return any(s.lower() in FORMATS or s.lower() == ".gz" for s in path.suffixes)


def iter_directory(folder: Path) -> Iterator[str | None]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and has_known_suffix(p) and not p.name.startswith("."))
    if not files:
        raise DataError(f"{folder}: the folder holds no .txt/.jsonl/.json/.parquet files")
    for f in files:
        yield from iter_file(f)


def iter_file(path: Path) -> Iterator[str | None]:
    fmt = file_format(path)
    produced = False
    blank = 0
    readers = {"txt": _read_txt, "jsonl": _read_jsonl, "json": _read_json, "parquet": _read_parquet}
    try:
        for text in readers[fmt](path):
            if text is None or not text.strip():
                blank += 1
            else:
                produced = True
            yield text
    except (TinyInterpError, GeneratorExit):
        raise
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e})") from e
    if not produced:
        extra = f" ({blank} blank stories dropped)" if blank else ""
        raise DataError(f"{path}: the file holds no stories{extra}. {_format_hint(fmt)}")


def _format_hint(fmt: str) -> str:
    if fmt == "txt":
        return f"A .txt file needs stories each followed by a line {SEPARATOR}."
    if fmt == "parquet":
        return "A .parquet file needs a non-empty column 'story' or 'text'."
    return "A .jsonl/.json file needs records with a non-empty field 'story' or 'text'."


def _open_binary(path: Path) -> io.BufferedIOBase:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text with '\\n' line end) of a UTF-8 file, read in binary so errors can give byte offsets."""
    offset = 0
    with _open_binary(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            start = offset
            offset += len(raw)
            if lineno == 1 and raw.startswith(_BOM):
                raw, start = raw[len(_BOM) :], start + len(_BOM)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise _utf8_error(path, start + e.start, lineno, raw[e.start : e.end]) from e
            if line.endswith("\r\n"):
                line = line[:-2] + "\n"
            yield lineno, line


def _utf8_error(path: Path | str, offset: int, lineno: int | None, bad: bytes) -> DataError:
    where = f"byte offset {offset}" + (f" (line {lineno})" if lineno is not None else "")
    return DataError(
        f"{path}: invalid UTF-8 at {where}: bytes {bad!r}. The data must be UTF-8; re-encode the file "
        "(e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`) or remove the broken bytes."
    )


def _read_txt(path: Path) -> Iterator[str | None]:
    yield from split_on_separator(_decoded_lines(path), str(path))


def split_on_separator(lines: Iterable[tuple[int, str]], where: str) -> Iterator[str | None]:
    """Group (line number, line) pairs into the raw texts between ``<|endoftext|>`` separators.

    Yields None for a blank story between two separators; whitespace before the first separator or after the last
    one is framing, not a story. The separator may sit on its own line (the dataset's format) or inside a line.
    """
    buf: list[str] = []
    size = 0
    first_line = 1
    seen_separator = False
    for lineno, line in lines:
        if SEPARATOR in line:
            *ends, rest = line.split(SEPARATOR)
            for piece in ends:
                buf.append(piece)
                text = "".join(buf)
                if text.strip():
                    yield text
                elif seen_separator:
                    yield None
                seen_separator = True
            buf, size = [rest], len(rest)
            first_line = lineno if rest.strip() else lineno + 1
            continue
        buf.append(line)
        size += len(line)
        if size > MAX_STORY_CHARS:
            what = f"a story starting at line {first_line}" if seen_separator else "the text"
            raise DataError(
                f"{where}: {what} runs past {MAX_STORY_CHARS:,} characters without a {SEPARATOR} "
                f"separator line. TinyStories .txt files end every story with a line {SEPARATOR}; is this the "
                "right file and format?"
            )
    text = "".join(buf)
    if text.strip():
        if not seen_separator:
            raise DataError(
                f"{where}: no {SEPARATOR} separator found. TinyStories .txt files end every story with a line "
                f"{SEPARATOR}; add those lines (a file holding a single story needs one at its end), or use "
                ".jsonl with one story per record."
            )
        yield text  # the last story may omit its trailing separator


def story_from_record(record: Any, path: Path, where: str) -> str | None:
    if isinstance(record, str):
        return record
    if isinstance(record, dict):
        for field in STORY_FIELDS:
            if field in record:
                value = record[field]
                if value is None or isinstance(value, str):
                    return value
                raise DataError(f"{path}: {where}: field '{field}' is {type(value).__name__}, expected a string")
        fields = ", ".join(sorted(map(str, record))) or "none"
        raise DataError(
            f"{path}: {where}: the record has no 'story' or 'text' field (fields: {fields}). "
            "Each JSON record needs the story text under 'story' or 'text'."
        )
    raise DataError(
        f"{path}: {where}: expected a JSON object with a 'story' or 'text' field, got {type(record).__name__}"
    )


def _read_jsonl(path: Path) -> Iterator[str | None]:
    for lineno, line in _decoded_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {lineno} is not valid JSON ({e.msg} at column {e.colno})") from e
        yield story_from_record(record, path, f"line {lineno}")


def _read_json(path: Path) -> Iterator[str | None]:
    with _open_binary(path) as fh:
        head = fh.read(4096)
    first = head.removeprefix(_BOM).lstrip()[:1]
    if first == b"[":
        yield from _read_json_array(path)
    else:  # JSON lines saved as .json, the way many dumps are named
        yield from _read_jsonl(path)


class _JsonStream:
    """Incremental reader over a (possibly huge) JSON text: holds one element at a time, not the file."""

    CHUNK = 1 << 20

    def __init__(self, fh: io.BufferedIOBase, path: Path):
        self.fh, self.path = fh, path
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.buf, self.pos, self.bytes_read, self.eof = "", 0, 0, False

    def fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.fh.read(self.CHUNK)
        if self.bytes_read == 0 and chunk.startswith(_BOM):
            chunk, self.bytes_read = chunk[len(_BOM) :], len(_BOM)
        try:
            text = self.decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as e:
            raise _utf8_error(self.path, self.bytes_read + e.start, None, e.object[e.start : e.end]) from e
        self.bytes_read += len(chunk)
        self.eof = not chunk
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next non-whitespace character ('' at the end)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos].isspace():
                self.pos += 1
            if self.pos < len(self.buf) or not self.fill():
                return self.buf[self.pos : self.pos + 1]

    def expect(self, chars: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            found = repr(c) if c else "the end of the file"
            raise DataError(f"{self.path}: malformed JSON: expected one of {chars!r} but found {found}")
        self.pos += 1
        return c

    def value(self, decoder: json.JSONDecoder) -> Any:
        self.peek()
        while True:
            try:
                obj, end = decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                if self.fill():
                    continue
                raise DataError(f"{self.path}: malformed JSON ({e.msg})") from e
            if end == len(self.buf) and not self.eof and self.fill():
                continue  # a number may continue in the next chunk
            self.pos = end
            return obj


def _read_json_array(path: Path) -> Iterator[str | None]:
    decoder = json.JSONDecoder()
    with _open_binary(path) as fh:
        stream = _JsonStream(fh, path)
        stream.expect("[")
        if stream.peek() == "]":
            return
        index = 0
        while True:
            yield story_from_record(stream.value(decoder), path, f"array element {index}")
            index += 1
            if stream.expect(",]") == "]":
                break
        if stream.peek():
            raise DataError(f"{path}: malformed JSON: extra data after the closing ']'")


def _read_parquet(path: Path) -> Iterator[str | None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{path}: not a readable Parquet file ({e})") from e
    names = pf.schema_arrow.names
    column = next((f for f in STORY_FIELDS if f in names), None)
    if column is None:
        raise DataError(
            f"{path}: no 'story' or 'text' column (columns: {', '.join(names) or 'none'}). "
            "The Parquet file needs the story text in a column named 'story' or 'text'."
        )
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=4096, columns=[column]):
            for value in batch.column(0).to_pylist():
                if isinstance(value, bytes):
                    try:
                        value = value.decode("utf-8")
                    except UnicodeDecodeError as e:
                        raise DataError(f"{path}: row {row}: invalid UTF-8 in column '{column}' ({e.reason})") from e
                elif value is not None and not isinstance(value, str):
                    raise DataError(f"{path}: column '{column}' holds {type(value).__name__}, expected strings")
                row += 1
                yield value
    except pa.ArrowException as e:
        raise DataError(f"{path}: Parquet data could not be read at row {row} ({e})") from e
