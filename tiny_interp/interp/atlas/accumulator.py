"""The atlas's streaming accumulator: running top-k examples with their context windows, statistics, a histogram
and per-token sums for every unit, in bounded memory, checkpointable as one .npz and mergeable across shards."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ...atomic import write_bytes_atomic
from ...errors import CheckpointError
from .quantiles import QuantileSample, token_keys


class AtlasState:
    """Everything the build accumulates; plain torch arrays so it checkpoints as one .npz.

    Units are flat (block * block_size + unit); the build feeds one block's [tokens, block_size] at a time.
    The running top-k always has K slots per neuron (-inf until filled); the atlas keeps the filled ones.
    """

    def __init__(self, L: int, d_mlp: int, V: int, cfg: Any):
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
        self.quantiles = (
            QuantileSample(N, cfg.quantile_bands, cfg.quantile_per_band, cfg.window, cfg.quantile_seed)
            if cfg.quantile_per_band
            else None
        )
        self._hist_offset = (torch.arange(d_mlp, dtype=torch.float32) * (cfg.n_bins + 2) + 1)[None, :]

    # ---- accumulation ----
    def add_tokens(self, tok: Tensor) -> None:
        """Once per batch, before its layers: the tokens the layers' rows stand for."""
        self.count += tok.shape[0]
        self.token_count += torch.bincount(tok, minlength=self.V)

    def add_layer(
        self,
        layer: int,
        acts: Tensor,
        tok: Tensor,
        starts: Tensor,
        lengths: Tensor,
        story_ids: Tensor,
        first_batch: bool,
    ) -> None:
        """``acts``: [n_tokens, d_mlp] of one layer for the batch's real tokens, story after story (``lengths``
        each, starting at ``starts``)."""
        sl = slice(layer * self.d, (layer + 1) * self.d)
        self._stats(sl, acts, tok, first_batch)
        floor = self.quantiles.prepare(sl, self.max[sl]) if self.quantiles is not None else None
        above = self._topk(sl, acts, tok, starts, lengths, story_ids, floor)
        if self.quantiles is not None:
            row = torch.arange(len(lengths)).repeat_interleave(lengths)
            keys = token_keys(story_ids[row], torch.arange(len(tok)) - starts[row], self.cfg.quantile_seed)
            windows = lambda ti, nj: self._windows(acts, tok, starts, lengths, story_ids, ti, nj)  # noqa: E731
            self.quantiles.add(sl, acts, keys, windows, above)

    def _stats(self, sl: slice, acts: Tensor, tok: Tensor, first_batch: bool) -> None:
        cfg = self.cfg
        # column reductions of a row-major block: amax/amin/sum(0) vectorise across the row, while aminmax(dim=0)
        # and vector_norm(dim=0) run ~10x slower (measured); int32 counts halve the comparison-sum's cost
        self.sum[sl] += acts.sum(0).double()
        self.sumsq[sl] += acts.square().sum(0).double()
        lo, hi = acts.amin(0), acts.amax(0)
        self.max[sl], self.min[sl] = torch.maximum(self.max[sl], hi), torch.minimum(self.min[sl], lo)
        self.n_active[sl] += (acts > cfg.active_threshold).sum(0, dtype=torch.int32)
        edge_lo, edge_hi = self.hist_edges()
        if first_batch:
            # bin edges fixed from the first batch, widened so later batches rarely overflow (overflow has its bins)
            span = (hi - lo).clamp(min=1e-6)
            edge_lo[sl], edge_hi[sl] = lo - 0.25 * span, hi + 0.5 * span
        # the histogram samples every hist_stride-th token: its shape, not its total, is what it is for
        sample = acts[:: cfg.hist_stride]
        nb = cfg.n_bins
        lo_l, hi_l = edge_lo[sl], edge_hi[sl]
        # bin + neuron offset in float (exact below 2^24) so only one integer conversion is needed
        b = ((sample - lo_l) * (nb / (hi_l - lo_l))).floor_().clamp_(-1, nb).add_(self._hist_offset).long()
        self.hist[sl] += torch.bincount(b.flatten(), minlength=self.d * (nb + 2)).view(self.d, nb + 2)
        self.token_sum[sl.start // self.d].index_add_(0, tok, acts)

    def _topk(
        self,
        sl: slice,
        acts: Tensor,
        tok: Tensor,
        starts: Tensor,
        lengths: Tensor,
        story_ids: Tensor,
        floor: Tensor | None = None,
    ) -> tuple[Tensor, Tensor] | None:
        """Merge the batch into the running top-k. With a ``floor`` (the quantile sample's), its one comparison
        also finds the (token, unit) pairs at or above the floor, returned (None when it sorted instead)."""
        n, d = acts.shape
        K = self.cfg.top_k
        old_val = self.top_val[sl]  # [d, K], descending
        kth = old_val[:, K - 1]
        if self.cfg.top_min is not None:
            kth = kth.clamp(min=self.cfg.top_min)
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
            above = None
        else:
            c_val, c_tok, c_neu, above = _above(acts, kth, floor)
            if len(c_tok) == 0:
                return above
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
        windows = self._windows(acts, tok, starts, lengths, story_ids, c_tok[ci], c_neu[ci])
        new_rows = {
            "top_story": windows["story"],
            "top_pos": windows["pos"],
            "win_act": windows["win_act"],
            "win_tok": windows["win_tok"],
        }
        old_src = src.clamp(max=d * K - 1)
        for name, new in new_rows.items():
            arr = getattr(self, name)
            block = arr[sl]
            out = block.reshape(d * K, *block.shape[2:])[old_src]
            out[is_new] = new
            arr[sl] = out.view(block.shape)
        self.top_val[sl] = all_val[src].view(d, K)
        return above

    def _windows(
        self, acts: Tensor, tok: Tensor, starts: Tensor, lengths: Tensor, story_ids: Tensor, ti: Tensor, nj: Tensor
    ) -> dict[str, Tensor]:
        """Story, position and the window of tokens and activations around each (token ``ti``, unit ``nj``)."""
        row = torch.searchsorted(starts, ti, right=True) - 1
        row_start, row_len = starts[row], lengths[row]
        pos = ti - row_start
        wp = pos[:, None] + torch.arange(-self.cfg.window, self.cfg.window + 1)  # [m, w] positions in the story
        ok = (wp >= 0) & (wp < row_len[:, None])
        widx = (row_start[:, None] + wp.clamp(min=0)).clamp(max=len(tok) - 1)
        return {
            "story": story_ids[row].int(),
            "pos": pos.int(),
            "win_act": acts[widx, nj[:, None]].masked_fill(~ok, float("nan")).half(),
            "win_tok": tok[widx].masked_fill(~ok, -1).int(),
        }

    def merge(self, other: "AtlasState") -> None:
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
        if self.quantiles is not None and other.quantiles is not None:  # states of one config: both or neither
            self.quantiles.merge(other.quantiles)
        self.count += other.count
        self.batches_done += other.batches_done

    def filled(self) -> int:
        """Top-k slots holding real entries (fewer than top_k only when the corpus has fewer tokens)."""
        return min(self.cfg.top_k, self.count)

    # ---- persistence ----
    _TENSORS = (
        "top_val",
        "top_story",
        "top_pos",
        "win_act",
        "win_tok",
        "sum",
        "sumsq",
        "max",
        "min",
        "n_active",
        "hist",
        "token_sum",
        "token_count",
    )

    def hist_edges(self) -> tuple[Tensor, Tensor]:
        """The histogram's lower and upper bin edges per unit (zeros until the first batch fixes them)."""
        if self.hist_lo is None or self.hist_hi is None:
            self.hist_lo, self.hist_hi = torch.zeros(self.N), torch.zeros(self.N)
        return self.hist_lo, self.hist_hi

    def save(self, file: Path, meta: dict[str, Any]) -> None:
        arrays = {name: getattr(self, name).numpy() for name in self._TENSORS}
        if self.hist_lo is not None and self.hist_hi is not None:
            arrays["hist_lo"], arrays["hist_hi"] = self.hist_lo.numpy(), self.hist_hi.numpy()
        if self.quantiles is not None:
            arrays.update({f"quantile_{n}": getattr(self.quantiles, n).numpy() for n in QuantileSample.TENSORS})
        progress = {**meta, "count": self.count, "batches_done": self.batches_done}
        arrays["progress"] = np.frombuffer(json.dumps(progress).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        write_bytes_atomic(file, buf.getvalue())

    @classmethod
    def load(cls, file: Path, L: int, d_mlp: int, V: int, cfg: Any) -> tuple["AtlasState", dict[str, Any]]:
        try:
            with np.load(file) as z:
                progress = json.loads(bytes(z["progress"]).decode())
                state = cls(L, d_mlp, V, cfg)
                for name in cls._TENSORS:
                    setattr(state, name, _saved(z, name, getattr(state, name)))
                if state.quantiles is not None:
                    for name in QuantileSample.TENSORS:
                        setattr(state.quantiles, name, _saved(z, f"quantile_{name}", getattr(state.quantiles, name)))
                if "hist_lo" in z:
                    state.hist_lo, state.hist_hi = (
                        torch.from_numpy(z["hist_lo"].copy()),
                        torch.from_numpy(z["hist_hi"].copy()),
                    )
        except (OSError, ValueError, KeyError) as e:
            raise CheckpointError(
                f"the atlas build state {file} is unreadable ({e}); delete it or build with fresh=True"
            ) from e
        state.count, state.batches_done = int(progress["count"]), int(progress["batches_done"])
        return state, progress


def _above(
    acts: Tensor, kth: Tensor, floor: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, tuple[Tensor, Tensor] | None]:
    """Top-k candidates (value, token, unit: activations above the unit's k-th) and, with a ``floor``, the pairs at
    or above it, from one comparison of the block."""
    if floor is None:
        c_tok, c_neu = (acts > kth).nonzero(as_tuple=True)
        return acts[c_tok, c_neu], c_tok, c_neu, None
    below_floor = torch.nextafter(floor, torch.full_like(floor, float("-inf")))
    c_tok, c_neu = (acts > torch.minimum(kth, below_floor)).nonzero(as_tuple=True)
    c_val = acts[c_tok, c_neu]
    hit, enters = c_val >= floor[c_neu], c_val > kth[c_neu]
    return c_val[enters], c_tok[enters], c_neu[enters], (c_tok[hit], c_neu[hit])


def _saved(z: Any, name: str, like: Tensor) -> Tensor:
    """One array of a saved state, as a tensor of the shape the settings give (ValueError otherwise)."""
    saved = torch.from_numpy(z[name].copy())
    if saved.shape != like.shape:
        raise ValueError(f"{name} has shape {tuple(saved.shape)}, expected {tuple(like.shape)}")
    return saved
