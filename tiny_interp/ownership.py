"""Which directories a command may write into: ones it created, or ones holding its own earlier output.

Every command that writes a directory of results claims it first with ``claim_output_dir(path, kind)``. A claimed
directory carries one small marker file per kind of output (``.tiny-interp-KIND.json``), so a model directory
can also hold an atlas or a card without any of them mistaking the others' files for its own. Anything else --
a directory of the user's files, or of another kind of output -- is refused with a one-line message naming it,
unless the user passes ``--force``; even then a command replaces only the files of its own kind.

The marker also holds the manifest of the files the command wrote there (``files``, relative names). Before it
writes, a command claims each file by name (``claim_files``): a file of that name that exists and is not in the
manifest -- the user's ``README.md``, another command's ``metrics.jsonl`` -- is refused by name, ``--force`` or not.
A marker from before manifests existed (no ``files``) vouches for every file of its kind, as it always did.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from . import __version__
from .atomic import write_json_atomic
from .errors import OutputError

MARKER_PREFIX = ".tiny-interp-"


def marker_path(path: str | os.PathLike, kind: str) -> Path:
    return Path(path) / f"{MARKER_PREFIX}{kind}.json"


def owns(path: str | os.PathLike, kind: str) -> bool:
    """Whether ``path`` holds earlier output of ``kind`` written by tiny-interp."""
    return marker_path(path, kind).is_file()


def kinds_in(path: str | os.PathLike) -> list[str]:
    """Kinds of tiny-interp output recorded in ``path`` (by their markers)."""
    path = Path(path)
    if not path.is_dir():
        return []
    names = [p.name for p in path.glob(f"{MARKER_PREFIX}*.json")]
    return sorted(n[len(MARKER_PREFIX) : -len(".json")] for n in names)


def claim_output_dir(
    path: str | os.PathLike,
    kind: str,
    force: bool = False,
    legacy: Callable[[Path], bool] | None = None,
) -> Path:
    """Make ``path`` ours for output of ``kind`` (creating it), or refuse with an ``OutputError``.

    Accepted: a missing or empty directory, one with our marker of ``kind``, one that ``legacy(path)`` recognises
    as this kind's output from before markers existed, or anything when ``force`` is set. The caller then writes
    (and replaces) only its own kind's files.
    """
    path = Path(path)
    check_output_dir(path, kind, force, legacy)
    path.mkdir(parents=True, exist_ok=True)
    if not owns(path, kind):
        write_json_atomic(
            marker_path(path, kind),
            {
                "kind": kind,
                "tiny_interp_version": __version__,
                "claimed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "files": [],
            },
        )
    return path


def check_output_dir(
    path: str | os.PathLike,
    kind: str,
    force: bool = False,
    legacy: Callable[[Path], bool] | None = None,
) -> None:
    """``claim_output_dir``'s refusals without writing anything (to refuse before taking a lock inside it)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} is a file, not a directory: pick another output directory")
    foreign = path.is_dir() and not owns(path, kind) and _holds_files(path) and not force
    if foreign and not (legacy is not None and legacy(path)):
        raise OutputError(_refusal(path, kind))


def _holds_files(path: Path) -> bool:
    # our own markers and lock files (``.tiny-interp-*``) do not make a folder someone else's
    return any(not p.name.startswith(MARKER_PREFIX) for p in path.iterdir())


def _refusal(path: Path, kind: str) -> str:
    others = kinds_in(path)
    holds = f"holds {', '.join(others)} output" if others else "holds files tiny-interp did not write"
    return (
        f"{path} {holds}, not {kind} output: pick a new or empty directory, "
        f"or pass --force to write the {kind} files there (other files are left alone)"
    )


def manifest(path: str | os.PathLike, kind: str) -> set[str] | None:
    """The files ``kind`` recorded writing in ``path``; None when its marker predates manifests (it then vouches
    for every file), an empty set when there is no marker."""
    marker = marker_path(path, kind)
    if not marker.is_file():
        return set()
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise OutputError(f"{marker} is unreadable ({e}); delete it only if {Path(path)} holds no {kind} output") from e
    files = record.get("files") if isinstance(record, dict) else []
    return None if files is None else {str(f) for f in files}


def check_files(
    path: str | os.PathLike, kind: str, names: list[str], legacy: Callable[[Path], bool] | None = None
) -> None:
    """Refuse (``OutputError`` naming it) the first of ``names`` that exists in ``path`` but that ``kind`` did not
    write there (not in its manifest; ``legacy(file)`` may recognise this kind's output from before manifests)."""
    path = Path(path)
    own = manifest(path, kind)
    if own is None:
        return
    for name in names:
        target = path / name
        if (target.exists() or target.is_symlink()) and name not in own and not (legacy is not None and legacy(target)):
            raise OutputError(
                f"{target} exists and was not written by tiny-interp {kind}: move it away or pick another output "
                f"(--force replaces only {kind}'s own files)"
            )


def claim_files(
    path: str | os.PathLike, kind: str, names: list[str], legacy: Callable[[Path], bool] | None = None
) -> None:
    """``check_files``, then add ``names`` to the manifest (writing the marker if there is none yet)."""
    path = Path(path)
    check_files(path, kind, names, legacy)
    own = manifest(path, kind)
    if own is not None and set(names) <= own and owns(path, kind):
        return
    marker = marker_path(path, kind)
    record = json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else {}
    record.update(kind=kind, tiny_interp_version=__version__)
    record.setdefault("claimed_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    if own is not None:
        record["files"] = sorted(own | set(names))
    write_json_atomic(marker, record)


def check_output_file(
    path: str | os.PathLike, kind: str, legacy: Callable[[Path], bool] | None = None, make_parent: bool = False
) -> Path:
    """A single output file (a report, a graph page) may be written: not a directory, its folder exists (or is
    made when ``make_parent``), and it is new or ``kind``'s own earlier output."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a directory; pass a file name")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise OutputError(f"{parent} is a file, not a folder: pick another place for {path.name}")
    if not path.parent.is_dir():
        if not make_parent:
            raise OutputError(f"the folder of {path} does not exist; create it first")
        return path  # a new folder holds nothing to protect
    check_files(path.parent, kind, [path.name], legacy)
    return path


def claim_output_file(
    path: str | os.PathLike, kind: str, legacy: Callable[[Path], bool] | None = None, make_parent: bool = False
) -> Path:
    """``check_output_file``, then record the file in the manifest of its folder (``.tiny-interp-KIND.json``)."""
    path = check_output_file(path, kind, legacy, make_parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    claim_files(path.parent, kind, [path.name], legacy)
    return path
