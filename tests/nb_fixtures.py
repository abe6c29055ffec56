"""Notebook test helpers: run a notebook with parameters, and a session model trained by notebooks/01_train.

Notebooks run in a clone of the repository in another folder (its own code, notebooks and shipped models, the real
../shared beside it), once: what they write must leave the clone's ``git status`` clean (tests/test_portable_copy.py
checks it after they ran), so every notebook test is also a test that artifacts are portable."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from unittest import mock

import pytest

from tiny_interp.report import execute_notebook, read_notebook

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
TRAIN_STEPS = 24
_CLONE: list[Path] = []


def git(cwd: Path, *args: str) -> str:
    quiet = ["-c", "user.name=tests", "-c", "user.email=tests@localhost", "-c", "commit.gpgsign=false"]
    return subprocess.run(["git", *quiet, *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def repo_clone() -> Path:
    """This checkout's tracked files (as they are now) committed in a fresh repository in a temporary folder, with
    ../shared linked beside it; made once per session."""
    if _CLONE:
        return _CLONE[0]
    top = Path(tempfile.mkdtemp(prefix="tiny-interp-elsewhere-"))
    atexit.register(shutil.rmtree, top, True)
    clone = top / "tiny-interp"
    for name in git(REPO, "ls-files", "-z").split("\0"):
        src = REPO / name
        if name and src.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / name)
    if (REPO.parent / "shared").is_dir():
        (top / "shared").symlink_to(REPO.parent / "shared")
    git(clone, "init", "-q")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "clone")
    _CLONE.append(clone)
    return clone


def clone_env(clone: Path) -> dict[str, str]:
    """The environment a process (and its kernels) needs to run the clone's own code."""
    return {**os.environ, "PYTHONPATH": str(clone), "HF_HUB_OFFLINE": "1"}


def run_nb(name: str, cwd: Path, **params):
    clone = repo_clone()
    # the kernel imports the clone's tiny_interp (kernel_env puts PYTHONPATH entries first)
    with mock.patch.dict(os.environ, {"PYTHONPATH": str(clone)}):
        nb, _ = execute_notebook(
            read_notebook(clone / "notebooks" / f"{name}.ipynb"), params, cwd=cwd, cell_timeout=300
        )
    return nb


def text_of(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            for mime in ("text/plain", "text/markdown", "text/html"):
                parts.append(str(out.get("data", {}).get(mime, "")))
    return "\n".join(parts)


def train_params(story_files, out: Path, max_steps: int) -> dict:
    train, valid = story_files
    return dict(
        PRESET="tiny",
        DATA=str(train),
        VAL_DATA=str(valid),
        OUT=str(out),
        MAX_STEPS=max_steps,
        BATCH_SIZE=8,
        SEQ_LEN=64,
        LR=3e-3,
        WARMUP_STEPS=4,
        EVAL_EVERY=8,
        SAVE_EVERY=8,
        KEEP_CHECKPOINTS=3,
        MAX_STORIES=None,
        VOCAB_SIZE=512,
        MODEL_SET=["n_layers=1"],
        REFRESH_S=0.3,
    )


@pytest.fixture(scope="session")
def nb_run(tmp_path_factory, story_files) -> Path:
    """A one-layer tiny model with log-spaced checkpoints, trained through notebooks/01_train."""
    work = tmp_path_factory.mktemp("nbwork")
    out = work / "run"
    nb = run_nb("01_train", work, **train_params(story_files, out, TRAIN_STEPS))
    assert (out / "model.safetensors").exists()
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == TRAIN_STEPS
    live = [o for c in nb.cells for o in c.get("outputs", []) if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert live, "the loss plot was never drawn"
    return out
