"""Loading stories: every local format, CRLF/BOM, blank stories, bad inputs, and the offline hub."""

from __future__ import annotations

import gzip
import json

import pytest

from tiny_interp.data import stories as stories_mod
from tiny_interp.data import story_files as story_files_mod
from tiny_interp.data.stories import StoryStats, iter_stories
from tiny_interp.errors import DataError, TinyInterpError

SEP = "<|endoftext|>"


def load(path, **kw):
    stats = StoryStats()
    return list(iter_stories(path, stats=stats, **kw)), stats


def txt(texts: list[str], newline: str = "\n") -> str:
    return "".join(t.replace("\n", newline) + newline + SEP + newline for t in texts)


def test_txt_round_trip_keeps_paragraphs(tmp_path, story_texts):
    path = tmp_path / "s.txt"
    path.write_text(txt(story_texts[:50]), encoding="utf-8")
    got, stats = load(path)
    assert got == [t.strip() for t in story_texts[:50]]
    assert stats.n_stories == 50 and stats.n_blank_dropped == 0
    assert stats.n_bytes == sum(len(t.strip().encode()) for t in story_texts[:50])
    assert stats.source == str(path)


def test_crlf_and_bom_give_the_same_stories(tmp_path, story_texts):
    plain, windows = tmp_path / "a.txt", tmp_path / "b.txt"
    plain.write_bytes(txt(story_texts[:20]).encode())
    windows.write_bytes(b"\xef\xbb\xbf" + txt(story_texts[:20], "\r\n").encode())
    a, _ = load(plain)
    b, stats = load(windows)
    assert a == b and not any("\r" in s or "\ufeff" in s for s in b)
    assert stats.n_bytes == sum(len(s.encode()) for s in a)


def test_blank_stories_dropped_and_counted(tmp_path):
    path = tmp_path / "s.txt"
    # leading/trailing whitespace around the separators is framing; empty stories between separators are not
    path.write_text(f"\n{SEP}\nOne.\n{SEP}\n\n{SEP}\n   \n\t\n{SEP}\nTwo.\n\nStill two.\n{SEP}\n\n\n", encoding="utf-8")
    got, stats = load(path)
    assert got == ["One.", "Two.\n\nStill two."]
    assert (stats.n_stories, stats.n_blank_dropped) == (2, 2)


def test_inline_separator_and_missing_final_separator(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text(f"First story.{SEP}Second story.\n{SEP}\nThird, no separator after it.\n", encoding="utf-8")
    got, _ = load(path)
    assert got == ["First story.", "Second story.", "Third, no separator after it."]


def test_gzipped_txt(tmp_path, story_texts):
    path = tmp_path / "s.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(txt(story_texts[:10]))
    assert load(path)[0] == [t.strip() for t in story_texts[:10]]


def test_jsonl_story_or_text_field_and_blank_records(tmp_path, story_texts):
    path = tmp_path / "s.jsonl"
    rows = [{"story": story_texts[0], "summary": "x"}, {"text": story_texts[1]}, {"story": "  "}, {"story": None}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    got, stats = load(path)
    assert got == [story_texts[0].strip(), story_texts[1].strip()]
    assert (stats.n_stories, stats.n_blank_dropped) == (2, 2)


def test_json_array_is_streamed_across_chunk_boundaries(tmp_path, monkeypatch):
    texts = [f'Ünïcode story {i} — with "quotes" and émojis 🐸 {"x" * (i % 13)}' for i in range(60)]
    path = tmp_path / "s.json"
    path.write_bytes(
        b"\xef\xbb\xbf" + json.dumps([{"story": t, "n": i} for i, t in enumerate(texts)], indent=1).encode()
    )
    monkeypatch.setattr(story_files_mod._JsonStream, "CHUNK", 7)  # splits multi-byte characters and tokens
    got, stats = load(path)
    assert got == [t.strip() for t in texts] and stats.n_stories == 60


def test_json_lines_named_json_and_array_of_strings(tmp_path):
    lines, array = tmp_path / "l.json", tmp_path / "a.json"
    lines.write_text('{"story": "A."}\n{"text": "B."}\n', encoding="utf-8")
    array.write_text('[ "A.", "B." ]', encoding="utf-8")
    assert load(lines)[0] == ["A.", "B."] == load(array)[0]


@pytest.mark.parametrize("column", ["text", "story"])
def test_parquet_in_batches(tmp_path, story_texts, column):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "s.parquet"
    values = story_texts[:30] + [None, ""]
    pq.write_table(pa.table({column: values, "other": list(range(32))}), path, row_group_size=8)
    got, stats = load(path)
    assert got == [t.strip() for t in story_texts[:30]]
    assert (stats.n_stories, stats.n_blank_dropped) == (30, 2)


def test_directory_of_files(tmp_path):
    (tmp_path / "b.jsonl").write_text('{"story": "Second."}\n', encoding="utf-8")
    (tmp_path / "a.txt").write_text(f"First.\n{SEP}\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("ignored", encoding="utf-8")
    assert load(tmp_path)[0] == ["First.", "Second."]


# ---- bad input: every error names the file and says what to do ----


def error_of(path, **kw) -> str:
    with pytest.raises(DataError) as info:
        list(iter_stories(path, **kw))
    return str(info.value)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    msg = error_of(path)
    assert str(path) in msg and "no stories" in msg and SEP in msg


def test_only_blank_stories(tmp_path):
    path = tmp_path / "blank.txt"
    path.write_text(f"{SEP}\n\n{SEP}\n \n{SEP}\n", encoding="utf-8")
    msg = error_of(path)
    assert str(path) in msg and "no stories" in msg and "2 blank" in msg


def test_no_separators(tmp_path, story_texts):
    path = tmp_path / "plain.txt"
    path.write_text("\n\n".join(story_texts[:5]), encoding="utf-8")
    msg = error_of(path)
    assert str(path) in msg and "no <|endoftext|> separator" in msg


def test_story_without_separator_runs_too_long(tmp_path, monkeypatch):
    monkeypatch.setattr(story_files_mod, "MAX_STORY_CHARS", 1000)
    path = tmp_path / "long.txt"
    path.write_text(f"Short.\n{SEP}\n" + "A line of a story that never ends.\n" * 100, encoding="utf-8")
    msg = error_of(path)
    assert str(path) in msg and "line 3" in msg and "separator" in msg


def test_invalid_utf8_names_byte_offset_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    good = f"Fine story.\n{SEP}\n".encode()
    path.write_bytes(good + b"Caf\xe9 story.\n" + SEP.encode() + b"\n")
    msg = error_of(path)
    assert str(path) in msg and f"byte offset {len(good) + 3}" in msg and "line 3" in msg and "UTF-8" in msg


def test_invalid_utf8_in_json_array(tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(b'[{"story": "ok"}, {"story": "caf\xe9"}]')
    msg = error_of(path)
    assert str(path) in msg and "byte offset 32" in msg


def test_unknown_format(tmp_path):
    path = tmp_path / "stories.csv"
    path.write_text("story\nOnce.\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        iter_stories(path)  # raises at the call, before iteration
    assert str(path) in str(info.value) and ".txt" in str(info.value) and ".parquet" in str(info.value)


def test_missing_file(tmp_path):
    path = tmp_path / "nope" / "train.txt"
    with pytest.raises(DataError) as info:
        iter_stories(path)
    assert str(path) in str(info.value) and "no such file" in str(info.value)


def test_jsonl_without_story_fields(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"story": "Fine."}\n{"title": "x", "body": "y"}\n', encoding="utf-8")
    msg = error_of(path)
    assert str(path) in msg and "line 2" in msg and "body, title" in msg and "'story' or 'text'" in msg


def test_jsonl_broken_line(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"story": "Fine."}\n{"story": "cut\n', encoding="utf-8")
    msg = error_of(path)
    assert str(path) in msg and "line 2" in msg and "not valid JSON" in msg


def test_parquet_without_story_column(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"body": ["x"]}), path)
    msg = error_of(path)
    assert str(path) in msg and "body" in msg and "'story' or 'text'" in msg


def test_not_a_parquet_file(tmp_path):
    path = tmp_path / "s.parquet"
    path.write_text("not parquet", encoding="utf-8")
    assert str(path) in error_of(path)


def test_hub_id_offline_fails_at_once(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from tiny_interp.hub import hub_reachable

    hub_reachable.cache_clear()
    for split in ("validation", "train-v2"):
        with pytest.raises(TinyInterpError) as info:
            iter_stories("roneneldan/TinyStories", split=split)
        msg = str(info.value)
        assert isinstance(info.value, DataError)
        assert "roneneldan/TinyStories" in msg and split in msg and "HF_HUB_OFFLINE" in msg and "local" in msg


def test_hub_split_in_the_source_string(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert stories_mod.resolve_source("roneneldan/TinyStories:valid") == ("hub", "roneneldan/TinyStories", "validation")
    with pytest.raises(DataError, match="validation-v2"):
        iter_stories("roneneldan/TinyStories:validation-v2")


def test_read_stories_is_the_one_list_reader(tmp_path, story_texts):
    from tiny_interp.data.stories import read_stories

    path = tmp_path / "s.txt"
    path.write_text(txt(story_texts[:30]), encoding="utf-8")
    assert read_stories(path) == [t.strip() for t in story_texts[:30]]
    assert read_stories(str(path), limit=4) == [t.strip() for t in story_texts[:4]]
    # only as far as needed: a damaged line after the first stories is never read
    with open(path, "ab") as fh:
        fh.write(b"Caf\xe9 story.\n" + SEP.encode() + b"\n")
    assert len(read_stories(path, limit=3)) == 3
    with pytest.raises(DataError, match="invalid UTF-8"):
        read_stories(path)
    # a list passes through with its blank entries dropped, the texts as given
    assert read_stories(["  A.", "", "   ", "B."], limit=0) == ["  A.", "B."]
    assert read_stories(["A.", "B.", "C."], limit=2) == ["A.", "B."]
    with pytest.raises(DataError, match="no stories given"):
        read_stories(["", " "])
