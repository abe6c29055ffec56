"""Quantile examples: per unit, a few example windows drawn at random from each of several equal-width activation
bands between 0 and the unit's maximum, streamed in bounded memory (Neuronpedia's "quantile" examples beside the
top ones).

Sampling is bottom-k by a hash key: every (story, position) gets a pseudo-random 62-bit key from the build's seed,
and a band keeps its ``per_band`` entries of smallest key, i.e. a uniform sample without replacement of the tokens
in that band. Band j of a unit covers [j, j + 1) x scale / bands, where scale is the power of two just above the
unit's running maximum. When the maximum outgrows it, the scale doubles and each new band is the union of two old
ones, whose smallest keys are among the two old samples: the sample stays exact. So the result depends neither on
the batch order nor on how worker shards split the corpus, and merging two states is the same selection again.

Cost: only a few activations can enter. A band whose k-th key is below ``TAU`` (it has seen ~16k entries) takes
new entries only from the tokens with keys below ``TAU`` (one row in 16); activations above every such band are
all candidates (they are rare: the high bands), and everything else is skipped without looking at it twice.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

KEY_BITS = 62
EMPTY = 1 << KEY_BITS  # above every key: an empty slot, and a band's "k-th key" until it holds k entries
TAU = EMPTY // 16
_MIX = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB)  # splitmix64's constants
# ``windows(tok_index, unit_index) -> {"story", "pos", "win_act", "win_tok"}`` for the chosen entries
Windows = Callable[[Tensor, Tensor], dict[str, Tensor]]
FIELDS = ("story", "pos", "win_act", "win_tok")


def token_keys(story: Int[Tensor, " n"], pos: Int[Tensor, " n"], seed: int) -> Int[Tensor, " n"]:
    """A pseudo-random key in [0, 2^62) per (story, position): splitmix64 of both and the seed."""
    x = (story.numpy().astype(np.uint64) << np.uint64(32)) | pos.numpy().astype(np.uint64)
    z = x + np.uint64(_MIX[0] * (seed + 1) % (1 << 64))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX[1])
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX[2])
    z = z ^ (z >> np.uint64(31))
    return torch.from_numpy((z >> np.uint64(64 - KEY_BITS)).astype(np.int64))


def scale_above(max_act: Float[Tensor, " units"]) -> Float[Tensor, " units"]:
    """The smallest power of two strictly above each positive maximum (0 for units that never went above 0)."""
    _, exponent = torch.frexp(max_act.float().clamp(min=0))
    return torch.where(max_act > 0, torch.ldexp(torch.ones_like(max_act, dtype=torch.float32), exponent.float()), 0.0)


def band_of(values: Tensor, scale: Tensor, bands: int) -> Tensor:
    """Band index of each value at its unit's scale (scales are powers of two: the division is exact)."""
    return (values / scale * bands).floor().clamp(0, bands - 1).long()


class QuantileSample:
    """The streaming state: [units, bands, per_band] slots (``key`` EMPTY where unfilled) and each unit's scale."""

    def __init__(self, n_units: int, bands: int, per_band: int, window: int, seed: int):
        self.bands, self.k, self.seed = bands, per_band, seed
        shape, w = (n_units, bands, per_band), 2 * window + 1
        self.scale = torch.zeros(n_units)
        self.key = torch.full(shape, EMPTY, dtype=torch.int64)
        self.val = torch.full(shape, float("nan"))
        self.story = torch.full(shape, -1, dtype=torch.int32)
        self.pos = torch.full(shape, -1, dtype=torch.int32)
        self.win_act = torch.full((*shape, w), float("nan"), dtype=torch.float16)
        self.win_tok = torch.full((*shape, w), -1, dtype=torch.int32)

    TENSORS = ("scale", "key", "val", *FIELDS)

    def prepare(self, sl: slice, max_now: Float[Tensor, " units"]) -> Float[Tensor, " units"]:
        """Before a block's batch (``max_now``: the units' running maximum including it): move grown units to their
        new scale, and return the floor at and above which every positive activation is a candidate (``add``
        takes those pairs from a comparison the caller makes anyway)."""
        scale = scale_above(max_now)
        grown = (scale != self.scale[sl]).nonzero().squeeze(1)
        if len(grown):
            self.scale[sl] = scale
            self._reselect(grown + sl.start)
        return self.floor(sl)

    def floor(self, sl: slice) -> Float[Tensor, " units"]:
        """The lowest activation that is a candidate whatever its key: the lower edge of the unit's lowest band that
        is not dense yet (k-th key >= TAU; its scale if none), and never 0 or below."""
        kth = self.key[sl][:, :, -1]
        sparse = torch.cat([kth >= TAU, torch.ones(len(kth), 1, dtype=torch.bool)], 1)
        edge = sparse.int().argmax(1) * self.scale[sl] / self.bands
        return edge.clamp(min=torch.nextafter(torch.zeros(()), torch.ones(())))

    def add(
        self,
        sl: slice,
        acts: Float[Tensor, "n units"],
        keys: Int[Tensor, " n"],
        windows: Windows,
        above: tuple[Tensor, Tensor] | None = None,
    ) -> None:
        """One block's batch, after ``prepare``. ``above``: the (token, unit) pairs at or above its floor, if known."""
        floor = self.floor(sl)
        t_hi, u_hi = above if above is not None else (acts >= floor).nonzero(as_tuple=True)
        # below the floor every band is dense: only the tokens of smallest key can enter
        rows = (keys < TAU).nonzero().squeeze(1)
        sub = acts[rows]
        r_lo, u_lo = ((sub > 0) & (sub < floor)).nonzero(as_tuple=True)
        t, u = torch.cat([t_hi, rows[r_lo]]), torch.cat([u_hi, u_lo])
        if len(t) == 0:
            return
        val = acts[t, u]
        kth = self.key[sl][:, :, -1]  # [units, bands]
        keep = keys[t] < kth[u, band_of(val, self.scale[sl][u], self.bands)]
        t, u, val = t[keep], u[keep], val[keep]
        if len(t):
            self._reselect(u + sl.start, (keys[t], val), lambda i: windows(t[i], u[i]))

    def _reselect(
        self,
        units: Int[Tensor, " m"],
        new: tuple[Tensor, Tensor] | None = None,
        new_fields: Callable[[Tensor], dict[str, Tensor]] | None = None,
    ) -> None:
        """Re-band the slots of ``units`` at their current scale, with ``new`` entries (keys, values; one per
        element of ``units``) and keep each band's ``k`` entries of smallest key. ``new_fields(i)`` gives the
        FIELDS of the chosen new entries ``i`` (windows are cut only for those)."""
        uniq = torch.unique(units)
        old = {name: getattr(self, name)[uniq].flatten(0, 2) for name in ("key", "val", *FIELDS)}
        filled = (old["key"] < EMPTY).nonzero().squeeze(1)
        key, val, unit = old["key"][filled], old["val"][filled], uniq.repeat_interleave(self.bands * self.k)[filled]
        if new is not None:
            key, val, unit = torch.cat([key, new[0]]), torch.cat([val, new[1]]), torch.cat([unit, units])
        group = torch.searchsorted(uniq, unit) * self.bands + band_of(val, self.scale[unit], self.bands)
        order = torch.argsort(key, stable=True)
        order = order[torch.argsort(group[order], stable=True)]
        counts = torch.bincount(group, minlength=len(uniq) * self.bands)
        rank = torch.arange(len(order)) - (counts.cumsum(0) - counts)[group[order]]
        kept, target = order[rank < self.k], group[order][rank < self.k] * self.k + rank[rank < self.k]
        is_old = kept < len(filled)
        fields = {"key": key[kept], "val": val[kept]}
        chosen_new = kept[~is_old] - len(filled)
        added = new_fields(chosen_new) if new_fields is not None and len(chosen_new) else {}
        for name in FIELDS:
            fields[name] = old[name][filled[kept[is_old]]]
            if added:
                both = torch.empty((len(kept), *fields[name].shape[1:]), dtype=fields[name].dtype)
                both[is_old], both[~is_old] = fields[name], added[name].to(both.dtype)
                fields[name] = both
        for name in ("key", "val", *FIELDS):
            arr = getattr(self, name)
            out = torch.full((len(uniq) * self.bands * self.k, *arr.shape[3:]), _blank(arr), dtype=arr.dtype)
            out[target] = fields[name]
            arr[uniq] = out.view(len(uniq), self.bands, self.k, *arr.shape[3:])

    def merge(self, other: "QuantileSample") -> None:
        """Fold in another shard's sample: both at the larger scale, each band's smallest keys of the union."""
        self.scale = torch.maximum(self.scale, other.scale)
        self._reselect(torch.arange(len(self.key)))
        filled = other.key < EMPTY
        unit = torch.arange(len(other.key))[:, None, None].expand_as(other.key)[filled]
        if len(unit):
            theirs = {name: getattr(other, name)[filled] for name in FIELDS}
            self._reselect(
                unit, (other.key[filled], other.val[filled]), lambda i: {name: a[i] for name, a in theirs.items()}
            )


def _blank(arr: Tensor) -> float | int:
    if arr.dtype == torch.int64:
        return EMPTY
    return float("nan") if arr.dtype.is_floating_point else -1
