"""Neurons against features of the same model: the same explainer and scorers on N random units of each set, as
one tidy table and a side-by-side distribution figure (notebook 09_autointerp)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..llm.runner import RunnerConfig
from .pipeline import SCORERS, AutointerpConfig, run_autointerp
from .units import open_unit_set, sample_units


def shipped_sae(model_dir: str | os.PathLike) -> Path | None:
    """The SAE run shipped with a model: ``<model>/saes`` when it holds dictionaries itself, else the first run
    inside it (one with a feature atlas first); None when there is none."""
    base = Path(model_dir) / "saes"
    if not base.is_dir():
        return None
    if any((p / "cfg.json").is_file() for p in base.iterdir()):
        return base
    runs = sorted(
        (p for p in base.iterdir() if any((q / "cfg.json").is_file() for q in p.glob("*"))),
        key=lambda p: (not (p / "atlas" / "atlas.json").exists(), p.name),
    )
    return runs[0] if runs else None


def working_copy(
    model_dir: str | os.PathLike, out: str | os.PathLike, shipped: str | os.PathLike | None = None
) -> Path:
    """Where a run may write: a model shipped with the repository (under ``shipped``, default ``trained_models/``)
    is copied once into ``out/<name>`` (results, feature atlases and explanation files then land there and the
    shipped files stay as they are); any other model directory is the user's own and is used in place."""
    import shutil

    from ..atomic import atomic_directory
    from ..defaults import SHIPPED_MODELS

    model_dir = Path(model_dir).resolve()
    if not model_dir.is_relative_to(Path(shipped or SHIPPED_MODELS).resolve()):
        return model_dir
    copy = Path(out) / model_dir.name
    if copy.exists() and not (copy / "model.safetensors").exists():
        raise ConfigError(f"{copy} exists but holds no model: give another working folder (OUT)")
    if not copy.exists():  # an earlier copy (with its results) is kept and reused
        with atomic_directory(copy) as tmp:
            shutil.copytree(model_dir, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns("autointerp"))
    return copy


def ensure_feature_atlas(run_dir: str | os.PathLike, stories: Any, n_stories: int | None) -> Path:
    """The run's feature atlas, built by the features' own machinery when there is none yet (minutes on a CPU)."""
    from ..features.feature_atlas import build_feature_atlas

    atlas = Path(run_dir) / "atlas"
    if not (atlas / "atlas.json").is_file():
        build_feature_atlas(run_dir, stories, n_stories=n_stories, progress=False)
    return atlas


def tidy(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per unit of a result: set, unit, explanation, each scorer's balanced accuracy / AUROC or why not."""
    rows = []
    for key, u in result["units"].items():
        row: dict[str, Any] = {
            "set": result["unit_set"],
            "kind": result["kind"],
            "unit": key,
            "explanation": u["explanation"],
        }
        for s in SCORERS:
            m = u.get(s) or {}
            row[s] = m.get("balanced_accuracy")
            row[f"{s}_auroc"] = m.get("auroc")
            row[f"{s}_note"] = m.get("skipped") or (m.get("failure") or {}).get("cause")
        if "simulation" in u:
            sim = u["simulation"] or {}
            row["simulation"] = sim.get("correlation")
            row["simulation_note"] = sim.get("unavailable") or sim.get("skipped") or sim.get("note")
        rows.append(row)
    return rows


def compare_sets(
    model_dir: str | os.PathLike,
    specs: Sequence[str],
    stories: Sequence[str],
    n: int,
    cfg: AutointerpConfig,
    runner: RunnerConfig | None = None,
    seed: int = 0,
    progress: bool = False,
) -> Any:
    """Explain and score ``n`` random units of each unit set (``"neurons"``, ``"features:SAE"``) as a DataFrame."""
    import pandas as pd

    rows = []
    for spec in specs:
        unit_set = open_unit_set(model_dir, spec)
        units = sample_units(unit_set.units(), n, seed)
        rows += tidy(run_autointerp(unit_set, stories, units, cfg, runner, progress=progress))
    return pd.DataFrame(rows)


def distribution_figure(df: Any, title: str = "Explanation scores: neurons vs features") -> Any:
    """Per scorer, the balanced accuracies of each unit set side by side (box with every unit as a point)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, part in df.groupby("set", sort=False):
        for s in SCORERS:
            vals = part[s].dropna()
            fig.add_trace(
                go.Box(
                    y=vals,
                    x=[s] * len(vals),
                    name=f"{name} (n={len(vals)})",
                    legendgroup=name,
                    offsetgroup=name,
                    boxpoints="all",
                    jitter=0.4,
                    pointpos=0,
                    showlegend=s == next(iter(SCORERS)),
                )
            )
    fig.add_hline(y=0.5, line_dash="dot", annotation_text="chance")
    fig.update_layout(boxmode="group", title=title, yaxis={"title": "balanced accuracy", "range": [0, 1.02]})
    return fig


def summary_table(df: Any) -> Any:
    """Per set and scorer: units scored, mean balanced accuracy, share above chance (> 0.5), units not scored."""
    import pandas as pd

    rows = []
    for name, part in df.groupby("set", sort=False):
        for s in SCORERS:
            v = part[s].dropna()
            rows.append(
                {
                    "set": name,
                    "scorer": s,
                    "scored": len(v),
                    "not scored": int(part[s].isna().sum()),
                    "mean": v.mean() if len(v) else None,
                    "median": v.median() if len(v) else None,
                    "above chance": float((v > 0.5).mean()) if len(v) else None,
                }
            )
    return pd.DataFrame(rows)
