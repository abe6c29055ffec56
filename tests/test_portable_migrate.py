"""The provenance migration: the shipped ts-1L artifacts as they were written before (absolute paths, mtimes, taken
from the repository's history) migrate to exactly the provenance now shipped, a second run changes nothing, and
the migrated atlas is then reused by a build."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tiny_interp.defaults import REPO_ROOT, SHARED_TRAIN
from tiny_interp.migrate_provenance import main, migrate

BEFORE = "2d0979c"  # the last commit whose shipped artifacts held absolute paths
MODEL = "trained_models/ts-1L"
RECORDS = ("atlas/atlas.json", "saes/train_config.json", "saes/blocks.0.hook_mlp_out/train_config.json")


def old_version(path: str) -> str | None:
    out = subprocess.run(["git", "show", f"{BEFORE}:{path}"], cwd=REPO_ROOT, capture_output=True, text=True)
    return out.stdout if out.returncode == 0 else None


@pytest.fixture
def old_layout(tmp_path) -> Path:
    if old_version(f"{MODEL}/{RECORDS[0]}") is None:
        pytest.skip(f"commit {BEFORE} is not in this clone's history")
    if not SHARED_TRAIN.is_file():
        pytest.skip("no ../shared train split (the migration fingerprints the recorded data)")
    model = tmp_path / "ts-1L"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (model / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / MODEL / name, model / name)
    shutil.copytree(REPO_ROOT / MODEL / "atlas", model / "atlas")
    shutil.copytree(REPO_ROOT / MODEL / "saes", model / "saes", ignore=shutil.ignore_patterns("atlas"))
    for rec in RECORDS:
        (model / rec).write_text(old_version(f"{MODEL}/{rec}") or "")
    return model


def test_old_records_migrate_to_the_shipped_ones_once(old_layout, capsys):
    old_atlas = json.loads((old_layout / RECORDS[0]).read_text())
    assert old_atlas["model_dir"].startswith("/")  # really the old form
    changed = migrate(old_layout, REPO_ROOT)
    assert sorted(p.relative_to(old_layout).as_posix() for p in changed) == sorted(RECORDS)
    for rec in RECORDS:
        now = json.loads((old_layout / rec).read_text())
        shipped = json.loads((REPO_ROOT / MODEL / rec).read_text())
        now.pop("data", None), shipped.pop("data", None)  # a path from where each one lies to ../shared
        assert now == shipped, rec
    assert main([str(old_layout), "--base", str(REPO_ROOT)]) == 0
    assert capsys.readouterr().out == ""  # nothing left to migrate


def test_a_migrated_atlas_is_reused(old_layout):
    from tiny_interp.interp import build_atlas
    from tiny_interp.interp.atlas import AtlasConfig

    migrate(old_layout, REPO_ROOT)
    before = (old_layout / RECORDS[0]).read_bytes()
    meta = json.loads(before)
    cfg = AtlasConfig(**{k: v for k, v in meta["config"].items()})
    atlas = build_atlas(old_layout, SHARED_TRAIN.with_name("valid.txt"), config=cfg, progress=False)
    assert atlas is not None and atlas.meta["build_seconds"] == meta["build_seconds"]
    assert (old_layout / RECORDS[0]).read_bytes() == before
