"""Shipped models are read-only to commands: where results about one go, and where readers find them again.

A shipped model is a directory of ``trained_models/`` or any model directory with a card (``card_config.json``,
or the ``shipped-model`` ownership marker that ``tiny-interp ship`` writes). Results that would land inside one
(an atlas, auto-interp runs, an SAE's feature atlas) go to the same relative place under ``runs/<model>/``
instead: ``trained_models/ts-1L/saes/atlas`` becomes ``runs/ts-1L/saes/atlas``. A writer asked to write beside
the model (``--beside-model``) keeps the original place. Readers look in ``runs/`` first (the newer, the user's
own results), then beside the model, through ``find_results``.

``runs/`` is the repository's (ignored by git); ``$TINY_INTERP_RUNS`` moves it.
"""

from __future__ import annotations

import os
from pathlib import Path

RUNS_ENV = "TINY_INTERP_RUNS"
SHIPPED_KIND = "shipped-model"


def runs_root() -> Path:
    from .defaults import REPO_ROOT

    return Path(os.environ.get(RUNS_ENV) or REPO_ROOT / "runs").absolute()


def is_shipped_model(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a shipped model directory (by its place or its card)."""
    from .defaults import SHIPPED_MODELS
    from .ownership import owns

    path = Path(path)
    if not (path / "config.json").is_file():
        return False
    in_shipped = path.resolve().parent == SHIPPED_MODELS.resolve()
    return in_shipped or (path / "card_config.json").is_file() or owns(path, SHIPPED_KIND)


def shipped_model_of(path: str | os.PathLike) -> Path | None:
    """The shipped model directory that ``path`` is (or lies inside), if any."""
    path = Path(path).absolute()
    for candidate in (path, *path.parents):
        if is_shipped_model(candidate):
            return candidate
    return None


def results_path(path: str | os.PathLike, beside_model: bool = False) -> Path:
    """Where a command writes output meant for ``path``: ``path`` itself, unless it lies inside a shipped model
    (and ``beside_model`` is not set): then the same place under ``runs/<model name>/``."""
    path = Path(path)
    model = shipped_model_of(path)
    if model is None or beside_model:
        return path
    return runs_root() / model.name / path.absolute().relative_to(model)


def find_results(path: str | os.PathLike, marker: str) -> Path:
    """Where a reader finds results meant for ``path``: its ``runs/`` place when that holds ``marker`` (a file
    name inside it, e.g. ``atlas.json``), else ``path`` itself."""
    moved = results_path(path)
    return moved if (moved / marker).exists() else Path(path)


def source_path(path: str | os.PathLike) -> Path:
    """The reverse of ``results_path``: for a place under ``runs/<model>/`` whose shipped model is known (a
    ``results_path`` of it was written by ``record_source``), the place inside the shipped model; else ``path``."""
    path = Path(path).absolute()
    root = runs_root()
    if not path.is_relative_to(root) or path == root:
        return path
    rel = path.relative_to(root)
    source_file = root / rel.parts[0] / SOURCE_FILE
    if not source_file.is_file():
        return path
    model = (source_file.parent / source_file.read_text(encoding="utf-8").strip()).resolve()
    return model.joinpath(*rel.parts[1:])


SOURCE_FILE = ".tiny-interp-source"  # in runs/<model>/: the shipped model's path, relative to it


def record_source(path: str | os.PathLike) -> None:
    """Before writing ``results_path(path)`` for a shipped model: note which model ``runs/<model>/`` mirrors (a
    relative path, so the folders stay portable together)."""
    from .atomic import write_text_atomic

    model = shipped_model_of(path)
    if model is None:
        return
    home = runs_root() / model.name
    home.mkdir(parents=True, exist_ok=True)
    write_text_atomic(home / SOURCE_FILE, os.path.relpath(model.resolve(), home.resolve()) + "\n")
