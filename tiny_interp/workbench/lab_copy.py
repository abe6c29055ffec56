"""The lab works on copies of the tracked notebooks: outputs and saved widget state land in the copies (so they
reopen with their views), while notebooks/ stays output-free. A copy is made once and never overwritten: the
user's edits are theirs; when the tracked notebook changed since, the lab says so."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..atomic import write_bytes_atomic, write_text_atomic

SOURCES = ".copied-from.json"  # sha256 of each tracked notebook when it was copied


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_notebooks(src: Path, work: Path) -> list[str]:
    """Copy every ``src/*.ipynb`` missing from ``work``; returns one line per notebook whose tracked version
    changed after the user's copy was made."""
    work.mkdir(parents=True, exist_ok=True)
    record_path = work / SOURCES
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    notes = []
    for nb in sorted(src.glob("*.ipynb")):
        dest = work / nb.name
        digest = _digest(nb)
        if not dest.exists():
            write_bytes_atomic(dest, nb.read_bytes())
            record[nb.name] = digest
        elif record.get(nb.name) not in (None, digest):
            notes.append(f"{dest} is your copy; {nb} changed since it was made (rename yours to get the new one)")
    write_text_atomic(record_path, json.dumps(record, indent=1))
    return notes
