"""Paths in notebooks resolve the same wherever the kernel runs (the lab, a report's --cwd, a terminal at the
repository root): a relative path is taken from the working directory when it exists there, else from the
repository root, so ``trained_models/ts-1L`` and ``../shared/data/...`` from the README work everywhere."""

from __future__ import annotations

import os
from pathlib import Path

from ..defaults import REPO_ROOT
from ..errors import ConfigError


def repo_path(path: str | os.PathLike, what: str = "path") -> Path:
    """``path`` from the working directory if it exists there, else from the repository root; a clear one-line
    error naming both places when it is in neither."""
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        if not p.exists():
            raise ConfigError(f"{what} {p} does not exist")
        return p.resolve()
    if (REPO_ROOT / p).exists():
        return (REPO_ROOT / p).resolve()
    raise ConfigError(f"{what} {path} does not exist (looked in {Path.cwd()} and in the repository root {REPO_ROOT})")


def model_arg(name: str | os.PathLike) -> str:
    """A model directory (found as ``repo_path`` finds paths) or a hub id / official model name, left as given."""
    from ..hub import looks_like_hub_id
    from ..official import official_repo

    text = str(name)
    p = Path(text).expanduser()
    if p.exists() or (not p.is_absolute() and (REPO_ROOT / p).exists()):
        return str(repo_path(p, "model"))
    first = p.parts[0] if p.parts else ""
    local_looking = p.is_absolute() or Path(first).is_dir() or (REPO_ROOT / first).is_dir()
    if official_repo(text) is not None or (looks_like_hub_id(text) and not local_looking):
        return text
    raise ConfigError(
        f"no model at {text} (looked in {Path.cwd()} and in the repository root {REPO_ROOT}); "
        "give a model directory or a hub id such as roneneldan/TinyStories-33M"
    )
