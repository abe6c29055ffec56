"""Training windows as a pure function of the sample index, so a resumed run sees exactly the same data.

The token stream is cut into non-overlapping windows of ``seq_len + 1`` tokens; each epoch visits all windows in
a fresh permutation with a fresh start offset. Sample ``i`` of the run is window ``perm_e[i mod n]`` of epoch
``e = i // n``. Ranks and micro-steps take disjoint, consecutive sample indices, so ``world`` processes of batch
``B`` see the same samples as one process of batch ``world * B``.
"""

from __future__ import annotations

import numpy as np
import torch
from jaxtyping import Int
from torch import Tensor


class WindowSampler:
    def __init__(self, tokens: np.ndarray, seq_len: int, seed: int):
        if len(tokens) < seq_len + 2:
            raise ValueError(f"only {len(tokens)} training tokens: need at least seq_len + 2 = {seq_len + 2}")
        self.tokens, self.seq_len, self.seed = tokens, seq_len, seed
        self.window = seq_len + 1
        self.n_windows = (len(tokens) - seq_len - 1) // self.window or 1
        self._epoch: int | None = None
        self._perm: np.ndarray | None = None
        self._offset = 0

    def _epoch_plan(self, epoch: int) -> tuple[np.ndarray, int]:
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, epoch])
            slack = len(self.tokens) - self.n_windows * self.window
            self._offset = int(rng.integers(0, slack + 1))
            self._perm = rng.permutation(self.n_windows)
            self._epoch = epoch
        assert self._perm is not None
        return self._perm, self._offset

    def window_start(self, sample: int) -> int:
        perm, offset = self._epoch_plan(sample // self.n_windows)
        return offset + int(perm[sample % self.n_windows]) * self.window

    def batch(self, first_sample: int, batch_size: int) -> tuple[Int[Tensor, "batch seq"], Int[Tensor, "batch seq"]]:
        """Inputs and next-token targets for samples ``first_sample .. first_sample + batch_size - 1``."""
        rows = np.stack(
            [
                self.tokens[s : s + self.window]
                for s in map(self.window_start, range(first_sample, first_sample + batch_size))
            ]
        ).astype(np.int64)
        data = torch.from_numpy(rows)
        return data[:, :-1], data[:, 1:]

    def epochs(self, samples_seen: int) -> float:
        return samples_seen / self.n_windows


def eval_windows(tokens: np.ndarray, seq_len: int, n: int) -> list[int]:
    """Start offsets of up to ``n`` evenly spread, non-overlapping validation windows (fixed for the whole run)."""
    window = seq_len + 1
    available = max(1, (len(tokens) - 1) // window)
    picks = np.linspace(0, available - 1, num=min(n, available)).round().astype(int)
    return sorted({int(p) * window for p in picks})
