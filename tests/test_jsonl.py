"""The one JSONL helper: torn last lines, damaged files, appending after a crash."""

from __future__ import annotations

import pytest

from tiny_interp.errors import DataError
from tiny_interp.jsonl import AppendLog, append_jsonl, iter_jsonl


def test_a_torn_last_line_is_skipped_and_the_next_append_starts_a_fresh_line(tmp_path):
    path = tmp_path / "log.jsonl"
    assert list(iter_jsonl(path)) == []  # no file yet: nothing, not an error
    append_jsonl(path, {"step": 1, "text": "café"})
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"step": 2, "te')  # a kill mid-write
    assert list(iter_jsonl(path)) == [{"step": 1, "text": "café"}]
    assert list(iter_jsonl(path, strict=True)) == [{"step": 1, "text": "café"}]
    with AppendLog(path, fsync=False) as log:
        log.append({"step": 3})
    assert list(iter_jsonl(path)) == [{"step": 1, "text": "café"}, {"step": 3}]
    # the fragment now sits mid-file: lenient readers (append logs) skip it, strict ones name it
    with pytest.raises(DataError, match=r"log.jsonl line 2 is not JSON"):
        list(iter_jsonl(path, strict=True))


def test_blank_lines_are_not_records(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('\n{"a": 1}\n\n  \n{"a": 2}\n', encoding="utf-8")
    assert list(iter_jsonl(path, strict=True)) == [{"a": 1}, {"a": 2}]
