"""Where autointerp results live and how views read them.

Beside an atlas directory ``A`` (``<model>/atlas`` for neurons, ``<sae>/atlas`` for features) sits
``A/../autointerp/``: one small JSON per run (``<explainer>__<scorer>.json``: model, prompt version, date,
settings, per-unit explanation and scores, set summary) and a folder of the same name with the runner's JSONL logs
and the run's settings. A rerun with other settings into the same name is refused, never mixed in.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..atomic import write_json_atomic
from ..errors import ConfigError, DataError

RESULT_FORMAT = "tiny-interp-autointerp-1"


def autointerp_dir(atlas_dir: str | os.PathLike) -> Path:
    atlas_dir = Path(atlas_dir)
    return (
        atlas_dir.parent / "autointerp" / atlas_dir.name
        if atlas_dir.name != "atlas"
        else atlas_dir.parent / "autointerp"
    )


@dataclass(frozen=True)
class RunPaths:
    folder: Path  # the run's logs and settings
    result: Path  # the run's small JSON

    @classmethod
    def of(cls, atlas_dir: str | os.PathLike, name: str) -> "RunPaths":
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or name.startswith("."):
            raise ConfigError(f"run name {name!r} may use letters, digits, '.', '_' and '-' only")
        base = autointerp_dir(atlas_dir)
        return cls(base / name, base / f"{name}.json")

    def log(self, step: str) -> Path:
        return self.folder / f"{step}.jsonl"

    def claim(self, settings: dict[str, Any], resumable: bool = True) -> None:
        """Record the run's settings, or refuse when this name already holds a resumable run (LLM logs) with other
        settings. An offline run keeps no logs and is recomputed whole, so it just replaces its own record."""
        file = self.folder / "settings.json"
        if file.exists() and resumable:
            saved = json.loads(file.read_text(encoding="utf-8"))
            if saved != json.loads(json.dumps(settings)):
                diff = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
                raise ConfigError(
                    f"{self.folder} holds a run with other settings ({', '.join(diff)} differ); "
                    "rerun with the same settings to resume, or give another run name (--name)"
                )
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(file, settings)


def write_result(path: Path, result: dict[str, Any]) -> None:
    write_json_atomic(path, result)


def load_results(atlas_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every run's result beside this atlas, newest first (none when nothing was run)."""
    base = autointerp_dir(atlas_dir)
    out = []
    for f in sorted(base.glob("*.json")) if base.is_dir() else []:
        try:
            r = json.loads(f.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DataError(f"{f} is not valid JSON ({e}); delete it and rerun `tiny-interp autointerp`") from None
        if isinstance(r, dict) and r.get("format") == RESULT_FORMAT:
            out.append({**r, "file": str(f)})
    return sorted(out, key=lambda r: r.get("date", ""), reverse=True)


def explanations_for(atlas_dir: str | os.PathLike) -> dict[str, list[dict[str, Any]]]:
    """Unit key (``L0/N12``, ``D0/F7``) -> one small record per run that explained it: explainer, scorer,
    explanation and the headline scores. What the Neuron/Feature explorers show. Read again only when a result
    file changed (explorers ask on every unit they show)."""
    base = autointerp_dir(atlas_dir)
    stamp = tuple((f.name, f.stat().st_mtime_ns) for f in sorted(base.glob("*.json"))) if base.is_dir() else ()
    return _explanations(str(atlas_dir), stamp)


@lru_cache(maxsize=16)
def _explanations(atlas_dir: str, stamp: tuple) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in load_results(atlas_dir):
        for key, u in r["units"].items():
            if u.get("explanation") is None:
                continue
            out.setdefault(key, []).append(
                {
                    "explainer": r["explainer"]["model"],
                    "scorer": r["scorer"]["model"],
                    "date": r["date"],
                    "explanation": u["explanation"],
                    **{s: (u.get(s) or {}).get("balanced_accuracy") for s in ("detection", "fuzzing")},
                    "simulation": (u.get("simulation") or {}).get("correlation"),
                }
            )
    return out


def unit_explanations(atlas_dir: str | os.PathLike, key: str) -> list[dict[str, Any]]:
    """The explanations of one unit (``explanations_for`` restricted to it)."""
    return explanations_for(atlas_dir).get(key, [])


def search(atlas_dir: str | os.PathLike, query: str) -> list[dict[str, Any]]:
    """Units whose explanation contains every word of ``query`` (case-insensitive), best detection score first."""
    words = [w for w in re.findall(r"\w+", query.lower())]
    hits = []
    for key, recs in explanations_for(atlas_dir).items():
        for rec in recs:
            text = rec["explanation"].lower()
            if words and all(w in text for w in words):
                hits.append({"unit": key, **rec})
    return sorted(hits, key=lambda h: -(h["detection"] if h["detection"] is not None else -1))


EXPLORER_FILE = "explanations.json"  # what FeatureExplorer reads inside a feature atlas: {"block:feature": text}


def export_for_feature_explorer(atlas_dir: str | os.PathLike) -> Path:
    """Write ``<atlas>/explanations.json`` for the FeatureExplorer: per feature, the explanation whose run scored
    best on detection (the file is ours: rewritten whole from the stored results each time)."""
    best: dict[str, str] = {}
    for key, recs in explanations_for(atlas_dir).items():
        block, feature = re.fullmatch(r"D(\d+)/F(\d+)", key).groups()
        top = max(recs, key=lambda r: -1.0 if r["detection"] is None else r["detection"])
        best[f"{int(block)}:{int(feature)}"] = top["explanation"]
    path = Path(atlas_dir) / EXPLORER_FILE
    write_json_atomic(path, best)
    return path
