"""Rewrite the provenance of atlases and dictionary runs written before it was portable: absolute paths become
paths relative to the file holding them, and the paths that decided reuse become content fingerprints.

Re-runnable and idempotent: a file already in the portable form is left as it is (byte for byte), so it can be
applied again after more artifacts land. Run it from the checkout the artifacts were made in, where the recorded
data files still exist (their contents are fingerprinted)::

    python -m tiny_interp.migrate_provenance trained_models

Only the provenance fields change; the arrays, weights and every other field stay as they are. Fingerprints are
taken from the files present now: migrate an atlas before its model or dictionaries are replaced, not after (an
atlas of replaced weights is rebuilt instead)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TypeGuard

from .atomic import write_json_atomic
from .errors import DataError
from .provenance import content_identity, dictionaries_fingerprint, model_fingerprint, relative_path

ATLAS_META = "atlas.json"
RUN_RECORD = "train_config.json"


def _model_above(folder: Path) -> Path | None:
    """The model directory holding ``folder`` (shipped layout: <model>/atlas, <model>/saes/...)."""
    for up in (folder, *folder.parents):
        if (up / "config.json").is_file() and (up / "model.safetensors").is_file():
            return up
    return None


def _is_path(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and ("/" in value or os.sep in value)


def migrate_atlas(meta: dict[str, Any], atlas_dir: Path) -> dict[str, Any]:
    """An atlas.json's content in the portable form (a copy)."""
    from .features.card import dictionary_dirs

    meta = json.loads(json.dumps(meta))
    model = _model_above(atlas_dir)
    if model is None:
        raise DataError(f"{atlas_dir / ATLAS_META}: no model directory above it; rebuild this atlas instead")
    identity = meta.get("identity", {})
    if _is_path(identity.get("model")):
        identity["model"] = model_fingerprint(model)
    units = identity.get("units")
    if units and len(units) > 1 and _is_path(units[1]):
        units[1:] = [dictionaries_fingerprint(dictionary_dirs(atlas_dir.parent))]
    if os.path.isabs(str(meta.get("model_dir", ""))):
        meta["model_dir"] = relative_path(model, atlas_dir)
    if os.path.isabs(str(meta.get("run_dir", ""))):
        meta["run_dir"] = relative_path(atlas_dir.parent, atlas_dir)
    return meta


def migrate_run_record(record: dict[str, Any], folder: Path, base: Path) -> dict[str, Any]:
    """A dictionary run's train_config.json in the portable form; ``base`` is the folder its relative paths were
    given from (the repository root, where the trainer ran)."""
    record = json.loads(json.dumps(record))
    identity = record.get("identity", {})
    data = identity.get("data", {})
    if "source" in data and ("mtime_ns" in data or os.path.isabs(data["source"])):
        source = Path(data["source"]) if os.path.isabs(data["source"]) else base / data["source"]
        if not source.exists():
            raise DataError(f"{folder / RUN_RECORD}: its data {source} is not here; run the migration where it is")
        fresh = content_identity(source)
        if "bytes" in data and fresh.get("bytes") != data["bytes"]:
            raise DataError(f"{source} is not the file {folder / RUN_RECORD} was trained on (size differs)")
        identity["data"] = fresh
    model = _model_above(folder)
    if _is_path(identity.get("model")) and model is not None:
        identity["model"] = model_fingerprint(model)
    if model is not None and _is_path(record.get("model_dir")) and not (folder / record["model_dir"]).is_dir():
        record["model_dir"] = relative_path(model, folder)
    given = record.get("data")
    if _is_path(given) and not (folder / given).exists():
        where = Path(given) if os.path.isabs(given) else base / given
        record["data"] = relative_path(where, folder)
    return record


def migrate(root: Path, base: Path) -> list[Path]:
    """Every atlas.json and dictionary-run train_config.json under ``root``; returns the files rewritten."""
    changed = []
    for path in sorted(root.rglob(ATLAS_META)):
        changed += _rewrite(path, lambda d, p=path: migrate_atlas(d, p.parent))
    for path in sorted(root.rglob(RUN_RECORD)):
        changed += _rewrite(path, lambda d, p=path: migrate_run_record(d, p.parent, base))
    return changed


def _rewrite(path: Path, fix: Any) -> list[Path]:
    text = path.read_text(encoding="utf-8")
    try:
        before = json.loads(text)
    except ValueError as e:
        raise DataError(f"{path} is not valid JSON ({e})") from e
    if not isinstance(before, dict) or not _ours(before, path):
        return []
    after = fix(before)
    if after == before:
        return []
    write_json_atomic(path, after)  # the layout both writers use (indent 2, sorted keys, final newline)
    return [path]


def _ours(content: dict[str, Any], path: Path) -> bool:
    if path.name == ATLAS_META:
        return "format_version" in content
    return "identity" in content and "dictionaries" in content


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tiny_interp.migrate_provenance", description=__doc__.split("\n")[0])
    p.add_argument("root", help="folder to migrate (e.g. trained_models)")
    p.add_argument("--base", default=".", help="folder the old records' relative paths were given from")
    args = p.parse_args(argv)
    try:
        changed = migrate(Path(args.root), Path(args.base))
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"migrated {path}")
    print(f"{len(changed)} file(s) migrated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
