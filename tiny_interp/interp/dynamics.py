"""Training dynamics: loss, head taxonomy scores and chosen neurons' statistics over a run's checkpoints.

A run directory holds ``checkpoints/step-<8 digits>/`` model directories (each with ``tiny_interp.json``
carrying ``step``, ``tokens_seen`` and ``metrics``) and ``metrics.jsonl``; a plain list of model directories works
too. The result is one long ("tidy") table, a row per (checkpoint, measured quantity), ready for plotting with
e.g. ``px.line(df[df.metric == "loss"], x="tokens_seen", y="value")``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..data.stories import read_stories
from ..errors import CheckpointError
from ..jsonl import iter_jsonl
from .common import encode, pad_rows
from .heads import TaxonomyConfig, head_taxonomy
from .seam import run_with_cache

STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass(frozen=True)
class DynamicsConfig:
    n_stories: int = 64  # stories for the loss and neuron statistics
    max_len: int = 256
    batch_size: int = 16
    heads: bool = True
    taxonomy: TaxonomyConfig = TaxonomyConfig(n_stories=64, induction_seqs=8)
    active_threshold: float = 0.0


def list_checkpoints(run: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Checkpoint model directories of a run directory in step order, or the given list of model directories."""
    if not isinstance(run, (str, os.PathLike)):
        dirs = [Path(p) for p in run]
        if not dirs:
            raise CheckpointError("no checkpoints given: pass a run directory or a non-empty list of model directories")
        return dirs
    root = Path(run)
    ckpt_root = root / "checkpoints"
    if not ckpt_root.is_dir():
        raise CheckpointError(
            f"{root} has no checkpoints/ folder; "
            "train with intermediate checkpoints or pass a list of model directories"
        )
    found = sorted((int(m.group(1)), p) for p in ckpt_root.iterdir() if p.is_dir() and (m := STEP_DIR.match(p.name)))
    if not found:
        raise CheckpointError(f"{ckpt_root} holds no step-<n>/ checkpoint directories")
    return [p for _, p in found]


def training_dynamics(
    run: str | os.PathLike | Sequence[str | os.PathLike],
    stories: Any,
    neurons: Iterable[tuple[int, int]] = (),
    config: DynamicsConfig | None = None,
    progress: bool = True,
    **overrides: Any,
) -> Any:
    """The tidy table: columns checkpoint, step, tokens_seen, kind ('log' | 'train' | 'eval' | 'head' | 'neuron'),
    layer, unit (head or neuron index; -1 when not applicable), metric, value.

    ``log`` rows are every numeric field of the run's ``metrics.jsonl`` (the trainer's log, more frequent than
    checkpoints; checkpoint is empty on them).
    ``train`` rows are the trainer's own metrics from each checkpoint's ``tiny_interp.json``; ``eval`` rows the
    loss (nats/token) on ``stories``; ``head`` rows every head-taxonomy score; ``neuron`` rows the mean, max and
    firing fraction of each chosen (layer, neuron) on ``stories``.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    cfg = dataclasses.replace(config or DynamicsConfig(), **overrides)
    dirs = list_checkpoints(run)
    texts = read_stories(stories, limit=cfg.n_stories)
    chosen = [(int(l), int(n)) for l, n in neurons]
    records: list[dict[str, Any]] = []
    if isinstance(run, (str, os.PathLike)):
        records += metrics_log_rows(Path(run) / "metrics.jsonl")
    for d in tqdm(dirs, desc="checkpoints", disable=not progress):
        records += checkpoint_rows(d, texts, chosen, cfg)
    return pd.DataFrame.from_records(
        records, columns=["checkpoint", "step", "tokens_seen", "kind", "layer", "unit", "metric", "value"]
    )


def metrics_log_rows(file: Path) -> list[dict[str, Any]]:
    """Rows for every numeric field of a metrics.jsonl log; a torn last line (a run killed mid-write) is skipped."""
    rows = []
    for entry in iter_jsonl(file, strict=True):
        step = entry.get("step")
        tokens = entry.get("tokens_seen", entry.get("tokens"))
        for name, value in entry.items():
            if (
                name in ("step", "tokens_seen", "tokens")
                or isinstance(value, bool)
                or not isinstance(value, (int, float))
            ):
                continue
            rows.append(
                {
                    "checkpoint": None,
                    "step": step,
                    "tokens_seen": tokens,
                    "kind": "log",
                    "layer": -1,
                    "unit": -1,
                    "metric": name,
                    "value": float(value),
                }
            )
    return rows


def checkpoint_rows(
    model_dir: Path, texts: list[str], neurons: list[tuple[int, int]], cfg: DynamicsConfig
) -> list[dict[str, Any]]:
    from ..model.checkpoint import read_meta
    from ..model.opener import open_model

    meta = read_meta(model_dir)
    step, tokens = _step_of(model_dir, meta), meta.get("tokens_seen")
    base = {"checkpoint": str(model_dir), "step": step, "tokens_seen": tokens}
    rows: list[dict[str, Any]] = []

    def add(kind: str, layer: int, unit: int, metric: str, value: Any) -> None:
        rows.append({**base, "kind": kind, "layer": layer, "unit": unit, "metric": metric, "value": float(value)})

    for name, value in (meta.get("metrics") or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            add("train", -1, -1, name, value)
    handle = open_model(model_dir)
    net, tokenizer = handle.module, handle.tokenizer
    loss, stats = _loss_and_neurons(net, tokenizer, texts, neurons, cfg)
    add("eval", -1, -1, "loss", loss)
    for (layer, neuron), values in stats.items():
        for metric, value in values.items():
            add("neuron", layer, neuron, metric, value)
    if cfg.heads:
        from ..loading import load

        table = head_taxonomy(load(model_dir), texts, cfg.taxonomy)
        for r in table.to_dict("records"):
            for metric, value in r.items():
                if (
                    metric not in ("layer", "head", "label")
                    and value is not None
                    and not (isinstance(value, float) and math.isnan(value))
                ):
                    add("head", int(r["layer"]), int(r["head"]), metric, value)
    return rows


def _step_of(model_dir: Path, meta: dict[str, Any]) -> int | None:
    if meta.get("step") is not None:
        return int(meta["step"])
    m = STEP_DIR.match(model_dir.name)
    return int(m.group(1)) if m else None


def _loss_and_neurons(
    net: Any, tokenizer: Any, texts: list[str], neurons: list[tuple[int, int]], cfg: DynamicsConfig
) -> tuple[float, dict[tuple[int, int], dict[str, float]]]:
    """The loss (nats per predicted token) and each chosen neuron's mean, max and firing fraction over the real
    tokens, from one forward pass per batch that also reads ``mlp.hook_post`` through the seam."""
    d_mlp, L = net.cfg.d_mlp, net.cfg.n_layers
    for layer, neuron in neurons:
        if not (0 <= layer < L and 0 <= neuron < d_mlp):
            raise IndexError(f"neuron (layer {layer}, {neuron}) is outside this model's {L} layers x {d_mlp} neurons")
    names = [f"blocks.{layer}.mlp.hook_post" for layer, _ in neurons]
    rows = encode(tokenizer, texts, min(cfg.max_len, net.cfg.n_ctx))
    nll, n_pred, n_tok = 0.0, 0, 0
    total = torch.zeros(len(neurons), dtype=torch.float64)
    peak = torch.full((len(neurons),), float("-inf"), dtype=torch.float64)
    active = torch.zeros(len(neurons), dtype=torch.float64)
    with torch.inference_mode():
        for start in range(0, len(rows), cfg.batch_size):
            ids, valid = pad_rows(rows[start : start + cfg.batch_size], pad_id=0)
            logits, cache = run_with_cache(net, ids, names=names)
            assert logits is not None  # no stop_at_layer: the forward runs to the logits
            target_ok = valid[:, 1:]
            lp = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, ids[:, 1:, None])[..., 0]
            nll -= float(lp[target_ok].sum())
            n_pred += int(target_ok.sum())
            if neurons:
                acts = torch.stack([cache[name][valid][:, n] for name, (_, n) in zip(names, neurons)], 1).double()
                total += acts.sum(0)
                peak = torch.maximum(peak, acts.max(0).values)
                active += (acts > cfg.active_threshold).sum(0)
                n_tok += acts.shape[0]
    stats = {
        nr: {
            "mean": float(total[i] / max(n_tok, 1)),
            "max": float(peak[i]),
            "frac_active": float(active[i] / max(n_tok, 1)),
        }
        for i, nr in enumerate(neurons)
    }
    return nll / max(n_pred, 1), stats
