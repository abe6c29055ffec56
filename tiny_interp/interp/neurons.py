"""Neuron atlas: stream a corpus through a model and keep, for every MLP neuron, what fires it.

For each neuron of each layer (the input of ``mlp.down``: gelu outputs in gpt-neo, silu(gate) * up in llama) the
atlas keeps the top-k activating (story, position) with the neuron's activations over a window of tokens around
it, summary statistics, a histogram, and its mean activation on every vocabulary token. Memory is bounded (a
running top-k merged batch by batch); the state is checkpointed atomically every ``checkpoint_every`` batches and
a stopped build resumes from it. The result lives beside the model in ``<model_dir>/atlas/`` as .npy files plus
``atlas.json`` and opens with memory maps in milliseconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import Tensor

from ..atomic import atomic_directory, write_bytes_atomic
from ..errors import CheckpointError, ConfigError
from .common import encode, pad_rows, read_stories
from .lexicon import class_token_ids

FORMAT_VERSION = 1
STAT_COLUMNS = ("mean", "std", "max", "min", "frac_active")


@dataclass(frozen=True)
class AtlasConfig:
    top_k: int = 16
    window: int = 8  # tokens kept on each side of a top example
    batch_size: int = 32
    max_len: int = 256
    n_bins: int = 48
    hist_stride: int = 4  # the histogram samples every hist_stride-th token
    active_threshold: float = 0.0  # a neuron "fires" on a token when its activation exceeds this
    checkpoint_every: int = 50
    device: str = "cpu"

    def identity(self) -> dict[str, Any]:
        """The settings a resumed build must share with the stopped one (the device may change)."""
        d = dataclasses.asdict(self)
        d.pop("device")
        d.pop("checkpoint_every")
        return d


class _StopForward(Exception):
    """Raised by the last layer's hook: the atlas needs no logits, so the unembedding is skipped."""


def neuron_activations(model: Any, ids: Tensor, valid: Tensor | None = None) -> Tensor:
    """MLP neuron activations of our TinyLM (the input of every ``mlp.down``), layers side by side:
    [batch, seq, n_layers * d_mlp], or [n_valid_tokens, n_layers * d_mlp] (row-major) when ``valid`` is given."""
    captured: list[Tensor] = []
    last = len(model.blocks) - 1

    def make_hook(i: int) -> Callable:
        def hook(module: Any, inputs: tuple[Tensor, ...]) -> None:
            captured.append(inputs[0] if valid is None else inputs[0][valid])
            if i == last:
                raise _StopForward

        return hook

    handles = [b.mlp.down.register_forward_pre_hook(make_hook(i)) for i, b in enumerate(model.blocks)]
    try:
        model(ids)
    except _StopForward:
        pass
    finally:
        for h in handles:
            h.remove()
    return torch.cat(captured, dim=-1).float()


def corpus_fingerprint(stories: list[str]) -> str:
    h = hashlib.sha256()
    for s in stories:
        h.update(s.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def batch_plan(rows: list[list[int]], batch_size: int) -> list[list[int]]:
    """Story indices per batch: similar lengths together (less padding), deterministic so a resume sees the same."""
    chunk = batch_size * 64
    plan = []
    for start in range(0, len(rows), chunk):
        idx = sorted(range(start, min(start + chunk, len(rows))), key=lambda i: (len(rows[i]), i))
        plan += [idx[j : j + batch_size] for j in range(0, len(idx), batch_size)]
    return plan


class _State:
    """Everything the build accumulates; plain numpy/torch arrays so it checkpoints as one .npz."""

    def __init__(self, N: int, V: int, cfg: AtlasConfig):
        self.cfg, self.N, self.V = cfg, N, V
        w = 2 * cfg.window + 1
        self.top_val = torch.full((N, 0), float("-inf"))
        self.top_story = torch.zeros((N, 0), dtype=torch.int32)
        self.top_pos = torch.zeros((N, 0), dtype=torch.int32)
        self.win_act = torch.zeros((N, 0, w), dtype=torch.float16)
        self.win_tok = torch.zeros((N, 0, w), dtype=torch.int32)
        self.count = 0
        self.sum = torch.zeros(N, dtype=torch.float64)
        self.sumsq = torch.zeros(N, dtype=torch.float64)
        self.max = torch.full((N,), float("-inf"))
        self.min = torch.full((N,), float("inf"))
        self.n_active = torch.zeros(N, dtype=torch.int64)
        self.hist_lo: Tensor | None = None
        self.hist_hi: Tensor | None = None
        self.hist = torch.zeros((N, cfg.n_bins + 2), dtype=torch.int64)
        self.token_sum = torch.zeros((V, N), dtype=torch.float32)
        self.token_count = torch.zeros(V, dtype=torch.int64)
        self.batches_done = 0

    # ---- accumulation ----
    def add(self, flat: Tensor, tok: Tensor, lengths: Tensor, story_ids: Tensor) -> None:
        """``flat``: [n_tokens, N] activations of the batch's real tokens, story after story (``lengths`` each)."""
        flat_t = flat.T.contiguous()  # neuron-major: reductions and top-k run along contiguous memory
        self._stats(flat, flat_t, tok)
        self._topk(flat_t, tok, lengths, story_ids)

    def _stats(self, flat: Tensor, flat_t: Tensor, tok: Tensor) -> None:
        cfg = self.cfg
        self.count += flat.shape[0]
        self.sum += flat_t.sum(1).double()
        self.sumsq += torch.linalg.vector_norm(flat_t, dim=1).double().pow(2)
        lo, hi = torch.aminmax(flat_t, dim=1)
        self.max, self.min = torch.maximum(self.max, hi), torch.minimum(self.min, lo)
        self.n_active += (flat_t > cfg.active_threshold).view(torch.uint8).sum(1, dtype=torch.int64)
        if self.hist_lo is None:
            # bin edges fixed from the first batch, widened so later batches rarely overflow (overflow has its bins)
            span = (hi - lo).clamp(min=1e-6)
            self.hist_lo, self.hist_hi = lo - 0.25 * span, hi + 0.5 * span
        # the histogram samples every hist_stride-th token: its shape, not its total, is what it is for
        sample = flat_t[:, :: cfg.hist_stride]
        nb = cfg.n_bins
        inv_width = (nb / (self.hist_hi - self.hist_lo))[:, None]
        # bin + neuron offset in float (exact below 2^24) so only one integer conversion is needed
        offset = (torch.arange(self.N, dtype=torch.float32) * (nb + 2) + 1)[:, None]
        b = ((sample - self.hist_lo[:, None]) * inv_width).floor_().clamp_(-1, nb).add_(offset).long()
        self.hist += torch.bincount(b.flatten(), minlength=self.N * (nb + 2)).view(self.N, nb + 2)
        self.token_sum.index_add_(0, tok, flat)
        self.token_count += torch.bincount(tok, minlength=self.V)

    def _topk(self, flat_t: Tensor, tok: Tensor, lengths: Tensor, story_ids: Tensor) -> None:
        N, n = flat_t.shape
        K = self.cfg.top_k
        val, idx = flat_t.topk(min(K, n), dim=1)  # [N, k] indices into the batch's tokens
        k_old = self.top_val.shape[1]
        keep_val, keep = torch.cat([self.top_val, val], 1).topk(min(K, k_old + val.shape[1]), dim=1)
        # only entries that enter the running top-k need their story, position and window looked up;
        # after the first batches that is a small fraction
        neuron, slot = (keep >= k_old).nonzero(as_tuple=True)
        ti = idx[neuron, keep[neuron, slot] - k_old]
        starts = torch.cumsum(lengths, 0) - lengths
        row = torch.searchsorted(starts, ti, right=True) - 1
        row_start, row_len = starts[row], lengths[row]
        pos = ti - row_start
        wp = pos[:, None] + torch.arange(-self.cfg.window, self.cfg.window + 1)  # [m, w] positions in the story
        ok = (wp >= 0) & (wp < row_len[:, None])
        widx = (row_start[:, None] + wp.clamp(min=0)).clamp(max=n - 1)
        w_act = flat_t[neuron[:, None], widx].masked_fill(~ok, float("nan")).half()
        w_tok = tok[widx].masked_fill(~ok, -1).int()

        def merged(old: Tensor, new: Tensor) -> Tensor:
            out = torch.empty((N, keep.shape[1], *old.shape[2:]), dtype=old.dtype)
            if k_old:
                index = keep.clamp(max=k_old - 1)
                out.copy_(old.gather(1, index.view(*index.shape, *([1] * (old.ndim - 2))).expand(-1, -1, *old.shape[2:])))
            out[neuron, slot] = new
            return out

        self.top_story = merged(self.top_story, story_ids[row].int())
        self.top_pos = merged(self.top_pos, pos.int())
        self.win_act = merged(self.win_act, w_act)
        self.win_tok = merged(self.win_tok, w_tok)
        self.top_val = keep_val

    # ---- persistence ----
    _TENSORS = ("top_val", "top_story", "top_pos", "win_act", "win_tok", "sum", "sumsq", "max", "min", "n_active",
                "hist", "token_sum", "token_count")

    def save(self, file: Path, meta: dict[str, Any]) -> None:
        arrays = {name: getattr(self, name).numpy() for name in self._TENSORS}
        if self.hist_lo is not None:
            arrays["hist_lo"], arrays["hist_hi"] = self.hist_lo.numpy(), self.hist_hi.numpy()
        progress = {**meta, "count": self.count, "batches_done": self.batches_done}
        arrays["progress"] = np.frombuffer(json.dumps(progress).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        write_bytes_atomic(file, buf.getvalue())

    @classmethod
    def load(cls, file: Path, N: int, V: int, cfg: AtlasConfig) -> tuple["_State", dict[str, Any]]:
        try:
            with np.load(file) as z:
                progress = json.loads(bytes(z["progress"]).decode())
                state = cls(N, V, cfg)
                for name in cls._TENSORS:
                    setattr(state, name, torch.from_numpy(z[name].copy()))
                if "hist_lo" in z:
                    state.hist_lo, state.hist_hi = torch.from_numpy(z["hist_lo"].copy()), torch.from_numpy(z["hist_hi"].copy())
        except (OSError, ValueError, KeyError) as e:
            raise CheckpointError(f"the atlas build state {file} is unreadable ({e}); delete it or build with fresh=True") from e
        state.count, state.batches_done = int(progress["count"]), int(progress["batches_done"])
        return state, progress


def default_atlas_dir(model_dir: str | os.PathLike) -> Path:
    return Path(model_dir) / "atlas"


def build_atlas(
    model: Any,
    stories: str | os.PathLike | Iterable[str],
    out: str | os.PathLike | None = None,
    config: AtlasConfig | None = None,
    n_stories: int | None = None,
    fresh: bool = False,
    progress: bool = True,
    stop_after_batches: int | None = None,
    **overrides: Any,
) -> "Atlas | None":
    """Build (or resume) the atlas of a model directory (or a bridge from ``tiny_interp.load``).

    ``out`` defaults to ``<model_dir>/atlas``. ``stop_after_batches`` stops early after checkpointing (the next
    call resumes); it returns None then, else the opened ``Atlas``.
    """
    from ..model.checkpoint import load_tinylm, load_tokenizer

    cfg = dataclasses.replace(config or AtlasConfig(), **overrides)
    model_dir = _model_dir(model)
    out = Path(out) if out is not None else default_atlas_dir(model_dir)
    partial = out.parent / f".{out.name}.partial"
    state_file = partial / "state.npz"
    net = load_tinylm(model_dir, device=cfg.device)
    tokenizer = load_tokenizer(model_dir)
    texts = read_stories(stories, limit=n_stories)
    rows = encode(tokenizer, texts, min(cfg.max_len, net.cfg.n_ctx))
    plan = batch_plan(rows, cfg.batch_size)
    L, d_mlp, V = net.cfg.n_layers, net.cfg.d_mlp, net.cfg.vocab_size
    identity = {"config": cfg.identity(), "corpus": corpus_fingerprint(texts), "n_stories": len(texts),
                "model": str(Path(model_dir).resolve())}
    if fresh and partial.exists():
        shutil.rmtree(partial)
    if state_file.exists():
        state, saved = _State.load(state_file, L * d_mlp, V, cfg)
        if saved.get("identity") != identity:
            raise ConfigError(
                f"{state_file} belongs to a build with other settings or stories ({saved.get('identity')}); "
                "build with fresh=True (CLI: --fresh) to start over"
            )
    else:
        state = _State(L * d_mlp, V, cfg)
    total_tokens = sum(len(r) for r in rows)
    started = time.perf_counter()
    bar = _progress_bar(progress, total_tokens, state.count)
    try:
        with torch.inference_mode():
            for b in range(state.batches_done, len(plan)):
                idx = plan[b]
                ids, valid = pad_rows([rows[i] for i in idx], pad_id=tokenizer.eos_token_id or 0)
                flat = neuron_activations(net, ids.to(cfg.device), valid.to(cfg.device)).cpu()
                lengths = valid.sum(1)
                state.add(flat, ids[valid], lengths, torch.tensor(idx, dtype=torch.long))
                state.batches_done = b + 1
                bar.update(int(lengths.sum()))
                done = state.batches_done == len(plan)
                stopping = stop_after_batches is not None and state.batches_done >= stop_after_batches and not done
                if stopping or (not done and state.batches_done % cfg.checkpoint_every == 0):
                    state.save(state_file, {"identity": identity})
                if stopping:
                    return None
    except KeyboardInterrupt:
        if 0 < state.batches_done < len(plan):
            state.save(state_file, {"identity": identity})  # Ctrl-C: the next call resumes from here
        raise
    finally:
        bar.close()
    meta = {
        "format_version": FORMAT_VERSION, "config": dataclasses.asdict(cfg), "identity": identity,
        "model_dir": str(Path(model_dir).resolve()), "family": net.cfg.family, "n_layers": L, "d_mlp": d_mlp,
        "vocab_size": V, "tokens": state.count, "stories": len(texts), "build_seconds": time.perf_counter() - started,
        "stat_columns": list(STAT_COLUMNS),
    }
    _write_atlas(out, state, meta)
    shutil.rmtree(partial, ignore_errors=True)
    return Atlas.open(out)


def _model_dir(model: Any) -> Path:
    if isinstance(model, (str, os.PathLike)):
        from ..loading import resolve_model_dir

        return resolve_model_dir(model)
    path = getattr(model, "model_path", None)
    if path is None:
        raise TypeError("build_atlas needs a model directory or a bridge from tiny_interp.load (which knows its directory)")
    return Path(path)


def _progress_bar(enabled: bool, total: int, initial: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="tok", unit_scale=True, desc="neuron atlas", disable=not enabled,
                smoothing=0.1)


def _write_atlas(out: Path, s: _State, meta: dict[str, Any]) -> None:
    n = max(s.count, 1)
    mean = s.sum / n
    std = (s.sumsq / n - mean.pow(2)).clamp(min=0).sqrt()
    stats = torch.stack([mean, std, s.max.double(), s.min.double(), s.n_active.double() / n], 1).float()
    counts = s.token_count.clamp(min=1).float()[:, None]
    files = {
        "top_values.npy": s.top_val.numpy().astype(np.float32),
        "top_story.npy": s.top_story.numpy(),
        "top_position.npy": s.top_pos.numpy(),
        "top_window_acts.npy": s.win_act.numpy(),
        "top_window_tokens.npy": s.win_tok.numpy(),
        "neuron_stats.npy": stats.numpy(),
        "hist_counts.npy": s.hist.numpy().astype(np.int64),
        "hist_range.npy": torch.stack([s.hist_lo, s.hist_hi], 1).numpy().astype(np.float32),
        "token_mean.npy": (s.token_sum / counts).numpy().astype(np.float16),
        "token_count.npy": s.token_count.numpy(),
    }
    with atomic_directory(out) as tmp:
        for name, arr in files.items():
            np.save(tmp / name, arr)
        (tmp / "atlas.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


class Atlas:
    """A built neuron atlas, memory-mapped. Neurons are addressed as (layer, neuron)."""

    def __init__(self, path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]):
        self.path, self.meta, self.a = path, meta, arrays
        self.n_layers, self.d_mlp = int(meta["n_layers"]), int(meta["d_mlp"])
        self._tokenizer: Any = None

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Atlas":
        path = Path(path)
        if (path / "atlas").is_dir() and not (path / "atlas.json").exists():
            path = path / "atlas"  # a model directory
        meta_file = path / "atlas.json"
        if not meta_file.exists():
            raise CheckpointError(f"{path} holds no neuron atlas (no atlas.json); build one with build_atlas(model, stories)")
        meta = json.loads(meta_file.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(f"{meta_file} has atlas format {meta.get('format_version')}, expected {FORMAT_VERSION}; rebuild it")
        arrays = {f.stem: np.load(f, mmap_mode="r") for f in path.glob("*.npy")}
        return cls(path, meta, arrays)

    # ---- addressing ----
    def _flat(self, layer: int, neuron: int) -> int:
        if not (0 <= layer < self.n_layers and 0 <= neuron < self.d_mlp):
            raise IndexError(f"(layer {layer}, neuron {neuron}) is outside {self.n_layers} layers x {self.d_mlp} neurons")
        return layer * self.d_mlp + neuron

    def _unflat(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return flat // self.d_mlp, flat % self.d_mlp

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from ..model.checkpoint import load_tokenizer

            self._tokenizer = load_tokenizer(self.meta["model_dir"])
        return self._tokenizer

    def _decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokenizer.decode([int(i)]) for i in ids]

    # ---- queries ----
    def top_examples(self, layer: int, neuron: int, n: int | None = None) -> Any:
        """The neuron's strongest activations: rank, activation, story, position, token, context (text with the
        top token in [[ ]]), and per-token ``tokens`` / ``acts`` lists for the window around it."""
        import pandas as pd

        f = self._flat(layer, neuron)
        vals = np.asarray(self.a["top_values"][f])
        k = len(vals) if n is None else min(n, len(vals))
        toks, acts = np.asarray(self.a["top_window_tokens"][f, :k]), np.asarray(self.a["top_window_acts"][f, :k])
        W = int(self.meta["config"]["window"])
        records = []
        for j in range(k):
            ok = toks[j] >= 0
            pieces = self._decode(toks[j][ok])
            centre = int(ok[:W].sum())
            context = "".join(pieces[:centre]) + "[[" + pieces[centre] + "]]" + "".join(pieces[centre + 1 :])
            records.append({
                "rank": j, "activation": float(vals[j]), "story": int(self.a["top_story"][f, j]),
                "position": int(self.a["top_position"][f, j]), "token": pieces[centre], "context": context,
                "tokens": pieces, "acts": [float(x) for x in acts[j][ok]],
            })
        return pd.DataFrame.from_records(records)

    def stats(self) -> Any:
        """Per-neuron statistics as a DataFrame (layer, neuron, mean, std, max, min, frac_active)."""
        import pandas as pd

        s = np.asarray(self.a["neuron_stats"])
        layer, neuron = self._unflat(np.arange(len(s)))
        return pd.DataFrame({"layer": layer, "neuron": neuron, **{c: s[:, i] for i, c in enumerate(STAT_COLUMNS)}})

    def dead_neurons(self, max_frac_active: float = 0.0) -> Any:
        """Neurons that fire (activation > the build's active_threshold) on at most this fraction of tokens."""
        df = self.stats()
        return df[df["frac_active"] <= max_frac_active].reset_index(drop=True)

    def histogram(self, layer: int, neuron: int) -> tuple[np.ndarray, np.ndarray]:
        """(edges, counts): n_bins + 1 edges over the fixed range; counts[0] / counts[-1] hold under/overflow."""
        f = self._flat(layer, neuron)
        lo, hi = (float(x) for x in self.a["hist_range"][f])
        nb = int(self.meta["config"]["n_bins"])
        return np.linspace(lo, hi, nb + 1), np.asarray(self.a["hist_counts"][f])

    def top_tokens(self, layer: int, neuron: int, n: int = 10, min_count: int = 3) -> Any:
        """Vocabulary tokens with the highest mean activation of this neuron (seen at least min_count times)."""
        import pandas as pd

        f = self._flat(layer, neuron)
        means = np.asarray(self.a["token_mean"][:, f], dtype=np.float32)
        counts = np.asarray(self.a["token_count"])
        means = np.where(counts >= min_count, means, -np.inf)
        top = np.argsort(-means)[:n]
        top = top[np.isfinite(means[top])]
        return pd.DataFrame({"token_id": top, "token": self._decode(top), "mean_activation": means[top], "count": counts[top]})

    def selective_for_tokens(self, token_ids: Iterable[int], n: int = 10) -> Any:
        """Neurons whose mean activation on these tokens stands furthest above their overall mean, in standard
        deviations (a z-score of the class mean)."""
        import pandas as pd

        ids = np.array(sorted(set(int(i) for i in token_ids)), dtype=np.int64)
        counts = np.asarray(self.a["token_count"])[ids] if len(ids) else np.zeros(0)
        if counts.sum() == 0:
            raise ValueError("none of these tokens occurs in the atlas corpus")
        means = np.asarray(self.a["token_mean"][ids], dtype=np.float64)  # [ids, N]
        class_mean = (means * counts[:, None]).sum(0) / counts.sum()
        s = np.asarray(self.a["neuron_stats"], dtype=np.float64)
        z = (class_mean - s[:, 0]) / np.maximum(s[:, 1], 1e-6)
        top = np.argsort(-z)[:n]
        layer, neuron = self._unflat(top)
        return pd.DataFrame({"layer": layer, "neuron": neuron, "selectivity": z[top], "class_mean": class_mean[top],
                             "overall_mean": s[top, 0], "occurrences": int(counts.sum())})

    def selective_for_token(self, token: int | str, n: int = 10) -> Any:
        """Neurons most selective for one token (an id or a string that is one token, e.g. " Lily")."""
        if isinstance(token, str):
            ids = self.tokenizer(token, add_special_tokens=False)["input_ids"]
            if len(ids) != 1:
                raise ValueError(f"{token!r} is {len(ids)} tokens; pass a single token or its id")
            token = ids[0]
        return self.selective_for_tokens([int(token)], n)

    def selective_for_class(self, word_class: str, n: int = 10) -> Any:
        """Neurons most selective for a lexicon word class: names, objects, pronouns or determiners."""
        classes = class_token_ids(self.tokenizer)
        if word_class not in classes:
            raise ValueError(f"unknown word class {word_class!r}; choose from {sorted(classes)}")
        return self.selective_for_tokens(classes[word_class], n)


def open_atlas(path: str | os.PathLike) -> Atlas:
    return Atlas.open(path)
