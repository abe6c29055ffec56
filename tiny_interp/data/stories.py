"""Stories, one at a time, from local files or the Hugging Face hub.

Local formats (a ``.gz`` on top of the text formats is decompressed on the fly):

* ``.txt``: the TinyStories text format, each story followed by a line ``<|endoftext|>``. CRLF line ends and a
  UTF-8 byte-order mark are fine. A file with text but no separator at all is refused (it is almost always the wrong
  file, and treating it as one story would hold it all in memory); a single story just needs a final separator line.
* ``.jsonl`` (one JSON object per line) and ``.json`` (JSON lines, or one array of objects/strings, read
  incrementally): the field ``story``, else ``text``.
* ``.parquet``: the column ``story``, else ``text``, read batch by batch.
* a directory: every file above in it (recursively), in sorted order.

Everything streams: memory stays bounded by one story (txt/json) or one record batch (parquet).

Hub: ``roneneldan/TinyStories`` with split ``train``/``validation`` (the original data) or ``train-v2``/
``validation-v2`` (the cleaner GPT-4-only files ``TinyStoriesV2-GPT4-{train,valid}.txt``); any other dataset id is
read with its own splits and a ``story``/``text`` column. ``ID:SPLIT`` picks the split inside the string, e.g.
``roneneldan/TinyStories:validation-v2``. Offline, a hub id fails at once.

Every story is stripped of surrounding whitespace; blank stories are dropped and counted in :class:`StoryStats`.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from ..errors import DataError, TinyInterpError
from .tokenizer import EOT

SEPARATOR = EOT
TINYSTORIES_ID = "roneneldan/TinyStories"
# split names of the V2 (GPT-4 only) text files in the TinyStories repository
TINYSTORIES_V2_FILES = {
    "train-v2": "TinyStoriesV2-GPT4-train.txt",
    "validation-v2": "TinyStoriesV2-GPT4-valid.txt",
    "valid-v2": "TinyStoriesV2-GPT4-valid.txt",
}
SPLIT_ALIASES = {"valid": "validation", "val": "validation"}
FORMATS = {".txt": "txt", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet"}
STORY_FIELDS = ("story", "text")
# No TinyStories story comes near this; a longer one means the separators are missing.
MAX_STORY_CHARS = 4 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"


@dataclass
class StoryStats:
    """Counts filled in while :func:`iter_stories` runs (so they are final once the iterator is exhausted)."""

    n_stories: int = 0
    n_blank_dropped: int = 0
    n_bytes: int = 0  # UTF-8 bytes of the kept (stripped) story texts
    source: str = ""


def iter_stories(
    source: str | os.PathLike, split: str = "train", stats: StoryStats | None = None
) -> Iterator[str]:
    """Yield the non-blank stories of ``source`` (a local file/directory or a hub dataset id), stripped.

    A missing file, an unknown format or an unreachable hub raise here, at the call; problems inside the data
    (invalid UTF-8, no stories, missing fields) raise while iterating, naming the file and the place.
    """
    stats = stats if stats is not None else StoryStats()
    kind, where, split = resolve_source(source, split)
    stats.source = where if kind != "hub" else f"{where}:{split}"
    if kind == "hub":
        check_hub_source(where, split)
        raw = _iter_hub(where, split)
    elif kind == "dir":
        raw = _iter_directory(Path(where))
    else:
        raw = _iter_file(Path(where))
    return _keep_stories(raw, stats)


def read_stories(
    source: str | os.PathLike | Iterable[str], limit: int | None = None, split: str = "train"
) -> list[str]:
    """The first ``limit`` stories (all when None or 0) as a list: of a file, folder or hub id as
    :func:`iter_stories` reads them (only as far as needed), or of a list of strings (blank ones dropped).

    The one reader for code that wants a list in memory (analyses, metrics, tests); DataError when there are none.
    """
    if isinstance(source, (str, os.PathLike)):
        stories = list(islice(iter_stories(source, split), limit or None))
    else:
        stories = list(islice((s for s in source if s and s.strip()), limit or None))
    if not stories:
        raise DataError("no stories given: pass a non-empty list of story strings or a TinyStories .txt file")
    return stories


def _keep_stories(raw: Iterable[str | None], stats: StoryStats) -> Iterator[str]:
    for text in raw:
        if text is None or not text.strip():
            stats.n_blank_dropped += 1
            continue
        text = text.strip()
        stats.n_stories += 1
        stats.n_bytes += len(text.encode("utf-8"))
        yield text


def check_hub_source(dataset_id: str, split: str) -> None:
    """Fail at once (no retry loop) when the hub cannot be reached."""
    from ..hub import require_hub

    if dataset_id == TINYSTORIES_ID and split in TINYSTORIES_V2_FILES:
        file = TINYSTORIES_V2_FILES[split]
        how = (f"Download it once while online (`hf download {dataset_id} {file} --repo-type dataset`) "
               "and pass the local file instead.")
    else:
        how = "Download the data once while online and pass a local .txt/.jsonl/.parquet file instead."
    if dataset_id != TINYSTORIES_ID:
        how += f" (No local file or folder {dataset_id} exists either, so it was taken for a hub id.)"
    try:
        require_hub(f"the dataset {dataset_id} (split {split})", how)
    except DataError:
        raise
    except TinyInterpError as e:
        raise DataError(str(e)) from e


def resolve_source(source: str | os.PathLike, split: str = "train") -> tuple[str, str, str]:
    """(kind, where, split): kind is 'file', 'dir' or 'hub'. Raises DataError for a missing or unknown file."""
    from ..hub import looks_like_hub_id

    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_dir():
        return "dir", str(path), split
    if path.exists():
        file_format(path)  # unknown formats fail here, before anything is read
        return "file", str(path), split
    hub_id, _, hub_split = text.partition(":")
    if not _has_known_suffix(Path(hub_id)) and looks_like_hub_id(hub_id):
        split = hub_split or split
        return "hub", hub_id, SPLIT_ALIASES.get(split, split)
    raise DataError(
        f"{text}: no such file or directory. Pass a local .txt/.jsonl/.json/.parquet file (or a folder of them), "
        f"or a Hugging Face dataset id such as {TINYSTORIES_ID}."
    )


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


def _has_known_suffix(path: Path) -> bool:
    return any(s.lower() in FORMATS or s.lower() == ".gz" for s in path.suffixes)


def _iter_directory(folder: Path) -> Iterator[str | None]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and _has_known_suffix(p) and not p.name.startswith("."))
    if not files:
        raise DataError(f"{folder}: the folder holds no .txt/.jsonl/.json/.parquet files")
    for f in files:
        yield from _iter_file(f)


def _iter_file(path: Path) -> Iterator[str | None]:
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


def _open_binary(path: Path) -> IO[bytes]:
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
                raw, start = raw[len(_BOM):], start + len(_BOM)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise _utf8_error(path, start + e.start, lineno, raw[e.start:e.end]) from e
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


def _story_from_record(record: Any, path: Path, where: str) -> str | None:
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
    raise DataError(f"{path}: {where}: expected a JSON object with a 'story' or 'text' field, got {type(record).__name__}")


def _read_jsonl(path: Path) -> Iterator[str | None]:
    for lineno, line in _decoded_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {lineno} is not valid JSON ({e.msg} at column {e.colno})") from e
        yield _story_from_record(record, path, f"line {lineno}")


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

    def __init__(self, fh: IO[bytes], path: Path):
        self.fh, self.path = fh, path
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.buf, self.pos, self.bytes_read, self.eof = "", 0, 0, False

    def fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.fh.read(self.CHUNK)
        if self.bytes_read == 0 and chunk.startswith(_BOM):
            chunk, self.bytes_read = chunk[len(_BOM):], len(_BOM)
        try:
            text = self.decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as e:
            raise _utf8_error(self.path, self.bytes_read + e.start, None, e.object[e.start:e.end]) from e
        self.bytes_read += len(chunk)
        self.eof = not chunk
        self.buf = self.buf[self.pos:] + text
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next non-whitespace character ('' at the end)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos].isspace():
                self.pos += 1
            if self.pos < len(self.buf) or not self.fill():
                return self.buf[self.pos:self.pos + 1]

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
            yield _story_from_record(stream.value(decoder), path, f"array element {index}")
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


def _iter_hub(dataset_id: str, split: str) -> Iterator[str | None]:
    from datasets import load_dataset

    try:
        if dataset_id == TINYSTORIES_ID and split in TINYSTORIES_V2_FILES:
            # The V2 files are plain text: rows are lines, so stories are re-assembled from the separators.
            ds = load_dataset(
                dataset_id, data_files={"data": TINYSTORIES_V2_FILES[split]}, split="data", streaming=True,
                keep_linebreaks=True,
            )
            lines = ((i, row["text"].replace("\r\n", "\n")) for i, row in enumerate(ds, start=1))
            yield from split_on_separator(lines, f"{dataset_id}/{TINYSTORIES_V2_FILES[split]}")
            return
        ds = load_dataset(dataset_id, split=split, streaming=True)
        for i, row in enumerate(ds):
            yield _story_from_record(row, Path(f"{dataset_id}:{split}"), f"row {i}")
    except TinyInterpError:
        raise
    except (ValueError, FileNotFoundError, ConnectionError, OSError) as e:
        splits = ", ".join(["train", "validation", *TINYSTORIES_V2_FILES]) if dataset_id == TINYSTORIES_ID else ""
        hint = f" Known splits of {TINYSTORIES_ID}: {splits}." if splits else ""
        raise DataError(f"{dataset_id}: split '{split}' could not be streamed from the hub ({e}).{hint}") from e
