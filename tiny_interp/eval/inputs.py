"""Reading story sets for the metrics: TinyStories text files, dataset JSON arrays, completion/synthesis logs."""

from __future__ import annotations

import os
from pathlib import Path

from ..data.stories import read_stories
from ..errors import DataError
from ..llm.records import latest_records


def read_story_groups(
    path: str | os.PathLike, kinds: tuple[str, ...] = ("story",), limit: int | None = None
) -> dict[str, list[str]]:
    """Named sets of texts: per model for a completions log, one set otherwise."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if path.suffix in (".txt", ".json"):
        return {path.stem: read_stories(path, limit)}
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
        raise DataError(
            f"{path}: no finished completions (kinds {', '.join(kinds)}) or synthesized stories found; "
            "give a completions JSONL, a synth JSONL, a dataset .json or a TinyStories .txt"
        )
    return {k: v[:limit] for k, v in groups.items()}
