"""The settings of an atlas build, saved in ``atlas.json``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ...errors import ConfigError
from ...jsontypes import JSONObject

# fields added after atlases were shipped: left out of a build's identity at their defaults, so older atlases of
# the same stories and settings are still recognised as finished
# (the quantile fields are not among them: an atlas built without quantile examples is rebuilt to get them)
_LATER_FIELDS = {"token_top": 0, "top_min": None}


@dataclass(frozen=True)
class AtlasConfig:
    top_k: int = 16
    window: int = 8  # tokens kept on each side of a top example
    batch_size: int = 32
    max_len: int = 256
    n_bins: int = 48
    hist_stride: int = 4  # the histogram samples every hist_stride-th token
    active_threshold: float = 0.0  # a unit "fires" on a token when its activation exceeds this
    checkpoint_every: int = 50
    device: str = "cpu"
    # torch intra-op threads during the build (0: leave torch's setting). The ops are small (d_model 64), so extra
    # threads add little, and on a shared CPU they cost: 2 threads ran 3x slower per CPU-second than 1 on a
    # loaded 2-core machine (OpenMP workers waiting at barriers for a descheduled sibling).
    threads: int = 1
    # worker processes (each with `threads` torch threads): batches are split into shards that workers build
    # independently and the parent merges in order, so the atlas equals a one-process build (sums up to rounding)
    workers: int = 1
    # per-token means: 0 keeps the whole [vocab, units] table (int8); N > 0 keeps each unit's N tokens of highest
    # mean (for thousands of features the table would be tens of MB)
    token_top: int = 0
    # only activations above this enter a unit's top examples (None: any). Sparse features are 0 on most tokens:
    # with 0.0 their top-k holds only tokens where they fire, and the running top-k never falls back to a full sort
    # for the many features that have not fired yet
    top_min: float | None = None
    # quantile examples: per unit, quantile_per_band windows drawn at random (seeded, see atlas.quantiles) from
    # each of quantile_bands equal-width activation bands from 0 to just above the unit's maximum (0: none)
    quantile_bands: int = 5
    quantile_per_band: int = 2
    quantile_seed: int = 0

    def __post_init__(self) -> None:
        positive = (
            "top_k",
            "batch_size",
            "max_len",
            "n_bins",
            "hist_stride",
            "checkpoint_every",
            "workers",
            "quantile_bands",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name.replace('_', '-')} must be a positive integer, got {value!r}")
        for name in ("window", "threads", "token_top", "quantile_per_band", "quantile_seed"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name.replace('_', '-')} must not be negative, got {getattr(self, name)}")
        if self.active_threshold != self.active_threshold:
            raise ConfigError("active-threshold must be a number, got nan")

    def identity(self) -> JSONObject:
        """The settings a resumed build must share with the stopped one (the device may change)."""
        d = dataclasses.asdict(self)
        for name in ("device", "checkpoint_every", "threads", "workers"):
            d.pop(name)
        for name, default in _LATER_FIELDS.items():
            if d[name] == default:
                d.pop(name)
        return d
