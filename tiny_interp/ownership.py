"""Which directories a command may write into: ones it created, or ones holding its own earlier output.

Every command that writes a directory of results claims it first with ``claim_output_dir(path, kind)``. A claimed
directory carries one small marker file per kind of output (``.tiny-interp-KIND.json``), so a model directory
can also hold an atlas or a card without any of them mistaking the others' files for its own. Anything else --
a directory of the user's files, or of another kind of output -- is refused with a one-line message naming it,
unless the user passes ``--force``; even then a command replaces only the files of its own kind.
"""

from __future__ import annotations

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
