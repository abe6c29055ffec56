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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..atomic import write_json_atomic
from ..errors import ConfigError, DataError

RESULT_FORMAT = "tiny-interp-autointerp-1"


KIND = "autointerp"
UNIT_KEY = re.compile(r"(?:L(\d+)/N|D(\d+)/F)(\d+)")  # neurons L0/N12, features D0/F17


def parse_unit_key(key: str) -> tuple[int, int] | None:
    """(layer or dictionary, index) of a unit key, neuron or feature; None for anything else."""
    m = UNIT_KEY.fullmatch(key)
    return None if m is None else (int(m.group(1) or m.group(2)), int(m.group(3)))


def autointerp_dir(atlas_dir: str | os.PathLike, beside_model: bool = True) -> Path:
    """The store beside an atlas; with ``beside_model`` False, where a run about a shipped model's atlas writes
    (under ``runs/``, see ``tiny_interp.shipped``)."""
    from ..shipped import results_path

    atlas_dir = results_path(atlas_dir, beside_model)
    return (
        atlas_dir.parent / "autointerp" / atlas_dir.name
        if atlas_dir.name != "atlas"
        else atlas_dir.parent / "autointerp"
    )


def result_dirs(atlas_dir: str | os.PathLike) -> list[Path]:
    """Every store that holds runs about this atlas, newest place first: its place under ``runs/`` (for a shipped
    model), beside the atlas, and beside the shipped atlas that an atlas under ``runs/`` stands for."""
    from ..shipped import source_path

    found = [autointerp_dir(atlas_dir, False), autointerp_dir(atlas_dir), autointerp_dir(source_path(atlas_dir))]
    return list(dict.fromkeys(found))


def _is_store(path: Path) -> bool:
    """An auto-interp store from before ownership markers: it holds result files."""
    return any(_is_result(f) for f in path.glob("*.json"))


def _is_result(path: Path) -> bool:
    try:
        return path.is_file() and RESULT_FORMAT in path.read_text(encoding="utf-8", errors="replace")[:4000]
    except OSError:
        return False


@dataclass(frozen=True)
class RunPaths:
    folder: Path  # the run's logs and settings
    result: Path  # the run's small JSON

    @classmethod
    def of(cls, atlas_dir: str | os.PathLike, name: str, beside_model: bool = False) -> "RunPaths":
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or name.startswith("."):
            raise ConfigError(f"run name {name!r} may use letters, digits, '.', '_' and '-' only")
        base = autointerp_dir(atlas_dir, beside_model)
        return cls(base / name, base / f"{name}.json")

    @property
    def store(self) -> Path:
        return self.result.parent

    def check_store(self) -> None:
        """Refuse, writing nothing, a store that is someone else's folder, a live writer, or a same-named file
        of the user's."""
        from ..locking import check_unlocked, lock_path
        from ..ownership import check_files, check_output_dir

        check_unlocked(lock_path(self.store, KIND), f"auto-interp store {self.store}")
        check_output_dir(self.store, KIND, legacy=_is_store)
        if self.store.is_dir():
            check_files(self.store, KIND, self.names(), legacy=_is_ours)

    def names(self) -> list[str]:
        return [self.folder.name, self.result.name, EXPLORER_FILE]

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The store's lock for the whole run, then the store claimed (marker and manifest) under it."""
        from ..locking import exclusive_lock, lock_path

        self.store.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(lock_path(self.store, KIND), f"auto-interp store {self.store}"):
            self.claim_store()
            yield

    def claim_store(self) -> None:
        from ..ownership import claim_files, claim_output_dir

        claim_output_dir(self.store, KIND, legacy=_is_store)
        claim_files(self.store, KIND, self.names(), legacy=_is_ours)

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


def _is_ours(path: Path) -> bool:
    """A run's folder or result, or the explorer file, from before manifests (by its content)."""
    if path.is_dir():
        return (path / "settings.json").is_file()
    return _is_result(path) or (path.name == EXPLORER_FILE and path.is_file())


def _result_files(atlas_dir: str | os.PathLike) -> list[Path]:
    """Each run's result file once (a run name in ``runs/`` hides the same name beside the shipped atlas)."""
    files: dict[str, Path] = {}
    for base in result_dirs(atlas_dir):
        for f in sorted(base.glob("*.json")) if base.is_dir() else []:
            if f.name != EXPLORER_FILE:
                files.setdefault(f.name, f)
    return list(files.values())


def load_results(atlas_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every run's result about this atlas (beside it, or under ``runs/`` for a shipped model), newest first."""
    out = []
    for f in _result_files(atlas_dir):
        try:
            r = json.loads(f.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"{f} is not valid JSON ({e}); delete it and rerun `tiny-interp autointerp`") from None
        if isinstance(r, dict) and r.get("format") == RESULT_FORMAT and isinstance(r.get("units"), dict):
            out.append({**r, "file": str(f)})
    return sorted(out, key=lambda r: str(r.get("date", "")), reverse=True)


def explanations_for(atlas_dir: str | os.PathLike) -> dict[str, list[dict[str, Any]]]:
    """Unit key (``L0/N12``, ``D0/F7``) -> one small record per run that explained it: explainer, scorer,
    explanation and the headline scores. What the Neuron/Feature explorers show. Read again only when a result
    file changed (explorers ask on every unit they show)."""
    stamp = tuple((str(f), f.stat().st_mtime_ns) for f in _result_files(atlas_dir))
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


def best_explanations(atlas_dir: str | os.PathLike) -> dict[str, str]:
    """``"block:feature"`` (or ``"layer:neuron"``) -> the explanation whose run scored best on detection."""
    best: dict[str, str] = {}
    for key, recs in explanations_for(atlas_dir).items():
        unit = parse_unit_key(key)
        if unit is None:
            continue
        top = max(recs, key=lambda r: -1.0 if r["detection"] is None else r["detection"])
        best[f"{unit[0]}:{unit[1]}"] = top["explanation"]
    return best


def export_for_feature_explorer(atlas_dir: str | os.PathLike, store: Path | None = None) -> Path:
    """Write ``explanations.json`` (``best_explanations``) into the store (default: the one beside the atlas), for
    pages and tools that read one file; the file is ours, rewritten whole each time."""
    path = (store if store is not None else autointerp_dir(atlas_dir)) / EXPLORER_FILE
    write_json_atomic(path, best_explanations(atlas_dir))
    return path
