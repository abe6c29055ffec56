"""Where the workbench finds its default model and data."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_MODELS = REPO_ROOT / "trained_models"
# the shipped model the workbench opens by default, in order of preference
DEFAULT_MODEL_NAMES = ("ts-1L", "ts-best", "ts-1M-neo")
FALLBACK_MODEL = REPO_ROOT / ".cache" / "tiny-interp" / "default-model"
SHARED_TRAIN = REPO_ROOT.parent / "shared" / "data" / "tinystories" / "train.txt"
SHARED_VALID = REPO_ROOT.parent / "shared" / "data" / "tinystories" / "valid.txt"
MODEL_ENV = "TINY_INTERP_MODEL"


def default_model_dir() -> Path | None:
    """$TINY_INTERP_MODEL, else a shipped model, else the locally trained fallback; None if there is none yet."""
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    for name in DEFAULT_MODEL_NAMES:
        if (SHIPPED_MODELS / name / "model.safetensors").exists():
            return SHIPPED_MODELS / name
    if (FALLBACK_MODEL / "model.safetensors").exists():
        return FALLBACK_MODEL
    return None


def default_neuron_model() -> Path | None:
    """The paper read its neurons in the 1M model: the shipped ts-1M-neo (same shape) wherever a notebook runs (lab,
    report, terminal; $TINY_INTERP_MODEL does not change it), else the default model."""
    shipped = SHIPPED_MODELS / "ts-1M-neo"
    return shipped if (shipped / "model.safetensors").exists() else default_model_dir()


def default_dynamics_run() -> Path:
    """A run with log-spaced snapshots: the shipped ts-1M-neo, else what notebooks/01_train writes by default."""
    shipped = SHIPPED_MODELS / "ts-1M-neo"
    if (shipped / "checkpoints").is_dir():
        return shipped
    return REPO_ROOT / "runs" / "nb-1M"
