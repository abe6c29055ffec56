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

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from ..errors import DataError, TinyInterpError
from .story_files import file_format, has_known_suffix, iter_directory, iter_file, split_on_separator, story_from_record

TINYSTORIES_ID = "roneneldan/TinyStories"
# split names of the V2 (GPT-4 only) text files in the TinyStories repository
TINYSTORIES_V2_FILES = {
    "train-v2": "TinyStoriesV2-GPT4-train.txt",
    "validation-v2": "TinyStoriesV2-GPT4-valid.txt",
    "valid-v2": "TinyStoriesV2-GPT4-valid.txt",
}
SPLIT_ALIASES = {"valid": "validation", "val": "validation"}


@dataclass
class StoryStats:
    """Counts filled in while :func:`iter_stories` runs (so they are final once the iterator is exhausted)."""

    n_stories: int = 0
    n_blank_dropped: int = 0
    n_bytes: int = 0  # UTF-8 bytes of the kept (stripped) story texts
    source: str = ""


def iter_stories(source: str | os.PathLike, split: str = "train", stats: StoryStats | None = None) -> Iterator[str]:
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
        raw = iter_directory(Path(where))
    else:
        raw = iter_file(Path(where))
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
        how = (
            f"Download it once while online (`hf download {dataset_id} {file} --repo-type dataset`) "
            "and pass the local file instead."
        )
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
    if not has_known_suffix(Path(hub_id)) and looks_like_hub_id(hub_id):
        split = hub_split or split
        return "hub", hub_id, SPLIT_ALIASES.get(split, split)
    raise DataError(
        f"{text}: no such file or directory. Pass a local .txt/.jsonl/.json/.parquet file (or a folder of them), "
        f"or a Hugging Face dataset id such as {TINYSTORIES_ID}."
    )


def _iter_hub(dataset_id: str, split: str) -> Iterator[str | None]:
    from datasets import load_dataset

    try:
        if dataset_id == TINYSTORIES_ID and split in TINYSTORIES_V2_FILES:
            # The V2 files are plain text: rows are lines, so stories are re-assembled from the separators.
            ds = load_dataset(
                dataset_id,
                data_files={"data": TINYSTORIES_V2_FILES[split]},
                split="data",
                streaming=True,
                keep_linebreaks=True,
            )
            lines = ((i, row["text"].replace("\r\n", "\n")) for i, row in enumerate(ds, start=1))
            yield from split_on_separator(lines, f"{dataset_id}/{TINYSTORIES_V2_FILES[split]}")
            return
        ds = load_dataset(dataset_id, split=split, streaming=True)
        for i, row in enumerate(ds):
            yield story_from_record(row, Path(f"{dataset_id}:{split}"), f"row {i}")
    except TinyInterpError:
        raise
    except (ValueError, FileNotFoundError, ConnectionError, OSError) as e:
        splits = ", ".join(["train", "validation", *TINYSTORIES_V2_FILES]) if dataset_id == TINYSTORIES_ID else ""
        hint = f" Known splits of {TINYSTORIES_ID}: {splits}." if splits else ""
        raise DataError(f"{dataset_id}: split '{split}' could not be streamed from the hub ({e}).{hint}") from e
