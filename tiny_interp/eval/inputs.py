"""Reading story sets for the metrics: TinyStories text files, dataset JSON arrays, completion/synthesis logs."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import DataError
from ..llm.records import latest_records

EOT = "<|endoftext|>"


def read_txt_stories(path: str | os.PathLike, limit: int | None = None) -> list[str]:
    """Stories of a TinyStories text file (each followed by a ``<|endoftext|>`` line)."""
    out: list[str] = []
    buf: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip() == EOT:
                text = "".join(buf).strip()
                buf = []
                if text:
                    out.append(text)
                    if limit is not None and len(out) >= limit:
                        return out
            else:
                buf.append(line)
    tail = "".join(buf).strip()
    if tail and (limit is None or len(out) < limit):
        out.append(tail)
    return out


def read_story_groups(path: str | os.PathLike, kinds: tuple[str, ...] = ("story",), limit: int | None = None
                      ) -> dict[str, list[str]]:
    """Named sets of texts: per model for a completions log, one set otherwise."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if path.suffix == ".txt":
        return {path.stem: read_txt_stories(path, limit)}
    if path.suffix == ".json":
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
            return {path.stem: [r["story"] for r in rows][:limit]}
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise DataError(f"{path}: expected a JSON array of records with a 'story' field ({e})") from None
    groups: dict[str, list[str]] = {}
    for r in latest_records(path).values():
        if r.get("status") != "done":
            continue
        if "completion" in r:
            if r.get("kind", "story") in kinds:
                groups.setdefault(str(r.get("model")), []).append(r["completion"])
        elif isinstance(r.get("result"), dict) and "story" in r["result"]:
            groups.setdefault(path.stem, []).append(r["result"]["story"])
    if not groups:
        raise DataError(f"{path}: no finished completions (kinds {', '.join(kinds)}) or synthesized stories found; "
                        "give a completions JSONL, a synth JSONL, a dataset .json or a TinyStories .txt")
    return {k: v[:limit] for k, v in groups.items()}
