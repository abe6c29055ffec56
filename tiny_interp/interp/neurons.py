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
import sys
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
STATE_FORMAT = 2  # layout of a stopped build's state.npz; a resume refuses other layouts
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
    # torch intra-op threads during the build (0: leave torch's setting). The ops are small (d_model 64), so extra
    # threads add little, and on a shared CPU they cost: 2 threads ran 3x slower per CPU-second than 1 on a
    # loaded 2-core machine (OpenMP workers waiting at barriers for a descheduled sibling).
    threads: int = 1
    # worker processes (each with `threads` torch threads): batches are split into shards that workers build
    # independently and the parent merges in order, so the atlas equals a one-process build (sums up to rounding)
    workers: int = 1

    def identity(self) -> dict[str, Any]:
        """The settings a resumed build must share with the stopped one (the device may change)."""
        d = dataclasses.asdict(self)
        for name in ("device", "checkpoint_every", "threads", "workers"):
            d.pop(name)
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


def layer_activations(model: Any, ids: Tensor) -> Iterable[tuple[int, Tensor]]:
    """(layer, [batch, seq, d_mlp]) of our TinyLM, one layer at a time, as ``model.forward`` computes them (no
    hooks, no logits). The atlas consumes each layer before the next is computed, so the batch's activations
    never exist for all layers at once: a [tokens, n_layers * d_mlp] concatenation cost more than the forward."""
    B, T = ids.shape
    positions = model._positions(B, T, 0, None, ids.device)
    x = model.tok_embed(ids)
    if model.pos_embed is not None:
        x = x + model.pos_embed(positions)
    rope = model.rotary.tables(positions) if model.rotary is not None else None
    masks = {kind: model._mask(kind, B, T, 0, None, ids.device) for kind in set(model.cfg.layer_kinds())}
    last = len(model.blocks) - 1
    for i, block in enumerate(model.blocks):
        x = x + block.attn(block.norm1(x), masks[block.attn.kind], rope, None)
        mlp = block.mlp
        h = mlp.up(block.norm2(x))
        if mlp.gated:
            gate, up = h.chunk(2, dim=-1)
            h = torch.nn.functional.silu(gate) * up
        else:
            h = torch.nn.functional.gelu(h, approximate="tanh")
        yield i, h
        if i < last:
            x = x + mlp.down(h)


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
    """Everything the build accumulates; plain torch arrays so it checkpoints as one .npz.

    Neurons are flat (layer * d_mlp + neuron); the build feeds one layer's [tokens, d_mlp] block at a time.
    The running top-k always has K slots per neuron (-inf until filled); the atlas keeps the filled ones.
    """

    def __init__(self, L: int, d_mlp: int, V: int, cfg: AtlasConfig):
        self.cfg, self.L, self.d, self.V = cfg, L, d_mlp, V
        N, K, w = L * d_mlp, cfg.top_k, 2 * cfg.window + 1
        self.N = N
        self.top_val = torch.full((N, K), float("-inf"))
        self.top_story = torch.full((N, K), -1, dtype=torch.int32)
        self.top_pos = torch.full((N, K), -1, dtype=torch.int32)
        self.win_act = torch.full((N, K, w), float("nan"), dtype=torch.float16)
        self.win_tok = torch.full((N, K, w), -1, dtype=torch.int32)
        self.count = 0
        self.sum = torch.zeros(N, dtype=torch.float64)
        self.sumsq = torch.zeros(N, dtype=torch.float64)
        self.max = torch.full((N,), float("-inf"))
        self.min = torch.full((N,), float("inf"))
        self.n_active = torch.zeros(N, dtype=torch.int64)
        self.hist_lo: Tensor | None = None
        self.hist_hi: Tensor | None = None
        self.hist = torch.zeros((N, cfg.n_bins + 2), dtype=torch.int64)
        self.token_sum = torch.zeros((L, V, d_mlp), dtype=torch.float32)  # per layer: index_add_ on contiguous rows
        self.token_count = torch.zeros(V, dtype=torch.int64)
        self.batches_done = 0
        self._hist_offset = (torch.arange(d_mlp, dtype=torch.float32) * (cfg.n_bins + 2) + 1)[None, :]

    # ---- accumulation ----
    def add_tokens(self, tok: Tensor) -> None:
        """Once per batch, before its layers: the tokens the layers' rows stand for."""
        self.count += tok.shape[0]
        self.token_count += torch.bincount(tok, minlength=self.V)

    def add_layer(self, layer: int, acts: Tensor, tok: Tensor, starts: Tensor, lengths: Tensor, story_ids: Tensor,
                  first_batch: bool) -> None:
        """``acts``: [n_tokens, d_mlp] of one layer for the batch's real tokens, story after story (``lengths``
        each, starting at ``starts``)."""
        sl = slice(layer * self.d, (layer + 1) * self.d)
        self._stats(sl, acts, tok, first_batch)
        self._topk(sl, acts, tok, starts, lengths, story_ids)

    def _stats(self, sl: slice, acts: Tensor, tok: Tensor, first_batch: bool) -> None:
        cfg = self.cfg
        # column reductions of a row-major block: amax/amin/sum(0) vectorise across the row, while aminmax(dim=0)
        # and vector_norm(dim=0) run ~10x slower (measured); int32 counts halve the comparison-sum's cost
        self.sum[sl] += acts.sum(0).double()
        self.sumsq[sl] += acts.square().sum(0).double()
        lo, hi = acts.amin(0), acts.amax(0)
        self.max[sl], self.min[sl] = torch.maximum(self.max[sl], hi), torch.minimum(self.min[sl], lo)
        self.n_active[sl] += (acts > cfg.active_threshold).sum(0, dtype=torch.int32)
        if first_batch:
            if self.hist_lo is None:
                self.hist_lo, self.hist_hi = torch.zeros(self.N), torch.zeros(self.N)
            # bin edges fixed from the first batch, widened so later batches rarely overflow (overflow has its bins)
            span = (hi - lo).clamp(min=1e-6)
            self.hist_lo[sl], self.hist_hi[sl] = lo - 0.25 * span, hi + 0.5 * span
        # the histogram samples every hist_stride-th token: its shape, not its total, is what it is for
        sample = acts[:: cfg.hist_stride]
        nb = cfg.n_bins
        lo_l, hi_l = self.hist_lo[sl], self.hist_hi[sl]
        # bin + neuron offset in float (exact below 2^24) so only one integer conversion is needed
        b = ((sample - lo_l) * (nb / (hi_l - lo_l))).floor_().clamp_(-1, nb).add_(self._hist_offset).long()
        self.hist[sl] += torch.bincount(b.flatten(), minlength=self.d * (nb + 2)).view(self.d, nb + 2)
        self.token_sum[sl.start // self.d].index_add_(0, tok, acts)

    def _topk(self, sl: slice, acts: Tensor, tok: Tensor, starts: Tensor, lengths: Tensor, story_ids: Tensor) -> None:
        n, d = acts.shape
        K = self.cfg.top_k
        old_val = self.top_val[sl]  # [d, K], descending
        kth = old_val[:, K - 1]
        # only activations above a neuron's current k-th value can enter its top-k; after the first batches
        # that is a tiny fraction of the batch, so the candidates come from one comparison, not a sort
        if bool(torch.isneginf(kth).any()):  # still filling: the batch's own top-k is the smaller candidate set
            k = min(K, n)
            # a stable sort, not topk: equal activations (stories sharing an opening) then rank by token order,
            # the same tie rule as the threshold path below and as merging shards, so every build order agrees
            val, t = acts.sort(dim=0, descending=True, stable=True)
            val, t = val[:k], t[:k]  # [k, d]
            j = torch.arange(d).expand(k, d)
            enters = val > kth
            c_val, c_tok, c_neu = val[enters], t[enters], j[enters]
        else:
            c_tok, c_neu = (acts > kth).nonzero(as_tuple=True)
            if len(c_tok) == 0:
                return
            c_val = acts[c_tok, c_neu]
        # merge: old entries and candidates sorted by (neuron, value descending); each neuron keeps its first K
        all_val = torch.cat([old_val.reshape(-1), c_val])
        all_neu = torch.cat([torch.arange(d).repeat_interleave(K), c_neu])
        order = torch.argsort(all_val, descending=True, stable=True)
        order = order[torch.argsort(all_neu[order], stable=True)]
        per_neuron = torch.bincount(all_neu, minlength=d)
        rank = torch.arange(len(order)) - (per_neuron.cumsum(0) - per_neuron)[all_neu[order]]
        src = order[rank < K]  # d * K: every neuron has K old slots, so it keeps exactly K
        is_new = src >= d * K
        ci = src[is_new] - d * K
        ti, nj = c_tok[ci], c_neu[ci]
        row = torch.searchsorted(starts, ti, right=True) - 1
        row_start, row_len = starts[row], lengths[row]
        pos = ti - row_start
        wp = pos[:, None] + torch.arange(-self.cfg.window, self.cfg.window + 1)  # [m, w] positions in the story
        ok = (wp >= 0) & (wp < row_len[:, None])
        widx = (row_start[:, None] + wp.clamp(min=0)).clamp(max=n - 1)
        new_rows = {
            "top_story": story_ids[row].int(),
            "top_pos": pos.int(),
            "win_act": acts[widx, nj[:, None]].masked_fill(~ok, float("nan")).half(),
            "win_tok": tok[widx].masked_fill(~ok, -1).int(),
        }
        old_src = src.clamp(max=d * K - 1)
        for name, new in new_rows.items():
            arr = getattr(self, name)
            block = arr[sl]
            out = block.reshape(d * K, *block.shape[2:])[old_src]
            out[is_new] = new
            arr[sl] = out.view(block.shape)
        self.top_val[sl] = all_val[src].view(d, K)

    def merge(self, other: "_State") -> None:
        """Fold in a state built from later batches (same model, settings and histogram edges). Top-k entries of
        equal value keep this state's first, as a one-process build keeps the earlier batch's."""
        K = self.cfg.top_k
        vals = torch.cat([self.top_val, other.top_val], 1)  # [N, 2K]
        pick = torch.argsort(vals, dim=1, descending=True, stable=True)[:, :K]
        self.top_val = vals.gather(1, pick)
        for name in ("top_story", "top_pos"):
            setattr(self, name, torch.cat([getattr(self, name), getattr(other, name)], 1).gather(1, pick))
        for name in ("win_act", "win_tok"):
            both = torch.cat([getattr(self, name), getattr(other, name)], 1)
            setattr(self, name, both.gather(1, pick[..., None].expand(-1, -1, both.shape[-1])))
        for name in ("sum", "sumsq", "n_active", "hist", "token_sum", "token_count"):
            getattr(self, name).add_(getattr(other, name))
        self.max, self.min = torch.maximum(self.max, other.max), torch.minimum(self.min, other.min)
        self.count += other.count
        self.batches_done += other.batches_done

    def filled(self) -> int:
        """Top-k slots holding real entries (fewer than top_k only when the corpus has fewer tokens)."""
        return min(self.cfg.top_k, self.count)

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
    def load(cls, file: Path, L: int, d_mlp: int, V: int, cfg: AtlasConfig) -> tuple["_State", dict[str, Any]]:
        try:
            with np.load(file) as z:
                progress = json.loads(bytes(z["progress"]).decode())
                state = cls(L, d_mlp, V, cfg)
                for name in cls._TENSORS:
                    saved = torch.from_numpy(z[name].copy())
                    if saved.shape != getattr(state, name).shape:
                        raise ValueError(f"{name} has shape {tuple(saved.shape)}, expected {tuple(getattr(state, name).shape)}")
                    setattr(state, name, saved)
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
    """Build (or resume) the atlas of a model directory (or a bridge from ``tiny_interp.load``). A finished atlas
    of the same stories and settings is opened instead of rebuilt unless ``fresh``.

    ``out`` defaults to ``<model_dir>/atlas``. ``stop_after_batches`` stops early after checkpointing (the next
    call resumes); it returns None then, else the opened ``Atlas``.
    """
    from ..model.checkpoint import load_tinylm, load_tokenizer

    cfg = dataclasses.replace(config or AtlasConfig(), **overrides)
    if cfg.workers < 1:
        raise ConfigError(f"workers must be at least 1, got {cfg.workers}")
    if cfg.workers > 1 and stop_after_batches is not None:
        raise ConfigError("stop_after_batches works with workers=1 only (parallel builds resume by finished shard)")
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
                "model": str(Path(model_dir).resolve()), "state_format": STATE_FORMAT}
    if fresh and partial.exists():
        shutil.rmtree(partial)
    if not fresh and _finished_atlas_matches(out, identity, model_dir):
        return Atlas.open(out)  # already built from these stories with these settings
    if state_file.exists():
        state, saved = _State.load(state_file, L, d_mlp, V, cfg)
        if saved.get("identity") != identity:
            raise ConfigError(
                f"{state_file} belongs to a build with other settings or stories ({saved.get('identity')}); "
                "build with fresh=True (CLI: --fresh) to start over"
            )
    else:
        state = _State(L, d_mlp, V, cfg)
    total_tokens = sum(len(r) for r in rows)
    started = time.perf_counter()
    bar = _progress_bar(progress, total_tokens, state.count)
    threads_before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    pad_id = tokenizer.eos_token_id or 0
    try:
        with torch.inference_mode():
            if cfg.workers > 1:
                _build_in_workers(model_dir, net, rows, plan, state, state_file, identity, pad_id, bar)
            for b in range(state.batches_done, len(plan)):
                bar.update(_add_batch(net, state, rows, plan[b], story_ids=plan[b], pad_id=pad_id, first_batch=b == 0))
                state.batches_done = b + 1
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
        torch.set_num_threads(threads_before)
    meta = {
        "format_version": FORMAT_VERSION, "config": dataclasses.asdict(cfg), "identity": identity,
        "model_dir": str(Path(model_dir).resolve()), "family": net.cfg.family, "n_layers": L, "d_mlp": d_mlp,
        "vocab_size": V, "tokens": state.count, "stories": len(texts), "build_seconds": time.perf_counter() - started,
        "stat_columns": list(STAT_COLUMNS),
    }
    _write_atlas(out, state, meta)
    shutil.rmtree(partial, ignore_errors=True)
    return Atlas.open(out)


def _add_batch(net: Any, state: _State, rows: list[list[int]], idx: list[int], story_ids: list[int], pad_id: int,
               first_batch: bool) -> int:
    """Run one batch of stories (``rows[i]`` for i in ``idx``, recorded as ``story_ids``) into the state; returns
    its token count."""
    cfg = state.cfg
    ids, valid = pad_rows([rows[i] for i in idx], pad_id=pad_id)
    lengths = valid.sum(1)
    starts = torch.cumsum(lengths, 0) - lengths
    tok = ids[valid]
    real = None if bool(valid.all()) else valid.flatten().nonzero().squeeze(1).to(cfg.device)
    story_tensor = torch.tensor(story_ids, dtype=torch.long)
    state.add_tokens(tok)
    for layer, h in layer_activations(net, ids.to(cfg.device)):
        acts = h.reshape(-1, h.shape[-1])
        acts = (acts if real is None else acts.index_select(0, real)).float().cpu()
        state.add_layer(layer, acts, tok, starts, lengths, story_tensor, first_batch=first_batch)
    return int(lengths.sum())


def _build_in_workers(model_dir: Path, net: Any, rows: list[list[int]], plan: list[list[int]], state: _State,
                      state_file: Path, identity: dict[str, Any], pad_id: int, bar: Any) -> None:
    """Build batches ``state.batches_done ..`` in ``cfg.workers`` processes and merge them into ``state``.

    Batch 0 runs here first (it fixes the histogram edges every shard must share). The rest is cut into
    2 x workers contiguous shards; each finished shard is saved in the partial directory, so a stopped build
    resumes with the shards still missing, and the parent merges shards in batch order.
    """
    import concurrent.futures as cf
    import multiprocessing as mp

    cfg = state.cfg
    if state.batches_done == 0:
        bar.update(_add_batch(net, state, rows, plan[0], story_ids=plan[0], pad_id=pad_id, first_batch=True))
        state.batches_done = 1
        state.save(state_file, {"identity": identity})
    if state.batches_done >= len(plan):
        return
    shards = [(a, b, state_file.parent / f"shard-{a:06d}-{b:06d}.npz")
              for a, b in shard_bounds(rows, plan, state.batches_done, cfg.workers)]
    todo = [sh for sh in shards if not sh[2].exists()]
    bar.update(sum(len(rows[i]) for a, b, f in shards if f.exists() for batch in plan[a:b] for i in batch))
    if todo:
        L, d, V = state.L, state.d, state.V
        edges = (state.hist_lo.numpy(), state.hist_hi.numpy())
        # fork on Linux: no re-import, and it works from any __main__ (scripts on stdin, notebooks); spawn elsewhere
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        with cf.ProcessPoolExecutor(min(cfg.workers, len(todo)), mp_context=mp.get_context(method)) as pool:
            futures = {
                pool.submit(_shard_worker, str(model_dir), dataclasses.asdict(cfg), (L, d, V), edges,
                            [(batch, [rows[i] for i in batch]) for batch in plan[a:b]], pad_id, str(f), identity): f
                for a, b, f in todo
            }
            for fut in cf.as_completed(futures):
                bar.update(fut.result())
    for a, b, f in shards:
        shard, _ = _State.load(f, state.L, state.d, state.V, cfg)
        if shard.batches_done != b - a:
            raise CheckpointError(f"{f} holds {shard.batches_done} batches, expected {b - a}; delete it and rebuild")
        state.merge(shard)


def shard_bounds(rows: list[list[int]], plan: list[list[int]], first: int, workers: int) -> list[tuple[int, int]]:
    """Batch ranges [a, b) covering batches ``first ..`` in 2 x workers shards of about equal token count (batches
    are length-sorted, so equal batch counts would be unequal work)."""
    total = len(plan)
    n_shards = min(total - first, 2 * workers)
    cost = np.cumsum([sum(len(rows[i]) for i in batch) for batch in plan[first:]])
    cuts = np.searchsorted(cost, cost[-1] * np.arange(1, n_shards) / n_shards) + 1
    bounds = sorted({first, total, *(first + int(c) for c in cuts if 0 < c < total - first)})
    return list(zip(bounds, bounds[1:]))


def _shard_worker(model_dir: str, cfg_dict: dict[str, Any], shape: tuple[int, int, int],
                  edges: tuple[np.ndarray, np.ndarray], batches: list[tuple[list[int], list[list[int]]]], pad_id: int,
                  file: str, identity: dict[str, Any]) -> int:
    """One shard in a worker process: a fresh state with the shared histogram edges, saved to ``file``."""
    from ..model.checkpoint import load_tinylm

    cfg = AtlasConfig(**cfg_dict)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    net = load_tinylm(model_dir, device=cfg.device)
    state = _State(*shape, cfg)
    state.hist_lo, state.hist_hi = torch.from_numpy(edges[0].copy()), torch.from_numpy(edges[1].copy())
    tokens = 0
    with torch.inference_mode():
        for story_ids, story_rows in batches:
            tokens += _add_batch(net, state, story_rows, list(range(len(story_rows))), story_ids, pad_id, first_batch=False)
            state.batches_done += 1
    state.save(Path(file), {"identity": identity})
    return tokens


def _finished_atlas_matches(out: Path, identity: dict[str, Any], model_dir: Path) -> bool:
    """A finished atlas at ``out`` built with the same settings from the same stories, for this model: recorded
    under this model's path, or saved inside this model's directory (a moved or cloned model keeps its atlas)."""
    try:
        saved = json.loads((out / "atlas.json").read_text())["identity"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    same_model = saved.get("model") == identity["model"] or out.resolve().parent == Path(model_dir).resolve()
    strip = lambda d: {k: v for k, v in d.items() if k != "model"}  # noqa: E731
    return same_model and strip(saved) == strip(identity)


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
    k = s.filled()
    token_sum = s.token_sum.permute(1, 0, 2).reshape(s.V, s.N)  # [V, layer * d_mlp]
    files = {
        "top_values.npy": s.top_val[:, :k].numpy().astype(np.float32),
        "top_story.npy": s.top_story[:, :k].numpy(),
        "top_position.npy": s.top_pos[:, :k].numpy(),
        "top_window_acts.npy": s.win_act[:, :k].numpy(),
        "top_window_tokens.npy": s.win_tok[:, :k].numpy(),
        "neuron_stats.npy": stats.numpy(),
        "hist_counts.npy": s.hist.numpy().astype(np.int64),
        "hist_range.npy": torch.stack([s.hist_lo, s.hist_hi], 1).numpy().astype(np.float32),
        **quantized_token_means((token_sum / counts).numpy()),
        "token_count.npy": s.token_count.numpy(),
    }
    with atomic_directory(out) as tmp:
        for name, arr in files.items():
            np.save(tmp / name, arr)
        (tmp / "atlas.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def quantized_token_means(means: np.ndarray) -> dict[str, np.ndarray]:
    """The [vocab, neurons] mean-activation table as int8 with one float32 scale per neuron: the atlas's biggest
    array at a quarter of float32 (a 1M-shape model: 2048 neurons x 4096 tokens = 8.4 MB instead of 16.8 MB in
    float16). Rounding moves a mean by at most half a step, 1/254 of the neuron's largest token mean, far below
    the gaps that token rankings and class z-scores read."""
    scale = np.abs(means).max(0).astype(np.float32) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(means / scale), -127, 127).astype(np.int8)
    return {"token_mean_q.npy": q, "token_mean_scale.npy": scale}


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

            # an atlas saved inside its model directory travels with it (clones, copies); the recorded absolute
            # path is only the fallback for atlases written elsewhere
            here = self.path.parent
            self._tokenizer = load_tokenizer(here if (here / "tokenizer.json").exists() else self.meta["model_dir"])
        return self._tokenizer

    def _decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokenizer.decode([int(i)]) for i in ids]

    def token_means(self, rows: Any = slice(None), cols: Any = slice(None)) -> np.ndarray:
        """Mean activation per (token, neuron) as float32: ``token_means()[t, layer * d_mlp + neuron]``."""
        if "token_mean_q" in self.a:
            scale = np.asarray(self.a["token_mean_scale"])[cols]
            return np.asarray(self.a["token_mean_q"][rows], dtype=np.int8)[..., cols].astype(np.float32) * scale
        return np.asarray(self.a["token_mean"][rows], dtype=np.float32)[..., cols]  # atlases built before int8

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
        means = self.token_means(cols=f)
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
        means = self.token_means(rows=ids).astype(np.float64)  # [ids, N]
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
