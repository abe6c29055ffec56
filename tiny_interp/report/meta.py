"""What a report says about its run: model, data, package version, git commit, parameters, date.

A notebook states the model and data it actually used with ``note_run(model=..., data=...)``: the values travel in
an output of their own MIME type, so the report reads what the code resolved (e.g. the default model's path), not
what the caller guessed."""

from __future__ import annotations

import datetime as _dt
import os
import subprocess
from pathlib import Path
from typing import Any

RUN_MIME = "application/vnd.tiny-interp.run+json"


def note_run(**facts: Any) -> None:
    """Record facts about this run (``model``, ``data``, ...) for the report header; shows them as one line. Paths
    of this machine are recorded from the repository root (``trained_models/ts-1L``, ``../shared/...``), as the
    README and the notebooks' parameters write them: the line and the header hold no absolute path."""
    from IPython.display import display

    from ..defaults import REPO_ROOT
    from ..provenance import portable_value

    clean = {k: portable_value(v, REPO_ROOT) for k, v in facts.items() if v is not None}
    text = "; ".join(f"{k}: {v}" for k, v in clean.items())
    display({RUN_MIME: clean, "text/plain": text}, raw=True)


def noted_facts(nb: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if RUN_MIME in data:
                facts.update(data[RUN_MIME])
    return facts


def git_commit(start: Path) -> str | None:
    """HEAD of the git checkout holding ``start`` (with ``-dirty`` when tracked files changed), else None."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=start, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=start,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def _guess(params: dict[str, Any], words: tuple[str, ...]) -> Any:
    for k, v in params.items():
        if v not in (None, "") and any(w in k.upper() for w in words):
            return v
    return None


def run_metadata(
    notebook: Path, params: dict[str, Any], executed: Any, seconds: float, start: Path | None = None
) -> dict[str, Any]:
    """The report header's facts; with ``start`` (the report's folder), paths of this machine are shown relative
    to it, so a published report carries no absolute path."""
    from .. import __version__

    facts = noted_facts(executed)
    package_dir = Path(__file__).resolve().parents[1]
    meta = {
        "notebook": str(notebook),
        "model": facts.pop("model", None) or _guess(params, ("MODEL", "RUN")),
        "data": facts.pop("data", None) or _guess(params, ("DATA", "STORIES")),
        "tiny_interp_version": __version__,
        "git_commit": git_commit(package_dir) or git_commit(notebook.resolve().parent),
        "parameters": params,
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "execution_seconds": round(seconds, 1),
        **{k: v for k, v in facts.items()},
    }
    return meta if start is None else _portable(meta, start)


def _portable(meta: dict[str, Any], start: Path) -> dict[str, Any]:
    """Paths inside the repository as from its root (``trained_models/ts-1L``, as the README writes them), other
    paths of this machine as from the report's folder."""
    from ..defaults import REPO_ROOT
    from ..provenance import portable_value

    def show(v: Any) -> Any:
        inside = isinstance(v, (str, os.PathLike)) and Path(v).is_absolute() and Path(v).is_relative_to(REPO_ROOT)
        return portable_value(v, REPO_ROOT if inside else start)

    out = {k: show(v) for k, v in meta.items()}
    out["parameters"] = {k: show(v) for k, v in meta["parameters"].items()}
    return out
