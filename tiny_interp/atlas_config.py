"""The settings of an atlas build, saved in ``atlas.json``; each field is also a ``tiny-interp atlas`` option.

It lives outside ``tiny_interp.interp`` (whose package imports torch) so that building the CLI's parser stays
instant.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .cli_args import opt
from .errors import ConfigError
from .jsontypes import JSONObject

# fields added after atlases were shipped: left out of a build's identity at their defaults, so older atlases of
# the same stories and settings are still recognised as finished
# (the quantile fields are not among them: an atlas built without quantile examples is rebuilt to get them)
_LATER_FIELDS = {"token_top": 0, "top_min": None}


@dataclass(frozen=True)
class AtlasConfig:
    top_k: int = field(default=16, metadata=opt("examples kept per unit", low=1))
    window: int = field(default=8, metadata=opt("tokens kept on each side of a top example", low=0))
    batch_size: int = field(default=32, metadata=opt("stories per forward pass", low=1))
    max_len: int = field(default=256, metadata=opt("tokens per story at most", low=1))
    n_bins: int = field(default=48, metadata=opt("bins of each unit's activation histogram", low=1))
    hist_stride: int = field(default=4, metadata=opt("the histogram samples every N-th token", low=1))
    active_threshold: float = field(
        default=0.0, metadata=opt("a unit fires on a token when its activation exceeds this")
    )
    checkpoint_every: int = field(default=50, metadata=opt("batches between checkpoints of the build", low=1))
    device: str = field(default="cpu", metadata=opt("cpu, cuda or cuda:N"))
    # the ops are small (d_model 64), so extra threads add little, and on a shared CPU they cost: 2 threads ran
    # 3x slower per CPU-second than 1 on a loaded 2-core machine (OpenMP workers waiting at barriers for a
    # descheduled sibling)
    threads: int = field(default=1, metadata=opt("torch threads per process during the build (0: torch's)", low=0))
    # batches are split into shards that workers build independently and the parent merges in order, so the
    # atlas equals a one-process build (sums up to rounding)
    workers: int = field(
        default=1,
        metadata=opt("build in N processes (one torch thread each: about N times faster on N free cores)", low=1),
    )
    # for thousands of features the whole [vocab, units] table would be tens of MB
    token_top: int = field(
        default=0, metadata=opt("per-token means: 0 keeps the whole table, N keeps each unit's N highest", low=0)
    )
    # sparse features are 0 on most tokens: with 0.0 their top-k holds only tokens where they fire, and the running
    # top-k never falls back to a full sort for the many features that have not fired yet
    top_min: float | None = field(
        default=None, metadata=opt("only activations above this enter a unit's top examples (default: any)")
    )
    # per unit, quantile_per_band windows drawn at random (seeded, see interp.atlas.quantiles) from each of
    # quantile_bands equal-width activation bands from 0 to just above the unit's maximum
    quantile_bands: int = field(default=5, metadata=opt("activation bands of quantile examples", low=1))
    quantile_per_band: int = field(default=2, metadata=opt("quantile examples drawn from each band", low=0))
    quantile_seed: int = field(default=0, metadata=opt("seed of the quantile examples' draw", low=0))

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
