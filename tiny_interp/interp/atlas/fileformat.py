"""The atlas on disk: .npy arrays plus ``atlas.json`` (written last: its presence marks a finished atlas and names
the files that are the atlas's own)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...atomic import write_bytes_atomic, write_text_atomic
from .accumulator import AtlasState
from .quantiles import QuantileSample

FORMAT_VERSION = 1
META_FILE = "atlas.json"
BUILD_DIR = ".build"  # a stopped build's state, inside the atlas directory
STAT_COLUMNS = ("mean", "std", "max", "min", "frac_active")
# the files of atlases written before atlas.json listed its files
_KNOWN_FILES = {
    "top_values.npy",
    "top_story.npy",
    "top_position.npy",
    "top_window_acts.npy",
    "top_window_tokens.npy",
    "neuron_stats.npy",
    "hist_counts.npy",
    "hist_range.npy",
    "token_mean_q.npy",
    "token_mean_scale.npy",
    "token_mean.npy",
    "token_count.npy",
    META_FILE,
    BUILD_DIR,
}


def own_files(out: Path) -> set[str]:
    """Names in ``out`` an atlas build wrote (and so may replace)."""
    try:
        listed = json.loads((out / META_FILE).read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        listed = []
    return _KNOWN_FILES | set(listed)


def is_earlier_atlas(out: Path) -> bool:
    """An atlas written before ownership markers (its ``atlas.json`` names the format)."""
    try:
        return "format_version" in json.loads((out / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def compact_tokens(tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    """Token ids (-1 for none) as int16 when the vocabulary fits: half the atlas's window files."""
    return tokens.astype(np.int16) if vocab_size < 2**15 else tokens


def quantized_token_means(means: np.ndarray) -> dict[str, np.ndarray]:
    """The [vocab, neurons] mean-activation table as int8 with one float32 scale per neuron: the atlas's biggest
    array at a quarter of float32 (a 1M-shape model: 2048 neurons x 4096 tokens = 8.4 MB instead of 16.8 MB in
    float16). Rounding moves a mean by at most half a step, 1/254 of the neuron's largest token mean, far below
    the gaps that token rankings and class z-scores read."""
    scale = np.abs(means).max(0).astype(np.float32) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(means / scale), -127, 127).astype(np.int8)
    return {"token_mean_q.npy": q, "token_mean_scale.npy": scale}


def top_token_means(means: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Each unit's ``n`` tokens of highest mean activation: ids [units, n] and means (float16)."""
    ids = np.argsort(-means, axis=0, kind="stable")[:n].T.astype(np.int32)  # [units, n]
    vals = np.take_along_axis(means.T, ids, axis=1).astype(np.float16)
    return {"token_top_ids.npy": ids, "token_top_means.npy": vals}


def atlas_arrays(s: AtlasState) -> dict[str, np.ndarray]:
    n = max(s.count, 1)
    mean = s.sum / n
    std = (s.sumsq / n - mean.pow(2)).clamp(min=0).sqrt()
    stats = torch.stack([mean, std, s.max.double(), s.min.double(), s.n_active.double() / n], 1).float()
    counts = s.token_count.clamp(min=1).float()[:, None]
    k = s.filled()
    token_means = (s.token_sum.permute(1, 0, 2).reshape(s.V, s.N) / counts).numpy()  # [V, block * block_size]
    hist = s.hist.numpy()
    return {
        "top_values.npy": s.top_val[:, :k].numpy().astype(np.float32),
        "top_story.npy": s.top_story[:, :k].numpy(),
        "top_position.npy": s.top_pos[:, :k].numpy(),
        "top_window_acts.npy": s.win_act[:, :k].numpy(),
        "top_window_tokens.npy": compact_tokens(s.win_tok[:, :k].numpy(), s.V),
        "neuron_stats.npy": stats.numpy(),
        "hist_counts.npy": hist.astype(np.int32) if hist.max(initial=0) < 2**31 else hist,
        "hist_range.npy": torch.stack(list(s.hist_edges()), 1).numpy().astype(np.float32),
        **(top_token_means(token_means, s.cfg.token_top) if s.cfg.token_top else quantized_token_means(token_means)),
        "token_count.npy": s.token_count.numpy(),
        **(quantile_arrays(s.quantiles, s.V) if s.quantiles is not None else {}),
    }


def quantile_arrays(q: QuantileSample, vocab_size: int) -> dict[str, np.ndarray]:
    """The quantile examples, each band's strongest first; band j of a unit covers [j, j + 1) x scale / bands
    (``quantile_scale.npy``, 0 for a unit that never fired); empty slots have value NaN and story -1."""
    order = torch.argsort(torch.nan_to_num(q.val, nan=float("-inf")), dim=-1, descending=True, stable=True)
    pick = lambda a: a.gather(2, order if a.dim() == 3 else order[..., None].expand_as(a)).numpy()  # noqa: E731
    return {
        "quantile_scale.npy": q.scale.numpy().astype(np.float32),
        "quantile_values.npy": pick(q.val).astype(np.float32),
        "quantile_story.npy": pick(q.story),
        "quantile_position.npy": pick(q.pos),
        "quantile_window_acts.npy": pick(q.win_act),
        "quantile_window_tokens.npy": compact_tokens(pick(q.win_tok), vocab_size),
    }


def write_atlas(out: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Each file atomically, ``atlas.json`` last; files of an earlier atlas that this one lacks are removed."""
    out.mkdir(parents=True, exist_ok=True)
    stale = own_files(out) - set(arrays) - {META_FILE, BUILD_DIR}
    for name, arr in arrays.items():
        buf = io.BytesIO()
        np.save(buf, arr)
        write_bytes_atomic(out / name, buf.getvalue())
    for name in stale:
        (out / name).unlink(missing_ok=True)
    write_text_atomic(out / META_FILE, json.dumps({**meta, "files": sorted(arrays)}, indent=2, sort_keys=True) + "\n")
