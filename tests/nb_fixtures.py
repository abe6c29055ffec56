"""Notebook test helpers: run a notebook with parameters, and a session model trained by notebooks/01_train."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiny_interp.report import execute_notebook, read_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TRAIN_STEPS = 24


def run_nb(name: str, cwd: Path, **params):
    nb, _ = execute_notebook(read_notebook(NOTEBOOKS / f"{name}.ipynb"), params, cwd=cwd, cell_timeout=300)
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
